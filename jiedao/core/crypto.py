"""Field encryption and blind indexes for personal data (domain.md §10).

``encrypt``/``decrypt`` use a MultiFernet: the first key (JIEDAO_FIELD_KEY) encrypts, every key
(it plus JIEDAO_FIELD_KEYS_OLD, comma-separated) decrypts, so rows written before a key rotation
stay readable until ``manage.py rotate_field_key`` has re-encrypted them.

``blind_index`` is a keyed HMAC-SHA256 of a normalised value: equal identity numbers or phones
give equal indexes, so a table can be searched without decrypting it, while someone holding
only the database cannot test guesses (they lack the key). The index key is derived from the
field key with HKDF, so a rotation changes the indexes too: the rotation command recomputes
them, and ``blind_index_candidates`` lets searches match rows not yet rotated.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

BLIND_INDEX_INFO = b"jiedao blind index"
KINDS = ("identity", "phone", "name", "address", "text")


class FieldCryptoError(Exception):
    """A stored value cannot be decrypted: the key is wrong (or missing from
    JIEDAO_FIELD_KEYS_OLD after a rotation) or the token was altered."""


def _configured_keys() -> tuple[str, ...]:
    current = settings.JIEDAO_FIELD_KEY
    old = getattr(settings, "JIEDAO_FIELD_KEYS_OLD", "")
    if isinstance(old, str):
        old = old.split(",")
    return (current, *(key.strip() for key in old if key and key.strip()))


@lru_cache(maxsize=8)
def _fernets(keys: tuple[str, ...]) -> tuple[Fernet, ...]:
    try:
        return tuple(Fernet(key.encode()) for key in keys)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "JIEDAO_FIELD_KEY and JIEDAO_FIELD_KEYS_OLD must be Fernet keys "
            "(32 url-safe base64 bytes)."
        ) from exc


def _multi() -> MultiFernet:
    # Cached per key set, so tests and a rotation (changed settings) see the new keys at once.
    return MultiFernet(list(_fernets(_configured_keys())))


def encrypt(text: str) -> str:
    """A fresh token (random IV, so equal texts give different tokens); "" stays ""."""
    if text == "":
        return ""
    return _multi().encrypt(text.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    if token == "":
        return ""
    try:
        return _multi().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError) as exc:
        raise FieldCryptoError(
            "Cannot decrypt a protected field: wrong JIEDAO_FIELD_KEY (is the previous key "
            "listed in JIEDAO_FIELD_KEYS_OLD?) or the stored value was altered."
        ) from exc


def rotate_token(token: str) -> str:
    """The token re-encrypted under the current key (same plaintext); "" stays ""."""
    if token == "":
        return ""
    try:
        return _multi().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError) as exc:
        raise FieldCryptoError("Cannot re-encrypt a protected field: see decrypt().") from exc


def is_current(token: str) -> bool:
    """Whether the token already decrypts with the current key alone (rotation is done)."""
    if token == "":
        return True
    try:
        _fernets(_configured_keys()[:1])[0].decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeError):
        return False
    return True


def normalise(kind: str, value: str) -> str:
    """The form that is indexed: spelling differences must not hide a match."""
    value = value or ""
    if kind == "identity":
        return re.sub(r"\s+", "", unicodedata.normalize("NFKC", value)).upper()
    if kind == "phone":
        return normalise_phone(value)
    if kind in KINDS:
        return " ".join(value.split())
    raise ValueError(f"Unknown blind index kind {kind!r}; use one of {', '.join(KINDS)}.")


def normalise_phone(value: str) -> str:
    """Digits only, without the +86 / 0086 country prefix (86 alone only before a mobile);
    a landline gets its trunk 0 back."""
    value = unicodedata.normalize("NFKC", value or "")  # full-width digits from an IME
    digits = re.sub(r"[^0-9]", "", value)
    if digits.startswith("0086"):
        national = digits[4:]
    elif value.strip().startswith("+86") or (len(digits) == 13 and digits.startswith("861")):
        national = digits[2:]
    else:
        return digits
    # Internationally a landline drops its trunk 0 (+86 21 6123 4567 is 021-61234567).
    if national and national[0] not in "01":
        national = "0" + national
    return national


@lru_cache(maxsize=8)
def _index_key(field_key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=BLIND_INDEX_INFO).derive(
        field_key.encode()
    )


def _index_with(field_key: str, kind: str, value: str) -> str:
    # The kind is part of the message: a phone and an identity number never share an index.
    message = f"{kind}\x00{normalise(kind, value)}".encode()
    return hmac.new(_index_key(field_key), message, hashlib.sha256).hexdigest()


def blind_index(kind: str, value: str) -> str:
    """64 hex characters under the current key; "" for an empty value (nothing to find)."""
    if not normalise(kind, value):
        return ""
    return _index_with(_configured_keys()[0], kind, value)


def blind_index_candidates(kind: str, value: str) -> list[str]:
    """The index under every configured key: search with ``__in`` during a rotation."""
    if not normalise(kind, value):
        return []
    return [_index_with(key, kind, value) for key in _configured_keys()]
