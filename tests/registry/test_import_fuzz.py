"""Property tests: random bytes and random tables never crash the import (a clear error, nothing
imported), and every encoding (and XLSX) of the same rows reads and imports alike."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jiedao.core.scopes import unscoped
from jiedao.registry import importing
from jiedao.registry.importing import ImportFileError, open_rows
from jiedao.registry.models import ImportJob, Person
from tests.registry import import_fixtures
from tests.registry.import_fixtures import (
    REGISTRY_HEADERS,
    SURVEY_HEADERS,
    csv_bytes,
    imported,
    registry_rows,
    upload,
    xlsx_bytes,
)

# Fixtures shared by the import tests (a conftest of their own would collide with others').
homes = import_fixtures.homes
media = import_fixtures.media
street_staff = import_fixtures.street_staff

DB_EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Text every encoding under test can carry and XLSX can store: no control characters, no
# surrogates; a leading "=" would be written as a formula, so cells avoid it.
CELL = st.text(
    alphabet=st.characters(codec="gbk", exclude_categories=("Cc", "Cs")), max_size=12
).filter(lambda text: not text.startswith("="))
TABLE = st.lists(st.lists(CELL, min_size=5, max_size=5), max_size=8)


def read_all(data: bytes, name: str = "x.csv") -> tuple[list[str], list]:
    with open_rows(io.BytesIO(data), name=name) as reader:
        return reader.headers, list(reader)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=3000), name=st.sampled_from(["x.csv", "x.xlsx", "x.txt", "x"]))
def test_random_bytes_either_read_or_fail_clearly(data, name):
    try:
        headers, rows = read_all(data, name)
    except ImportFileError as error:
        assert str(error)
    else:
        assert all(len(values) == len(headers) for _, values in rows)
        assert all("\x00" not in cell for _, values in rows for cell in values)


@settings(max_examples=100, deadline=None)
@given(prefix=st.binary(max_size=400))
def test_random_bytes_after_a_zip_signature_are_not_a_valid_xlsx(prefix):
    with pytest.raises(ImportFileError):
        read_all(b"PK\x03\x04" + prefix, "x.xlsx")


@settings(max_examples=60, deadline=None)
@given(rows=TABLE)
def test_every_encoding_and_xlsx_read_the_same_rows(rows):
    expected = read_all(csv_bytes(REGISTRY_HEADERS, rows, "utf-8"))
    for encoding in ("utf-8-sig", "gbk", "gb18030"):
        assert read_all(csv_bytes(REGISTRY_HEADERS, rows, encoding)) == expected, encoding
    assert read_all(xlsx_bytes(REGISTRY_HEADERS, rows), "x.xlsx") == expected


def persons() -> int:
    with unscoped():
        return Person.objects.count()


@DB_EXAMPLES
@given(data=st.binary(max_size=2000))
def test_random_uploads_never_crash_and_import_nothing(homes, street_staff, data):
    before = persons()
    try:
        job = upload(street_staff, data)
    except ValidationError as error:
        assert error.messages
        return
    job = importing.check(job)
    assert job.state in (ImportJob.State.CHECKED, ImportJob.State.UPLOADED)
    assert job.state == ImportJob.State.CHECKED or job.message
    job = importing.run_import(job)
    assert job.state in (ImportJob.State.DONE, ImportJob.State.FAILED)
    assert persons() == before


@DB_EXAMPLES
@given(
    rows=TABLE,
    source=st.sampled_from(["registry", "survey"]),
    encoding=st.sampled_from(["utf-8", "gbk"]),
)
def test_random_tables_are_checked_row_by_row_and_import_nothing(
    homes, street_staff, rows, source, encoding
):
    headers = REGISTRY_HEADERS if source == "registry" else SURVEY_HEADERS[:5]
    before = persons()
    job = upload(street_staff, csv_bytes(headers, rows, encoding), source=source)
    job = importing.check(job)
    assert job.state == ImportJob.State.CHECKED
    data_rows = sum(1 for row in rows if any(cell.strip() for cell in row))
    assert job.processed_rows == data_rows
    assert importing.skipped_rows(job) == data_rows  # random text is never a valid person
    job = importing.run_import(job)
    assert (job.state, job.created_count) == (ImportJob.State.DONE, 0)
    assert persons() == before


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk", "gb18030"])
def test_every_encoding_of_an_extract_gives_the_same_persons(homes, street_staff, encoding):
    rows = registry_rows(homes.street_a)
    first = imported(street_staff, csv_bytes(REGISTRY_HEADERS, rows, "utf-8"))
    assert first.created_count == 24
    again = imported(street_staff, csv_bytes(REGISTRY_HEADERS, rows, encoding))
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 24)
