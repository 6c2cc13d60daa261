"""Duplicate suggestion and merging (domain.md §3: same category, ~100 m, 72 h, similar text)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import translation
from freezegun import freeze_time

from jiedao.accounts.roles import Role
from jiedao.cases.duplicates import (
    METRES_PER_DEGREE,
    SIMILARITY_THRESHOLD,
    candidates,
    haversine_m,
    text_similarity,
    tokens,
)
from jiedao.cases.models import Case, CaseEvent, Node, PublicStatus
from jiedao.cases.selectors import cases
from jiedao.cases.services import submit_case, transition
from jiedao.core.scopes import unscoped
from jiedao.workdays.calendar import SHANGHAI
from tests import factories as f
from tests.cases.conftest import inside

pytestmark = pytest.mark.django_db

NOON = datetime(2025, 6, 10, 12, 0, tzinfo=SHANGHAI)
GARBAGE = "小区门口垃圾三天没人清运"
GARBAGE_AGAIN = "门口的垃圾好几天没清运了"
LAMP = "路灯不亮"


# --- A stand-in for the case page's route while it is not there yet --------------------------


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"  # pages and messages too, not only this thread
    with translation.override("en"):
        yield


# --- Helpers -----------------------------------------------------------------------------------


def report(grid, category, description=GARBAGE, *, north=0.0, east=0.0, hours=0.0, **kwargs):
    """A case ``north``/``east`` metres from the middle of ``grid``, received ``hours`` after
    NOON."""
    lng, lat = inside(grid)
    lat += north / METRES_PER_DEGREE
    lng += east / (METRES_PER_DEGREE * math.cos(math.radians(lat)))
    with freeze_time(NOON + timedelta(hours=hours)):
        return submit_case(
            None,
            channel="hotline",
            category=category,
            description=description,
            lng=lng,
            lat=lat,
            **kwargs,
        ).case


def found(case, **kwargs) -> list[int]:
    return [c.case.pk for c in candidates(case, **kwargs)]


def fresh(case: Case) -> Case:
    with unscoped():
        return Case.objects.get(pk=case.pk)


def walk(case, *actions):
    for action in actions:
        transition(None, case, action, "说明" if action == "reject" else "")
    return case


def events(case) -> list[str]:
    with unscoped():
        return list(
            CaseEvent.objects.filter(case=case).order_by("pk").values_list("action", flat=True)
        )


@pytest.fixture
def first(world, categories):
    return report(world.grid_a1x, categories["sanitation"])


# --- Text similarity ---------------------------------------------------------------------------


def test_the_same_complaint_in_other_words_is_similar():
    assert text_similarity(GARBAGE, GARBAGE_AGAIN) >= SIMILARITY_THRESHOLD
    assert text_similarity("路灯不亮", "路灯坏了不亮") >= SIMILARITY_THRESHOLD
    assert text_similarity("污水井盖丢失，很危险", "井盖丢了") >= SIMILARITY_THRESHOLD
    assert text_similarity(GARBAGE, GARBAGE) == pytest.approx(1.0)


def test_another_problem_is_not_similar():
    assert text_similarity(GARBAGE, LAMP) < SIMILARITY_THRESHOLD
    assert text_similarity(GARBAGE, "小区门口有人占道经营") < SIMILARITY_THRESHOLD
    assert text_similarity(GARBAGE, "") == 0.0


def test_stop_words_punctuation_and_boilerplate_are_dropped():
    words = tokens("市民来电反映：香水园路3号楼下路灯不亮，希望尽快处理。")
    assert {"路灯", "不亮"} <= words
    assert not words & {"市民", "来电", "反映", "希望", "尽快", "处理", "：", "，", "。", "3"}
    # Boilerplate alone is no similarity.
    assert text_similarity("市民来电反映，希望尽快处理", "市民来电反映：希望尽快处理。") == 0.0


def test_haversine_against_a_known_distance():
    # One degree of latitude on the mean sphere, and Beijing → Shanghai (about 1068 km).
    assert haversine_m(116.0, 40.0, 116.0, 41.0) == pytest.approx(METRES_PER_DEGREE)
    assert haversine_m(116.4074, 39.9042, 121.4737, 31.2304) == pytest.approx(1_067_000, rel=0.01)


# --- The candidate rules at their boundaries ---------------------------------------------------


@pytest.mark.parametrize(
    ("north", "east", "expected"),
    [(99, 0, True), (101, 0, False), (0, 99, True), (0, -101, False), (70, 70, True)],
)
def test_within_one_hundred_metres(world, categories, first, north, east, expected):
    other = report(world.grid_a1x, categories["sanitation"], GARBAGE_AGAIN, north=north, east=east)
    assert (other.pk in found(first)) is expected
    assert (first.pk in found(other)) is expected  # the rule is symmetric
    if expected:
        (candidate,) = candidates(first)
        assert candidate.metres == pytest.approx(math.hypot(north, east), abs=0.5)


@pytest.mark.parametrize(
    ("hours", "expected"), [(71, True), (73, False), (-71, True), (-73, False), (72, True)]
)
def test_within_seventy_two_hours(world, categories, first, hours, expected):
    other = report(world.grid_a1x, categories["sanitation"], GARBAGE_AGAIN, north=30, hours=hours)
    assert (other.pk in found(first)) is expected
    if expected:
        assert candidates(first)[0].hours == pytest.approx(abs(hours))


def test_another_category_is_not_a_duplicate(world, categories, first):
    report(world.grid_a1x, categories["drainage"], GARBAGE_AGAIN, north=10)
    assert found(first) == []


def test_different_text_at_the_same_place_is_not_a_duplicate(world, categories, first):
    report(world.grid_a1x, categories["sanitation"], LAMP, north=10)
    assert found(first) == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ((), True),
        (("register",), True),
        (("register", "dispatch", "acknowledge", "start"), True),  # open in any node
        (("register", "dispatch", "acknowledge", "start", "finish", "verify"), True),
        (("reject",), False),
        (("register", "dispatch", "acknowledge", "start", "finish", "verify", "close"), False),
    ],
)
def test_final_cases_are_not_offered(world, categories, first, path, expected):
    other = walk(report(world.grid_a1x, categories["sanitation"], GARBAGE_AGAIN, north=10), *path)
    assert (other.pk in found(first)) is expected


def test_a_merged_case_is_not_offered_but_the_case_it_joined_is(world, categories, first):
    target = report(world.grid_a1x, categories["sanitation"], GARBAGE_AGAIN, north=10)
    follower = report(world.grid_a1x, categories["sanitation"], GARBAGE, north=20)
    transition(None, follower, "merge", into=target)
    assert found(first) == [target.pk]


def test_the_case_itself_is_never_its_own_duplicate(first):
    assert found(first) == []


def test_most_similar_first_and_limited(world, categories, first):
    near_same = report(world.grid_a1x, categories["sanitation"], GARBAGE, north=50)
    near_other_words = report(world.grid_a1x, categories["sanitation"], GARBAGE_AGAIN, north=5)
    assert found(first) == [near_same.pk, near_other_words.pk]
    assert found(first, limit=1) == [near_same.pk]
    top = candidates(first)[0]
    assert top.similarity == pytest.approx(1.0) and 0 < candidates(first)[1].similarity < 1


def test_cases_located_by_address_match_on_the_same_address(world, categories):
    address = f.AddressFactory(grid=world.grid_a1x)
    elsewhere = f.AddressFactory(grid=world.grid_a1x)
    sanitation = categories["sanitation"]

    def by_address(addr, text):
        return submit_case(
            None, channel="hotline", category=sanitation, description=text, address=addr
        ).case

    one, two = by_address(address, GARBAGE), by_address(address, GARBAGE_AGAIN)
    by_address(elsewhere, GARBAGE)
    (candidate,) = candidates(one)
    assert (candidate.case.pk, candidate.metres) == (two.pk, None)
    # A point without an address is not compared with an address without a point.
    report(world.grid_a1x, sanitation, GARBAGE)
    assert found(one) == [two.pk]


def test_candidates_can_be_limited_to_what_a_user_sees(world, categories, first, role_users):
    other = report(world.grid_a1x, categories["sanitation"], GARBAGE_AGAIN, north=10)
    outsider = f.user_with_role(Role.GRID_WORKER, world.grid_a1y, username="other-grid")
    assert found(first, among=cases(role_users[Role.GRID_WORKER])) == [other.pk]
    assert found(first, among=cases(outsider)) == []


def test_one_query_with_a_bounding_box(world, categories, first, django_assert_num_queries):
    report(world.grid_a1x, categories["sanitation"], GARBAGE_AGAIN, north=10)
    with django_assert_num_queries(1) as captured:
        candidates(first)
    sql = captured.captured_queries[0]["sql"]
    assert '"lat" >=' in sql and '"lng" <=' in sql


# --- The page and the merge --------------------------------------------------------------------


@pytest.fixture
def pair(world, categories, first):
    target = report(world.grid_a1x, categories["sanitation"], GARBAGE_AGAIN, north=10, hours=-2)
    return first, target


def merge_url(case) -> str:
    return reverse("cases:merge", args=[case.pk])


def duplicates_url(case) -> str:
    return reverse("cases:duplicates", args=[case.pk])


def test_a_dispatcher_sees_the_candidates_with_a_merge_form(client, role_users, pair):
    case, target = pair
    client.force_login(role_users[Role.STREET_STAFF])
    page = client.get(duplicates_url(case)).content.decode()
    assert "<html" in page and "<h1>" in page
    assert target.description in page
    assert "10 m" in page and "2.0 h" in page and "67%" in page
    assert f'action="{merge_url(case)}"' in page
    assert f'name="into" value="{target.pk}"' in page
    assert "csrfmiddlewaretoken" in page


def test_the_htmx_request_gets_the_partial(client, role_users, pair):
    case, target = pair
    client.force_login(role_users[Role.STREET_STAFF])
    page = client.get(duplicates_url(case), headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in page and 'id="duplicates"' in page
    assert f'name="into" value="{target.pk}"' in page


def test_a_grid_worker_sees_the_candidates_without_the_form(client, role_users, pair):
    case, target = pair
    client.force_login(role_users[Role.GRID_WORKER])
    page = client.get(duplicates_url(case)).content.decode()
    assert target.description in page
    assert 'name="into"' not in page
    assert "Only the street's dispatchers merge cases." in page


@pytest.mark.parametrize("outside", ["street_b", "resident"])
def test_the_page_is_not_found_outside_scope(client, world, role_users, pair, outside):
    case, _ = pair
    user = (
        f.user_with_role(Role.STREET_STAFF, world.street_b, username="street-b")
        if outside == "street_b"
        else role_users[Role.RESIDENT]
    )
    client.force_login(user)
    assert client.get(duplicates_url(case)).status_code == 404


def test_a_dispatcher_merges_through_the_page(client, role_users, pair):
    case, target = pair
    client.force_login(role_users[Role.STREET_STAFF])
    response = client.post(
        merge_url(case), {"into": target.pk, "note": "同一处垃圾", "expected_node": "received"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:detail", args=[case.pk])
    stored = fresh(case)
    assert (stored.node, stored.merged_into_id, stored.public_status) == (
        Node.MERGED,
        target.pk,
        PublicStatus.OPEN,  # answered when the target closes
    )
    assert events(case)[-1] == "merge"
    with unscoped():
        assert CaseEvent.objects.get(case=case, action="merge").data == {"into": target.pk}
    followed = client.get(response["Location"])
    assert followed.status_code == 200


def assert_unchanged(case, before_events):
    stored = fresh(case)
    assert (stored.node, stored.merged_into_id) == (Node.RECEIVED, None)
    assert events(case) == before_events


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_a_grid_worker_may_not_merge(client, role_users, pair):
    case, target = pair
    client.force_login(role_users[Role.GRID_WORKER])
    response = client.post(merge_url(case), {"into": target.pk}, follow=True)
    assert response.redirect_chain[0][0] == duplicates_url(case)
    assert any("outside your role or territory" in m for m in messages_of(response))
    assert_unchanged(case, ["submit"])


def test_the_reporting_resident_may_not_merge(client, world, categories, role_users):
    resident = role_users[Role.RESIDENT]
    lng, lat = inside(world.grid_a1x)
    sanitation = categories["sanitation"]
    own = submit_case(
        resident, channel="web", category=sanitation, description=GARBAGE, lng=lng, lat=lat
    ).case
    target = report(world.grid_a1x, sanitation, GARBAGE_AGAIN, north=10)
    client.force_login(resident)
    assert client.get(duplicates_url(own)).status_code == 403  # staff only
    response = client.post(merge_url(own), {"into": target.pk}, follow=True)
    # The resident cannot see the other case: it is as if it did not exist.
    assert any("Choose the case to merge" in m for m in messages_of(response))
    assert_unchanged(own, ["submit"])


@pytest.mark.parametrize("who", ["street_b", "resident"])
def test_users_outside_the_street_get_not_found(client, world, role_users, pair, who):
    case, target = pair
    user = (
        f.user_with_role(Role.STREET_STAFF, world.street_b, username="street-b")
        if who == "street_b"
        else role_users[Role.RESIDENT]
    )
    client.force_login(user)
    assert client.post(merge_url(case), {"into": target.pk}).status_code == 404
    assert_unchanged(case, ["submit"])


def test_a_stale_page_gets_a_conflict(client, role_users, pair):
    case, target = pair
    walk(case, "register")
    client.force_login(role_users[Role.STREET_STAFF])
    response = client.post(
        merge_url(case), {"into": target.pk, "expected_node": "received"}, follow=True
    )
    assert any("Someone else changed this case first" in m for m in messages_of(response))
    stored = fresh(case)
    assert (stored.node, stored.merged_into_id) == (Node.REGISTERED, None)
    assert events(case) == ["submit", "register"]


@pytest.mark.parametrize("into", ["self", "closed", "other_street", "junk", "missing"])
def test_a_bad_target_is_refused_and_changes_nothing(
    client, world, categories, role_users, pair, into
):
    case, target = pair
    sanitation = categories["sanitation"]
    value = {
        "self": lambda: case.pk,
        "closed": lambda: walk(target, "reject").pk,
        "other_street": lambda: report(world.grid_b1x, sanitation, GARBAGE).pk,
        "junk": lambda: "abc",
        "missing": lambda: "",
    }[into]()
    client.force_login(role_users[Role.STREET_STAFF])
    response = client.post(merge_url(case), {"into": value}, follow=True)
    texts = messages_of(response)
    assert texts and all("merge" in t or "join" in t for t in texts), texts
    assert_unchanged(case, ["submit"])


def test_merging_needs_the_csrf_token(role_users, pair):
    from django.test import Client

    case, target = pair
    client = Client(enforce_csrf_checks=True)
    client.force_login(role_users[Role.STREET_STAFF])
    assert client.post(merge_url(case), {"into": target.pk}).status_code == 403
    assert_unchanged(case, ["submit"])


def test_get_on_merge_is_refused(client, role_users, pair):
    case, _ = pair
    client.force_login(role_users[Role.STREET_STAFF])
    assert client.get(merge_url(case)).status_code == 405


def test_closing_the_target_closes_the_follower(client, role_users, pair):
    case, target = pair
    client.force_login(role_users[Role.STREET_STAFF])
    client.post(merge_url(case), {"into": target.pk, "expected_node": "received"})
    walk(target, "register", "dispatch", "acknowledge", "start", "finish", "verify", "close")
    follower = fresh(case)
    assert (follower.node, follower.public_status) == (Node.MERGED, PublicStatus.CLOSED)
    assert follower.closed_at == fresh(target).closed_at
    assert events(case) == ["submit", "merge", "close_with"]
    with unscoped():
        assert CaseEvent.objects.get(case=case, action="close_with").data == {"case": target.pk}
