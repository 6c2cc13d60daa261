"""Case benchmarks (see docs/benchmarks.md, "Cases").

1. Intake over HTTP, on the running bench server: ``POST /api/cases`` (JSON, bearer token, GCJ-02
   coordinates, a unique ``Idempotency-Key`` on every request) and ``POST
   /open311/v2/requests.json`` (form-encoded with ``api_key``). wrk drives both with a Lua script
   (bench/wrk.py); the runner prints them beside ``/ping`` of the same run.
2. Grid lookup in-process: 1,000,000 random points against tilings of 1,000 and 10,000 Voronoi
   cells: ``GridIndex.locate`` (the STRtree the intake uses) point by point, and
   ``GridIndex.locate_many`` (one vectorised query), against a brute-force loop over the same
   prepared polygons on a sample of the points. Run as ``python -m bench.cases grid`` (it needs
   Django set up, but no database).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import app, wrk

BENCH_USER = "street"  # as runner.BENCH_USER: street-office staff of the demo street
BODIES = 200  # distinct points cycled through by each load test
DESCRIPTION = "基准测试：楼道灯不亮"


@dataclass(frozen=True)
class PostFigure:
    key: str
    path: str
    content_type: str
    meaning: str


INTAKE_FIGURES = (
    PostFigure(
        "case_intake_api",
        "/api/cases",
        "application/json",
        "POST /api/cases: token auth, GCJ-02 → WGS-84, grid lookup, case + event + audit entry",
    ),
    PostFigure(
        "case_intake_open311",
        "/open311/v2/requests.json",
        "application/x-www-form-urlencoded",
        "Open311 GeoReport v2 POST requests.json (form with api_key), same work as the API",
    ),
)

# Runs inside ``manage.py shell`` on the bench database: make sure there is a catalogue, pick a
# 小类 without required Open311 questions, and a few random points inside the street's grids.
SETUP = r"""
import json, random
from shapely.geometry import Point, shape
from jiedao.cases.models import Category
from jiedao.core.scopes import unscoped
from jiedao.territory.models import Grid

def fallback_catalogue():
    main, _ = Category.objects.get_or_create(code="BENCH", defaults={"name": "基准测试"})
    Category.objects.get_or_create(code="BENCH01", defaults={"name": "路灯", "parent": main})

if not Category.objects.filter(active=True, parent__isnull=False).exists():
    try:
        from jiedao.cases.catalogue import load_default_catalogue
    except ImportError:
        fallback_catalogue()
    else:
        load_default_catalogue()
    if not Category.objects.filter(active=True, parent__isnull=False).exists():
        fallback_catalogue()

def asks_nothing(category):
    return not any(a.get("required") for a in (category.attributes or []) if isinstance(a, dict))

subcategories = Category.objects.filter(active=True, parent__isnull=False).order_by("code")
category = next((c for c in subcategories if asks_nothing(c)), subcategories.first())
rng = random.Random(__SEED__)
with unscoped():
    grids = list(Grid.all_objects.filter(retired_at__isnull=True, boundary__isnull=False)
                 .order_by("code").values_list("code", "boundary"))
points = []
while len(points) < __COUNT__ and grids:
    code, boundary = grids[len(points) % len(grids)]
    polygon = shape(boundary)
    min_x, min_y, max_x, max_y = polygon.bounds
    for _ in range(100):
        x, y = rng.uniform(min_x, max_x), rng.uniform(min_y, max_y)
        if polygon.contains(Point(x, y)):
            points.append((x, y))
            break
print(json.dumps({"category": category.code, "grids": len(grids), "points": points}))
"""


@dataclass(frozen=True)
class IntakeSetup:
    category: str
    token: str
    grids: int
    points: list[tuple[float, float]]  # WGS-84, each inside a grid


def prepare_intake(database_url: str, seed: int = 2026, count: int = BODIES) -> IntakeSetup:
    snippet = SETUP.replace("__SEED__", str(int(seed))).replace("__COUNT__", str(int(count)))
    output = app.manage(database_url, "shell", "-c", snippet)
    data = json.loads(output.strip().splitlines()[-1])
    issued = app.manage(
        database_url, "issue_api_token", BENCH_USER, "make bench (case intake)", "--days", "1"
    )
    match = re.search(r"\bjd_[A-Za-z0-9_-]+", issued)
    if match is None:
        raise RuntimeError(f"issue_api_token printed no key: {issued[:200]!r}")
    if not data["points"]:
        raise RuntimeError("the bench world has no grid with a boundary")
    points = [(float(x), float(y)) for x, y in data["points"]]
    return IntakeSetup(data["category"], match.group(0), data["grids"], points)


def api_bodies(setup: IntakeSetup) -> list[str]:
    """JSON intake bodies in GCJ-02 (what Amap gives), so the conversion is measured too."""
    from jiedao.cases.coords import wgs84_to_gcj02  # pure maths, no Django

    bodies = []
    for lng, lat in setup.points:
        gcj_lng, gcj_lat = wgs84_to_gcj02(lng, lat)
        body = {
            "category": setup.category,
            "description": DESCRIPTION,
            "lng": round(gcj_lng, 7),
            "lat": round(gcj_lat, 7),
            "crs": "gcj02",
            "caller_phone": "13800138000",
        }
        bodies.append(json.dumps(body, ensure_ascii=False))
    return bodies


def open311_bodies(setup: IntakeSetup) -> list[str]:
    """Form bodies as GeoReport v2 clients send them (WGS-84 ``lat``/``long``)."""
    return [
        urllib.parse.urlencode(
            {
                "api_key": setup.token,
                "service_code": setup.category,
                "lat": f"{lat:.7f}",
                "long": f"{lng:.7f}",
                "description": DESCRIPTION,
            }
        )
        for lng, lat in setup.points
    ]


def post_status(url: str, body: str, headers: dict[str, str]) -> int:
    return app.status(url, body=body, headers=headers)


def bench_intake(
    base: str, database_url: str, options: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    """Measure each intake figure on the running server; a figure whose endpoint does not
    answer 2xx (Open311 before it exists) is reported as skipped with its status."""
    setup = prepare_intake(database_url, options.seed)
    bodies: dict[str, Callable[[IntakeSetup], list[str]]] = {
        "case_intake_api": api_bodies,
        "case_intake_open311": open311_bodies,
    }
    figures: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="jiedao-bench-lua-") as scratch:
        for figure in INTAKE_FIGURES:
            headers = {"Content-Type": figure.content_type}
            if figure.key == "case_intake_api":
                headers["Authorization"] = f"Bearer {setup.token}"
            figures[figure.key] = measure_post(
                base, figure, bodies[figure.key](setup), headers, options, Path(scratch)
            )
            figures[figure.key]["grids"] = setup.grids
            figures[figure.key]["category"] = setup.category
    return figures


def measure_post(
    base: str,
    figure: PostFigure,
    bodies: list[str],
    headers: dict[str, str],
    options: argparse.Namespace,
    scratch: Path,
) -> dict[str, Any]:
    url = base + figure.path
    run_id = uuid.uuid4().hex[:12]  # every key of this run is new to the database
    status = post_status(url, bodies[0], {**headers, "Idempotency-Key": f"{run_id}-probe"})
    if not 200 <= status < 300:
        return {"path": figure.path, "method": "POST", "status": status, "skipped": True}
    times = []
    for n in range(20):
        started = time.perf_counter()
        post_status(url, bodies[n % len(bodies)], {**headers, "Idempotency-Key": f"{run_id}-s{n}"})
        times.append((time.perf_counter() - started) * 1000)
    load = {"threads": options.threads, "connections": options.connections}
    if options.warmup:
        warm = wrk.write_post_script(
            scratch / f"{figure.key}-warm.lua", bodies, headers, f"{run_id}-w"
        )
        wrk.run(url, seconds=options.warmup, script=warm, **load)
    script = wrk.write_post_script(scratch / f"{figure.key}.lua", bodies, headers, f"{run_id}-m")
    result = wrk.run(url, seconds=options.duration, script=script, **load)
    return {
        "path": figure.path,
        "method": "POST",
        "status": status,
        "serial_ms": statistics.median(times),
        **result.as_dict(),
    }


# --- Grid lookup ------------------------------------------------------------------------------

AREA = (116.0, 40.40, 116.30, 40.60)  # about 25 × 22 km around the demo street


def tiling(cells: int, seed: int) -> list[Any]:
    """``cells`` Voronoi polygons that tile AREA: irregular, neighbourhood-like shapes."""
    import shapely
    from shapely.geometry import MultiPoint, box

    rng = random.Random(seed)
    min_x, min_y, max_x, max_y = AREA
    area = box(*AREA)
    seeds = MultiPoint(
        [(rng.uniform(min_x, max_x), rng.uniform(min_y, max_y)) for _ in range(cells)]
    )
    polygons = [
        cell.intersection(area) for cell in shapely.voronoi_polygons(seeds, extend_to=area).geoms
    ]
    assert len(polygons) == cells and all(p.geom_type == "Polygon" for p in polygons)
    return polygons


def random_points(count: int, seed: int) -> list[tuple[float, float]]:
    """Uniform over AREA widened by 2 % on each side, so about 7.5 % of points lie in no grid."""
    rng = random.Random(seed + 1)
    min_x, min_y, max_x, max_y = AREA
    pad_x, pad_y = (max_x - min_x) * 0.02, (max_y - min_y) * 0.02
    return [
        (rng.uniform(min_x - pad_x, max_x + pad_x), rng.uniform(min_y - pad_y, max_y + pad_y))
        for _ in range(count)
    ]


def brute_force_locate(hits: list[Any], shapes: list[Any], lng: float, lat: float) -> Any:
    """Every polygon tested in turn, the same rule as the index: edge counts, lowest code wins."""
    from shapely.geometry import Point

    point, best = Point(lng, lat), None
    for hit, shape in zip(hits, shapes, strict=True):
        if shape.intersects(point) and (best is None or hit.grid_code < best.grid_code):
            best = hit
    return best


def grid_lookup(points: int, cells: int, brute_points: int, seed: int) -> dict[str, Any]:
    """One tiling of ``cells`` grids: ``locate`` point by point over all ``points``,
    ``locate_many`` (one vectorised query) over the same points, and the brute force over the
    first ``brute_points`` of them (its rate is per point, so it compares at any sample size)."""
    import numpy as np

    from jiedao.cases.gridindex import GridHit, GridIndex

    shapes = tiling(cells, seed)
    hits = [GridHit(n, f"{n:015d}", 0, "", 0, "") for n in range(cells)]
    started = time.perf_counter()
    index = GridIndex(hits, shapes)  # prepares the polygons (shared with brute force below)
    build_s = time.perf_counter() - started
    sample = random_points(points, seed)
    started = time.perf_counter()
    found = [index.locate(lng, lat) for lng, lat in sample]
    index_s = time.perf_counter() - started
    lngs = np.fromiter((p[0] for p in sample), dtype=np.float64, count=points)
    lats = np.fromiter((p[1] for p in sample), dtype=np.float64, count=points)
    started = time.perf_counter()
    bulk = index.locate_many(lngs, lats)
    bulk_s = time.perf_counter() - started
    subset = sample[: min(brute_points, points)]
    started = time.perf_counter()
    brute = [brute_force_locate(hits, shapes, lng, lat) for lng, lat in subset]
    brute_s = time.perf_counter() - started
    index_rate, bulk_rate = points / index_s, points / bulk_s
    brute_rate = len(subset) / brute_s
    return {
        "grids": cells,
        "points": points,
        "build_s": build_s,
        "index_s": index_s,
        "index_lookups_per_s": index_rate,
        "index_us": index_s / points * 1e6,
        "hit_share": sum(hit is not None for hit in found) / points,
        "bulk_s": bulk_s,
        "bulk_lookups_per_s": bulk_rate,
        "bulk_us": bulk_s / points * 1e6,
        "bulk_vs_brute": bulk_rate / brute_rate,
        "bulk_vs_index": bulk_rate / index_rate,
        "bulk_disagreements": sum(a != b for a, b in zip(found, bulk, strict=True)),
        "brute_points": len(subset),
        "brute_s": brute_s,
        "brute_lookups_per_s": brute_rate,
        "brute_us": brute_s / len(subset) * 1e6,
        "brute_scaled_s": brute_s * points / len(subset),  # the whole sample, extrapolated
        "index_vs_brute": index_rate / brute_rate,
        "disagreements": sum(a != b for a, b in zip(found, brute, strict=False)),
    }


def cell_counts(text: str | int) -> list[int]:
    """``"1000,10000"`` → [1000, 10000] (a plain number is one count)."""
    counts = [int(part) for part in str(text).split(",") if part.strip()]
    if not counts or any(count < 1 for count in counts):
        raise ValueError(f"grid counts must be positive numbers: {text!r}")
    return counts


def run_grid_lookup(options: argparse.Namespace) -> dict[str, Any]:
    """In a child process, as bench.plain_insert: Django set up, no database touched. One run
    per grid count in ``--grid-cells``, all on the same points."""
    import subprocess

    cells = ",".join(str(c) for c in cell_counts(options.grid_cells))
    args = [
        sys.executable, "-m", "bench.cases", "grid",
        "--points", str(options.grid_points), "--cells", cells,
        "--brute", str(options.grid_brute), "--seed", str(options.seed),
    ]  # fmt: skip
    done = subprocess.run(
        args,
        cwd=app.ROOT,
        env=app.app_env("sqlite:///:memory:"),
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"grid lookup bench failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cases", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    grid = commands.add_parser("grid", help="grid lookup: STRtree index vs brute force")
    grid.add_argument("--points", type=int, default=1_000_000)
    grid.add_argument(
        "--cells", default="1000,10000", help="grids in the tiling, comma-separated counts"
    )
    grid.add_argument("--brute", type=int, default=10_000, help="points for the brute force")
    grid.add_argument("--seed", type=int, default=2026)
    options = parser.parse_args(argv)
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jiedao.config.settings")
    import django

    django.setup()
    runs = []
    for cells in cell_counts(options.cells):
        runs.append(grid_lookup(options.points, cells, options.brute, options.seed))
        print(f"{cells:,} grids done", file=sys.stderr, flush=True)
    print(json.dumps({"runs": runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
