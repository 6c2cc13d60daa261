"""Persons over the JSON API (/api/persons): read-only, inside the caller's territory, masked.

No plaintext identity number, phone or registered address ever leaves through the API, whatever
the caller's permissions: revealing needs a reason and happens on the person's page. Roles
without ``registry.browse`` (residents, department staff) get 403; a person outside the
caller's territory is 404.

No ``from __future__ import annotations`` here: django-ninja reads the endpoint signatures
through its pagination wrapper, which cannot resolve names given as strings."""

from datetime import date, datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema
from ninja.pagination import PageNumberPagination, paginate

from jiedao.core.api import Error
from jiedao.registry import selectors, services
from jiedao.registry.models import CareGroup, Person, Residence

router = Router(tags=["persons"])
ERRORS: dict[int | tuple[int, ...], Any] = {(401, 403, 404, 422): Error}


class PersonOut(Schema):
    id: int
    name: str
    sex: str
    birth_date: date
    identity_number_masked: str
    phone_masked: str
    relation: str
    residence: str
    territory_code: str
    dwelling_id: int | None
    registered_dwelling_id: int | None
    household_id: int | None
    registered_household_id: int | None
    building: str
    room: str
    version: int
    updated_at: datetime

    @staticmethod
    def resolve_identity_number_masked(obj: Person) -> str:
        return services.masked(obj, "identity_number")

    @staticmethod
    def resolve_phone_masked(obj: Person) -> str:
        return services.masked(obj, "phone")

    @staticmethod
    def resolve_building(obj: Person) -> str:
        home = obj.dwelling or obj.registered_dwelling
        return home.building.name if home is not None else ""

    @staticmethod
    def resolve_room(obj: Person) -> str:
        home = obj.dwelling or obj.registered_dwelling
        return home.room if home is not None else ""


class PersonDetailOut(PersonOut):
    registered_address_masked: str
    verified_residence: str
    verified_at: datetime | None
    care_groups: list[str]

    @staticmethod
    def resolve_registered_address_masked(obj: Person) -> str:
        return services.masked(obj, "registered_address")

    @staticmethod
    def resolve_care_groups(obj: Person) -> list[str]:
        return [tag.group for tag in selectors.care_tags_of(obj)]


def _require_browse(request: HttpRequest) -> None:
    if not request.user.has_perm("registry.browse"):
        raise PermissionDenied(_("The population registry is not part of your role."))


@router.get("", response={200: list[PersonOut], **ERRORS}, summary="Persons in your territory")
@paginate(PageNumberPagination)
def list_persons(
    request,
    q: str = "",
    community: int | None = None,
    grid: int | None = None,
    residence: Residence | None = None,
    care_group: CareGroup | None = None,
    age_band: selectors.AgeBand | None = None,
    sex: Person.Sex | None = None,
):
    """The same search and filters as the person list. ``q``: a whole identity number or
    phone (exact, through the blind index), pinyin initials (prefix) or part of a name;
    ``community``/``grid``: ids inside your territory (another id matches nobody);
    ``age_band``: 0-17, 18-34, 35-59, 60-79 or 80+. Identity numbers, phones and addresses are
    always masked."""
    _require_browse(request)
    filters = selectors.PersonFilters(
        q=q.strip()[:60],
        community=community,
        grid=grid,
        residence=residence.value if residence else "",
        care_group=care_group.value if care_group else "",
        age_band=age_band.value if age_band else "",
        sex=sex.value if sex else "",
    )
    return selectors.list_rows(selectors.people(request.user, filters))


@router.get("/{int:person_id}", response={200: PersonDetailOut, **ERRORS}, summary="One person")
def get_person(request, person_id: int):
    _require_browse(request)
    try:
        return selectors.person(request.user, person_id)
    except Person.DoesNotExist as exc:
        raise Http404 from exc
