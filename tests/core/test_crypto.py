"""Field encryption, blind indexes, EncryptedTextField, masks and the rotation command."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.management import call_command
from django.db import connection, models
from django.db.models.functions import Cast
from django.test.utils import isolate_apps
from hypothesis import given
from hypothesis import strategies as st

from jiedao.core import crypto
from jiedao.core.fields import EncryptedTextField, mask
from jiedao.core.management.commands.rotate_field_key import (
    encrypted_fields,
    rotate_all,
    rotate_tokens,
)

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


@pytest.fixture
def old_key(settings):
    settings.JIEDAO_FIELD_KEY = OLD_KEY
    settings.JIEDAO_FIELD_KEYS_OLD = ""
    return settings


def rotate_to_new_key(settings) -> None:
    settings.JIEDAO_FIELD_KEY = NEW_KEY
    settings.JIEDAO_FIELD_KEYS_OLD = OLD_KEY


def only_new_key_decrypts(token: str) -> bool:
    Fernet(NEW_KEY.encode()).decrypt(token.encode())
    return True


# --- encrypt / decrypt -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["13800138000", "浙江省杭州市西湖区文三路 123 号", "王小明", "x" * 5000]
)
def test_round_trip(old_key, text):
    token = crypto.encrypt(text)
    assert token != text and text not in token
    assert crypto.decrypt(token) == text


@given(st.text())
def test_round_trip_any_text(text):
    assert crypto.decrypt(crypto.encrypt(text)) == text


def test_empty_stays_empty_and_equal_texts_differ(old_key):
    assert crypto.encrypt("") == "" and crypto.decrypt("") == ""
    assert crypto.encrypt("王小明") != crypto.encrypt("王小明")  # random IV: no frequency leak


def test_tampered_token_is_a_clear_error(old_key):
    token = crypto.encrypt("110101199003071234")
    tampered = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    with pytest.raises(crypto.FieldCryptoError, match="altered"):
        crypto.decrypt(tampered)
    with pytest.raises(crypto.FieldCryptoError):
        crypto.decrypt("not a token at all")


def test_wrong_key_is_a_clear_error(old_key, settings):
    token = crypto.encrypt("王小明")
    settings.JIEDAO_FIELD_KEY = NEW_KEY  # rotated, but the old key was not kept
    with pytest.raises(crypto.FieldCryptoError, match="JIEDAO_FIELD_KEYS_OLD"):
        crypto.decrypt(token)


def test_invalid_key_setting_is_reported(settings):
    settings.JIEDAO_FIELD_KEY = "too-short"
    with pytest.raises(ImproperlyConfigured, match="Fernet"):
        crypto.encrypt("x")


def test_rotation_keeps_old_tokens_readable_and_rotates_them(old_key, settings):
    token = crypto.encrypt("王小明 13800138000")
    rotate_to_new_key(settings)
    assert crypto.decrypt(token) == "王小明 13800138000"
    assert not crypto.is_current(token)
    rotated = crypto.rotate_token(token)
    assert crypto.is_current(rotated) and only_new_key_decrypts(rotated)
    assert crypto.decrypt(rotated) == "王小明 13800138000"
    new_token = crypto.encrypt("new")
    assert only_new_key_decrypts(new_token)


def test_old_keys_setting_accepts_a_list_and_blanks(old_key, settings):
    token = crypto.encrypt("x")
    settings.JIEDAO_FIELD_KEY = NEW_KEY
    settings.JIEDAO_FIELD_KEYS_OLD = f" , {OLD_KEY} ,"
    assert crypto.decrypt(token) == "x"
    settings.JIEDAO_FIELD_KEYS_OLD = [OLD_KEY]
    assert crypto.decrypt(token) == "x"


# --- blind index -------------------------------------------------------------------------


def test_blind_index_is_stable_and_keyed(old_key, settings):
    first = crypto.blind_index("identity", "11010119900307123X")
    assert first == crypto.blind_index("identity", "11010119900307123X")
    assert len(first) == 64 and "110101" not in first
    settings.JIEDAO_FIELD_KEY = NEW_KEY
    assert crypto.blind_index("identity", "11010119900307123X") != first


@pytest.mark.parametrize(
    ("kind", "spellings"),
    [
        ("phone", ["13800138000", "+86 138 0013 8000", "0086-138-0013-8000", "138-0013-8000"]),
        ("phone", ["0571-88001234", "(0571) 8800 1234", "+86 0571 88001234", "+86 571 88001234"]),
        ("phone", ["13800138000", "１３８００１３８０００"]),
        ("identity", ["11010119900307123X", "11010119900307123x", " 110101 19900307 123x "]),
        ("identity", ["11010119900307123X", "１１０１０１１９９００３０７１２３ｘ"]),
        ("name", ["王小明", " 王小明 "]),
    ],
)
def test_blind_index_normalises(old_key, kind, spellings):
    assert len({crypto.blind_index(kind, value) for value in spellings}) == 1


def test_blind_index_separates_kinds_and_values(old_key):
    assert crypto.blind_index("phone", "13800138000") != crypto.blind_index(
        "identity", "13800138000"
    )
    assert crypto.blind_index("phone", "13800138000") != crypto.blind_index("phone", "13800138001")
    assert crypto.blind_index("phone", " ") == ""
    with pytest.raises(ValueError, match="Unknown blind index kind"):
        crypto.blind_index("passport", "E123")


def test_blind_index_candidates_cover_old_keys(old_key, settings):
    before = crypto.blind_index("phone", "13800138000")
    rotate_to_new_key(settings)
    candidates = crypto.blind_index_candidates("phone", "+86 13800138000")
    assert candidates == [crypto.blind_index("phone", "13800138000"), before]


# --- masks -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("identity", "110101199003071234", "110101********1234"),
        ("identity", "11010119900307123x", "110101********123X"),
        ("identity", "123", "***"),
        ("phone", "13812345678", "138****5678"),
        ("phone", "+86 138 1234 5678", "138****5678"),
        ("phone", "0571-88001234", "057*****1234"),
        ("name", "王小明", "王*明"),
        ("name", "王明", "王*"),
        ("name", "欧阳小明", "欧**明"),
        ("name", "王", "*"),
        ("address", "浙江省杭州市西湖区文三路 123 号 5 幢 2 单元 301 室", "文三路123号"),
        ("address", "古塘街道古塘路5号3幢201", "古塘路5号"),
        ("address", "朝阳区建国门外大道 1 号", "建国门外大道1号"),
        ("address", "某某小区5幢", "****"),
        ("text", "anything", "****"),
        ("identity", "", ""),
        ("phone", None, ""),
    ],
)
def test_masks(kind, value, expected):
    assert mask(kind, value) == expected


def test_mask_unknown_kind():
    with pytest.raises(ValueError, match="Unknown kind"):
        mask("passport", "E123")


# --- EncryptedTextField ------------------------------------------------------------------


@pytest.fixture
def person_model(db, old_key):
    """A throw-away model in an isolated registry (not seen by apps.get_models() or
    migrations), its table created inside the test transaction and rolled back with it."""
    with isolate_apps("jiedao.core"):

        class Resident(models.Model):
            name = EncryptedTextField(kind="name")
            phone = EncryptedTextField(kind="phone", blind_index_field="phone_index")
            phone_index = models.CharField(max_length=64, blank=True, db_index=True)
            note = models.CharField(max_length=20, blank=True)

            class Meta:
                app_label = "core"

            def __str__(self) -> str:
                return f"resident {self.pk}"

        sql, params = connection.schema_editor().table_sql(Resident)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        yield Resident


def stored(model, pk, field):
    raw = Cast(field, output_field=models.TextField())
    return model.objects.annotate(raw=raw).values_list("raw", flat=True).get(pk=pk)


def test_field_stores_ciphertext_and_reads_plaintext(person_model):
    person = person_model.objects.create(name="王小明", phone="13800138000")
    assert stored(person_model, person.pk, "name") not in ("", "王小明")
    assert crypto.decrypt(stored(person_model, person.pk, "name")) == "王小明"
    fresh = person_model.objects.get(pk=person.pk)
    assert (fresh.name, fresh.phone) == ("王小明", "13800138000")
    blank = person_model.objects.create(name="")
    assert stored(person_model, blank.pk, "name") == ""
    assert list(person_model.objects.filter(name="")) == [blank]
    assert not person_model.objects.filter(name__isnull=True).exists()


@pytest.mark.parametrize(
    "lookup",
    [{"name": "王小明"}, {"name__icontains": "王"}, {"name__in": ["王小明"]}, {"name__lower": "x"}],
)
def test_field_refuses_lookups_on_ciphertext(person_model, lookup):
    with pytest.raises(FieldError, match="encrypted"):
        list(person_model.objects.filter(**lookup))


def test_field_deconstructs_its_options():
    field = EncryptedTextField(kind="phone", blind_index_field="phone_index")
    field.set_attributes_from_name("phone")
    _, path, _, kwargs = field.deconstruct()
    assert path == "jiedao.core.fields.EncryptedTextField"
    assert kwargs["kind"] == "phone" and kwargs["blind_index_field"] == "phone_index"
    with pytest.raises(ValueError, match="Unknown kind"):
        EncryptedTextField(kind="passport")


# --- rotation ----------------------------------------------------------------------------


def test_rotate_tokens_is_idempotent(old_key, settings):
    tokens = [crypto.encrypt("王小明"), "", crypto.encrypt("13800138000")]
    rotate_to_new_key(settings)
    rotated = rotate_tokens(tokens)
    assert rotated[1] == "" and all(crypto.is_current(token) for token in rotated)
    assert [crypto.decrypt(token) for token in rotated] == ["王小明", "", "13800138000"]
    assert rotate_tokens(rotated) == rotated  # second run changes nothing


def test_rotate_all_re_encrypts_rows_and_blind_indexes(person_model, settings):
    people = [
        person_model.objects.create(
            name=f"王{i}明", phone=f"1380013800{i}", phone_index=crypto.blind_index("phone", "1")
        )
        for i in range(5)
    ]
    person_model.objects.create(name="", phone="")
    rotate_to_new_key(settings)
    progress: list[str] = []
    results = rotate_all([person_model], batch_size=2, progress=progress.append)
    assert [(r.label.split(".")[-1], r.rows, r.rotated) for r in results] == [
        ("name", 6, 5),
        ("phone", 6, 5),
    ]
    assert len(progress) == 6  # three batches per field
    for i, person in enumerate(people):
        fresh = person_model.objects.get(pk=person.pk)
        assert (fresh.name, fresh.phone) == (f"王{i}明", f"1380013800{i}")
        assert only_new_key_decrypts(stored(person_model, person.pk, "name"))
        assert fresh.phone_index == crypto.blind_index("phone", f"+86 1380013800{i}")
    again = rotate_all([person_model], batch_size=2)
    assert [r.rotated for r in again] == [0, 0]


def test_rotate_all_with_a_lost_key_is_a_clear_error(person_model, settings):
    person_model.objects.create(name="王小明")
    settings.JIEDAO_FIELD_KEY = NEW_KEY
    settings.JIEDAO_FIELD_KEYS_OLD = ""
    with pytest.raises(crypto.FieldCryptoError):
        rotate_all([person_model])


def test_command_finds_the_registry_fields(db):
    from jiedao.registry.models import Person

    names = {(f.model, f.name) for f in encrypted_fields(apps.get_models())}
    assert {(Person, "identity_number"), (Person, "phone"), (Person, "registered_address")} <= names
    out = StringIO()
    call_command("rotate_field_key", stdout=out)
    assert "nothing to rotate" not in out.getvalue()
