"""Pinyin initials for search: residents type ``xsy`` for 香水园."""

from pypinyin import Style, lazy_pinyin


def initials(text: str) -> str:
    """Lower-case initials of each Chinese character; other letters and digits kept as they are."""
    letters = lazy_pinyin(text, style=Style.FIRST_LETTER, errors="default")
    return "".join(part[:1] if part.isalpha() else part for part in letters).lower()[:64]


def full_pinyin(text: str) -> str:
    return "".join(lazy_pinyin(text)).lower()[:200]
