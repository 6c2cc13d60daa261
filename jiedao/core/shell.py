"""What each role sees first, and the navigation of the staff shell."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from jiedao.accounts.roles import Role
from jiedao.cases.workflow import APPROVERS, DISPATCHERS, HANDLERS
from jiedao.territory import selectors


@dataclass(frozen=True)
class NavItem:
    label: Any
    url_name: str

    @property
    def url(self) -> str:
        return reverse(self.url_name)


def navigation(user: Any) -> list[NavItem]:
    if not user.is_authenticated:
        return []
    items = [NavItem(_("Home"), "core:home"), *case_navigation(user)]
    if user.is_staff_member:
        items += [
            NavItem(_("Streets"), "territory:street_list"),
            NavItem(_("Communities"), "territory:community_list"),
            NavItem(_("Grids"), "territory:grid_list"),
        ]
        if user.scope.sees_records:  # indicators of records: not for department staff
            items.append(NavItem(_("Grid map"), "territory:map"))
        if not user.has_role(Role.DEPARTMENT_STAFF) or len(user.roles) > 1:
            items += [
                NavItem(_("Buildings"), "territory:building_list"),
                NavItem(_("Dwellings"), "territory:dwelling_list"),
                NavItem(_("Addresses"), "territory:address_list"),
                NavItem(_("Organisations"), "territory:organisation_list"),
            ]
        items.append(NavItem(_("Departments"), "territory:department_list"))
        items.append(NavItem(_("Working-day calendar"), "workdays:index"))
    items += registry_navigation(user)
    if user.has_perm("party.browse"):
        items.append(NavItem(_("Party organisation"), "party:tree"))
    if user.is_staff_member:
        items.append(NavItem(_("Case metrics"), "cases:metrics"))
    if user.has_perm("territory.change_grid"):
        items.append(NavItem(_("Import grids"), "territory:grid_import"))
    if user.has_perm("cases.edit_catalogue"):
        items.append(NavItem(_("Catalogue and routing"), "cases:category_list"))
    if user.has_perm("audit.view_trail"):
        items.append(NavItem(_("Audit trail"), "audit:list"))
    if user.is_superuser:
        items += [
            NavItem(_("Background jobs"), "admin:jobs_periodicrun_changelist"),
            NavItem(_("System administration"), "admin:index"),
        ]
    return items


def case_navigation(user: Any) -> list[NavItem]:
    """Each role's way into the case loop."""
    roles = user.roles | ({Role.SYSTEM_ADMIN} if user.is_superuser else set())
    items = []
    if roles & DISPATCHERS:
        items += [
            NavItem(_("Dispatch desk"), "cases:desk"),
            NavItem(_("Hotline desk"), "cases:hotline"),
        ]
    if roles & HANDLERS:
        items.append(NavItem(_("Inbox"), "cases:inbox"))
    if Role.GRID_WORKER in roles:
        items += [NavItem(_("Today's field work"), "fieldwork:today")]
        items += [NavItem(_("My to-do"), "cases:todo"), NavItem(_("Patrol report"), "cases:patrol")]
    if user.has_perm("fieldwork.browse"):
        items += [
            NavItem(_("Patrols"), "fieldwork:patrol_list"),
            NavItem(_("Field-work attendance"), "fieldwork:attendance"),
        ]
    return items


def registry_navigation(user: Any) -> list[NavItem]:
    """The population registry: people, 人户分离, care; imports for the street and above."""
    if not user.has_perm("registry.browse"):
        return []
    items = []
    if Role.GRID_WORKER in user.roles:
        items += [
            NavItem(_("Residents to verify"), "registry:worklist"),
            NavItem(_("Care visits"), "registry:visit_schedule"),
        ]
    items += [
        NavItem(_("Population"), "registry:person_list"),
        NavItem(_("人户分离 reconciliation"), "registry:reconciliation"),
        NavItem(_("Care groups"), "registry:care"),
    ]
    if user.has_perm("registry.import"):
        items.append(NavItem(_("Imports"), "registry:import_list"))
    return items


def home_for(user: Any) -> tuple[str, dict[str, Any]]:
    """The home page template and context for the user's main role."""
    if not user.is_staff_member:
        communities = list(selectors.communities(user))
        return "core/home_resident.html", {"communities": communities}
    cards: list[dict[str, Any]] = []
    for grant in user.active_grants:
        node = grant.node
        card: dict[str, Any] = {"grant": grant, "node": node, "figures": None}
        if hasattr(node, "scope_prefix"):  # a territory node (not a department or the system)
            card["figures"] = selectors.figures(user, node.scope_prefix)
            card["breakdown"] = selectors.breakdown(user, node)
        cards.append(card)
    return "core/home_staff.html", {"cards": cards, "work": waiting_work(user)}


def waiting_work(user: Any) -> list[dict[str, Any]]:
    """What waits for the user in the case loop, as tiles with counts."""
    from jiedao.cases import selectors as cases

    roles = user.roles | ({Role.SYSTEM_ADMIN} if user.is_superuser else set())
    tiles: list[dict[str, Any]] = []

    def tile(label: Any, count: int, url_name: str, query: str = "") -> None:
        tiles.append({"label": label, "count": count, "url": reverse(url_name) + query})

    if roles & DISPATCHERS:
        counts = cases.queue_counts(
            cases.in_territory(user, DISPATCHERS), ["received", "overdue", "verified", "extension"]
        )
        tile(_("New cases to register"), counts["received"], "cases:desk", "?queue=received")
        tile(_("Verified, to close"), counts["verified"], "cases:desk", "?queue=verified")
        tile(_("Overdue"), counts["overdue"], "cases:desk", "?queue=overdue")
        if roles & APPROVERS:
            tile(_("Extensions to decide"), counts["extension"], "cases:desk", "?queue=extension")
    if roles & HANDLERS:
        tile(_("Cases you hold"), cases.handler_inbox(user).count(), "cases:inbox")
    if Role.DEPARTMENT_STAFF in roles:
        tile(
            _("Summonses (吹哨) to answer"), cases.department_summonses(user).count(), "cases:inbox"
        )
    if Role.GRID_WORKER in roles:
        from jiedao.fieldwork.selectors import field_work_today

        tile(_("Field work today"), field_work_today(user), "fieldwork:today")
        todo = cases.grid_worker_todo(user)
        tile(_("Verify on site"), todo["verify"].count(), "cases:todo")
        tile(_("Call the caller back"), todo["callback"].count(), "cases:todo")
        tiles.extend(grid_worker_registry_tiles(user))
    return tiles


def grid_worker_registry_tiles(user: Any) -> list[dict[str, Any]]:
    """Door-to-door work from the registry: residents to verify, care visits overdue or due."""
    from jiedao.registry import care, reconciliation

    visits = care.care_work_counts(user, roles={Role.GRID_WORKER})
    return [
        {
            "label": label,
            "count": count,
            "url": reverse(url_name),
        }
        for label, count, url_name in (
            (
                _("Residents to verify"),
                reconciliation.worklist(user).count(),
                "registry:worklist",
            ),
            (_("Care visits overdue"), visits["overdue"], "registry:visit_schedule"),
            (_("Care visits due soon"), visits["due_soon"], "registry:visit_schedule"),
        )
    ]
