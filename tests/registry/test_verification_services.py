"""The verification worklist: opening verifications in bulk (idempotent), the grid worker's
worklist, and recording a door-to-door result, which feeds back into the class and the counts."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.registry.models import Person, PersonVersion, Residence, Verification, Visit
from jiedao.registry.reconciliation import (
    GRID,
    VerificationClosed,
    counts,
    open_verifications,
    record_verification,
    worklist,
)
from tests import factories as f
from tests.registry.reconciliation_fixtures import (
    dwellings_in,
    person,
    registered_household,
)

R = Residence


@pytest.fixture
def mismatches(world):
    """In grid A1x: one living here registered elsewhere, one registered here living elsewhere
    (with a registered household); one of each class elsewhere in the district."""
    home, other = dwellings_in(world.grid_a1x, 2)
    household = registered_household(other)
    in_a1y = dwellings_in(world.grid_a1y, 1)[0]
    in_b1x = dwellings_in(world.grid_b1x, 1)[0]
    return {
        "lives": person(home, None),
        "registered": person(None, other, registered_household=household),
        "a1y": person(in_a1y, None),
        "b1x": person(None, in_b1x),
        "household": household,
    }


def opened(**filters):
    return Verification.all_objects.filter(state=Verification.State.OPEN, **filters)


def test_open_verifications_puts_each_mismatch_once(world, mismatches):
    assert open_verifications() == 4
    rows = {v.person_id: v for v in opened()}
    assert set(rows) == {mismatches[k].pk for k in ("lives", "registered", "a1y", "b1x")}
    lives = rows[mismatches["lives"].pk]
    assert (lives.found, lives.territory_code) == (R.LIVES_NOT_REGISTERED, world.grid_a1x.code)
    assert rows[mismatches["registered"].pk].found == R.REGISTERED_NOT_LIVING
    assert (lives.result, lives.note, lives.verified_at) == ("", "", None)
    # Idempotent: nobody gets a second open verification.
    assert open_verifications() == 0
    assert opened().count() == 4


def test_open_verifications_under_a_prefix_and_audited(world, mismatches, role_users):
    actor = role_users[Role.STREET_STAFF]
    assert open_verifications(world.community_a1.code, actor=actor) == 3
    assert not opened(person=mismatches["b1x"]).exists()
    entry = AuditEntry.all_objects.get(action="registry.verification.open")
    assert entry.after == {"prefix": world.community_a1.code, "opened": 3}


def test_a_verified_person_is_not_put_back_on_the_list(world, mismatches, role_users):
    open_verifications(world.grid_a1x.code)
    verification = opened(person=mismatches["lives"]).get()
    record_verification(role_users[Role.GRID_WORKER], verification, R.LIVES_NOT_REGISTERED)
    assert open_verifications(world.grid_a1x.code) == 0


def test_worklist_is_the_open_verifications_of_the_grid(world, mismatches, role_users):
    open_verifications()
    grid_worker = role_users[Role.GRID_WORKER]
    assert {v.person_id for v in worklist(grid_worker)} == {
        mismatches["lives"].pk,
        mismatches["registered"].pk,
    }
    workstation = role_users[Role.WORKSTATION_STAFF]
    assert {v.person_id for v in worklist(workstation)} == {
        mismatches[k].pk for k in ("lives", "registered", "a1y")
    }
    for role in (Role.COMMITTEE_MEMBER, Role.DEPARTMENT_STAFF, Role.RESIDENT, Role.DISTRICT_ADMIN):
        assert not worklist(role_users[role]).exists(), role


def test_recording_feeds_back_into_class_versions_visit_and_counts(world, mismatches, role_users):
    open_verifications()
    grid_worker = role_users[Role.GRID_WORKER]
    target = mismatches["registered"]
    before = counts(GRID)[world.grid_a1x.code]
    assert (before.consistent, before.consistent_households) == (1, 0)
    verification = opened(person=target).get()
    record_verification(grid_worker, verification, R.CONSISTENT, "  住在家里, 邻居证实  ")
    verification.refresh_from_db()
    assert (verification.state, verification.result) == (Verification.State.DONE, R.CONSISTENT)
    assert (verification.note, verification.verified_by) == ("住在家里, 邻居证实", grid_worker)
    saved = Person.all_objects.get(pk=target.pk)
    assert (saved.verified_residence, saved.residence) == (R.CONSISTENT, R.CONSISTENT)
    assert saved.verified_at == verification.verified_at
    version = PersonVersion.all_objects.get(person=saved, version=saved.version)
    assert version.source == PersonVersion.Source.VERIFICATION
    assert version.changes == {"verified_residence": ["", R.CONSISTENT]}
    visit = Visit.all_objects.get(person=saved)
    assert (visit.kind, visit.household, visit.visited_by) == (
        Visit.Kind.VERIFICATION,
        mismatches["household"],
        grid_worker,
    )
    assert visit.territory_code == world.grid_a1x.code
    assert AuditEntry.all_objects.filter(action="registry.verification.record").count() == 1
    assert not worklist(grid_worker).filter(person=target).exists()
    after = counts(GRID)[world.grid_a1x.code]
    assert (after.consistent, after.registered_not_living) == (2, before.registered_not_living - 1)
    assert (after.consistent_households, after.household_rate) == (1, 100.0)


def test_the_same_finding_again_still_sets_the_time(world, mismatches, role_users):
    target = mismatches["lives"]
    Person.all_objects.filter(pk=target.pk).update(verified_residence=R.LIVES_NOT_REGISTERED)
    verification = Verification.all_objects.create(
        person=target, found=R.LIVES_NOT_REGISTERED, territory_code=target.territory_code
    )
    record_verification(role_users[Role.GRID_WORKER], verification, R.LIVES_NOT_REGISTERED)
    assert Person.all_objects.get(pk=target.pk).verified_at is not None


def nothing_changed(target, verification):
    verification.refresh_from_db()
    saved = Person.all_objects.get(pk=target.pk)
    assert verification.state == Verification.State.OPEN
    assert (saved.verified_residence, saved.version) == ("", target.version)
    assert not Visit.all_objects.exists()


@pytest.mark.parametrize("result", ["unknown", "moved", "", "CONSISTENT"])
def test_a_result_that_is_not_a_finding_is_refused(mismatches, role_users, result):
    open_verifications()
    target = mismatches["lives"]
    verification = opened(person=target).get()
    with pytest.raises(ValidationError) as error:
        record_verification(role_users[Role.GRID_WORKER], verification, result)
    assert error.value.message_dict == {"result": ["Choose what you found at the door."]}
    nothing_changed(target, verification)


def test_someone_else_already_verified(world, mismatches, role_users):
    open_verifications()
    target = mismatches["lives"]
    verification = opened(person=target).get()
    record_verification(role_users[Role.WORKSTATION_STAFF], verification, R.GONE)
    with pytest.raises(VerificationClosed) as closed:
        record_verification(role_users[Role.GRID_WORKER], verification, R.CONSISTENT)
    assert closed.value.verification.verified_by == role_users[Role.WORKSTATION_STAFF]
    assert Person.all_objects.get(pk=target.pk).residence == R.GONE
    assert Visit.all_objects.count() == 1


@pytest.mark.parametrize(
    "who", ["grid_a1y", "street_b", "committee", "district", "department", "resident"]
)
def test_only_verifiers_of_the_person_territory_may_record(world, mismatches, role_users, who):
    open_verifications()
    target = mismatches["lives"]
    verification = opened(person=target).get()
    actor = {
        "grid_a1y": lambda: f.user_with_role(Role.GRID_WORKER, world.grid_a1y, username="g2"),
        "street_b": lambda: f.user_with_role(Role.STREET_STAFF, world.street_b, username="sb"),
        "committee": lambda: role_users[Role.COMMITTEE_MEMBER],
        "district": lambda: role_users[Role.DISTRICT_ADMIN],
        "department": lambda: role_users[Role.DEPARTMENT_STAFF],
        "resident": lambda: role_users[Role.RESIDENT],
    }[who]()
    with pytest.raises(PermissionDenied):
        record_verification(actor, verification, R.CONSISTENT)
    nothing_changed(target, verification)
