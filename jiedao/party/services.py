"""Writes to the party organisation: permission first, then validation, one transaction, an
audit entry. ``actor`` None is the system itself (the demo generator, commands)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from jiedao.audit.services import audited, log_action, snapshot
from jiedao.core.permissions import require_perm
from jiedao.core.scopes import unscoped
from jiedao.party.models import (
    FORM_SUFFIX,
    PARENT_LEVEL,
    Level,
    PartyMember,
    PartyOrganisation,
    level_of,
    parent_node_code,
)
from jiedao.registry import care
from jiedao.registry.models import CareGroup, CareTag, Person
from jiedao.territory.models import Building

MINIMUM_AGE = 18


def default_name(node: Any, form: str) -> str:
    """香水园社区 + 党总支 → 香水园社区党总支."""
    return f"{node.name}{FORM_SUFFIX[form]}"


def node_code_of(node: Any) -> str:
    """The territory code an organisation on ``node`` carries (a building: its grid's)."""
    return node.grid.code if isinstance(node, Building) else node.code


def parent_organisation(node: Any) -> PartyOrganisation | None:
    """The organisation of the node one level up; None for a street."""
    parent_level = PARENT_LEVEL[level_of(node)]
    if parent_level is None:
        return None
    with unscoped():
        parent = PartyOrganisation.objects.filter(
            level=parent_level, territory_code=parent_node_code(node)
        ).first()
    if parent is None:
        raise ValidationError(
            _("%(level)s must be set up first: the new organisation belongs under it.")
            % {"level": Level(parent_level).label},
            code="parent_missing",
        )
    return parent


@transaction.atomic
def create_organisation(
    actor: Any,
    node: Any,
    form: str,
    *,
    name: str = "",
    secretary: str = "",
    founded_on: date | None = None,
) -> PartyOrganisation:
    """Set up the organisation of a street, community, grid or building under the organisation
    of its parent node. Setting up needs the right to change the higher organisation (the
    higher organisation approves); a street's working committee, the right on the street."""
    level = level_of(node)
    parent = parent_organisation(node)
    require_perm(actor, "party.change", parent if parent is not None else node)
    org = PartyOrganisation(
        level=level,
        form=form,
        name=name.strip() or default_name(node, form),
        parent=parent,
        building=node if level == Level.BUILDING else None,
        secretary=secretary.strip(),
        founded_on=founded_on,
        territory_code=node_code_of(node),
    )
    _check_not_future(founded_on, "founded_on")
    with unscoped():
        org.full_clean()
        org.save()
    log_action(actor, "party.organisation.create", org, after=snapshot(org))
    return org


@transaction.atomic
def update_organisation(
    actor: Any,
    org: PartyOrganisation,
    *,
    form: str,
    name: str,
    secretary: str = "",
    founded_on: date | None = None,
) -> PartyOrganisation:
    """Change the form (e.g. a general branch becomes a party committee), name, secretary or
    founding date. Level, node and higher organisation never change."""
    require_perm(actor, "party.change", org)
    _check_not_future(founded_on, "founded_on")
    try:
        with audited(actor, "party.organisation", org), unscoped():
            org.form, org.name = form, name.strip()
            org.secretary, org.founded_on = secretary.strip(), founded_on
            org.full_clean()
            org.save()
    except ValidationError:
        org.refresh_from_db()  # the caller's object stays as stored
        raise
    return org


@transaction.atomic
def add_member(
    actor: Any,
    org: PartyOrganisation,
    person: Person,
    *,
    kind: str = PartyMember.Kind.RESIDENT,
    status: str = PartyMember.Status.FULL,
    joined_on: date | None = None,
) -> PartyMember:
    """Record ``person`` as a member of ``org``. A person belongs to one organisation at a
    time: someone already recorded is moved, not added twice."""
    require_perm(actor, "party.change", org)
    _check_takes_members(org)
    if actor is not None and not actor.scope.covers_code(person.territory_code):
        raise PermissionDenied(_("This person is outside your territory."))
    _check_joined_on(person, joined_on)
    member = PartyMember(
        person=person, organisation=org, kind=kind, status=status, joined_on=joined_on
    )
    with unscoped():
        if PartyMember.objects.filter(person_id=person.pk).exists():
            raise _already_member()
        member.full_clean()
        try:
            with transaction.atomic():
                member.save()
        except IntegrityError as error:  # recorded by someone else a moment ago
            raise _already_member() from error
    log_action(actor, "party.member.add", member, after=snapshot(member))
    _keep_party_tag(actor, person, member=True)
    return member


@transaction.atomic
def move_member(actor: Any, member: PartyMember, target: PartyOrganisation) -> PartyMember:
    """Transfer a member's organisation relation to another organisation (转接)."""
    require_perm(actor, "party.change", member.organisation)
    require_perm(actor, "party.change", target)
    _check_takes_members(target)
    if target.pk == member.organisation_id:
        raise ValidationError(
            _("The member already belongs to this organisation."), code="same_organisation"
        )
    with audited(actor, "party.member.move", member), unscoped():
        member.organisation = target
        member.save()
    return member


@transaction.atomic
def remove_member(actor: Any, member: PartyMember, reason: str) -> None:
    """Take a member off the organisation (moved away, relation transferred out, died)."""
    require_perm(actor, "party.change", member.organisation)
    if not reason.strip():
        raise ValidationError(_("Give the reason for removing the member."), code="reason")
    before = snapshot(member)
    log_action(actor, "party.member.remove", member, before=before, note=reason.strip())
    with unscoped():
        member.delete()
    _keep_party_tag(actor, member.person, member=False)


def _keep_party_tag(actor: Any, person: Person, *, member: bool) -> None:
    """The registry's 党员 care group follows the party records: a member is in it (once, if
    already tagged by hand), a person taken off the records is not."""
    with unscoped():
        tag = CareTag.all_objects.filter(person=person, group=CareGroup.PARTY_MEMBER).first()
    if member and tag is None:
        care.tag_person(actor, person, CareGroup.PARTY_MEMBER)
    elif not member and tag is not None:
        care.untag_person(actor, tag)


def _already_member() -> ValidationError:
    return ValidationError(
        _("This person is already a party member here: move them instead."),
        code="already_member",
    )


def _check_takes_members(org: PartyOrganisation) -> None:
    if org.level == Level.STREET:
        raise ValidationError(
            _("Members belong to a community, grid or building organisation."),
            code="street_members",
        )


def _check_not_future(day: date | None, field: str) -> None:
    if day is not None and day > timezone.localdate():
        raise ValidationError({field: _("This date is in the future.")}, code="future")


def _check_joined_on(person: Person, joined_on: date | None) -> None:
    if joined_on is None:
        return
    _check_not_future(joined_on, "joined_on")
    born = person.birth_date
    try:
        adult_on = born.replace(year=born.year + MINIMUM_AGE)
    except ValueError:  # born on 29 February
        adult_on = born.replace(year=born.year + MINIMUM_AGE, day=28)
    if joined_on < adult_on:
        raise ValidationError(
            {"joined_on": _("A member joins the Party at 18 or older.")}, code="too_young"
        )
