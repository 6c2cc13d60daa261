"""人户分离 reconciliation (domain.md §2; docs/reconciliation.md).

* ``reconcile(prefix)`` classifies every person under a territory prefix with one UPDATE whose
  CASE expression is ``services.residence_of`` written in SQL: no Python loop over persons.
* ``counts(level, ...)`` / ``visible_counts(...)`` count persons by class and registered
  households (consistent or not) per street, community or grid with grouped aggregates.
* ``take_snapshots(on)`` stores one ReconciliationSnapshot per community and grid and day
  (an upsert, so a second run the same day updates the row); the daily job
  ``registry.reconcile`` runs it. The trend is the snapshots over time.
* ``open_verifications(prefix)`` puts every mismatch without an open verification on the grid
  workers' worklist (one INSERT … SELECT); ``record_verification`` stores the door-to-door result,
  which then outranks both sources (``Person.verified_residence``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections, router, transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    DateTimeField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Length, Substr
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jiedao.accounts.roles import REGISTRY_EDITORS, REGISTRY_READERS
from jiedao.audit.services import log_action
from jiedao.core.scopes import Scope, code_within, unscoped
from jiedao.core.selectors import role_scope, visible
from jiedao.jobs.base import job, periodic
from jiedao.registry import services
from jiedao.registry.models import (
    Household,
    Person,
    PersonVersion,
    ReconciliationSnapshot,
    Residence,
    Verification,
    Visit,
)
from jiedao.territory import codes
from jiedao.territory.models import Community, Grid, Street

logger = logging.getLogger("jiedao.registry")

# Length of the territory-code prefix that names each level (persons hang off grid codes).
STREET, COMMUNITY, GRID = "street", "community", "grid"
PREFIX_LENGTH = {STREET: 9, COMMUNITY: 12, GRID: 12 + codes.GRID_SUFFIX_DIGITS}
CLASSES: tuple[str, ...] = (
    Residence.CONSISTENT,
    Residence.LIVES_NOT_REGISTERED,
    Residence.REGISTERED_NOT_LIVING,
    Residence.GONE,
    Residence.UNKNOWN,
)
# What a grid worker can find at the door ("not yet classified" is no finding).
RESULTS: tuple[str, ...] = CLASSES[:-1]
SNAPSHOT_FIELDS = (
    "persons",
    "consistent",
    "lives_not_registered",
    "registered_not_living",
    "unknown",
    "registered_households",
    "consistent_households",
)
TREND_DAYS = 365


# --- classification -------------------------------------------------------------------------


def residence_expression() -> Case:
    """``services.residence_of`` as one SQL CASE: the door-to-door finding wins; consistent only
    when the person lives at the very dwelling they are registered at; living here (registered
    elsewhere or at another dwelling) comes before being registered here."""
    return Case(
        When(~Q(verified_residence=""), then=F("verified_residence")),
        When(
            dwelling__isnull=False,
            registered_dwelling__isnull=False,
            dwelling=F("registered_dwelling"),
            then=Value(Residence.CONSISTENT),
        ),
        When(dwelling__isnull=False, then=Value(Residence.LIVES_NOT_REGISTERED)),
        When(registered_dwelling__isnull=False, then=Value(Residence.REGISTERED_NOT_LIVING)),
        default=Value(Residence.UNKNOWN),
        output_field=CharField(),
    )


def _under(rows: QuerySet, prefix: str, field_name: str = "territory_code") -> QuerySet:
    return rows.filter(code_within(field_name, prefix)) if prefix else rows


def reconcile(prefix: str = "") -> int:
    """Classify every person whose territory code starts with ``prefix`` ("" = everyone) in one
    UPDATE; returns how many persons changed class. Only changed rows are written, so a second
    run is a read-only scan."""
    expression = residence_expression()
    with unscoped():
        persons = _under(Person.all_objects.all(), prefix)
        return persons.filter(~Q(residence=expression)).update(residence=expression)


# --- counts ---------------------------------------------------------------------------------


def rate(numerator: int, denominator: int) -> float | None:
    """A percentage with one decimal; None when there is nothing to divide by."""
    if not denominator:
        return None
    return round(100 * numerator / denominator, 1)


@dataclass
class Counts:
    """One node's persons by class and its households. A registered household is consistent
    when at least one of its registered members is 人户一致 (lives at the dwelling they are
    registered at, or was found so at the door)."""

    code: str
    persons: int = 0
    consistent: int = 0
    lives_not_registered: int = 0
    registered_not_living: int = 0
    gone: int = 0
    unknown: int = 0
    registered_households: int = 0
    consistent_households: int = 0
    residing_households: int = 0
    label: str = field(default="", compare=False)

    def share(self, key: str) -> float | None:
        """Share of the persons in one class, in %."""
        return rate(getattr(self, key), self.persons)

    @property
    def consistent_rate(self) -> float | None:
        return self.share(Residence.CONSISTENT)

    @property
    def household_rate(self) -> float | None:
        """Consistent registered households ÷ registered households, in %."""
        return rate(self.consistent_households, self.registered_households)

    @property
    def mismatches(self) -> int:
        return self.persons - self.consistent

    def add(self, other: Counts) -> None:
        for item in fields(self):
            if item.name not in ("code", "label"):
                setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))


def _node_code(level: str, prefix: str) -> str:
    """The node's code from its prefix (a street's prefix is its code less the trailing 000)."""
    return f"{prefix}000" if level == STREET else prefix


def node_counts(
    level: str, persons: QuerySet[Person], households: QuerySet[Household]
) -> dict[str, Counts]:
    """Counts per node of ``level`` (keyed by node code), two grouped queries in all."""
    result: dict[str, Counts] = {}
    for row in _person_rows(level, persons):
        code = _node_code(level, row["node"])
        result[code] = Counts(code, persons=row["total"], **{k: row[k] for k in CLASSES})
    for row in _household_rows(level, households):
        code = _node_code(level, row["node"])
        found = result.setdefault(code, Counts(code))
        found.registered_households = row["registered"]
        found.consistent_households = row["consistent"]
        found.residing_households = row["residing"]
    return result


def _person_rows(level: str, persons: QuerySet[Person]) -> list[Mapping[str, Any]]:
    by_class = {key: Count("pk", filter=Q(residence=key)) for key in CLASSES}
    return list(
        persons.order_by()  # a default ordering would split the groups
        .annotate(node=Substr("territory_code", 1, PREFIX_LENGTH[level]))
        .values("node")
        .annotate(total=Count("pk"), **by_class)
    )


def _household_rows(level: str, households: QuerySet[Household]) -> list[Mapping[str, Any]]:
    registered = Q(kind=Household.Kind.REGISTERED)
    consistent_member = Exists(
        Person.all_objects.filter(
            registered_household=OuterRef("pk"), residence=Residence.CONSISTENT
        )
    )
    return list(
        households.order_by()
        .annotate(node=Substr("territory_code", 1, PREFIX_LENGTH[level]))
        .values("node")
        .annotate(
            registered=Count("pk", filter=registered),
            consistent=Count("pk", filter=registered & Q(consistent_member)),
            residing=Count("pk", filter=Q(kind=Household.Kind.RESIDING)),
        )
    )


def counts(level: str, prefix: str = "") -> dict[str, Counts]:
    """Counts per street, community or grid under ``prefix``, across every scope (jobs,
    services); pages use ``visible_counts``."""
    with unscoped():
        persons = _under(Person.all_objects.all(), prefix)
        households = _under(Household.all_objects.all(), prefix)
        return node_counts(level, persons, households)


def reader_scope(user: Any) -> Scope:
    """The territory of the user's grants that may read the registry."""
    return role_scope(user, REGISTRY_READERS)


def visible_counts(user: Any, level: str, prefix: str = "") -> dict[str, Counts]:
    """Counts per node of ``level`` over the persons and households the user may see."""
    scope = reader_scope(user)
    persons = _under(visible(Person, user, scope), prefix)
    households = _under(visible(Household, user, scope), prefix)
    return node_counts(level, persons, households)


def total(rows: Iterable[Counts], code: str = "") -> Counts:
    result = Counts(code)
    for row in rows:
        result.add(row)
    return result


# --- snapshots and the daily job ------------------------------------------------------------


def roll_up(rows: dict[str, Counts], level: str) -> dict[str, Counts]:
    """Counts of lower nodes added up per node of ``level`` (grids into their communities)."""
    result: dict[str, Counts] = {}
    for code, row in rows.items():
        parent = _node_code(level, code[: PREFIX_LENGTH[level]])
        result.setdefault(parent, Counts(parent)).add(row)
    return result


def take_snapshots(on: date | None = None, *, prefix: str = "") -> int:
    """Reconcile, then store the counts of every community and grid under ``prefix`` for the
    day ``on`` (default today). Idempotent per day: a second run updates the same rows.
    Returns the number of snapshots written."""
    reconcile(prefix)
    return store_snapshots(on or timezone.localdate(), prefix)


def store_snapshots(on: date, prefix: str = "") -> int:
    """The upsert of ``take_snapshots``, on persons classified already. Grid counts are one
    grouped query; a community's are its grids' added up."""
    by_grid = counts(GRID, prefix)
    figures = {**roll_up(by_grid, COMMUNITY), **by_grid}
    snapshots: list[ReconciliationSnapshot] = []
    with unscoped():
        for model in (Community, Grid):
            nodes = _under(model.all_objects.filter(retired_at__isnull=True), prefix, "code")
            for code in nodes.values_list("code", flat=True):
                found = figures.get(code, Counts(code))
                values = {name: getattr(found, name) for name in SNAPSHOT_FIELDS}
                snapshots.append(ReconciliationSnapshot(territory_code=code, taken_on=on, **values))
        ReconciliationSnapshot.all_objects.bulk_create(
            snapshots,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["territory_code", "taken_on"],
            update_fields=list(SNAPSHOT_FIELDS),
        )
    return len(snapshots)


@periodic(every=timedelta(hours=24), name="registry.reconcile")
@job(max_attempts=3, backoff_seconds=300)
def reconcile_daily() -> dict[str, int]:
    """The daily run: classify everyone and store the day's snapshots."""
    changed = reconcile()
    written = store_snapshots(timezone.localdate())
    logger.info("reconciliation: %d persons changed class, %d snapshots", changed, written)
    return {"changed": changed, "snapshots": written}


def reconcile_now(actor: Any, prefix: str) -> dict[str, int]:
    """The "Reconcile now" button: classify and snapshot one node now, audited. The caller
    checks the permission on the node."""
    with transaction.atomic():
        changed = reconcile(prefix)
        written = store_snapshots(timezone.localdate(), prefix)
        log_action(
            actor,
            "registry.reconcile",
            None,
            after={"prefix": prefix, "changed": changed, "snapshots": written},
            territory_code=prefix,
        )
    return {"changed": changed, "snapshots": written}


def trend(user: Any, level: str, prefix: str = "", days: int = TREND_DAYS) -> list[Counts]:
    """Snapshots of the nodes of ``level`` (community or grid) under ``prefix`` that the user
    may see, added up per day, oldest first; ``Counts.code`` holds the day (ISO)."""
    since = timezone.localdate() - timedelta(days=days)
    rows = (
        _under(visible(ReconciliationSnapshot, user, reader_scope(user)), prefix)
        .annotate(code_length=Length("territory_code"))
        .filter(code_length=PREFIX_LENGTH[level], taken_on__gte=since)
        .order_by()
        .values("taken_on")
        .annotate(**{name: Sum(name) for name in SNAPSHOT_FIELDS})
        .order_by("taken_on")
    )
    return [
        Counts(row["taken_on"].isoformat(), **{name: row[name] for name in SNAPSHOT_FIELDS})
        for row in rows
    ]


# --- the reconciliation page ---------------------------------------------------------------

Node = Street | Community | Grid
CHILD_LEVEL = {None: STREET, STREET: COMMUNITY, COMMUNITY: GRID, GRID: GRID}


def touches(scope: Scope, code: str) -> bool:
    """Whether any record under the node ``code`` is inside the scope (a grid worker touches
    their grid, its community and its street; a street's staff its communities and grids)."""
    if scope.everything:
        return True
    prefix = codes.scope_prefix(code)
    return any(p.startswith(prefix) or prefix.startswith(p) for p in scope.prefixes)


def find_node(user: Any, code: str) -> Node | None:
    """The street, community or grid with this code, if the user may see records under it."""
    scope = reader_scope(user)
    for model in (Street, Community, Grid):
        node = model.all_objects.filter(code=code).first()
        if node is not None:
            return node if touches(scope, node.code) else None
    return None


def children(user: Any, node: Node | None) -> list[Node]:
    """The nodes one level below ``node`` (None: the streets) the user may see records in."""
    scope = reader_scope(user)
    rows: QuerySet
    if node is None:
        rows = Street.all_objects.all()
    elif isinstance(node, Street):
        rows = Community.all_objects.filter(street=node)
    elif isinstance(node, Community):
        rows = Grid.all_objects.filter(community=node)
    else:
        return [node]
    rows = rows.filter(retired_at__isnull=True).order_by("code")
    return [child for child in rows if touches(scope, child.code)]


def trail(node: Node | None) -> list[Node]:
    """The node's ancestors from its street down, and the node itself."""
    chain: list[Node] = []
    while node is not None:
        chain.insert(0, node)
        node = getattr(node, "community", None) or getattr(node, "street", None)
    return chain


@dataclass
class Report:
    node: Node | None  # None: everything the user sees
    trail: list[Node]
    level: str  # the level of the rows
    rows: list[Counts]
    total: Counts
    trend: list[Counts]
    # Rows that can be opened one level down.
    drillable: bool


def level_of(node: Node | None) -> str | None:
    return getattr(node, "level", None)


def report(user: Any, node: Node | None = None) -> Report:
    """The reconciliation table for ``node`` (None: the top of the user's territory, going
    down while there is a single node to show): one row per child node with its counts, the
    total, and the trend of the snapshots."""
    nodes = children(user, node)
    if node is None:
        while len(nodes) == 1 and not isinstance(nodes[0], Grid):
            node = nodes[0]
            nodes = children(user, node)
    level = CHILD_LEVEL[level_of(node)]
    prefix = node.scope_prefix if node is not None else ""
    figures = visible_counts(user, level, prefix)
    rows = []
    for child in nodes:
        row = figures.get(child.code, Counts(child.code))
        row.label = child.name
        rows.append(row)
    trend_level = GRID if level == GRID else COMMUNITY
    return Report(
        node=node,
        trail=trail(node),
        level=level,
        rows=rows,
        total=total(rows, node.code if node is not None else ""),
        trend=trend(user, trend_level, prefix),
        drillable=level != GRID,
    )


# --- the verification worklist --------------------------------------------------------------


def needs_verification(prefix: str = "") -> QuerySet[Person]:
    """Persons under ``prefix`` whose class is not consistent, who were not verified already
    (a door-to-door finding stands until a newer import clears it) and who have no open
    verification."""
    open_one = Verification.all_objects.filter(person=OuterRef("pk"), state=Verification.State.OPEN)
    return (
        _under(Person.all_objects.all(), prefix)
        .exclude(residence=Residence.CONSISTENT)
        .filter(verified_residence="")
        .filter(~Exists(open_one))
    )


def open_verifications(prefix: str = "", *, actor: Any = None) -> int:
    """Put every person of ``needs_verification(prefix)`` on the worklist: one open
    Verification each (found = their class now), in one INSERT … SELECT. Idempotent: a person
    with an open verification is skipped, and a concurrent run loses to the one-open-per-person
    constraint quietly. Returns how many were opened."""
    reconcile(prefix)
    now = timezone.now()
    with unscoped():
        rows = (
            needs_verification(prefix)
            .order_by()
            .values(
                v_person=F("pk"),
                v_found=F("residence"),
                v_code=F("territory_code"),
                v_state=Value(Verification.State.OPEN, output_field=CharField()),
                v_result=Value("", output_field=CharField()),
                v_note=Value("", output_field=CharField()),
                v_created=Value(now, output_field=DateTimeField()),
            )
        )
        alias = router.db_for_write(Verification)
        select_sql, params = rows.query.get_compiler(using=alias).as_sql()
    table = Verification._meta.db_table
    columns = "person_id, found, territory_code, state, result, note, created_at"
    # The SELECT always has a WHERE, which SQLite needs before ON CONFLICT in INSERT … SELECT.
    sql = f"INSERT INTO {table} ({columns}) {select_sql} ON CONFLICT DO NOTHING"
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        opened = max(cursor.rowcount, 0)
        if actor is not None:
            log_action(
                actor,
                "registry.verification.open",
                None,
                after={"prefix": prefix, "opened": opened},
                territory_code=prefix,
            )
    return opened


def worklist(user: Any) -> QuerySet[Verification]:
    """The open verifications the user must do: those in the territory of their grants that
    may verify (a grid worker: their grid), in walking order (grid, building, room)."""
    if not getattr(user, "is_authenticated", False):
        return Verification.all_objects.none()
    scope = user.scope_for(set(REGISTRY_EDITORS))
    return (
        visible(Verification, user, scope)
        .filter(state=Verification.State.OPEN)
        .select_related(
            "person__dwelling__building",
            "person__dwelling__address",
            "person__registered_dwelling__building",
            "person__registered_dwelling__address",
        )
        .order_by(
            "territory_code",
            "person__dwelling__building__name",
            "person__dwelling__room",
            "person__registered_dwelling__building__name",
            "person__registered_dwelling__room",
            "created_at",
        )
    )


class VerificationClosed(Exception):
    """The verification was recorded already (by someone else, or in another tab)."""

    def __init__(self, verification: Verification) -> None:
        super().__init__(f"verification {verification.pk} is {verification.state}")
        self.verification = verification


def _check_result(result: str) -> None:
    if result not in RESULTS:
        raise ValidationError(
            {"result": _("Choose what you found at the door.")}, code="invalid_result"
        )


def record_verification(
    actor: Any, verification: Verification, result: str, note: str = ""
) -> Verification:
    """Record a door-to-door result: closes the verification, sets the person's verified class
    (a new person version, source "verification"), writes a verification Visit and an audit
    entry, in one transaction. Raises ValidationError for a result that is not a class,
    PermissionDenied without ``registry.verify`` on the person, VerificationClosed when it
    was recorded already."""
    _check_result(result)
    note = note.strip()
    with transaction.atomic(), unscoped():
        locked = (
            Verification.all_objects.select_for_update()
            .select_related("person")
            .get(pk=verification.pk)
        )
        person = locked.person
        if not actor.has_perm("registry.verify", person):
            raise PermissionDenied
        if locked.state != Verification.State.OPEN:
            raise VerificationClosed(locked)
        now = timezone.now()
        person = services.save_person(
            actor, person, {"verified_residence": result}, source=PersonVersion.Source.VERIFICATION
        )
        # verified_at is not a tracked field: save_person skips a save that changes no
        # tracked field (the same finding again), so set the time here.
        Person.all_objects.filter(pk=person.pk).update(verified_at=now)
        locked.state = Verification.State.DONE
        locked.result, locked.note = result, note
        locked.verified_at, locked.verified_by = now, actor
        locked.save(update_fields=["state", "result", "note", "verified_at", "verified_by"])
        Visit.all_objects.create(
            person=person,
            household=person.household or person.registered_household,
            kind=Visit.Kind.VERIFICATION,
            visited_at=now,
            visited_by=actor,
            note=note,
            territory_code=person.territory_code,
        )
        log_action(
            actor,
            "registry.verification.record",
            locked,
            before={"state": Verification.State.OPEN, "found": locked.found},
            after={"state": locked.state, "result": result, "person": person.pk},
        )
    return locked
