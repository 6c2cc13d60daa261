from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jiedao.core.scopes import Scope, ScopeError, _minimal_prefixes, active_scope, unscoped
from jiedao.core.selectors import visible
from jiedao.registry.models import Person
from jiedao.territory import codes
from jiedao.territory.models import Building, Grid


def test_query_without_scope_fails_loudly(world):
    with pytest.raises(ScopeError, match="no territory scope"):
        list(Building.objects.all())
    with pytest.raises(ScopeError):
        Person.objects.count()


def test_unscoped_sees_everything(world):
    with unscoped():
        assert Building.objects.count() == 4


def test_active_scope_filters_by_prefix(world):
    with active_scope(Scope(prefixes=frozenset({world.community_a1.scope_prefix}))):
        names = set(Grid.objects.values_list("code", flat=True))
        assert names == {world.grid_a1x.code, world.grid_a1y.code}
        assert {b.territory_code for b in Building.objects.all()} == names


def test_empty_scope_sees_nothing(world):
    with active_scope(Scope.nothing()):
        assert Building.objects.count() == 0
        assert Grid.objects.count() == 0


def test_selector_rebases_on_actor_scope_inside_another_scope(world, role_users):
    """A selector built for an actor uses that actor's scope, not whatever is active."""
    grid_worker = role_users["grid_worker"]
    with active_scope(Scope.all()):
        rows = visible(Building, grid_worker)
    assert {b.territory_code for b in rows} == {world.grid_a1x.code}


def test_reverse_relations_are_scoped_too(world):
    with active_scope(Scope(prefixes=frozenset({world.grid_a1x.code}))):
        assert world.grid_a1y.buildings.count() == 0
        assert world.grid_a1x.buildings.count() == 1


def test_forward_foreign_keys_need_no_scope(world):
    building = world.buildings["a1x"]
    assert building.grid.community.street == world.street_a  # plain base manager


def test_minimal_prefixes_drop_covered():
    assert _minimal_prefixes(["110119001", "110119001001", "110119002001001"]) == [
        "110119001",
        "110119002001001",
    ]


codes_strategy = st.builds(
    lambda d, s, c, g: f"110{d:03d}{s:03d}{c:03d}{g:03d}",
    st.integers(100, 120),
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(1, 4),
)


@given(st.lists(codes_strategy, min_size=1, max_size=5), codes_strategy)
def test_covers_code_means_a_granted_node_contains_the_grid(granted, grid_code):
    """A grant on a grid, community, street or district covers exactly the grids below it."""
    nodes = [g[:n] + "0" * (12 - n) if n < 12 else g[:n] for g in granted for n in (6, 9, 12, 15)][
        :4
    ]
    prefixes = frozenset(codes.scope_prefix(node) for node in nodes)
    scope = Scope(prefixes=prefixes)
    inside = any(
        grid_code[:6] == node[:6]
        and (node.endswith("000000") or grid_code[:9] == node[:9])
        and (node.endswith("000") or grid_code[:12] == node[:12])
        and (len(node) == 12 or grid_code == node)
        for node in nodes
    )
    assert scope.covers_code(grid_code) == inside


@pytest.mark.parametrize(
    ("prefix", "inside", "outside"),
    [
        (
            "110119001",
            ["110119001000", "110119001001", "110119001999001"],
            ["110119002000", "110119000999", "11011900"],
        ),
        ("110119001009", ["110119001009", "110119001009001"], ["110119001010", "110119001008999"]),
        ("999", ["999", "999123"], ["998999"]),
    ],
)
def test_code_within_is_a_prefix_range(world, prefix, inside, outside):
    from jiedao.core.scopes import code_within
    from jiedao.territory.models import Department

    district = world.district
    for code in inside + outside:
        Department.all_objects.create(district=district, code=f"D{code}", name=code, kind="utility")
    with unscoped():
        rows = Department.objects.filter(code_within("name", prefix)).values_list("name", flat=True)
        assert sorted(rows) == sorted(inside)
