"""Photos on cases: only real JPEG/PNG/WebP, within limits, cleaned of EXIF, all or nothing,
served only to those who may see the case."""

from __future__ import annotations

import os
from io import BytesIO
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation
from PIL import ExifTags, Image

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.cases.attachments import MAX_PHOTOS, store_photos
from jiedao.cases.models import CaseAttachment, CaseEvent
from jiedao.cases.services import submit_case
from jiedao.core.scopes import unscoped
from tests import factories as f
from tests.cases.conftest import inside

pytestmark = pytest.mark.django_db


# --- A stand-in for the case page's route while it is not there yet --------------------------


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"  # pages and messages too, not only this thread
    with translation.override("en"):
        yield


# --- Images made in memory ---------------------------------------------------------------------


def picture(fmt="JPEG", size=(64, 48), mode="RGB", noise=False, **save) -> bytes:
    """An image with a red top-left quarter (to see where it ends up after rotation)."""
    if noise:  # incompressible, so half the file is half the picture
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new(mode, size, "white" if mode != "P" else 0)
        if mode in ("RGB", "RGBA"):
            image.paste((255, 0, 0), (0, 0, size[0] // 2, size[1] // 2))
    out = BytesIO()
    image.save(out, format=fmt, **save)
    return out.getvalue()


def upload(name: str, data: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def exif_with_gps(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "相机厂"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (40.0, 27.0, 30.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (115.0, 58.0, 12.0)
    return exif


def stored_files(media: Path) -> list[Path]:
    return [p for p in Path(media).rglob("*") if p.is_file()] if Path(media).exists() else []


def photo_rows():
    with unscoped():
        return list(CaseAttachment.objects.order_by("pk"))


def audit_count() -> int:
    with unscoped():
        return AuditEntry.objects.filter(action="cases.attachment.create").count()


def refused(case, files, actor=None) -> list[str]:
    """Store ``files``, expect a refusal, and return its messages."""
    with pytest.raises(ValidationError) as error:
        store_photos(actor, case, files)
    return error.value.messages


# --- Accepted photos ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "content_type", "extension"),
    [("JPEG", "image/jpeg", ".jpg"), ("PNG", "image/png", ".png"), ("WEBP", "image/webp", ".webp")],
)
def test_a_valid_photo_is_stored(case, media, fmt, content_type, extension):
    (photo,) = store_photos(None, case, [upload(f"现场{extension}", picture(fmt))])
    assert (photo.content_type, photo.extension, photo.width, photo.height) == (
        content_type,
        extension,
        64,
        48,
    )
    assert photo.original_name == f"现场{extension}"
    path = Path(photo.file.path)
    assert path.is_relative_to(media) and path.suffix == extension
    assert path.stem != "现场" and len(path.stem) == 32  # a random name
    assert photo.size == path.stat().st_size
    with Image.open(path) as reopened:
        assert reopened.format == fmt
    assert photo_rows() == [photo] and audit_count() == 1
    assert photo.territory_code == case.territory_code


def test_the_bytes_decide_not_the_name_or_declared_type(case):
    (photo,) = store_photos(None, case, [upload("photo.jpg", picture("PNG"), "image/jpeg")])
    assert (photo.content_type, photo.extension) == ("image/png", ".png")


def test_a_transparent_png_keeps_its_alpha(case):
    (photo,) = store_photos(None, case, [upload("a.png", picture("PNG", mode="RGBA"))])
    with Image.open(photo.file.path) as reopened:
        assert reopened.mode == "RGBA"


def test_exif_gps_is_stripped_and_orientation_applied(case):
    data = picture("JPEG", size=(60, 40), exif=exif_with_gps(orientation=6))
    with Image.open(BytesIO(data)) as original:  # the test image really carries the position
        assert original.getexif().get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"
    (photo,) = store_photos(None, case, [upload("gps.jpg", data)])
    assert (photo.width, photo.height) == (40, 60)  # turned upright (orientation 6: 90° clockwise)
    stored = Path(photo.file.path).read_bytes()
    assert b"Exif" not in stored and "相机厂".encode() not in stored
    with Image.open(photo.file.path) as cleaned:
        assert dict(cleaned.getexif()) == {}
        assert "exif" not in cleaned.info and "xmp" not in cleaned.info
        assert (cleaned.width, cleaned.height) == (40, 60)
        red, green, _ = cleaned.convert("RGB").getpixel((39, 0))  # top-left went top-right
        assert red > 200 and green < 60


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_exif_is_stripped_from_png_and_webp(case, fmt):
    (photo,) = store_photos(None, case, [upload("x", picture(fmt, exif=exif_with_gps()))])
    with Image.open(photo.file.path) as cleaned:
        assert dict(cleaned.getexif()) == {}
    assert b"Exif" not in Path(photo.file.path).read_bytes()


def test_nine_photos_at_once_are_accepted_and_linked_to_an_event(case):
    with unscoped():
        event = CaseEvent.objects.get(case=case, action="submit")
    files = [upload(f"{i}.jpg", picture()) for i in range(MAX_PHOTOS)]
    stored = store_photos(None, case, files, event=event)
    assert len(stored) == MAX_PHOTOS and {p.event_id for p in stored} == {event.pk}
    assert len({p.file.name for p in stored}) == MAX_PHOTOS


# --- Refused photos: a clear reason, nothing written ------------------------------------------


def assert_nothing_stored(media):
    assert photo_rows() == []
    assert stored_files(media) == []
    assert audit_count() == 0


def test_a_text_file_named_jpg_is_refused(case, media):
    messages = refused(case, [upload("photo.jpg", "这不是照片".encode())])
    assert messages == ["“photo.jpg” is not a JPEG, PNG or WebP photo."]
    assert_nothing_stored(media)


def test_another_image_format_is_refused(case, media):
    assert refused(case, [upload("a.gif", picture("GIF", mode="P"), "image/gif")]) == [
        "“a.gif” is not a JPEG, PNG or WebP photo."
    ]
    assert_nothing_stored(media)


def test_an_empty_file_is_refused(case, media):
    assert "is not a JPEG, PNG or WebP photo" in refused(case, [upload("e.jpg", b"")])[0]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_truncated_photo_is_refused(case, media, fmt):
    data = picture(fmt, size=(256, 256), noise=True)
    messages = refused(case, [upload("cut.img", data[: len(data) // 2])])
    assert messages == ["“cut.img” is damaged or incomplete and cannot be read."]
    assert_nothing_stored(media)


def test_an_oversized_file_is_refused(case, media, settings):
    data = picture(size=(256, 256), noise=True)
    settings.JIEDAO_PHOTO_MAX_BYTES = len(data) - 1
    (message,) = refused(case, [upload("big.jpg", data)])
    assert message.startswith("“big.jpg” is larger than")
    assert_nothing_stored(media)
    settings.JIEDAO_PHOTO_MAX_BYTES = len(data)
    assert len(store_photos(None, case, [upload("big.jpg", data)])) == 1


def test_a_file_larger_than_it_claims_is_refused(case, media, settings):
    data = picture(size=(256, 256), noise=True)
    settings.JIEDAO_PHOTO_MAX_BYTES = 1000
    liar = upload("liar.jpg", data)
    liar.size = 10
    assert "is larger than" in refused(case, [liar])[0]
    assert_nothing_stored(media)


def test_the_default_limit_is_ten_megabytes(case, settings):
    from jiedao.cases.attachments import max_bytes

    if hasattr(settings, "JIEDAO_PHOTO_MAX_BYTES"):
        del settings.JIEDAO_PHOTO_MAX_BYTES
    assert max_bytes() == 10 * 1024 * 1024


def test_too_many_photos_are_refused(case, media):
    files = [upload(f"{i}.jpg", picture()) for i in range(MAX_PHOTOS + 1)]
    assert refused(case, files) == ["Add at most 9 photos at a time; you chose 10."]
    assert_nothing_stored(media)


def test_no_photo_is_refused(case, media):
    assert refused(case, []) == ["Choose at least one photo."]


@pytest.mark.parametrize("size", [(40, 40), (64, 48)])  # past the limit; past twice the limit
def test_a_decompression_bomb_is_refused(case, media, monkeypatch, size):
    data = picture(size=size)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    (message,) = refused(case, [upload("bomb.png", data)])
    assert message == "“bomb.png” has too many pixels to be opened safely (at most 1000)."
    assert_nothing_stored(media)


def test_one_bad_file_refuses_them_all(case, media):
    files = [
        upload("good.jpg", picture()),
        upload("notes.jpg", b"plain text"),
        upload("good.png", picture("PNG")),
        upload("half.jpg", picture(size=(256, 256), noise=True)[:3000]),
    ]
    messages = refused(case, files)
    assert messages == [
        "“notes.jpg” is not a JPEG, PNG or WebP photo.",
        "“half.jpg” is damaged or incomplete and cannot be read.",
    ]
    assert_nothing_stored(media)


def test_a_failure_while_writing_removes_the_files_already_written(case, media, monkeypatch):
    from jiedao.cases import attachments

    calls = []

    def failing_log(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")

    monkeypatch.setattr(attachments, "log_action", failing_log)
    with pytest.raises(RuntimeError):
        store_photos(None, case, [upload("1.jpg", picture()), upload("2.jpg", picture())])
    assert photo_rows() == [] and stored_files(media) == []


def test_an_event_of_another_case_is_refused(case, world, categories, media):
    lng, lat = inside(world.grid_a1x)
    other = submit_case(
        None,
        channel="hotline",
        category=categories["sanitation"],
        description="x",
        lng=lng,
        lat=lat,
    ).case
    with unscoped():
        event = CaseEvent.objects.get(case=other)
    with pytest.raises(ValidationError):
        store_photos(None, case, [upload("a.jpg", picture())], event=event)
    assert_nothing_stored(media)


# --- Who may add and see photos ----------------------------------------------------------------


@pytest.fixture
def resident_case(world, categories, role_users):
    lng, lat = inside(world.grid_a1x)
    return submit_case(
        role_users[Role.RESIDENT],
        channel="web",
        category=categories["sanitation"],
        description="楼下垃圾没人清运",
        lng=lng,
        lat=lat,
    ).case


def outsider(world, who):
    return {
        "street_b": lambda: f.user_with_role(Role.STREET_STAFF, world.street_b, username="sb"),
        "grid_a1y": lambda: f.user_with_role(Role.GRID_WORKER, world.grid_a1y, username="ga1y"),
        "resident": lambda: f.user_with_role(Role.RESIDENT, world.community_a1, username="r2"),
        "department": lambda: f.user_with_role(Role.DEPARTMENT_STAFF, world.department),
    }[who]()


OUTSIDERS = ["street_b", "grid_a1y", "resident", "department"]


def test_the_service_refuses_those_who_may_not_add(world, case, media):
    for who in OUTSIDERS:
        with pytest.raises(PermissionDenied):
            store_photos(outsider(world, who), case, [upload("a.jpg", picture())])
    assert_nothing_stored(media)


def test_the_reporter_and_staff_may_add(resident_case, role_users):
    for role in (Role.RESIDENT, Role.GRID_WORKER, Role.STREET_STAFF):
        store_photos(role_users[role], resident_case, [upload("a.jpg", picture())])
    uploaders = [p.uploaded_by for p in photo_rows()]
    assert uploaders == [
        role_users[r] for r in (Role.RESIDENT, Role.GRID_WORKER, Role.STREET_STAFF)
    ]


@pytest.fixture
def stored_photo(resident_case):
    (photo,) = store_photos(None, resident_case, [upload("现场.webp", picture("WEBP"))])
    return photo


def photo_url(photo) -> str:
    return reverse("cases:photo", args=[photo.pk])


@pytest.mark.parametrize("role", [Role.RESIDENT, Role.GRID_WORKER, Role.STREET_STAFF])
def test_a_photo_is_served_inside_scope(client, role_users, stored_photo, role):
    client.force_login(role_users[role])
    response = client.get(photo_url(stored_photo))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert response["Cache-Control"] == "private, max-age=3600"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == Path(stored_photo.file.path).read_bytes()


@pytest.mark.parametrize("who", OUTSIDERS)
def test_a_photo_is_not_found_outside_scope(client, world, stored_photo, who):
    client.force_login(outsider(world, who))
    assert client.get(photo_url(stored_photo)).status_code == 404


def test_a_missing_photo_is_not_found_and_anonymous_users_sign_in(client, role_users, stored_photo):
    assert client.get(photo_url(stored_photo)).status_code == 302  # to the sign-in page
    client.force_login(role_users[Role.STREET_STAFF])
    assert client.get(reverse("cases:photo", args=[stored_photo.pk + 999])).status_code == 404
    Path(stored_photo.file.path).unlink()
    assert client.get(photo_url(stored_photo)).status_code == 404


def add_url(case) -> str:
    return reverse("cases:add_photos", args=[case.pk])


def texts(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


@pytest.mark.parametrize("role", [Role.RESIDENT, Role.STREET_STAFF, Role.GRID_WORKER])
def test_uploading_through_the_page(client, role_users, resident_case, media, role):
    client.force_login(role_users[role])
    files = [upload("1.jpg", picture()), upload("2.png", picture("PNG"))]
    response = client.post(add_url(resident_case), {"photos": files})
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:detail", args=[resident_case.pk])
    assert texts(response) == ["2 photos added."]
    assert [p.extension for p in photo_rows()] == [".jpg", ".png"]
    assert len(stored_files(media)) == 2


def test_a_bad_upload_through_the_page_shows_why(client, role_users, resident_case, media):
    client.force_login(role_users[Role.STREET_STAFF])
    files = [upload("1.jpg", picture()), upload("readme.jpg", b"hello")]
    response = client.post(add_url(resident_case), {"photos": files})
    assert response.status_code == 302
    assert texts(response) == ["“readme.jpg” is not a JPEG, PNG or WebP photo."]
    assert_nothing_stored(media)
    response = client.post(add_url(resident_case), {})
    assert texts(response)[-1] == "Choose at least one photo."


@pytest.mark.parametrize("who", OUTSIDERS)
def test_uploading_outside_scope_is_not_found(client, world, resident_case, media, who):
    client.force_login(outsider(world, who))
    response = client.post(add_url(resident_case), {"photos": [upload("1.jpg", picture())]})
    assert response.status_code == 404
    assert_nothing_stored(media)


def test_uploading_needs_post_and_the_csrf_token(role_users, resident_case, media):
    client = Client(enforce_csrf_checks=True)
    client.force_login(role_users[Role.STREET_STAFF])
    response = client.post(add_url(resident_case), {"photos": [upload("1.jpg", picture())]})
    assert response.status_code == 403
    assert client.get(add_url(resident_case)).status_code == 405
    assert_nothing_stored(media)
