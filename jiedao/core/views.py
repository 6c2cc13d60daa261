from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from jiedao.core.shell import home_for


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database (and Redis, where configured) answer; 503 otherwise."""
    checks: dict[str, str] = {}
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if settings.REDIS_URL:
        try:
            import redis

            redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )


def ping(request: HttpRequest) -> JsonResponse:
    """The cheapest JSON response through the full middleware stack: the benchmark baseline."""
    return JsonResponse({"ok": True})


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico; the icon is a static SVG (resolved per request, so the
    URLconf does not need the static manifest)."""
    return redirect(static("favicon.svg"), permanent=True)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    template, context = home_for(request.user)
    return render(request, template, context)


def index(request: HttpRequest) -> HttpResponse:
    return redirect("core:home")


@require_POST
def toggle_elder_mode(request: HttpRequest) -> HttpResponse:
    """适老化: large text, high contrast and big touch targets, remembered in the session."""
    request.session["elder_mode"] = not request.session.get("elder_mode", False)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, {request.get_host()}, require_https=request.is_secure()
    ):
        target = "/home/"
    return redirect(target)
