"""The demo world generator: one district, its departments, 香水园街道 with its communities, grids,
buildings, entrances, dwellings, households, residents and organisations, and the staff.
The population registry of each community (both sources, 人户分离, care groups, verification,
snapshots) comes from demo/registry.py; grid purposes and grid-worker assignments from
demo/grids.py, two months of patrols from demo/fieldwork.py.

Everything comes from ``random.Random`` seeded from the command's seed, so a seed always gives
the same world. Rows are written with ``bulk_create`` one community at a time (bounded memory at
large scales); bulk_create skips ``save()``, so the fields ``save()`` would fill
(territory_code, initials, full_text) are filled here with the same helpers."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from jiedao.audit.services import log_action
from jiedao.core.pinyin import initials
from jiedao.core.scopes import unscoped
from jiedao.demo import fieldwork, places, staff
from jiedao.demo import geometry as geo
from jiedao.demo import grids as demo_grids
from jiedao.demo.cases import add_case_history
from jiedao.demo.party import build_party_tree
from jiedao.demo.people import NameMaker
from jiedao.demo.registry import RegistryWorld, assign_grid_workers
from jiedao.territory.models import (
    Building,
    Community,
    Department,
    District,
    Dwelling,
    Entrance,
    Grid,
    Organisation,
    StandardAddress,
    Street,
)

BATCH = 2000
BASE_RESIDENTIAL_BUILDINGS = 302
BASE_COMMERCIAL_BUILDINGS = 12
BASE_ORGANISATIONS = 100
MIN_COMMUNITIES = 3


@dataclass(frozen=True)
class BuildingType:
    weight: float
    floors: tuple[int, int]
    entrances: tuple[int, int]
    per_floor: int
    years: tuple[int, int]
    area_m2: tuple[int, int]


# Six-storey walk-ups dominate a county-town street; a few towers and old low blocks.
# Mean about 51 dwellings a building: 302 buildings give about 15,400 dwellings.
BUILDING_TYPES = (
    BuildingType(0.50, (6, 6), (2, 4), 2, (1986, 2006), (48, 95)),
    BuildingType(0.30, (11, 12), (2, 3), 2, (2002, 2016), (70, 135)),
    BuildingType(0.15, (16, 18), (1, 2), 4, (2008, 2022), (60, 140)),
    BuildingType(0.05, (2, 3), (1, 2), 2, (1980, 1995), (40, 75)),
)
USES: tuple[str, ...] = (Dwelling.Use.SELF_OCCUPIED, Dwelling.Use.RENTED, Dwelling.Use.VACANT)
USE_WEIGHTS = (0.77, 0.20, 0.03)


@dataclass(frozen=True)
class Plan:
    """How big the world is. Scale multiplies buildings, dwellings, people and organisations;
    communities grow with it too (each keeps about 1,400 households), in the one street."""

    seed: int
    scale: float
    communities: int
    residential_buildings: int
    commercial_buildings: int
    organisations: int

    @classmethod
    def for_scale(cls, seed: int, scale: float) -> Plan:
        if scale <= 0:
            raise ValueError("scale must be positive")
        communities = max(MIN_COMMUNITIES, round(geo.BASE_COMMUNITIES * scale))
        return cls(
            seed=seed,
            scale=scale,
            communities=communities,
            residential_buildings=max(communities, round(BASE_RESIDENTIAL_BUILDINGS * scale)),
            commercial_buildings=max(1, round(BASE_COMMERCIAL_BUILDINGS * scale)),
            organisations=max(communities + 2, round(BASE_ORGANISATIONS * scale)),
        )


@dataclass
class Counts:
    values: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, n: int) -> None:
        self.values[name] = self.values.get(name, 0) + n

    @property
    def rows(self) -> int:
        return sum(self.values.values())


@dataclass
class GridSite:
    """A saved grid with what is needed to place things inside it."""

    grid: Grid
    quad: geo.Quad
    cell: geo.GridCell
    roads: tuple[str, ...]
    stem: str


class WorldBuilder:
    def __init__(self, plan: Plan, progress: Callable[[str], None] | None = None) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.progress = progress or (lambda message: None)
        self.counts = Counts()
        self.house_numbers: dict[str, int] = {}
        self.sites: list[GridSite] = []
        self.initials = lru_cache(maxsize=None)(initials)
        self.district: District
        self.street: Street
        self.registry: RegistryWorld
        self.departments: list[Department] = []
        self.communities: list[Community] = []
        self.households: dict[int, int] = {}
        self.skipped_users: list[str] = []

    def build(self) -> Counts:
        with unscoped(), transaction.atomic():
            self._district_and_departments()
            self.registry = RegistryWorld(self.plan.seed, self.district.code)
            quads = geo.community_quads(self.plan.communities, self.rng)
            self._street(quads)
            shares = _split(self.plan.residential_buildings, len(quads), self.rng, minimum=1)
            for index, (quad, buildings) in enumerate(zip(quads, shares, strict=True)):
                self._community(index, quad, buildings)
                self.progress(f"{self.communities[-1].name}: {buildings}")
            self._commercial_buildings()
            self._organisations()
            party_rng = random.Random(f"{self.plan.seed}:party")
            for name, count in build_party_tree(self.street, party_rng).items():
                self.counts.add(name, count)
            grid_rng = random.Random(f"{self.plan.seed}:grids")
            demo_grids.assign_purposes(self.street, grid_rng)  # from what each grid holds
            self._staff()
            assign_grid_workers([site.grid for site in self.sites])
            today = timezone.localdate()
            self.counts.add("gridworker", demo_grids.assign_workers(self.street, grid_rng, today))
            add_case_history(self)  # catalogue, routing rules, a year of cases (demo/cases.py)
            self._patrols(today)
            log_action(
                staff.ACTOR,
                "demo.generate",
                self.street,
                territory_code=self.street.code,
                after={
                    "seed": self.plan.seed,
                    "scale": self.plan.scale,
                    "counts": self.counts.values,
                },
                note="demo world generated by manage.py demo_world",
            )
        return self.counts

    def _patrols(self, today: date) -> None:
        """Two months of patrols with tracks, the patrol cases as findings (demo/fieldwork.py)."""
        started = time.perf_counter()
        rng = random.Random(f"{self.plan.seed}:fieldwork")
        cap = fieldwork.points_cap(self.plan.scale)
        counts = fieldwork.build_patrols(self.street, rng, today, points=cap)
        for name, count in counts.items():
            self.counts.add(name, count)
        self.progress(
            f"patrols: {counts.get('patrol', 0)}, track points: {counts.get('trackpoint', 0)} "
            f"({time.perf_counter() - started:.1f} s)"
        )

    def _staff(self) -> None:
        territory = staff.Territory(
            self.district,
            self.street,
            self.communities,
            [s.grid for s in self.sites],
            self.departments,
        )
        created, skipped = staff.create_staff(
            territory, self.households, random.Random(f"{self.plan.seed}:staff")
        )
        self.counts.add("user", created)
        self.skipped_users = skipped

    # --- district, departments, street ---------------------------------------------------
    def _district_and_departments(self) -> None:
        code, name, lat, lng = places.DISTRICT
        self.district = _save_node(District(code=code, name=name, centre_lat=lat, centre_lng=lng))
        for spec in places.DEPARTMENTS:
            department = Department(
                district=self.district,
                code=f"{code[:6]}-{spec.code_suffix}",
                name=spec.name,
                kind=spec.kind,
                phone=spec.phone,
            )
            department.full_clean()
            department.save()
            self.departments.append(department)
        self.counts.add("district", 1)
        self.counts.add("department", len(self.departments))

    def _street(self, quads: list[geo.Quad]) -> None:
        code, name = places.STREET
        area = Decimal(str(round(geo.STREET_AREA_KM2 * len(quads) / geo.BASE_COMMUNITIES, 2)))
        boundary = geo.union_polygon(quads)
        street = Street(
            district=self.district, code=code, name=name, area_km2=area, boundary=boundary
        )
        street.centre_lng, street.centre_lat = geo.CENTRE_LNG, geo.CENTRE_LAT
        self.street = _save_node(street)
        self.counts.add("street", 1)

    # --- communities and grids ------------------------------------------------------------
    def _community(self, index: int, quad: geo.Quad, building_count: int) -> None:
        rng = random.Random(f"{self.plan.seed}:community:{index}")
        name = places.community_name(index)
        ring = quad.ring()
        community = Community(
            street=self.street,
            code=f"{self.street.code[:9]}{index + 1:03d}",
            name=name,
            boundary=geo.polygon(ring),
        )
        community.centre_lng, community.centre_lat = geo.centre(ring)
        self.communities.append(_save_node(community))
        roads = tuple(
            places.road_name((index * 2 + k) % max(24, self.plan.communities * 2)) for k in range(3)
        )
        sites = self._grids(community, quad, roads, rng)
        self.counts.add("community", 1)
        writer = CommunityWriter(self, rng)
        for site, count in zip(sites, _split(building_count, len(sites), rng), strict=True):
            writer.residential(site, count)
        writer.flush()
        registry = self.registry.community(index, community.code, self.initials)
        registry.plan(writer.dwellings)
        households = self.households[community.pk] = registry.write(self.counts.add)
        # Service and office space: the standard is 40 m² per 100 households; many fall short.
        office = Decimal(str(round(households / 100 * rng.uniform(22, 55), 1)))
        Community.all_objects.filter(pk=community.pk).update(office_area_m2=office)

    def _grids(
        self, community: Community, quad: geo.Quad, roads: tuple[str, ...], rng: random.Random
    ) -> list[GridSite]:
        sites = []
        for number, cell in enumerate(geo.grid_cells(quad, rng.choice((3, 4, 4, 5)), rng), start=1):
            grid = Grid(
                community=community,
                code=f"{community.code}{number:03d}",
                name=places.grid_name(community.name, number),
                boundary=geo.polygon(cell.ring),
            )
            grid.centre_lng, grid.centre_lat = geo.centre(cell.ring)
            lngs, lats = [p[0] for p in cell.ring], [p[1] for p in cell.ring]
            grid.min_lng, grid.max_lng, grid.min_lat, grid.max_lat = (
                min(lngs),
                max(lngs),
                min(lats),
                max(lats),
            )
            stem = community.name.removesuffix("社区")
            sites.append(GridSite(_save_node(grid), quad, cell, roads, stem))
        self.sites.extend(sites)
        self.counts.add("grid", len(sites))
        return sites

    # --- commercial buildings and organisations ------------------------------------------
    def _commercial_buildings(self) -> None:
        rng = random.Random(f"{self.plan.seed}:commercial")
        writer = CommunityWriter(self, rng)
        for number in range(self.plan.commercial_buildings):
            writer.commercial(rng.choice(self.sites), number)
        writer.flush()

    def _organisations(self) -> None:
        rng = random.Random(f"{self.plan.seed}:organisations")
        maker, names = places.OrganisationMaker(rng), NameMaker(rng)
        kinds = [kind for kind, _ in places.ORG_KIND_SHARES]
        shares = [share for _, share in places.ORG_KIND_SHARES]
        addresses, rows = [], []
        for index in range(self.plan.organisations):
            # One property-management company per community first, then a mix.
            if index < len(self.communities):
                kind, site = "property_management", self._site_in(self.communities[index], rng)
            else:
                kind, site = rng.choices(kinds, shares)[0], rng.choice(self.sites)
            spec = maker.make(kind, site.stem)
            lng, lat = geo.point_in_cell(site.quad, site.cell, rng)
            road = rng.choice(site.roads)
            address = self.address(site, road, f"{self.house_number(road)}号", lng=lng, lat=lat)
            addresses.append(address)
            rows.append(
                Organisation(
                    kind=spec.kind,
                    name=spec.name,
                    initials=self.initials(spec.name),
                    grid=site.grid,
                    address=address,
                    credit_code=spec.credit_code,
                    employees=spec.employees,
                    contact_name=names.full(rng.choice("MF"), rng.randint(1965, 1995)),
                    territory_code=site.grid.code,
                )
            )
        self.bulk(StandardAddress, addresses)
        self.bulk(Organisation, rows)

    def _site_in(self, community: Community, rng: random.Random) -> GridSite:
        return rng.choice([s for s in self.sites if s.grid.community_id == community.pk])

    # --- shared helpers ------------------------------------------------------------------
    def house_number(self, road: str) -> str:
        """The next free number on a road (numbers leave small gaps, as real ones do)."""
        number = self.house_numbers.get(road, 0) + self.rng.randint(1, 3)
        self.house_numbers[road] = number
        return str(number)

    def address(self, site: GridSite, road: str, number: str, **parts: Any) -> StandardAddress:
        address = StandardAddress(
            grid=site.grid, road=road, number=number, territory_code=site.grid.code, **parts
        )
        address.full_text = address.compose()
        return address

    def bulk(self, model: type[models.Model], rows: list[Any]) -> None:
        if rows:
            model._base_manager.bulk_create(rows, batch_size=BATCH)
            self.counts.add(model._meta.model_name or "", len(rows))


class CommunityWriter:
    """Collects the rows of one community and writes them table by table, parents first."""

    def __init__(self, builder: WorldBuilder, rng: random.Random) -> None:
        self.builder, self.rng = builder, rng
        self.building_addresses: list[StandardAddress] = []
        self.buildings: list[Building] = []
        self.entrances: list[Entrance] = []
        self.dwelling_addresses: list[StandardAddress] = []
        self.dwellings: list[Dwelling] = []

    def residential(self, site: GridSite, count: int) -> None:
        """``count`` residential buildings in compounds (小区) of a grid."""
        while count > 0:
            size = min(count, self.rng.randint(4, 14))
            self._compound(site, size)
            count -= size

    def _compound(self, site: GridSite, size: int) -> None:
        rng = self.rng
        road = rng.choice(site.roads)
        number = f"{self.builder.house_number(road)}号院"
        stem = site.stem if rng.random() < 0.4 else rng.choice(places.COMPOUND_STEMS)
        name = f"{stem}{rng.choice(places.COMPOUND_SUFFIXES)}"
        kind = rng.choices(BUILDING_TYPES, [t.weight for t in BUILDING_TYPES])[0]
        for building_no in range(1, size + 1):
            self._building(site, road, number, f"{name}{building_no}号楼", str(building_no), kind)

    def _building(
        self,
        site: GridSite,
        road: str,
        number: str,
        name: str,
        building_no: str,
        kind: BuildingType,
    ) -> None:
        rng = self.rng
        lng, lat = geo.point_in_cell(site.quad, site.cell, rng)
        address = self.builder.address(
            site, road, number, building_no=building_no, lng=lng, lat=lat
        )
        floors = rng.randint(*kind.floors)
        building = Building(
            name=name,
            initials=self.builder.initials(name),
            grid=site.grid,
            address=address,
            use=Building.Use.RESIDENTIAL,
            floors=floors,
            year_built=rng.randint(*kind.years),
            lat=lat,
            lng=lng,
            territory_code=site.grid.code,
        )
        self.building_addresses.append(address)
        self.buildings.append(building)
        for entrance_no in range(1, rng.randint(*kind.entrances) + 1):
            entrance = Entrance(
                building=building, number=entrance_no, territory_code=site.grid.code
            )
            self.entrances.append(entrance)
            for floor in range(1, floors + 1):
                for position in range(1, kind.per_floor + 1):
                    use = rng.choices(USES, USE_WEIGHTS)[0]
                    area = Decimal(str(round(rng.uniform(*kind.area_m2), 1)))
                    self._dwelling(site, entrance, f"{floor}{position:02d}", floor, use, area)

    def commercial(self, site: GridSite, index: int) -> None:
        rng = self.rng
        road = rng.choice(site.roads)
        name = f"{site.stem}{places.COMMERCIAL_NAMES[index % len(places.COMMERCIAL_NAMES)]}"
        lng, lat = geo.point_in_cell(site.quad, site.cell, rng)
        address = self.builder.address(
            site, road, f"{self.builder.house_number(road)}号", lng=lng, lat=lat
        )
        floors = rng.randint(2, 8)
        use = rng.choice(
            (
                Building.Use.COMMERCIAL,
                Building.Use.COMMERCIAL,
                Building.Use.MIXED,
                Building.Use.PUBLIC,
            )
        )
        building = Building(
            name=name,
            initials=self.builder.initials(name),
            grid=site.grid,
            address=address,
            use=use,
            floors=floors,
            year_built=rng.randint(1995, 2020),
            lat=lat,
            lng=lng,
            territory_code=site.grid.code,
        )
        self.building_addresses.append(address)
        self.buildings.append(building)
        entrance = Entrance(building=building, number=1, territory_code=site.grid.code)
        self.entrances.append(entrance)
        for floor in (1, 2):
            for position in range(1, rng.randint(4, 8) + 1):
                area = Decimal(str(round(rng.uniform(20, 180), 1)))
                self._dwelling(
                    site, entrance, f"{floor}{position:02d}", floor, Dwelling.Use.COMMERCIAL, area
                )

    def _dwelling(
        self, site: GridSite, entrance: Entrance, room: str, floor: int, use: str, area: Decimal
    ) -> None:
        building = entrance.building
        address = self.builder.address(
            site,
            building.address.road,
            building.address.number,
            building_no=building.address.building_no,
            entrance_no=str(entrance.number),
            room_no=room,
            lng=building.lng,
            lat=building.lat,
        )
        self.dwelling_addresses.append(address)
        self.dwellings.append(
            Dwelling(
                entrance=entrance,
                building=building,
                address=address,
                room=room,
                floor=floor,
                area_m2=area,
                use=use,
                territory_code=site.grid.code,
            )
        )

    def flush(self) -> None:
        """Write everything collected (the residents come from demo/registry.py)."""
        bulk = self.builder.bulk
        bulk(StandardAddress, self.building_addresses + self.dwelling_addresses)
        bulk(Building, self.buildings)
        bulk(Entrance, self.entrances)
        bulk(Dwelling, self.dwellings)


def _save_node(node: Any) -> Any:
    """Territory nodes are few: validate and save them one by one (save() fills initials)."""
    node.full_clean()
    node.save()
    return node


def _split(total: int, parts: int, rng: random.Random, minimum: int = 0) -> list[int]:
    """``total`` split into ``parts`` uneven shares (largest remainder), each at least ``minimum``."""
    if parts <= 0:
        return []
    weights = [rng.uniform(0.6, 1.4) for _ in range(parts)]
    spare = max(0, total - minimum * parts)
    raw = [spare * w / sum(weights) for w in weights]
    shares = [int(r) for r in raw]
    by_remainder = sorted(range(parts), key=lambda i: raw[i] - shares[i], reverse=True)
    for i in by_remainder[: spare - sum(shares)]:
        shares[i] += 1
    return [s + minimum for s in shares]
