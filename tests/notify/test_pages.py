"""/notifications/: a user's own notifications only, newest first, paginated, unread
highlighted; marking one or all read (POST only); the badge; text in the reader's language."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.template import Context, Template
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation

from jiedao.accounts.roles import Role
from jiedao.notify import kinds, selectors
from jiedao.notify.models import Notification
from jiedao.notify.templatetags.notify import case_url

pytestmark = pytest.mark.django_db


def note(user, case=None, minutes_ago=0, **params) -> Notification:
    return Notification.objects.create(
        recipient=user,
        case=case,
        kind="case_to_verify",
        params={"case": case.pk if case else 0, "category": "垃圾清运", **params},
        created_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


@pytest.fixture
def people(role_users):
    return role_users[Role.GRID_WORKER], role_users[Role.STREET_STAFF]


def test_the_list_shows_only_my_notifications_newest_first(client, people, case):
    me, other = people
    older = note(me, case, minutes_ago=30, category="旧的")
    newer = note(me, case, minutes_ago=1, category="新的")
    note(other, case, category="别人的")
    client.force_login(me)

    with translation.override("en"):
        page = client.get(reverse("notify:list"), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "别人的" not in page
    assert page.index("新的") < page.index("旧的")
    assert f'id="notification-{newer.pk}" class="notice"' in page  # unread: highlighted
    assert f'action="{reverse("notify:mark_read", args=[older.pk])}"' in page


def test_read_notifications_are_not_highlighted(client, people, case):
    me, _ = people
    read = note(me, case)
    read.read_at = timezone.now()
    read.save()
    client.force_login(me)

    page = client.get(reverse("notify:list")).content.decode()

    assert f'id="notification-{read.pk}" class="panel"' in page
    assert reverse("notify:mark_read", args=[read.pk]) not in page
    assert reverse("notify:mark_all_read") not in page  # nothing left to mark


def test_the_list_is_paginated(client, people):
    me, _ = people
    for n in range(25):
        note(me, minutes_ago=n, category=f"第{n}条")
    client.force_login(me)

    first = client.get(reverse("notify:list")).content.decode()
    second = client.get(reverse("notify:list") + "?page=2").content.decode()

    assert "第0条" in first and "第19条" in first and "第20条" not in first
    assert "第20条" in second and "第24条" in second and "第0条" not in second


def test_mark_one_read_only_my_own_and_only_by_post(client, people, case):
    me, other = people
    mine, theirs = note(me, case), note(other, case)
    client.force_login(me)

    assert client.get(reverse("notify:mark_read", args=[mine.pk])).status_code == 405
    assert client.post(reverse("notify:mark_read", args=[theirs.pk])).status_code == 404
    response = client.post(
        reverse("notify:mark_read", args=[mine.pk]), {"next": "/notifications/?page=1"}
    )

    assert response.status_code == 302 and response["Location"] == "/notifications/?page=1"
    mine.refresh_from_db(), theirs.refresh_from_db()
    assert mine.read_at is not None and theirs.read_at is None
    assert selectors.unread_count(me) == 0 and selectors.unread_count(other) == 1


def test_mark_read_ignores_a_foreign_next(client, people, case):
    me, _ = people
    mine = note(me, case)
    client.force_login(me)

    response = client.post(
        reverse("notify:mark_read", args=[mine.pk]), {"next": "https://evil.example/"}
    )

    assert response["Location"] == reverse("notify:list")


def test_mark_read_with_htmx_returns_the_item_and_refreshes_the_badge(client, people, case):
    me, _ = people
    mine = note(me, case)
    client.force_login(me)

    response = client.post(reverse("notify:mark_read", args=[mine.pk]), HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert response.status_code == 200 and response["HX-Trigger"] == "notifications-changed"
    assert body.strip().startswith(f'<article id="notification-{mine.pk}" class="panel"')


def test_mark_all_read_touches_only_mine(client, people, case):
    me, other = people
    note(me, case), note(me, case), note(other, case)
    client.force_login(me)

    response = client.post(reverse("notify:mark_all_read"))

    assert response.status_code == 302
    assert selectors.unread_count(me) == 0 and selectors.unread_count(other) == 1


def test_badge_shows_my_unread_count(client, people, case):
    me, other = people
    note(me, case), note(me, case), note(other, case)
    client.force_login(me)

    with translation.override("en"):
        badge = client.get(reverse("notify:badge"), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert '<strong aria-hidden="true">2</strong>' in badge
    assert 'href="/notifications/"' in badge


def test_badge_template_tag_polls_the_badge(people, case):
    me, _ = people
    note(me, case)
    html = Template("{% load notify %}{% notification_badge %}").render(Context({"user": me}))
    assert 'hx-get="/notifications/badge/"' in html and '"true">1</strong>' in html


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for url in (reverse("notify:list"), reverse("notify:badge")):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/" in response["Location"]
    assert client.post(reverse("notify:mark_all_read")).status_code == 302


def test_case_links_fall_back_to_a_hash_without_a_case_page(case):
    assert case_url(None) == "#"
    with mock.patch("jiedao.notify.templatetags.notify.reverse", side_effect=NoReverseMatch):
        assert case_url(case.pk) == "#"
    with mock.patch("jiedao.notify.templatetags.notify.reverse", return_value="/cases/1/"):
        assert case_url(case.pk) == "/cases/1/"


def test_text_is_rendered_when_shown_in_the_readers_language(people, case):
    me, _ = people
    stored = note(me, case, due="2025-10-15T00:00:00+08:00")
    stored.kind = "case_overdue"
    stored.save()

    with translation.override("en"):
        text = Notification.objects.get(pk=stored.pk).text

    assert text.startswith(f"Case #{case.pk} (垃圾清运) is past its deadline (")
    assert "handler: …" in text  # a missing value never fails the page
    assert kinds.render("no_such_kind", {}) in {"Notification", "通知"}


def test_every_kind_renders_with_the_params_it_is_given():
    params = {
        "case": 7,
        "category": "c",
        "due": "2025-10-15T00:00:00+08:00",
        "handler": "h",
        "reason": "r",
        "main": 3,
        "department": "d",
    }
    with translation.override("en"):
        for kind in kinds.KINDS:
            text = kinds.render(kind, params)
            assert "%(" not in text and "…" not in text, kind
