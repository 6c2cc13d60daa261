from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from jiedao.core.shell import navigation


def shell(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    return {
        "nav_items": navigation(user),
        "elder_mode": bool(getattr(request, "session", {}).get("elder_mode", False)),
        "is_resident_shell": user.is_authenticated and not user.is_staff_member,
        "site_name": settings.JIEDAO_SITE_NAME,
        "map_tile_url": settings.JIEDAO_MAP_TILE_URL,
        "map_tile_attribution": settings.JIEDAO_MAP_TILE_ATTRIBUTION,
        "map_tile_subdomains": settings.JIEDAO_MAP_TILE_SUBDOMAINS,
    }
