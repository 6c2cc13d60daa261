"""What is kept in the audit trail from a query: phones and identity numbers masked, codes kept."""

import pytest

from jiedao.core.fields import redact_numbers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 rows; q=110119194107170034&format=xlsx", "1 rows; q=110119********0034&format=xlsx"),
        ("q=11011919410717003x", "q=110119********003X"),
        ("q=138 1234 5678", "q=138****5678"),
        ("q=+86 138-1234-5678", "q=138****5678"),
        ("q=0571-88001234", "q=057*****1234"),
        ("q=王小明&page=2", "q=王小明&page=2"),
        (
            "community=110119001001&grid=110119001001001",
            "community=110119001001&grid=110119001001001",
        ),
        ("", ""),
    ],
)
def test_redact_numbers(text, expected):
    assert redact_numbers(text) == expected
