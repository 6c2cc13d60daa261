"""Reads of the population registry, always inside the actor's registry scope.

Only the grants of registry roles count (accounts/roles.py REGISTRY_*): a user who is a
resident somewhere and a grid worker elsewhere sees the persons of their grid, nothing more.
Search uses indexed lookups: pinyin initials by prefix, identity number and phone by blind
index equality; only "name contains" walks the rows of the actor's territory."""

from __future__ import annotations

import datetime
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jiedao.accounts.roles import REGISTRY_EDITORS, REGISTRY_READERS, REGISTRY_REVEALERS, Role
from jiedao.core.crypto import blind_index_candidates
from jiedao.core.identity import validate_phone
from jiedao.core.scopes import Scope, code_within
from jiedao.core.selectors import role_scope, visible
from jiedao.registry.models import (
    CareTag,
    Household,
    Person,
    PersonVersion,
    Verification,
    Visit,
)
from jiedao.territory.models import Building, Community, Dwelling, Grid

# --- Scopes -----------------------------------------------------------------------------------


def browse_scope(actor: Any) -> Scope:
    return role_scope(actor, REGISTRY_READERS)


def reveal_scope(actor: Any) -> Scope:
    return role_scope(actor, REGISTRY_REVEALERS)


def edit_scope(actor: Any) -> Scope:
    return role_scope(actor, REGISTRY_EDITORS)


def persons(actor: Any) -> QuerySet[Person]:
    """Every person the actor may browse (masked), unordered."""
    return visible(Person, actor, browse_scope(actor))


def person(actor: Any, pk: int) -> Person:
    """One person in the actor's territory, or ``Person.DoesNotExist`` (also outside it)."""
    rows = persons(actor).select_related(
        "dwelling__building",
        "dwelling__address",
        "registered_dwelling__building",
        "registered_dwelling__address",
        "household",
        "registered_household",
        "updated_by",
    )
    return rows.get(pk=pk)


def households(actor: Any) -> QuerySet[Household]:
    return visible(Household, actor, browse_scope(actor)).select_related(
        "dwelling__building", "dwelling__address"
    )


def household(actor: Any, pk: int) -> Household:
    return households(actor).get(pk=pk)


# --- Search and filters -----------------------------------------------------------------------


class SearchKind(StrEnum):
    """What the search box was given, told by its shape."""

    NONE = "none"
    NAME = "name"  # contains: walks the scoped rows (no index helps a substring)
    INITIALS = "initials"  # pinyin initials, prefix: indexed
    IDENTITY = "identity"  # whole identity number: blind index, indexed
    PHONE = "phone"  # whole phone number: blind index, indexed
    PARTIAL_NUMBER = "partial_number"  # digits that are neither: encrypted values have no prefix


SEARCH_KIND_LABELS = {
    SearchKind.NAME: _("name contains"),
    SearchKind.INITIALS: _("pinyin initials start with"),
    SearchKind.IDENTITY: _("identity number (exact)"),
    SearchKind.PHONE: _("phone number (exact)"),
    SearchKind.PARTIAL_NUMBER: _("identity numbers and phones are found only when typed in full"),
}

_IDENTITY_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_NUMBER_LIKE = re.compile(r"[0-9+()\-\s]+")


def _compact(term: str) -> str:
    # Full-width digits and letters from a Chinese input method count as ASCII.
    return re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", term)).upper()


def search_kind(term: str) -> SearchKind:
    compact = _compact(term)
    if not compact:
        return SearchKind.NONE
    if _IDENTITY_SHAPE.fullmatch(compact):
        return SearchKind.IDENTITY
    if _NUMBER_LIKE.fullmatch(unicodedata.normalize("NFKC", term).strip()):
        try:
            validate_phone(term)
        except ValidationError:
            return SearchKind.PARTIAL_NUMBER
        return SearchKind.PHONE
    if compact.isascii() and compact.isalpha():
        return SearchKind.INITIALS
    return SearchKind.NAME


def search_filter(term: str) -> Q:
    """The one lookup the term's shape calls for (never an OR that would defeat the indexes)."""
    kind = search_kind(term)
    if kind == SearchKind.IDENTITY:
        return Q(identity_index__in=blind_index_candidates("identity", _compact(term)))
    if kind == SearchKind.PHONE:
        return Q(phone_index__in=blind_index_candidates("phone", term))
    if kind == SearchKind.INITIALS:
        return initials_prefix(_compact(term).lower())
    if kind == SearchKind.NAME:
        return Q(name__icontains=term.strip())
    if kind == SearchKind.PARTIAL_NUMBER:
        return Q(pk__in=[])
    return Q()


def initials_prefix(prefix: str) -> Q:
    """Initials starting with ``prefix`` (lower-case letters). The range lets SQLite use the
    index (its LIKE cannot); PostgreSQL uses either that or the pattern index of startswith."""
    query = Q(initials__startswith=prefix, initials__gte=prefix)
    if prefix[-1] < "z":  # "…z" has no same-length successor among letters: the range stays open
        query &= Q(initials__lt=prefix[:-1] + chr(ord(prefix[-1]) + 1))
    return query


class AgeBand(StrEnum):
    MINOR = "0-17"
    YOUNG = "18-34"
    MIDDLE = "35-59"
    SENIOR = "60-79"
    OLD = "80+"


AGE_BANDS: dict[AgeBand, tuple[int, int | None]] = {
    AgeBand.MINOR: (0, 17),
    AgeBand.YOUNG: (18, 34),
    AgeBand.MIDDLE: (35, 59),
    AgeBand.SENIOR: (60, 79),
    AgeBand.OLD: (80, None),
}
AGE_BAND_LABELS = {
    AgeBand.MINOR: _("Under 18"),
    AgeBand.YOUNG: _("18 to 34"),
    AgeBand.MIDDLE: _("35 to 59"),
    AgeBand.SENIOR: _("60 to 79"),
    AgeBand.OLD: _("80 and over"),
}


def years_before(day: datetime.date, years: int) -> datetime.date:
    """The same day ``years`` earlier; 29 February falls back to the 28th."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def age_on(birth_date: datetime.date | None, day: datetime.date) -> int | None:
    if birth_date is None:
        return None
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - int(before_birthday)


def age_band_q(band: str, today: datetime.date | None = None) -> Q:
    """Born so that on ``today`` the age lies in the band (both ends included)."""
    low, high = AGE_BANDS[AgeBand(band)]
    today = today or timezone.localdate()
    query = Q(birth_date__lte=years_before(today, low))
    if high is not None:
        query &= Q(birth_date__gt=years_before(today, high + 1))
    return query


@dataclass(frozen=True)
class PersonFilters:
    """What the person list, its export and the API filter by. Ids of community and grid are
    looked up inside the actor's territory; an unknown one matches nobody."""

    q: str = ""
    community: int | None = None
    grid: int | None = None
    residence: str = ""
    care_group: str = ""
    age_band: str = ""
    sex: str = ""

    def as_query(self) -> dict[str, Any]:
        """The non-empty filters, for the audit trail."""
        return {k: v for k, v in self.__dict__.items() if v not in ("", None)}


def communities(actor: Any) -> QuerySet[Community]:
    """Communities offered as a filter: those holding or containing part of the territory."""
    return visible(Community, actor).filter(retired_at__isnull=True)


def grids(actor: Any, community: int | None = None) -> QuerySet[Grid]:
    rows = visible(Grid, actor).filter(retired_at__isnull=True).select_related("community")
    return rows.filter(community_id=community) if community else rows


class UnknownNode(LookupError):
    """A community or grid id that does not exist or lies outside the actor's territory."""


def filter_node(actor: Any, filters: PersonFilters) -> Community | Grid | None:
    """The grid (or else community) the filters narrow to (UnknownNode if not visible)."""
    found: Community | Grid | None = None
    if filters.grid is not None:
        found = grids(actor).filter(pk=filters.grid).first()
    elif filters.community is not None:
        found = communities(actor).filter(pk=filters.community).first()
    else:
        return None
    if found is None:
        raise UnknownNode
    return found


def people(actor: Any, filters: PersonFilters | None = None) -> QuerySet[Person]:
    """The person list: scoped, filtered, searched; ordered along the index that does the work
    (territory, or initials for an initials search), so a page is a short range scan even on a
    million rows."""
    filters = filters or PersonFilters()
    rows = persons(actor)
    try:
        node = filter_node(actor, filters)
    except UnknownNode:
        return rows.none()
    if node is not None:
        rows = rows.filter(code_within("territory_code", node.scope_prefix))
    if filters.residence:
        rows = rows.filter(residence=filters.residence)
    if filters.sex:
        rows = rows.filter(sex=filters.sex)
    if filters.age_band:
        rows = rows.filter(age_band_q(filters.age_band))
    if filters.care_group:
        # One tag per person and group (unique_care_tag): the join cannot repeat a person.
        rows = rows.filter(care_tags__group=filters.care_group)
    if filters.q.strip():
        rows = rows.filter(search_filter(filters.q))
    if search_kind(filters.q) == SearchKind.INITIALS and len(_compact(filters.q)) >= 2:
        # Two initials and more are selective: ordered along their index, the planner walks
        # that range rather than the whole territory (one letter is not: territory order).
        return rows.order_by("initials", "id")
    return rows.order_by("territory_code", "id")


def list_rows(rows: QuerySet[Person]) -> QuerySet[Person]:
    """What a list row shows (building and room), without decrypting the registered address."""
    return rows.select_related("dwelling__building", "registered_dwelling__building").defer(
        "registered_address"
    )


def export_rows(rows: QuerySet[Person]) -> QuerySet[Person]:
    """An export: the same joins plus the grid and the care tags (prefetched per chunk)."""
    return rows.select_related(
        "dwelling__building__grid", "registered_dwelling__building__grid"
    ).prefetch_related("care_tags")


# --- Export scope -----------------------------------------------------------------------------


def export_prefixes(actor: Any, filters: PersonFilters) -> list[str] | None:
    """The territory an export covers, as code prefixes (``None``: everything)."""
    browse = browse_scope(actor)
    try:
        node = filter_node(actor, filters)
    except UnknownNode:
        return []
    if node is None:
        return None if browse.everything else sorted(browse.prefixes)
    target = node.scope_prefix
    if browse.everything:
        return [target]
    inside = {p for p in browse.prefixes if p.startswith(target)}
    inside |= {target for p in browse.prefixes if target.startswith(p)}
    return sorted(inside)


def may_export_unmasked(actor: Any, filters: PersonFilters) -> bool:
    """Plaintext exports need ``registry.reveal`` on all of the exported territory."""
    reveal = reveal_scope(actor)
    prefixes = export_prefixes(actor, filters)
    if prefixes is None:
        return reveal.everything
    return bool(prefixes) and all(reveal.covers_code(p) for p in prefixes)


# --- A person's page --------------------------------------------------------------------------
# Records hanging off a person the actor may see are shown with it: after a move they can
# still carry the territory code of the old grid, and the new grid worker needs the history.


def members(actor: Any, household: Household) -> QuerySet[Person]:
    """A household's members in the actor's territory (residing or registered there)."""
    rows = persons(actor).filter(Q(household=household) | Q(registered_household=household))
    return rows.select_related("dwelling__building").defer("registered_address").order_by("id")


def care_tags_of(person: Person) -> QuerySet[CareTag]:
    return CareTag.all_objects.filter(person=person).order_by("group")


def visits_of(person: Person, limit: int = 20) -> QuerySet[Visit]:
    return Visit.all_objects.filter(person=person).select_related("visited_by")[:limit]


def verifications_of(person: Person) -> QuerySet[Verification]:
    return (
        Verification.all_objects.filter(person=person)
        .select_related("verified_by")
        .order_by("-created_at")
    )


def versions_of(person: Person) -> QuerySet[PersonVersion]:
    return (
        PersonVersion.all_objects.filter(person=person)
        .select_related("changed_by")
        .order_by("-version")
    )


# --- Edit form choices ------------------------------------------------------------------------


def editable_buildings(actor: Any) -> QuerySet[Building]:
    return visible(Building, actor, edit_scope(actor)).order_by("territory_code", "name")


def editable_dwellings(actor: Any, building: int | None = None) -> QuerySet[Dwelling]:
    rows = visible(Dwelling, actor, edit_scope(actor)).select_related("entrance", "building")
    rows = rows.filter(building_id=building) if building else rows
    return rows.order_by("entrance__number", "floor", "room")


def residing_households(dwelling: Dwelling | None) -> list[Household]:
    if dwelling is None:
        return []
    return list(
        Household.all_objects.filter(dwelling=dwelling, kind=Household.Kind.RESIDING).order_by("id")
    )


def edit_source(actor: Any, target: Any) -> str:
    """A grid worker in their own grid edits from the field; everyone else from the office."""
    code = getattr(target, "territory_code", "")
    if actor.scope_for({Role.GRID_WORKER}).covers_code(code):
        return PersonVersion.Source.FIELD
    return PersonVersion.Source.OFFICE
