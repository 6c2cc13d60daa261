"""Reads of notifications: a user only ever reads their own."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from jiedao.notify.models import Notification


def notifications_of(user: Any) -> QuerySet[Notification]:
    """The user's notifications, newest first."""
    if not getattr(user, "is_authenticated", False):
        return Notification.objects.none()
    return Notification.objects.filter(recipient_id=user.pk).order_by("-created_at", "-pk")


def unread_count(user: Any) -> int:
    """For the badge in the top bar: one indexed count."""
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True).count()
