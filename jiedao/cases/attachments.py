"""Photos on cases: checked, cleaned and stored all together or not at all.

Every file is opened with Pillow (its bytes decide, never its name or declared content type),
decoded completely (a truncated or damaged file is refused), and written anew in its own format
(JPEG, PNG or WebP). Re-encoding drops the EXIF block, and with it the GPS position and the
camera's serial number (domain.md §10), after turning the picture upright by its EXIF
orientation. Files go under MEDIA_ROOT with random names; they are served only through
``views_attachments.photo`` to those who may see the case.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from jiedao.audit.services import log_action, snapshot
from jiedao.cases import selectors
from jiedao.cases.models import Case, CaseAttachment, CaseEvent
from jiedao.core.scopes import unscoped

MAX_PHOTOS = 9  # per upload, as many as a phone's picker offers at once
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
JPEG_QUALITY = WEBP_QUALITY = 88

# Pillow format → (extension, content type). Only these formats are even tried when opening.
FORMATS = {
    "JPEG": (".jpg", "image/jpeg"),
    "PNG": (".png", "image/png"),
    "WEBP": (".webp", "image/webp"),
}


def max_bytes() -> int:
    return int(getattr(settings, "JIEDAO_PHOTO_MAX_BYTES", DEFAULT_MAX_BYTES))


@dataclass(frozen=True)
class CleanPhoto:
    """A photo ready to store: re-encoded bytes and what the row records."""

    original_name: str
    data: bytes
    extension: str
    content_type: str
    width: int
    height: int


def may_add_photos(actor: Any, case: Case) -> bool:
    """Staff who may see the case, and the resident who reported it. The system (None) too."""
    if actor is None:
        return True
    if not getattr(actor, "is_authenticated", False):
        return False
    if not selectors.cases(actor).filter(pk=case.pk).exists():
        return False
    return selectors.is_staff_viewer(actor) or case.reporter_id == actor.pk


def store_photos(
    actor: Any, case: Case, files: Sequence[Any], event: CaseEvent | None = None
) -> list[CaseAttachment]:
    """Check, clean and store ``files`` (uploaded files) as photos of ``case``, optionally tied
    to one of its events. One bad file refuses the whole lot: ``ValidationError`` names each
    bad file and why, and nothing is written."""
    if not may_add_photos(actor, case):
        raise PermissionDenied(_("You may not add photos to this case."))
    if event is not None and event.case_id != case.pk:
        raise ValidationError(_("That event belongs to another case."), code="event")
    if not files:
        raise ValidationError(_("Choose at least one photo."), code="no_photos")
    if len(files) > MAX_PHOTOS:
        raise ValidationError(
            _("Add at most %(max)s photos at a time; you chose %(count)s.")
            % {"max": MAX_PHOTOS, "count": len(files)},
            code="too_many_photos",
        )
    cleaned, errors = [], []
    for upload in files:
        try:
            cleaned.append(clean_photo(upload))
        except ValidationError as error:
            errors.append(error)
    if errors:
        raise ValidationError(errors)
    return _write(actor, case, event, cleaned)


def _write(
    actor: Any, case: Case, event: CaseEvent | None, cleaned: list[CleanPhoto]
) -> list[CaseAttachment]:
    """Each file, then its row and audit entry, all rows in one transaction; if anything fails
    the rows roll back and every file already written is removed."""
    written: list[CaseAttachment] = []
    try:
        with transaction.atomic():
            for photo in cleaned:
                attachment = _new_attachment(actor, case, event, photo)
                # upload_to (models.attachment_path) makes the random name; this one is unused.
                attachment.file.save(f"photo{photo.extension}", ContentFile(photo.data), save=False)
                written.append(attachment)
                attachment.save()
                log_action(actor, "cases.attachment.create", attachment, after=snapshot(attachment))
    except BaseException:
        for attachment in written:
            attachment.file.storage.delete(str(attachment.file.name))
        raise
    return written


def _new_attachment(
    actor: Any, case: Case, event: CaseEvent | None, photo: CleanPhoto
) -> CaseAttachment:
    return CaseAttachment(
        case=case,
        event=event,
        original_name=photo.original_name,
        content_type=photo.content_type,
        extension=photo.extension,
        size=len(photo.data),
        width=photo.width,
        height=photo.height,
        uploaded_by=actor if getattr(actor, "pk", None) else None,
    )


# --- Checking and cleaning one file ----------------------------------------------------------


def clean_photo(upload: Any) -> CleanPhoto:
    """Read, verify and re-encode one uploaded file, or ``ValidationError`` naming it."""
    name = os.path.basename(str(getattr(upload, "name", "") or ""))[:200] or _("(no name)")
    data = _read_within_limit(upload, name)
    try:
        return _reencode(data, name)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValidationError(
            _("“%(name)s” has too many pixels to be opened safely (at most %(limit)s).")
            % {"name": name, "limit": Image.MAX_IMAGE_PIXELS},
            code="too_many_pixels",
        ) from exc
    except UnidentifiedImageError as exc:
        raise _not_a_photo(name) from exc
    except ValidationError:
        raise
    except Exception as exc:  # any decoder failure on untrusted bytes is a damaged file
        raise ValidationError(
            _("“%(name)s” is damaged or incomplete and cannot be read.") % {"name": name},
            code="damaged",
        ) from exc


def _read_within_limit(upload: Any, name: str) -> bytes:
    limit = max_bytes()
    too_large = ValidationError(
        _("“%(name)s” is larger than %(limit)s.") % {"name": name, "limit": filesizeformat(limit)},
        code="too_large",
    )
    declared = getattr(upload, "size", None)
    if declared is not None and declared > limit:
        raise too_large
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = upload.read(limit + 1)  # the declared size may be wrong: never read past the limit
    if len(data) > limit:
        raise too_large
    if not data:
        raise _not_a_photo(name)
    return data


def _not_a_photo(name: str) -> ValidationError:
    return ValidationError(
        _("“%(name)s” is not a JPEG, PNG or WebP photo.") % {"name": name}, code="not_a_photo"
    )


def _reencode(data: bytes, name: str) -> CleanPhoto:
    # Past Image.MAX_IMAGE_PIXELS Pillow only warns (it refuses at twice that): make the
    # warning an error, so the limit is the one configured. (catch_warnings is process-wide
    # state; requests are served one per worker process.)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(BytesIO(data), formats=list(FORMATS)) as image:
            image_format = image.format or ""
            if image_format not in FORMATS:
                raise _not_a_photo(name)
            image.load()  # decode every byte: a truncated or corrupt file fails here
            upright = ImageOps.exif_transpose(image) or image
    extension, content_type = FORMATS[image_format]
    return CleanPhoto(
        original_name=name,
        data=_encode(upright, image_format),
        extension=extension,
        content_type=content_type,
        width=upright.width,
        height=upright.height,
    )


def _encode(image: Image.Image, image_format: str) -> bytes:
    """Write the pixels anew without EXIF, XMP or text chunks. The colour profile is kept: it
    is about colours, not about the person or the place."""
    icc_profile = image.info.get("icc_profile")
    transparency = image.info.get("transparency")
    image.info = {}
    options: dict[str, Any] = {"icc_profile": icc_profile} if icc_profile else {}
    if image_format == "JPEG":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        options.update(quality=JPEG_QUALITY, optimize=True)
    elif image_format == "WEBP":
        if image.mode not in ("RGB", "RGBA"):
            has_alpha = "A" in image.mode or transparency is not None
            image = image.convert("RGBA" if has_alpha else "RGB")
        options.update(quality=WEBP_QUALITY)
    elif transparency is not None:
        options["transparency"] = transparency
    out = BytesIO()
    image.save(out, format=image_format, **options)
    return out.getvalue()


def visible_photo(actor: Any, pk: int) -> CaseAttachment | None:
    """The photo if its case is one the actor may see, else None (the same as missing)."""
    with unscoped():
        rows = CaseAttachment.objects.all()
    return rows.filter(pk=pk, case__in=selectors.cases(actor).values("pk")).first()
