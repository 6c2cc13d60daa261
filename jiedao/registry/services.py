"""Writes to the population registry: every change to a person is versioned (who, when, what,
from which source) and audited; sensitive values are recorded as changed, never in clear."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jiedao.audit.services import log_action, log_sensitive_read
from jiedao.core.crypto import blind_index, blind_index_candidates
from jiedao.core.fields import mask
from jiedao.core.identity import parse_identity_number, validate_phone
from jiedao.core.scopes import unscoped
from jiedao.registry.models import Person, PersonVersion, Residence

# Encrypted person fields and the kind that picks their mask and blind-index normalisation.
SENSITIVE_FIELDS: dict[str, str] = {
    "identity_number": "identity",
    "phone": "phone",
    "registered_address": "address",
}
INDEX_FIELDS = {"identity_number": "identity_index", "phone": "phone_index"}
# Fields a person's versions record (sensitive ones only as "changed").
TRACKED_FIELDS = (
    "name",
    "sex",
    "birth_date",
    *SENSITIVE_FIELDS,
    "relation",
    "household_id",
    "dwelling_id",
    "registered_household_id",
    "registered_dwelling_id",
    "verified_residence",
)
CHANGED = "changed"


class StaleRecord(Exception):
    """Someone else saved the person after the form was opened."""


def classify(lives_here: bool, registered_here: bool, verified: str = "") -> str:
    """人户分离 status of one person (domain.md §2). ``lives_here``: the person lives at their
    registered dwelling's street record (``dwelling`` is set); ``registered_here``: the
    public-security extract registers them at a dwelling here. A door-to-door finding wins."""
    if verified:
        return verified
    if lives_here and registered_here:
        return Residence.CONSISTENT
    if lives_here:
        return Residence.LIVES_NOT_REGISTERED
    if registered_here:
        return Residence.REGISTERED_NOT_LIVING
    return Residence.UNKNOWN


def residence_of(person: Person) -> str:
    """Consistent only when the person lives at the very dwelling they are registered at."""
    lives = person.dwelling_id is not None
    registered = person.registered_dwelling_id is not None
    if lives and registered and person.dwelling_id != person.registered_dwelling_id:
        return classify(True, False, person.verified_residence)
    return classify(lives, registered, person.verified_residence)


def clean_sensitive(values: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise identity number and phone; the identity number also gives sex and
    birth date. Raises ValidationError keyed by field."""
    cleaned = dict(values)
    errors: dict[str, Any] = {}
    if cleaned.get("identity_number"):
        try:
            resident = parse_identity_number(cleaned["identity_number"])
        except ValidationError as exc:
            errors["identity_number"] = exc
        else:
            cleaned["identity_number"] = resident.number
            cleaned["birth_date"] = resident.birth_date
            cleaned["sex"] = Person.Sex.MALE if resident.is_male else Person.Sex.FEMALE
    if cleaned.get("phone"):
        try:
            cleaned["phone"] = validate_phone(cleaned["phone"])
        except ValidationError as exc:
            errors["phone"] = exc
    if errors:
        raise ValidationError(errors)
    return cleaned


def fill_derived(person: Person) -> None:
    """Blind indexes and classification follow the values (set before every save)."""
    for field, index in INDEX_FIELDS.items():
        setattr(person, index, blind_index(SENSITIVE_FIELDS[field], getattr(person, field) or ""))
    person.residence = residence_of(person)


def tracked_values(person: Person) -> dict[str, Any]:
    """The versioned fields of a person, as stored in a version's changes (dates as text)."""
    values = {}
    for field in TRACKED_FIELDS:
        value = getattr(person, field)
        values[field] = value.isoformat() if hasattr(value, "isoformat") else value
    return values


def person_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Changed tracked fields as [old, new]; sensitive ones only as "changed"."""
    return {
        field: CHANGED if field in SENSITIVE_FIELDS else [before.get(field), after[field]]
        for field in TRACKED_FIELDS
        if before.get(field) != after[field]
    }


def identity_taken(number: str, exclude_pk: int | None = None) -> bool:
    """Whether another person already has this identity number (across all territories: a
    person is unique by identity number)."""
    if not number:
        return False
    with unscoped():
        # Every key's index: rows not yet rotated still count (docs/personal-data.md).
        rows = Person.all_objects.filter(
            identity_index__in=blind_index_candidates("identity", number)
        )
        if exclude_pk:
            rows = rows.exclude(pk=exclude_pk)
        return rows.exists()


def save_person(
    actor: Any,
    person: Person,
    values: dict[str, Any],
    *,
    source: str,
    expected_version: int | None = None,
) -> Person:
    """Create (``person.pk`` is None) or change a person with ``values`` (model field names,
    FK ids as ``<name>_id``). Validates identity number and phone, refuses a duplicate identity
    number, and on a change made from a form opened at ``expected_version`` refuses to overwrite
    someone else's newer save (StaleRecord). Returns the saved person."""
    values = clean_sensitive(values)
    if identity_taken(values.get("identity_number", ""), exclude_pk=person.pk):
        raise ValidationError(
            {"identity_number": _("Another person already has this identity number.")}
        )
    with transaction.atomic(), unscoped():
        if person.pk is not None:
            person = Person.all_objects.select_for_update().get(pk=person.pk)
            if expected_version is not None and person.version != expected_version:
                raise StaleRecord
        before = tracked_values(person)
        if person.pk is None:
            before = {}
        for field, value in values.items():
            setattr(person, field, value)
        _require_basics(person)
        fill_derived(person)
        changes = person_changes(before, tracked_values(person))
        if person.pk is not None and not changes:
            return person
        creating = person.pk is None
        if not creating:
            person.version += 1
        person.updated_at = timezone.now()
        person.updated_by = actor if getattr(actor, "pk", None) else None
        try:
            with transaction.atomic():
                person.save()
        except IntegrityError as exc:  # the same number saved a moment ago by someone else
            if "identity" not in str(exc).lower():
                raise
            raise ValidationError(
                {"identity_number": _("Another person already has this identity number.")}
            ) from exc
        if {"dwelling_id", "registered_dwelling_id"} & set(changes) and not creating:
            from jiedao.registry.care import follow_person_territory

            follow_person_territory([person.pk])  # care tags and open checks move too
        record_version(actor, person, source, changes)
        log_action(
            actor,
            "registry.person.create" if creating else "registry.person.update",
            person,
            after={"version": person.version, "source": source, "fields": sorted(changes)},
        )
    return person


def _require_basics(person: Person) -> None:
    missing = {
        field: _("This field is required.")
        for field in ("name", "sex", "birth_date")
        if not getattr(person, field)
    }
    if person.dwelling_id is None and person.registered_dwelling_id is None:
        missing["dwelling"] = _("Say where the person lives or is registered.")
    if missing:
        raise ValidationError(missing)


def new_version(
    actor: Any, person: Person, source: str, changes: dict[str, Any], at: Any = None
) -> PersonVersion:
    """The person's current version as a row to save (one by one, or in bulk by an import)."""
    return PersonVersion(
        person=person,
        version=person.version,
        source=source,
        changes=changes,
        changed_at=at or timezone.now(),
        changed_by=actor if getattr(actor, "pk", None) else None,
        territory_code=person.territory_code,
    )


def record_version(actor: Any, person: Person, source: str, changes: dict[str, Any]) -> None:
    new_version(actor, person, source, changes).save()


def reveal(actor: Any, person: Person, field: str, reason: str) -> str:
    """The plaintext of one sensitive field, written to the audit trail with the reason. The
    caller checks ``registry.reveal`` on the person first."""
    if field not in SENSITIVE_FIELDS:
        raise ValueError(f"{field} is not a sensitive field")
    reason = reason.strip()
    if len(reason) < 4:
        raise ValidationError(_("Say why you need to see it (at least 4 characters)."))
    log_sensitive_read(actor, person, field, reason)
    return getattr(person, field) or ""


def masked(person: Person, field: str) -> str:
    return mask(SENSITIVE_FIELDS[field], getattr(person, field) or "")
