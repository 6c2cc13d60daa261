"""Territory scopes: every read of scoped data is limited to what the caller's grants cover.

Territory codes nest by prefix (domain.md §1): district ``110119``, street ``110119001``,
community ``110119001001``, grid ``110119001001001``. A grant on a node covers every record whose
``territory_code`` starts with the node's prefix, so one indexed ``LIKE 'prefix%'`` does the work.

A scoped model's default manager refuses to build a query unless a scope is active
(``active_scope``) or the caller says plainly that it works unscoped (``unscoped``). The web
middleware activates the signed-in user's scope for the whole request, so a view or endpoint that
forgets the selector layer still cannot leak; a command or task that forgets fails loudly.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.db import models
from django.db.models import Q


class ScopeError(RuntimeError):
    """A scoped model was queried with no territory scope active."""


@dataclass(frozen=True)
class Scope:
    """What one caller may see. ``everything`` is for system administrators only."""

    prefixes: frozenset[str] = frozenset()
    # Codes of the ancestors of granted nodes: visible as structure (names, breadcrumbs) only.
    ancestor_codes: frozenset[str] = frozenset()
    # District prefixes whose territory structure (district → grid) a department may see.
    structure_prefixes: frozenset[str] = frozenset()
    department_ids: frozenset[int] = frozenset()
    everything: bool = False
    label: str = field(default="", compare=False)

    @classmethod
    def nothing(cls) -> Scope:
        return cls(label="nothing")

    @classmethod
    def all(cls) -> Scope:
        return cls(everything=True, label="all")

    @property
    def sees_records(self) -> bool:
        """Whether any record (building, dwelling, person) can be visible, not just structure."""
        return self.everything or bool(self.prefixes)

    def covers_code(self, code: str) -> bool:
        return self.everything or any(code.startswith(p) for p in self.prefixes)

    def q(self, field_name: str = "territory_code") -> Q:
        """Rows whose territory code lies inside a granted node."""
        if self.everything:
            return Q()
        return _prefix_q(field_name, self.prefixes)

    def structure_q(self, field_name: str = "code") -> Q:
        """Territory nodes: inside a grant, an ancestor of one, or in a department's district."""
        if self.everything:
            return Q()
        query = _prefix_q(field_name, self.prefixes | self.structure_prefixes)
        if self.ancestor_codes:
            query |= Q(**{f"{field_name}__in": sorted(self.ancestor_codes)})
        return query

    def merge(self, other: Scope) -> Scope:
        return Scope(
            prefixes=self.prefixes | other.prefixes,
            ancestor_codes=self.ancestor_codes | other.ancestor_codes,
            structure_prefixes=self.structure_prefixes | other.structure_prefixes,
            department_ids=self.department_ids | other.department_ids,
            everything=self.everything or other.everything,
            label=", ".join(x for x in (self.label, other.label) if x),
        )


def _prefix_q(field_name: str, prefixes: Iterable[str]) -> Q:
    query = Q(pk__in=[])  # matches nothing when no prefix is granted
    for prefix in _minimal_prefixes(prefixes):
        query |= code_within(field_name, prefix)
    return query


def code_within(field_name: str, prefix: str) -> Q:
    """Codes starting with the digit ``prefix``, as a range: ``LIKE 'p%'`` cannot use the index
    on SQLite, a range can on every database. Codes are digits, so the prefix plus one (same
    length) bounds every code below the prefix from above."""
    if not prefix.isdigit() or not prefix.strip("9"):  # all nines: no same-length upper bound
        return Q(**{f"{field_name}__startswith": prefix})
    upper = str(int(prefix) + 1).zfill(len(prefix))
    return Q(**{f"{field_name}__gte": prefix, f"{field_name}__lt": upper})


def _minimal_prefixes(prefixes: Iterable[str]) -> list[str]:
    """Drop prefixes already covered by a shorter one (a street grant covers its grids)."""
    kept: list[str] = []
    for prefix in sorted(set(prefixes), key=len):
        if not any(prefix.startswith(k) for k in kept):
            kept.append(prefix)
    return sorted(kept)


_UNSCOPED = object()
_current: contextvars.ContextVar[Any] = contextvars.ContextVar("jiedao_scope", default=None)


@contextmanager
def active_scope(scope: Scope | Callable[[], Scope]) -> Iterator[None]:
    """Activate a scope, or a function that returns one when the first scoped query needs it."""
    token = _current.set(scope)
    try:
        yield
    finally:
        _current.reset(token)


def _resolve(state: Any) -> Any:
    if callable(state):
        state = state()
        _current.set(state)
    return state


@contextmanager
def unscoped() -> Iterator[None]:
    """For commands, background jobs, migrations and services that must see across territory."""
    token = _current.set(_UNSCOPED)
    try:
        yield
    finally:
        _current.reset(token)


def current_scope() -> Scope | None:
    value = _resolve(_current.get())
    return None if value is _UNSCOPED else value


def is_unscoped() -> bool:
    return _current.get() is _UNSCOPED


class ScopedQuerySet(models.QuerySet):
    def within(self, scope: Scope) -> ScopedQuerySet:
        return self.filter(self.model.scope_q(scope))  # type: ignore[attr-defined]


class ScopedManager(models.Manager.from_queryset(ScopedQuerySet)):  # type: ignore[misc]
    """Default manager of scoped models: filters by the active scope, refuses without one."""

    def get_queryset(self) -> ScopedQuerySet:
        queryset = super().get_queryset()
        state = _resolve(_current.get())
        if state is _UNSCOPED:
            return queryset
        if state is None:
            raise ScopeError(
                f"{self.model.__name__} queried with no territory scope: use a selector "
                "(jiedao.<app>.selectors) or wrap deliberate cross-territory work in unscoped()."
            )
        return queryset.within(state)


class ScopedModel(models.Model):
    """Records that hang off the territory: ``territory_code`` is the code of their lowest node."""

    territory_code = models.CharField(max_length=24, db_index=True, editable=False)

    objects = ScopedManager()
    # Forward foreign keys and Django internals use the plain manager.
    all_objects = models.Manager()

    class Meta:
        abstract = True
        base_manager_name = "all_objects"

    scope_field: ClassVar[str] = "territory_code"

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        return scope.q(cls.scope_field)


def set_request_scope(scope: Scope) -> None:
    """Replace the scope for the rest of this request (after API token authentication). The
    middleware's ``active_scope`` block restores the previous value when the request ends."""
    _current.set(scope)
