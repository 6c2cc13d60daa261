"""Notification pages: the user's own list, marking read, and the top bar's badge."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from jiedao.notify import selectors, services

PAGE_SIZE = 20


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.notifications_of(request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "page_obj": page,
        "notifications": page.object_list,
        "unread": selectors.unread_count(request.user),
    }
    return render(request, "notify/list.html", context)


@login_required
@require_POST
def mark_read(request: HttpRequest, pk: int) -> HttpResponse:
    notification = get_object_or_404(selectors.notifications_of(request.user), pk=pk)
    services.mark_read(request.user, notification.pk)
    if request.htmx:  # type: ignore[attr-defined]
        notification.refresh_from_db()
        response = render(request, "notify/_item.html", {"notification": notification})
        response["HX-Trigger"] = "notifications-changed"  # the badge refreshes itself
        return response
    return _back(request)


@login_required
@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    services.mark_all_read(request.user)
    return _back(request)


@login_required
@require_GET
def badge(request: HttpRequest) -> HttpResponse:
    """The unread count for the top bar (polled by htmx)."""
    return render(request, "notify/_badge.html", {"unread": selectors.unread_count(request.user)})


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(reverse("notify:list"))
