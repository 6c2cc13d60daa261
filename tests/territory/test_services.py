from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.core.pinyin import initials
from jiedao.core.scopes import unscoped
from jiedao.territory import selectors, services
from jiedao.territory.models import Community, Grid
from tests import factories as f


def test_pinyin_initials():
    assert initials("香水园") == "xsy"
    assert initials("3号楼") == "3hl"


def test_search_by_name_code_and_initials(world, role_users):
    street = role_users[Role.STREET_STAFF]
    assert [c.name for c in selectors.communities(street, q="xsy")] == ["香水园社区"]
    assert [c.name for c in selectors.communities(street, q="新兴")] == ["新兴西社区"]
    assert [c.name for c in selectors.communities(street, q="110119001002")] == ["新兴西社区"]
    assert list(selectors.communities(street, q="rl")) == []  # 儒林 is in another street


def test_create_grid_derives_code_and_is_audited(world, role_users):
    actor = role_users[Role.STREET_STAFF]
    grid = services.create_grid(
        actor, world.community_a1, "香水园第三网格", boundary=f.square(115.97, 40.46)
    )
    assert grid.code == "110119001001003"
    assert grid.centre_lat and 40.46 < grid.centre_lat < 40.47
    assert (grid.min_lng, grid.max_lat) == pytest.approx((115.97, 40.464))
    with unscoped():
        entry = AuditEntry.objects.get(action="territory.grid.create")
    assert entry.actor == actor and entry.after["code"] == grid.code and entry.before is None


def test_grid_codes_are_never_reused(world, role_users):
    actor = role_users[Role.STREET_STAFF]
    third = services.create_grid(actor, world.community_a1, "临时网格")
    services.retire_node(actor, third, datetime.date(2026, 1, 1))
    fourth = services.create_grid(actor, world.community_a1, "新网格")
    assert (third.code, fourth.code) == ("110119001001003", "110119001001004")


def test_writing_outside_scope_is_refused_and_changes_nothing(world, role_users):
    grid_worker = role_users[Role.GRID_WORKER]
    with pytest.raises(PermissionDenied):
        services.create_grid(grid_worker, world.community_b1, "越界网格")
    with unscoped():
        assert not Grid.objects.filter(name="越界网格").exists()
        assert not AuditEntry.objects.exists()


def test_bad_code_is_a_clear_error(world, role_users):
    actor = role_users[Role.DISTRICT_ADMIN]
    community = Community(street=world.street_a, code="110119002009", name="错码社区")
    with pytest.raises(ValidationError) as info:
        services.save_node(actor, community)
    assert [e.code for e in info.value.error_dict["__all__"]] == ["community_parent"]


@pytest.mark.parametrize(
    "boundary",
    [
        {"type": "Point", "coordinates": [115.9, 40.4]},
        {
            "type": "Polygon",
            "coordinates": [
                [[115.9, 40.4], [115.91, 40.41], [115.9, 40.41], [115.91, 40.4], [115.9, 40.4]]
            ],
        },
        {
            "type": "Polygon",
            "coordinates": [[[40.4, 115.9], [40.41, 115.9], [40.41, 115.91], [40.4, 115.9]]],
        },
        {"type": "Polygon", "coordinates": "nonsense"},
    ],
    ids=["point", "bow-tie", "lat-lng-swapped", "garbage"],
)
def test_bad_boundaries_are_rejected(world, role_users, boundary):
    actor = role_users[Role.STREET_STAFF]
    with pytest.raises(ValidationError):
        services.create_grid(actor, world.community_a1, "坏边界", boundary=boundary)
    with unscoped():
        assert not Grid.objects.filter(name="坏边界").exists()


def test_building_figures_are_derived(world, role_users):
    actor = role_users[Role.WORKSTATION_STAFF]
    building = world.buildings["a1x"]
    extra = f.DwellingFactory(entrance__building=building)
    f.PersonFactory(household__dwelling=extra)
    f.PersonFactory(
        household=extra.households.model.all_objects.get(dwelling=extra), dwelling=extra
    )
    figures = selectors.building_figures(actor, building)
    assert figures == {"dwellings": 2, "households": 2, "population": 3, "entrances": 2}


def test_only_editors_in_their_territory_change_records(world, role_users):
    building = world.buildings["a1x"]
    services.save_record(role_users[Role.WORKSTATION_STAFF], building, floors=7)
    for role in (Role.GRID_WORKER, Role.RESIDENT, Role.DEPARTMENT_STAFF):
        with pytest.raises(PermissionDenied):
            services.save_record(role_users[role], building, floors=9)
    with pytest.raises(PermissionDenied):  # an editor, but of another community
        services.save_record(role_users[Role.WORKSTATION_STAFF], world.buildings["a2x"], floors=9)
    building.refresh_from_db()
    assert building.floors == 7
    with unscoped():
        assert AuditEntry.objects.filter(action="territory.building.update").count() == 1


def test_breakdown_by_child_area(world, role_users):
    street_staff = role_users[Role.STREET_STAFF]
    extra = f.DwellingFactory(entrance__building__grid=world.grid_a1y)
    f.PersonFactory(household__dwelling=extra)
    f.PersonFactory(household__dwelling=extra)  # two households in one dwelling
    assert selectors.breakdown(street_staff, world.street_a) == [
        {"name": "香水园社区", "households": 4, "population": 4},
        {"name": "新兴西社区", "households": 1, "population": 1},
    ]
    assert selectors.breakdown(street_staff, world.community_a1) == [
        {"name": "香水园第一网格", "households": 1, "population": 1},
        {"name": "香水园第二网格", "households": 3, "population": 3},
    ]
    by_building = selectors.breakdown(street_staff, world.grid_a1y)
    assert sorted(row["population"] for row in by_building) == [1, 2]
    # A grid worker's view of the community only contains their own grid.
    grid_worker = role_users[Role.GRID_WORKER]
    assert selectors.breakdown(grid_worker, world.community_a1) == [
        {"name": "香水园第一网格", "households": 1, "population": 1},
    ]


def test_structure_editing_follows_the_level(world, role_users):
    grid_worker, street = role_users[Role.GRID_WORKER], role_users[Role.STREET_STAFF]
    with pytest.raises(PermissionDenied):  # a grid worker cannot redraw or retire their own grid
        services.save_node(grid_worker, world.grid_a1x, boundary=f.square(115.9, 40.4))
    with pytest.raises(PermissionDenied):
        services.retire_node(grid_worker, world.grid_a1x, datetime.date(2026, 1, 1))
    with pytest.raises(PermissionDenied):  # the street draws grids, not communities
        services.save_node(
            street, Community(street=world.street_a, code="110119001009", name="新社区")
        )
    community = services.save_node(
        role_users[Role.DISTRICT_ADMIN],
        Community(street=world.street_a, code="110119001009", name="新社区"),
    )
    assert community.initials == "xsq"


def test_codes_never_change(world, role_users):
    grid = world.grid_a1y
    grid.code = "110119001001099"
    with pytest.raises(ValidationError):
        services.save_node(role_users[Role.STREET_STAFF], grid)


def test_records_stay_consistent_with_their_parents(world, role_users):
    editor = role_users[Role.STREET_STAFF]
    dwelling = world.persons["a1x"].dwelling
    foreign_address = f.AddressFactory(grid=world.grid_a2x)
    with pytest.raises(ValidationError):
        services.save_record(editor, dwelling, address=foreign_address)
    with pytest.raises(ValidationError):  # moving a building would strand its rows' codes
        services.save_record(editor, world.buildings["a1x"], grid=world.grid_a1y)
    dwelling.refresh_from_db()
    assert dwelling.address.grid_id == world.grid_a1x.pk


def test_new_records_need_an_editor_where_the_parent_is(world, role_users):
    from jiedao.territory.models import Building, StandardAddress

    address = StandardAddress(grid=world.grid_a2x, road="妫水南街", number="9号")
    with pytest.raises(PermissionDenied):
        services.save_record(
            role_users[Role.WORKSTATION_STAFF], address
        )  # community A1 staff, grid in A2
    services.save_record(role_users[Role.STREET_STAFF], address)
    building = services.save_record(
        role_users[Role.STREET_STAFF], Building(grid=world.grid_a2x, address=address, name="9号楼")
    )
    assert building.territory_code == world.grid_a2x.code
