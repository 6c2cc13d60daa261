from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from jiedao.accounts.roles import Role


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)


def xlsx_bytes(rows: list[list]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def street_user(role_users):
    return role_users[Role.STREET_STAFF]


@pytest.fixture
def district_user(role_users):
    return role_users[Role.DISTRICT_ADMIN]
