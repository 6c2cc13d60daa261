"""The caller's address behind a known number of trusted reverse proxies (load balancers)."""

from __future__ import annotations

import ipaddress
import re

from django.conf import settings
from django.http import HttpRequest

REQUEST_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")


def client_ip(request: HttpRequest) -> str | None:
    """With JIEDAO_PROXY_COUNT = N, the N-th address from the right of X-Forwarded-For is the
    one our outermost proxy saw; anything to its left was written by the client and is ignored."""
    remote = request.META.get("REMOTE_ADDR")
    proxies = settings.JIEDAO_PROXY_COUNT
    if proxies:
        hops = [
            h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()
        ]
        if len(hops) >= proxies:
            remote = hops[-proxies]
    return normalise_ip(remote)


def normalise_ip(value: str | None) -> str | None:
    try:
        return ipaddress.ip_address((value or "").strip()).compressed
    except ValueError:
        return None


def request_id(request: HttpRequest) -> str | None:
    """A request id from a trusted proxy, if it looks like one (never from a bare client)."""
    if not settings.JIEDAO_PROXY_COUNT:
        return None
    value = request.headers.get("X-Request-ID", "")
    return value if REQUEST_ID.match(value) else None
