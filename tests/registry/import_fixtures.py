"""Builders for the import tests: dwellings with standard addresses in street A (and one in
street B), registry and survey rows with valid identity numbers, files in each encoding and as
XLSX, and uploads through ``importing.create_import``."""

from __future__ import annotations

import csv
import datetime
import io
from dataclasses import dataclass
from itertools import count

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook
from stdnum.cn import ric

from jiedao.accounts.roles import Role
from jiedao.registry import importing
from jiedao.registry.models import ImportJob
from tests import factories as f

REGISTRY_HEADERS = ["户号", "姓名", "公民身份号码", "与户主关系", "住址"]
SURVEY_HEADERS = ["姓名", "公民身份号码", "联系电话", "现住址", "与户主关系", "人员类别"]
_serials = count(1)


def valid_number(region: str, birth: datetime.date, serial: int) -> str:
    """What core.identity.make_identity_number should return: stdnum's calc_check_digit wants
    the whole 18 characters (it drops the last), so a 17-character body gets a wrong digit."""
    body = f"{region[:6]}{birth:%Y%m%d}{serial % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def identity(birth: datetime.date = datetime.date(1980, 5, 17), *, male: bool = True) -> str:
    """A fresh valid identity number (odd sequence digit for a man)."""
    serial = next(_serials) * 2 % 1000
    return valid_number("110119", birth, serial + (1 if male else 0))


@dataclass
class Homes:
    """Dwellings of street A by grid, one dwelling of street B, and their addresses."""

    a1x: list
    a1y: list
    a2x: list
    b1x: list

    @property
    def street_a(self) -> list:
        return [*self.a1x, *self.a1y, *self.a2x]


def _dwellings(grid, n: int) -> list:
    entrance = f.EntranceFactory(building=f.BuildingFactory(grid=grid))
    return [f.DwellingFactory(entrance=entrance) for _ in range(n)]


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def homes(world, media) -> Homes:
    return Homes(
        a1x=_dwellings(world.grid_a1x, 4),
        a1y=_dwellings(world.grid_a1y, 2),
        a2x=_dwellings(world.grid_a2x, 2),
        b1x=_dwellings(world.grid_b1x, 1),
    )


@pytest.fixture
def street_staff(role_users):
    return role_users[Role.STREET_STAFF]


def address(dwelling) -> str:
    return dwelling.address.full_text


def household_rows(number: str, dwelling, size: int = 3) -> list[list[str]]:
    """A registered household of ``size`` persons: head, spouse, then children."""
    relations = ["户主", "配偶", "子", "女", "孙子"]
    return [
        [number, f"王{number}{i}", identity(male=i % 2 == 0), relations[i], address(dwelling)]
        for i in range(size)
    ]


def registry_rows(dwellings, per_household: int = 3) -> list[list[str]]:
    rows: list[list[str]] = []
    for index, dwelling in enumerate(dwellings):
        rows += household_rows(f"H{dwelling.pk:06d}{index}", dwelling, per_household)
    return rows


def survey_row(row: list[str], dwelling, phone: str = "13800138000", care: str = "") -> list[str]:
    """The survey's line for the person of a registry row, living at ``dwelling``."""
    return [row[1], row[2], phone, address(dwelling), row[3], care]


def csv_bytes(headers, rows, encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(headers)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(headers, rows) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def upload(
    user,
    data: bytes,
    *,
    source: str = ImportJob.Source.REGISTRY,
    territory: str = "110119001000",
    name: str = "extract.csv",
) -> ImportJob:
    return importing.create_import(user, SimpleUploadedFile(name, data), source, territory)


def imported(user, data: bytes, **kwargs) -> ImportJob:
    """Upload, dry run and import in one go; the job as it ends."""
    job = upload(user, data, **kwargs)
    importing.check(job)
    return importing.run_import(job, actor=user)
