"""The grid worker's door-to-door work on their home page and to-do: residents to verify and care
visits overdue, counted in their own grid only."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from jiedao.accounts.roles import Role
from jiedao.core.scopes import unscoped
from jiedao.registry.models import CareGroup, CareTag, Residence, Verification


def _overdue_tag(person) -> None:
    with unscoped():
        CareTag.all_objects.create(
            person=person,
            group=CareGroup.ELDERLY_ALONE,
            visit_every_days=7,
            next_visit_due=timezone.localdate() - datetime.timedelta(days=3),
        )


def _open_verification(person) -> None:
    Verification.all_objects.create(
        person=person, found=Residence.LIVES_NOT_REGISTERED, territory_code=person.territory_code
    )


def _counts(response) -> dict[str, int]:
    tiles = response.context["door_to_door"]
    return {str(tile["label"]): tile["count"] for tile in tiles}


@pytest.mark.django_db
def test_todo_counts_only_the_grid_workers_own_grid(client, world, role_users):
    _overdue_tag(world.persons["a1x"])
    _overdue_tag(world.persons["a1y"])  # same community, another grid
    _open_verification(world.persons["a1x"])
    _open_verification(world.persons["b1x"])  # another street
    client.force_login(role_users[Role.GRID_WORKER])
    response = client.get(reverse("cases:todo"))
    assert response.status_code == 200
    counts = _counts(response)
    assert counts["Care visits overdue"] == 1
    assert counts["Residents to verify"] == 1
    home = client.get(reverse("core:home"))
    labels = {str(tile["label"]): tile["count"] for tile in home.context["work"]}
    assert labels["Care visits overdue"] == 1 and labels["Residents to verify"] == 1


@pytest.mark.django_db
def test_nothing_waiting_shows_zero(client, world, role_users):
    client.force_login(role_users[Role.GRID_WORKER])
    counts = _counts(client.get(reverse("cases:todo")))
    assert counts == {
        "Residents to verify": 0,
        "Care visits overdue": 0,
        "Care visits due soon": 0,
    }


@pytest.mark.django_db
def test_the_dwelling_page_shows_its_tenancies_in_scope(client, world, role_users):
    from jiedao.registry.models import Tenancy

    dwelling = world.persons["a1x"].dwelling
    with unscoped():
        Tenancy.all_objects.create(
            dwelling=dwelling, landlord_name="房东甲", starts_on=datetime.date(2026, 3, 1)
        )
    url = reverse("territory:dwelling_detail", args=[dwelling.pk])
    client.force_login(role_users[Role.WORKSTATION_STAFF])
    assert "房东甲" in client.get(url).content.decode()
    client.force_login(role_users[Role.DEPARTMENT_STAFF])
    assert client.get(url).status_code == 404
