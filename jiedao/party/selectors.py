"""Reads of the party organisation, always under the reader's party scope: the tree with its
member counts and size flags, one organisation's subtree and members, candidates to add."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from jiedao.core.scopes import Scope
from jiedao.core.selectors import search_q, visible
from jiedao.party import sizing
from jiedao.party.models import Form, Level, PartyMember, PartyOrganisation
from jiedao.party.rules import PARTY_READERS
from jiedao.registry.models import Person
from jiedao.territory.codes import scope_prefix
from jiedao.territory.models import Building, Community, Grid

ADULT_AGE = 18  # the Party admits members from 18 (党章)
CANDIDATES_SHOWN = 20


def party_scope(actor: Any) -> Scope:
    """The territory of the actor's reading roles only (a resident grant adds nothing)."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return Scope.nothing()
    return actor.scope_for(set(PARTY_READERS))


def organisations(actor: Any) -> QuerySet[PartyOrganisation]:
    return visible(PartyOrganisation, actor, scope=party_scope(actor))


def members(actor: Any) -> QuerySet[PartyMember]:
    return visible(PartyMember, actor, scope=party_scope(actor))


def organisation(actor: Any, pk: int) -> PartyOrganisation:
    """One organisation the actor may see (404 otherwise)."""
    rows = organisations(actor).select_related("parent", "building")
    return get_object_or_404(rows, pk=pk)


@dataclass
class MemberCounts:
    counted: int = 0  # organisation relation here: what the size rule counts
    full: int = 0  # of which full members (正式党员)
    registered: int = 0  # serving members reporting here (双报到), not counted

    def add(self, other: MemberCounts) -> None:
        self.counted += other.counted
        self.full += other.full
        self.registered += other.registered


@dataclass
class TreeNode:
    organisation: PartyOrganisation
    depth: int = 0
    children: list[TreeNode] = field(default_factory=list)
    own: MemberCounts = field(default_factory=MemberCounts)
    total: MemberCounts = field(default_factory=MemberCounts)
    flags: list[sizing.Flag] = field(default_factory=list)

    @property
    def size_form(self) -> str:
        """The highest form the rule provides for at this size (checked forms only)."""
        if self.organisation.form not in sizing.CHECKED_FORMS:
            return ""
        return str(Form(sizing.form_by_size(self.total.counted, self.total.full)).label)

    @property
    def flag_text(self) -> str:
        return " ".join(str(flag.message) for flag in self.flags)

    @property
    def citation_text(self) -> str:
        return " ".join(flag.citation for flag in self.flags)

    def walk(self) -> Iterator[TreeNode]:
        yield self
        for child in self.children:
            yield from child.walk()


def tree(actor: Any, under: PartyOrganisation | None = None) -> list[TreeNode]:
    """The actor's party tree: roots are the highest organisations they may see (a community
    user: their community's organisation). ``under``: only that organisation's subtree."""
    rows = organisations(actor).select_related("building")
    counted = members(actor)
    if under is not None:
        prefix = _subtree_prefix(under)
        rows, counted = rows.filter(_within(prefix)), counted.filter(_within(prefix))
    forest = build_forest(list(rows), _member_counts(counted))
    if under is None:
        return forest
    return [node for root in forest for node in root.walk() if node.organisation.pk == under.pk]


def build_forest(rows: list[PartyOrganisation], counts: dict[int, MemberCounts]) -> list[TreeNode]:
    """Link organisations to their parents, add up the counts bottom-up and flag each node."""
    nodes = {row.pk: TreeNode(row, own=counts.get(row.pk, MemberCounts())) for row in rows}
    roots: list[TreeNode] = []
    for node in sorted(nodes.values(), key=_sibling_order):
        parent = nodes.get(node.organisation.parent_id or 0)
        (parent.children if parent is not None else roots).append(node)
    for root in roots:
        _finish(root, 0)
    return roots


def _finish(node: TreeNode, depth: int) -> None:
    node.depth = depth
    node.total = MemberCounts()
    node.total.add(node.own)
    for child in node.children:
        _finish(child, depth + 1)
        node.total.add(child.total)
    node.flags = sizing.size_flags(node.organisation.form, node.total.counted, node.total.full)


def _sibling_order(node: TreeNode) -> tuple[int, str, str]:
    org = node.organisation
    return (list(Level).index(Level(org.level)), org.territory_code, org.name)


def _member_counts(rows: QuerySet[PartyMember]) -> dict[int, MemberCounts]:
    counts: dict[int, MemberCounts] = {}
    grouped = rows.values("organisation_id", "kind", "status").annotate(n=Count("id"))
    for row in grouped.order_by():
        entry = counts.setdefault(row["organisation_id"], MemberCounts())
        if row["kind"] == PartyMember.Kind.REGISTERED:
            entry.registered += row["n"]
            continue
        entry.counted += row["n"]
        if row["status"] == PartyMember.Status.FULL:
            entry.full += row["n"]
    return counts


def _subtree_prefix(org: PartyOrganisation) -> str:
    return scope_prefix(org.territory_code)


def _within(prefix: str) -> Q:
    return Q(territory_code__startswith=prefix)


def flatten(roots: Iterable[TreeNode]) -> list[TreeNode]:
    """Depth first, as the tree reads top to bottom (for the export and the flag list)."""
    return [node for root in roots for node in root.walk()]


def subtree_members(actor: Any, node: TreeNode) -> QuerySet[PartyMember]:
    ids = [n.organisation.pk for n in node.walk()]
    return (
        members(actor)
        .filter(organisation_id__in=ids)
        .select_related("person", "organisation")
        .order_by("organisation__territory_code", "organisation__name", "person__name", "pk")
    )


def children_chart(node: TreeNode) -> str:
    """An ECharts option: counted members per direct sub-organisation ('' with fewer than 2)."""
    if len(node.children) < 2:
        return ""
    children = node.children
    option = {
        "grid": {"left": 8, "right": 56, "top": 32, "bottom": 8, "containLabel": True},
        "legend": {"top": 0},
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "yAxis": {
            "type": "category",
            "inverse": True,
            "data": [child.organisation.name for child in children],
        },
        "xAxis": {"type": "value", "minInterval": 1},
        "series": [
            {
                "type": "bar",
                "name": _("Party members"),
                "data": [child.total.counted for child in children],
                "itemStyle": {"color": "#b3261e"},
                "label": {"show": True, "position": "right"},
            }
        ],
    }
    return json.dumps(option, ensure_ascii=False)


def chart_height(node: TreeNode) -> int:
    return max(220, 48 + 34 * len(node.children))


def candidate_persons(
    actor: Any, org: PartyOrganisation, q: str = "", today: date | None = None
) -> QuerySet[Person]:
    """Adults living in the organisation's territory who are not yet party members here or
    elsewhere, matching ``q`` (name or pinyin initials)."""
    today = today or date.today()
    born_by = _years_before(today, ADULT_AGE)
    rows = visible(Person, actor).filter(
        _within(_subtree_prefix(org)), party_membership__isnull=True, birth_date__lte=born_by
    )
    if org.level == Level.BUILDING:
        rows = rows.filter(dwelling__building=org.building)
    if q.strip():
        rows = rows.filter(search_q(q, code=None))
    return rows.order_by("name", "pk")


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def move_targets(actor: Any, member: PartyMember) -> list[PartyOrganisation]:
    """Organisations the actor may change that can take the member (not the street's working
    committee, which keeps no members of its own here)."""
    rows = organisations(actor).exclude(pk=member.organisation_id).exclude(level=Level.STREET)
    rows = rows.order_by("territory_code", "name")
    return [row for row in rows if actor.has_perm("party.change", row)]


def open_child_nodes(org: PartyOrganisation) -> list[Any]:
    """The territory nodes one level below ``org``'s that have no organisation yet, where a
    sub-organisation can be set up (a building group: none below)."""
    taken = PartyOrganisation.all_objects.filter(parent=org)
    code, codes_taken = org.territory_code, taken.values("territory_code")
    if org.level == Level.STREET:
        communities = Community.all_objects.filter(street__code=code)
        return list(communities.exclude(code__in=codes_taken).order_by("code"))
    if org.level == Level.COMMUNITY:
        grids = Grid.all_objects.filter(community__code=code)
        return list(grids.exclude(code__in=codes_taken).order_by("code"))
    if org.level == Level.GRID:
        buildings = Building.all_objects.filter(grid__code=code)
        return list(buildings.exclude(pk__in=taken.values("building_id")).order_by("name", "pk"))
    return []


def ancestors(actor: Any, org: PartyOrganisation) -> list[PartyOrganisation]:
    """The higher organisations the actor may see, top first (for the breadcrumb)."""
    chain, parent_id = [], org.parent_id
    while parent_id is not None:
        parent = PartyOrganisation.all_objects.filter(pk=parent_id).first()
        if parent is None:
            break
        chain.append(parent)
        parent_id = parent.parent_id
    seen = set(
        organisations(actor).filter(pk__in=[p.pk for p in chain]).values_list("pk", flat=True)
    )
    return [p for p in reversed(chain) if p.pk in seen]
