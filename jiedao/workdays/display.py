"""How a deadline reads: the end of a day is "24:00" of that day, as domain.md counts it, never
"00:00" of the next (which reads as a day later)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone


def deadline_text(moment: datetime | None) -> str:
    if moment is None:
        return ""
    local = timezone.localtime(moment)
    if (local.hour, local.minute, local.second) == (0, 0, 0):
        return f"{(local - timedelta(days=1)):%Y-%m-%d} 24:00"
    return f"{local:%Y-%m-%d %H:%M}"
