"""Users, their role grants (each on one territory node or a department) and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from functools import cached_property
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jiedao.accounts.roles import ROLE_LEVEL, STAFF_ROLES, Role
from jiedao.core.scopes import Scope
from jiedao.territory.models import Community, Department, District, Grid, Street


class User(AbstractUser):
    display_name = models.CharField(_("display name"), max_length=60, blank=True)

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.display_name or self.username

    @cached_property
    def active_grants(self) -> list[RoleGrant]:
        return list(
            self.grants.filter(revoked_at__isnull=True).select_related(
                "district",
                "street__district",
                "community__street__district",
                "grid__community__street__district",
                "department__district",
            )
        )

    @cached_property
    def roles(self) -> frozenset[str]:
        return frozenset(g.role for g in self.active_grants)

    @cached_property
    def scope(self) -> Scope:
        scope = Scope.nothing()
        for grant in self.active_grants:
            scope = scope.merge(grant.scope())
        return scope

    def scope_for(self, roles: frozenset[str] | set[str]) -> Scope:
        """The territory covered by the grants of these roles only: a user who is workstation
        staff in one community and a grid worker in another may edit only in the first."""
        scope = Scope.nothing()
        for grant in self.active_grants:
            if grant.role in roles:
                scope = scope.merge(grant.scope())
        return scope

    @property
    def is_staff_member(self) -> bool:
        return bool(self.roles & STAFF_ROLES)

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))

    def clear_grant_cache(self) -> None:
        for name in ("active_grants", "roles", "scope"):
            self.__dict__.pop(name, None)


class RoleGrant(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="grants")
    role = models.CharField(_("role"), max_length=24, choices=Role.choices)
    district = models.ForeignKey(District, null=True, blank=True, on_delete=models.PROTECT)
    street = models.ForeignKey(Street, null=True, blank=True, on_delete=models.PROTECT)
    community = models.ForeignKey(Community, null=True, blank=True, on_delete=models.PROTECT)
    grid = models.ForeignKey(Grid, null=True, blank=True, on_delete=models.PROTECT)
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT)
    granted_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    NODE_FIELDS = ("district", "street", "community", "grid", "department")

    class Meta:
        verbose_name = _("role grant")
        verbose_name_plural = _("role grants")
        constraints = [
            # At most one node per grant; clean() checks it is the one the role needs.
            models.CheckConstraint(
                condition=(
                    Q(
                        district__isnull=True,
                        street__isnull=True,
                        community__isnull=True,
                        grid__isnull=True,
                        department__isnull=True,
                    )
                    | Q(
                        district__isnull=False,
                        street__isnull=True,
                        community__isnull=True,
                        grid__isnull=True,
                        department__isnull=True,
                    )
                    | Q(
                        district__isnull=True,
                        street__isnull=False,
                        community__isnull=True,
                        grid__isnull=True,
                        department__isnull=True,
                    )
                    | Q(
                        district__isnull=True,
                        street__isnull=True,
                        community__isnull=False,
                        grid__isnull=True,
                        department__isnull=True,
                    )
                    | Q(
                        district__isnull=True,
                        street__isnull=True,
                        community__isnull=True,
                        grid__isnull=False,
                        department__isnull=True,
                    )
                    | Q(
                        district__isnull=True,
                        street__isnull=True,
                        community__isnull=True,
                        grid__isnull=True,
                        department__isnull=False,
                    )
                ),
                name="grant_on_one_node",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()} @ {self.node or _('everything')}"

    @property
    def node(self) -> models.Model | None:
        for name in self.NODE_FIELDS:
            value = getattr(self, name)
            if value is not None:
                return value
        return None

    @property
    def node_code(self) -> str:
        """Where the grant sits, as a territory code (a department: its district's; none: "")."""
        node: Any = self.node
        if node is None:
            return ""
        return getattr(node, "territory_code", None) or node.code

    def clean(self) -> None:
        level = ROLE_LEVEL[self.role]
        set_fields = [name for name in self.NODE_FIELDS if getattr(self, f"{name}_id")]
        expected = [level] if level else []
        if set_fields != expected:
            raise ValidationError(
                _("The role %(role)s is granted on a %(level)s."),
                params={"role": self.get_role_display(), "level": level or _("the whole system")},
                code="grant_level",
            )

    def scope(self) -> Scope:
        if self.role == Role.SYSTEM_ADMIN:
            return Scope.all()
        if self.department is not None:
            district_prefix = self.department.district.code[:6]
            return Scope(
                department_ids=frozenset({self.department.pk}),
                structure_prefixes=frozenset({district_prefix}),
                ancestor_codes=frozenset({self.department.district.code}),
                label=str(self.department),
            )
        node: Any = self.node
        assert node is not None, "a territory grant needs a node"
        ancestors = frozenset(a.code for a in _ancestors(node))
        if self.role == Role.RESIDENT:
            # A resident sees the structure of their community, not the records inside it.
            return Scope(ancestor_codes=ancestors | {node.code}, label=str(node))
        return Scope(
            prefixes=frozenset({node.scope_prefix}), ancestor_codes=ancestors, label=str(node)
        )


def _ancestors(node: Any) -> list[Any]:
    chain: list[Any] = []
    for parent_field in ("community", "street", "district"):
        parent = getattr(node, parent_field, None)
        if parent is not None:
            chain.append(parent)
            node = parent
    return chain


class ApiToken(models.Model):
    """Bearer token for other systems. Only a hash is stored; the key is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=80)
    prefix = models.CharField(max_length=8, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def new_key(cls) -> str:
        return "jd_" + secrets.token_urlsafe(32)

    @property
    def usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
