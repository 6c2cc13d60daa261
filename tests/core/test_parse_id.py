import pytest

from jiedao.core.views_base import parse_id


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12", 12),
        ("²", None),
        ("١٢", None),
        ("-1", None),
        ("", None),
        (None, None),
        ("9" * 30, None),
    ],
)
def test_parse_id(raw, expected):
    assert parse_id(raw) == expected
