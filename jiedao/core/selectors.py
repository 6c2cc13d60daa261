"""The base of every selector: a queryset built under the actor's own scope."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import models
from django.db.models import Q

from jiedao.core.scopes import Scope, active_scope, code_within, unscoped

M = TypeVar("M", bound=models.Model)


def scope_of(actor: Any) -> Scope:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return Scope.nothing()
    return actor.scope


def role_scope(actor: Any, roles: frozenset[str] | set[str]) -> Scope:
    """Where the actor holds one of ``roles``. An active superuser passes every `rules`
    permission (Django's rule), so their lists follow their whole scope, as their checks do."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return Scope.nothing()
    if actor.is_superuser and actor.is_active:
        return actor.scope
    return actor.scope_for(roles)


def visible(model: type[M], actor: Any, scope: Scope | None = None) -> models.QuerySet[M]:
    """All rows of ``model`` the actor's grants cover (and nothing else); ``scope`` narrows it
    to the grants of some roles (``actor.scope_for(roles)``)."""
    with active_scope(scope if scope is not None else scope_of(actor)):
        return model._default_manager.all()


def visible_under(
    model: type[M], actor: Any, prefix: str, field: str = "territory_code"
) -> models.QuerySet[M]:
    """Rows under the territory ``prefix`` that the actor may see. When one of the actor's grants
    covers the whole prefix, the prefix's range is the only predicate: a second, wider range on
    the same column (the scope's) makes SQLite walk the wider one."""
    inside = code_within(field, prefix)
    if scope_of(actor).covers_code(prefix):
        with unscoped():
            return model._default_manager.filter(inside)
    return visible(model, actor).filter(inside)


def search_q(
    term: str, *, name: str = "name", code: str | None = "code", initials: str | None = "initials"
) -> Q:
    """Name contains, code starts with, or pinyin initials start with the term."""
    term = term.strip()
    if not term:
        return Q()
    query = Q(**{f"{name}__icontains": term})
    if code:
        query |= Q(**{f"{code}__startswith": term})
    if initials and term.isascii() and term.isalpha():
        query |= Q(**{f"{initials}__startswith": term.lower()})
    return query
