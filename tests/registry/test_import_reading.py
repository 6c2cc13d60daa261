"""Reading CSV and XLSX files: encodings, damaged files, row numbers, memory; column mapping;
the value parsers (relations, dates, care groups, addresses)."""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import tracemalloc
import zipfile

import pytest
from django.core.exceptions import ValidationError

from jiedao.registry import importing
from jiedao.registry.importing import ImportFileError, open_rows
from jiedao.registry.models import CareGroup, ImportJob, Person
from tests.registry.import_fixtures import REGISTRY_HEADERS, csv_bytes, xlsx_bytes

ROWS = [
    ["H001", "王小明", "110119198005170011", "户主", "香水园路1号1号楼1单元101"],
    ["H001", "李　芳", "110119198206230022", "配偶", "香水园路１号1号楼1单元101"],
]


def read(data: bytes, name: str = "x.csv") -> tuple[importing.RowReader, list]:
    with open_rows(io.BytesIO(data), name=name) as reader:
        return reader, list(reader)


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("gbk", "gb18030"),
        ("gb18030", "gb18030"),
        ("utf-16", "utf-16"),
    ],
)
def test_every_encoding_gives_the_same_rows(encoding, detected):
    reader, rows = read(csv_bytes(REGISTRY_HEADERS, ROWS, encoding))
    assert reader.encoding == detected
    assert reader.headers == REGISTRY_HEADERS
    # Spreadsheet numbering: the header is row 1; cells are stripped (the full-width space
    # inside 李　芳 stays, it is part of the cell, not around it).
    assert rows == [(2, ROWS[0]), (3, ROWS[1])]


def test_a_file_that_only_decodes_as_gb18030_in_its_last_chunk_is_still_read():
    """Strict UTF-8 over the whole stream: GBK bytes after 300 KB of ASCII switch the reader."""
    filler = [["H9", "a" * 50, "1", "head", "x"]] * 6000
    data = csv_bytes(["hh", "name", "id", "relation", "address"], [*filler, ROWS[0]], "gbk")
    assert data[: importing.READ_BYTES].decode("utf-8")  # the first chunk alone is valid UTF-8
    reader, rows = read(data)
    assert reader.encoding == "gb18030"
    assert rows[-1] == (6002, ROWS[0])


def test_bytes_invalid_in_both_encodings_are_reported_with_their_line():
    data = csv_bytes(REGISTRY_HEADERS, ROWS) + b"H002,\xff\xfe\xff,1,2,3\n"
    with pytest.raises(ImportFileError, match="neither UTF-8 nor GB18030/GBK text: line 4"):
        read(data)


def test_a_utf8_file_cut_in_the_middle_of_a_character_is_called_truncated():
    data = csv_bytes(REGISTRY_HEADERS, ROWS)
    assert data.endswith(b"\xe5\x8f\xb7\xe6\xa5\xbc1\xe5\x8d\x95\xe5\x85\x83101\r\n")
    with pytest.raises(ImportFileError, match="truncated"):
        read(data[:-9])  # inside 元


def test_a_damaged_xlsx_is_not_a_valid_xlsx_file():
    data = xlsx_bytes(REGISTRY_HEADERS, ROWS)
    with pytest.raises(ImportFileError, match="not a valid XLSX file"):
        read(data[: len(data) // 2], name="x.xlsx")
    with pytest.raises(ImportFileError, match="not a valid XLSX file"):
        read(b"just text", name="x.xlsx")


def test_a_zip_that_is_not_a_workbook_is_not_a_valid_xlsx_file():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(ImportFileError, match="not a valid XLSX file"):
        read(buffer.getvalue())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old Excel file"),
        (b"<html><table><tr><td>a</td></tr></table></html>", "web page"),
        (b"a,b\n\x00\x01\x02,3\n", "binary data"),
        (b"\n\n\n", "No header row"),
        (b"a," * 300 + b"\n", "300 columns"),
    ],
)
def test_unreadable_files_get_a_clear_reason(data, message):
    with pytest.raises(ImportFileError, match=message):
        read(data)


def test_xlsx_rows_are_numbered_as_excel_shows_them_and_cells_become_text():
    rows = [
        ["H001", "王小明", "110119198005170011", "户主", "香水园路1号"],
        [],  # a blank row: skipped, its number is not reused
        [1001, "李芳", 110119198206230022.0, "02", datetime.datetime(2020, 1, 2)],
    ]
    reader, read_rows = read(xlsx_bytes(REGISTRY_HEADERS, rows), name="x.xlsx")
    assert reader.kind == "xlsx" and reader.encoding == ""
    assert [number for number, _ in read_rows] == [2, 4]
    assert read_rows[1][1][:2] == ["1001", "李芳"]
    assert read_rows[1][1][4] == "2020-01-02"


def test_a_title_row_above_the_header_is_skipped_and_numbering_follows_the_sheet():
    data = "香水园街道户籍人口\n" + "\n".join(",".join(row) for row in [REGISTRY_HEADERS, ROWS[0]])
    reader, rows = read(data.encode())
    assert reader.header_row == 2
    assert rows == [(3, ROWS[0])]


def test_a_quoted_cell_over_two_lines_is_one_row():
    data = '户号,姓名,公民身份号码,与户主关系,住址\nH1,"王\n小明",1,户主,x\nH2,李,2,户主,y\n'
    _, rows = read(data.encode())
    assert [number for number, _ in rows] == [2, 3]
    assert rows[0][1][1] == "王\n小明"


def test_tab_separated_text_and_short_rows_are_read():
    data = "户号\t姓名\t公民身份号码\nH1\t王\n"
    reader, rows = read(data.encode())
    assert reader.headers == ["户号", "姓名", "公民身份号码"]
    assert rows == [(2, ["H1", "王", ""])]


def test_a_line_longer_than_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(importing, "MAX_LINE_CHARS", 100)
    with pytest.raises(ImportFileError, match="longer than 100 characters"):
        read(b"a,b\n" + b"x" * 500 + b"\n")


def test_unbalanced_quotes_beyond_the_field_limit_are_a_clear_error():
    data = b'a,b\n"' + b"x" * 200_000 + b"\n"
    with pytest.raises(ImportFileError, match="Row 2 is not well-formed CSV"):
        read(data)


@pytest.mark.slow  # ~3 s alone; tracemalloc slows every allocation of the 200,000 rows
def test_reading_200k_rows_streams_in_bounded_memory(tmp_path):
    """The file is ~19 MB; reading it must not hold it (nor its rows) in memory."""
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(REGISTRY_HEADERS)
        row = ["H00000001", "王小明", "110119198005170011", "户主", "妫水1路1号1号楼1单元101"]
        writer.writerows([row] * 200_000)
    assert path.stat().st_size > 15_000_000
    tracemalloc.start()
    try:
        with open_rows(path) as reader:
            count = sum(1 for _ in reader)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 200_000
    assert peak < 4_000_000, peak


def test_encoding_is_detected_in_chunks_and_the_file_is_left_at_its_start():
    data = csv_bytes(REGISTRY_HEADERS, ROWS * 20_000, "gbk")
    stream = io.BytesIO(data)
    assert importing.detect_encoding(stream) == "gb18030"
    assert stream.tell() == 0


# --- Mapping -----------------------------------------------------------------------------------


def test_suggested_mapping_of_an_extract():
    headers = ["序号", "户号", "姓名", "性别", "公民身份号码(18位)", "与户主关系", "住址"]
    assert importing.suggest_mapping(headers, ImportJob.Source.REGISTRY) == {
        "household_number": 1,
        "name": 2,
        "sex": 3,
        "identity_number": 4,
        "relation": 5,
        "address": 6,
    }


def test_suggested_mapping_of_a_survey_with_other_spellings():
    headers = ["Name", "身份证号", "手机号", "户籍地址", "现住址", "人员类别", "出生日期"]
    assert importing.suggest_mapping(headers, ImportJob.Source.SURVEY) == {
        "name": 0,
        "identity_number": 1,
        "phone": 2,
        "address": 4,  # where they live, not 户籍地址
        "care_groups": 5,
        "birth_date": 6,
    }


def test_an_extract_with_both_addresses_keeps_the_registered_text_apart():
    headers = ["户号", "姓名", "证件号码", "关系", "标准地址", "户籍地址"]
    mapping = importing.suggest_mapping(headers, ImportJob.Source.REGISTRY)
    assert mapping["address"] == 4 and mapping["registered_address"] == 5


def test_clean_mapping_names_what_is_missing_or_doubled():
    headers = ["户号", "姓名", "身份证号", "关系", "住址"]
    with pytest.raises(ValidationError) as missing:
        importing.clean_mapping({"name": "1"}, headers, ImportJob.Source.REGISTRY)
    assert any("Household number" in m for m in missing.value.messages)
    assert any("Identity number" in m for m in missing.value.messages)
    doubled = {"household_number": 0, "name": 1, "identity_number": 1, "relation": 3, "address": 4}
    with pytest.raises(ValidationError, match="column 姓名 is chosen for two fields"):
        importing.clean_mapping(doubled, headers, ImportJob.Source.REGISTRY)
    with pytest.raises(ValidationError, match="no such column"):
        importing.clean_mapping({**doubled, "identity_number": 9}, headers, "registry")


def test_an_empty_header_is_called_by_its_column_letter():
    assert importing.column_label(["a", "", "c"], 1) == "column B"


# --- Values ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("户主", Person.Relation.HEAD),
        ("本人", Person.Relation.HEAD),
        ("02", Person.Relation.HEAD),
        ("妻", Person.Relation.SPOUSE),
        ("12", Person.Relation.SPOUSE),
        ("长子", Person.Relation.CHILD),
        ("子女", Person.Relation.CHILD),
        ("31", Person.Relation.CHILD),
        ("38", Person.Relation.OTHER),  # 儿媳, a daughter-in-law
        ("外孙女", Person.Relation.GRANDCHILD),
        ("母亲", Person.Relation.PARENT),
        ("岳父", Person.Relation.OTHER),
        ("朋友的朋友", None),
        ("1", None),
    ],
)
def test_relations(text, expected):
    assert importing.parse_relation(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1990-03-07", datetime.date(1990, 3, 7)),
        ("1990/3/7", datetime.date(1990, 3, 7)),
        ("19900307", datetime.date(1990, 3, 7)),
        ("1990年3月7日", datetime.date(1990, 3, 7)),
        ("１９９０-03-07 00:00:00", datetime.date(1990, 3, 7)),
        ("1990-02-30", None),
        ("七月", None),
    ],
)
def test_dates(text, expected):
    assert importing.parse_date(text) == expected


def test_care_groups_split_on_any_separator_and_report_unknown_words():
    groups, unknown = importing.parse_care_groups("低保；残疾人、“4050”人员, 独居老人 外星人")
    assert groups == sorted(
        [
            CareGroup.SUBSISTENCE,
            CareGroup.DISABLED,
            CareGroup.UNEMPLOYED_4050,
            CareGroup.ELDERLY_ALONE,
        ]
    )
    assert unknown == ["外星人"]


def test_address_keys_ignore_spacing_and_full_width_digits():
    assert (
        importing.address_key(" 香水园路１号 1号楼\u30001单元 101 ") == "香水园路1号1号楼1单元101"
    )


def test_identity_keys_are_equal_for_equal_numbers_only():
    key = importing.identity_key("11011919800517001x")
    assert key == importing.identity_key("110119 19800517 001X")
    assert key != importing.identity_key("110119198005170011")
    assert importing.identity_key("not a number") is None


def test_bom_constants_are_the_ones_excel_writes():
    assert csv_bytes(["a"], [], "utf-8-sig").startswith(codecs.BOM_UTF8)
