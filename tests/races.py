"""Races on PostgreSQL: each side runs in a thread with its own connection and transaction, on a
small territory of its own that is removed afterwards. The test database is not rolled back
between threads, so ``RaceWorld.remove`` takes out what was made: cases and their events and
notifications, the users, the territory, the categories, and the audit rows written since (with
the append-only triggers off for that moment, and the chain head put back)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connection

from jiedao.accounts.models import ApiToken, RoleGrant, User
from jiedao.audit.models import AuditEntry, AuditHead
from jiedao.cases.models import Case, CaseEvent, Category, GridIndexGeneration
from jiedao.core.scopes import unscoped
from jiedao.notify.models import Notification
from jiedao.territory.models import Community, District, Grid, Street
from tests import factories as f


def needs_postgresql(why: str = "SQLite has no row locks to race on") -> None:
    if connection.vendor != "postgresql":
        pytest.skip(f"needs PostgreSQL: {why}")


def in_own_connection(work: Callable[..., Any], *args: Any) -> Any:
    from django.db import connection as thread_connection

    try:
        return work(*args)
    finally:
        thread_connection.close()


def run(work: Callable[..., Any], *args: Any) -> Any:
    """Run ``work`` in a thread of its own and return its result (or raise its error)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = in_own_connection(work, *args)
        except Exception as exc:  # re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def at_once(work: Callable[..., None], argument_lists: Iterable[tuple[Any, ...]]) -> None:
    """Start ``work`` in one thread per argument list and wait for all of them."""
    threads = [
        threading.Thread(target=in_own_connection, args=(work, *arguments))
        for arguments in argument_lists
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@dataclass
class RaceWorld:
    """District → street → community → grid under ``district_code`` (12 digits, ending 000000),
    a 大类/小类 pair, and the state to put back. Build and remove it with ``run``."""

    district_code: str
    name: str
    category_code: str
    head: dict[str, Any] | None = None
    generation: str | None = None
    user_ids: list[int] = field(default_factory=list)
    street: Any = None
    grid: Any = None
    category: Any = None

    @property
    def codes(self) -> tuple[str, str, str, str]:
        base = self.district_code[:6]
        return f"{base}000000", f"{base}001000", f"{base}001001", f"{base}001001001"

    def build(self) -> RaceWorld:
        with unscoped():
            self.head = AuditHead.objects.filter(pk=1).values("last_seq", "last_hash").first()
            self.generation = (
                GridIndexGeneration.objects.filter(pk=1).values_list("token", flat=True).first()
            )
            district_code, street_code, community_code, grid_code = self.codes
            district = f.DistrictFactory(code=district_code, name=f"{self.name}区")
            self.street = f.StreetFactory(
                district=district, code=street_code, name=f"{self.name}街道"
            )
            community = f.CommunityFactory(
                street=self.street, code=community_code, name=f"{self.name}社区"
            )
            self.grid = f.GridFactory(community=community, code=grid_code, name=f"{self.name}网格")
            main = Category.objects.create(code=f"{self.category_code}0", name=f"{self.name}大类")
            self.category = Category.objects.create(
                code=self.category_code, name=self.name, parent=main
            )
        return self

    def user(self, role: str, username: str) -> Any:
        made = f.user_with_role(role, self.street, username=username)
        self.user_ids.append(made.pk)
        return made

    def remove(self) -> None:
        district_code, street_code, community_code, grid_code = self.codes
        with unscoped(), connection.cursor() as cursor:
            Notification.objects.filter(recipient_id__in=self.user_ids).delete()
            cases = Case.objects.filter(territory_code=grid_code)
            CaseEvent.objects.filter(case__in=cases).delete()
            cases.delete()
            last_seq = self.head["last_seq"] if self.head else 0
            cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")
            AuditEntry.objects.filter(seq__gt=last_seq).delete()
            cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER USER")
            if self.head:
                AuditHead.objects.filter(pk=1).update(**self.head)
            else:
                AuditHead.objects.filter(pk=1).delete()
            ApiToken.objects.filter(user_id__in=self.user_ids).delete()
            RoleGrant.objects.filter(user_id__in=self.user_ids).delete()
            User.objects.filter(pk__in=self.user_ids).delete()
            Grid.all_objects.filter(code=grid_code).delete()
            Community.all_objects.filter(code=community_code).delete()
            Street.all_objects.filter(code=street_code).delete()
            District.all_objects.filter(code=district_code).delete()
            Category.objects.filter(code=self.category_code).delete()
            Category.objects.filter(code=f"{self.category_code}0").delete()
            if self.generation is None:
                GridIndexGeneration.objects.filter(pk=1).delete()
            else:
                GridIndexGeneration.objects.filter(pk=1).update(token=self.generation)
