"""``python -m bench`` (``make bench``): build demo worlds on PostgreSQL and SQLite, serve each
with gunicorn on loopback, drive it with wrk, and print every figure beside a baseline measured
in the same run. See docs/benchmarks.md."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import app, databases, metrics_bench, registry_bench, report, wrk
from bench import cases as case_bench
from jiedao.demo.logins import DEMO_PASSWORD

RESULTS = app.ROOT / "bench" / "results" / "latest.json"
BENCH_USER = "street"  # the street_staff demo login: sees the whole street
GRID = "110119001001001"  # grid 1 of community 1 in every demo world


@dataclass(frozen=True)
class Figure:
    key: str
    path: str
    signed_in: bool
    meaning: str


FIGURES = (
    Figure("ping", "/ping", False, "bare Django JSON endpoint, anonymous: the baseline"),
    Figure("ping_signed_in", "/ping", True, "the same endpoint with the street user's session"),
    Figure("communities_page", "/territory/communities/", True, "HTML list of communities"),
    Figure(
        "buildings_page", "/territory/buildings/", True, "HTML list of buildings (first page of 50)"
    ),
    Figure("grid_page", f"/territory/grids/{GRID}/", True, "HTML grid detail with its figures"),
    Figure(
        "api_buildings", "/api/territory/buildings", True, "JSON list of buildings (first page)"
    ),
    Figure(
        "api_grid",
        f"/api/territory/grids/{GRID}",
        True,
        "JSON grid detail with boundary and figures",
    ),
    Figure(
        "map_data_street",
        "/territory/map/data.json?area=110119001000",
        True,
        "grid map GeoJSON of the street: every grid with all its indicators",
    ),
    Figure(
        "map_data_district",
        "/territory/map/data.json?area=110119000000",
        True,
        "grid map GeoJSON asked for the district (the street user's grids, simplified)",
    ),
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--backends", default="postgresql,sqlite", help="comma-separated: postgresql,sqlite"
    )
    parser.add_argument(
        "--scales", default="1,10", help="demo_world scales to build (default 1,10)"
    )
    parser.add_argument("--http-scales", default="1,10", help="scales whose server is load-tested")
    parser.add_argument(
        "--duration", type=int, default=6, help="seconds of load per figure (default 6)"
    )
    parser.add_argument(
        "--warmup", type=int, default=1, help="seconds of discarded load per figure"
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--port", type=int, default=8911)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument("--quick", action="store_true", help="scale 1 only, 3 s per figure")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--grid",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="grid lookup: STRtree vs brute force, in-process (default on)",
    )
    parser.add_argument("--grid-points", type=int, default=1_000_000, help="random points")
    parser.add_argument(
        "--grid-cells",
        default="1000,10000",
        help="grids in the tiling, comma-separated: one run per count (default 1000,10000)",
    )
    parser.add_argument(
        "--grid-brute",
        type=int,
        default=10_000,
        help="points of the sample given to the brute force (default 10,000)",
    )
    parser.add_argument(
        "--metrics-cases",
        type=int,
        default=1_000_000,
        help="cases generated for the metrics figures on PostgreSQL (0: skip)",
    )
    parser.add_argument(
        "--registry-persons",
        type=int,
        default=1_000_000,
        help="person rows imported, reconciled and searched on each database (0: skip)",
    )
    options = parser.parse_args(argv)
    if options.quick:
        options.scales, options.http_scales, options.duration = "1", "1", 3
        options.metrics_cases = min(options.metrics_cases, 100_000)
        options.registry_persons = min(options.registry_persons, 50_000)
        options.grid_points = min(options.grid_points, 100_000)
        options.grid_cells = ",".join(
            str(c) for c in case_bench.cell_counts(options.grid_cells)[:1]
        )
        options.grid_brute = min(options.grid_brute, 2_000)
    return options


def scales(text: str) -> list[float]:
    return [float(s) for s in text.split(",") if s.strip()]


def scale_tag(scale: float) -> str:
    return f"{scale:g}".replace(".", "_")


def bench_world(backend: str, scale: float, options: argparse.Namespace) -> dict[str, Any]:
    name = f"jiedao_bench_{backend[:2]}_{scale_tag(scale)}"
    database = (
        databases.create_postgres(name)
        if backend == "postgresql"
        else databases.create_sqlite(name)
    )
    run: dict[str, Any] = {"backend": backend, "scale": scale, "database": database.name}
    try:
        started = time.perf_counter()
        app.manage(database.url, "migrate", "--noinput", "-v", "0")
        run["migrate_s"] = time.perf_counter() - started
        _say(f"{backend} scale {scale:g}: migrated in {run['migrate_s']:.1f} s; generating…")
        generation, process_s = app.generate(database.url, scale, options.seed)
        run["generation"] = {
            "seconds": generation.seconds,
            "rows": generation.rows,
            "rows_per_s": generation.rows_per_s,
            "process_s": process_s,
        }
        run["plain_insert_s"] = app.plain_insert_seconds(database.url, generation.rows)
        _say(
            f"  demo_world: {generation.rows:,} rows in {generation.seconds:.1f} s; plain insert {run['plain_insert_s']:.2f} s"
        )
        if scale in scales(options.http_scales):
            run.update(bench_http(database.url, options, backend))
    finally:
        if not options.keep:
            databases.drop(database)
    return run


def bench_http(
    database_url: str, options: argparse.Namespace, backend: str = "postgresql"
) -> dict[str, Any]:
    with app.Server(database_url, options.port, options.workers) as server:
        session = app.login(server.base, BENCH_USER, DEMO_PASSWORD)
        how = "login form"
        if session is None:
            session, how = (
                app.minted_session(database_url, BENCH_USER),
                "minted (login page unusable)",
            )
        cookie = f"sessionid={session}"
        figures: dict[str, dict[str, Any]] = {}
        for figure in FIGURES:
            figures[figure.key] = measure(
                server.base, figure, cookie if figure.signed_in else "", options
            )
            _say(f"  {figure.key}: {_brief(figures[figure.key])}")
        if backend == "postgresql":  # intake writes: measured where concurrent writers scale
            figures.update(bench_intake(server.base, database_url, options))
    report.add_ratios(figures)
    return {"session": how, "http": figures}


def bench_intake(base: str, database_url: str, options: argparse.Namespace) -> dict[str, Any]:
    try:
        figures = case_bench.bench_intake(base, database_url, options)
    except Exception as exc:  # the GET figures of this world are kept either way
        _say(f"  case intake FAILED: {exc}")
        return {
            f.key: {
                "path": f.path,
                "method": "POST",
                "status": "error",
                "skipped": True,
                "error": str(exc)[-500:],
            }
            for f in case_bench.INTAKE_FIGURES
        }
    for key, figure in figures.items():
        _say(f"  {key}: {_brief(figure)}")
    return figures


def measure(base: str, figure: Figure, cookie: str, options: argparse.Namespace) -> dict[str, Any]:
    url = base + figure.path
    status = app.status(url, cookie)
    if status != 200:
        return {"path": figure.path, "status": status, "skipped": True}
    headers = {"Cookie": cookie} if cookie else None
    load = {"threads": options.threads, "connections": options.connections, "headers": headers}
    if options.warmup:
        wrk.run(url, seconds=options.warmup, **load)
    result = wrk.run(url, seconds=options.duration, **load)
    return {
        "path": figure.path,
        "status": status,
        "serial_ms": serial_ms(url, cookie),
        **result.as_dict(),
    }


def serial_ms(url: str, cookie: str, count: int = 20) -> float:
    """Median time of one request at a time: the service time, without queueing behind others."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        app.status(url, cookie)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _brief(figure: dict[str, Any]) -> str:
    if figure.get("skipped"):
        return f"skipped (HTTP {figure['status']})"
    return f"{figure['requests_per_s']:.0f} req/s, p50 {figure['p50_ms']:.1f} ms, p99 {figure['p99_ms']:.1f} ms"


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        # Other work on the machine skews absolute figures; the ratios are measured side by side.
        "load_average_at_start": os.getloadavg(),
    }
    try:
        done = subprocess.run(
            [wrk.wrk_path(), "--version"], capture_output=True, text=True, timeout=10, check=False
        )
        info["wrk"] = (done.stdout or done.stderr).splitlines()[0].strip()
    except (RuntimeError, IndexError, OSError):
        info["wrk"] = None
    info["postgresql"] = _pg_version()
    return info


def _pg_version() -> str | None:
    try:
        import psycopg

        with psycopg.connect(
            databases.pg_server_url().replace("postgres://", "postgresql://", 1)
        ) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return row[0] if row else None
    except Exception:
        return None


def _say(message: str) -> None:
    print(message, flush=True)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    wrk.wrk_path()
    if not (app.ROOT / "staticfiles" / "staticfiles.json").exists():
        _say(
            "warning: no collected static files (run `make static`); HTML pages may fail with DEBUG off"
        )
    backends = [b.strip() for b in options.backends.split(",") if b.strip()]
    if "postgresql" in backends and (
        why := databases.postgres_available(databases.pg_server_url())
    ):
        _say(f"PostgreSQL skipped: {why}")
        backends.remove("postgresql")
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "options": {k: str(v) for k, v in vars(options).items()},
        "figures": {
            **{f.key: {"path": f.path, "meaning": f.meaning} for f in FIGURES},
            **{
                f.key: {"path": f.path, "method": "POST", "meaning": f.meaning}
                for f in case_bench.INTAKE_FIGURES
            },
        },
        "runs": [],
    }
    started = time.perf_counter()
    failures: list[str] = []
    for backend in backends:
        for scale in scales(options.scales):
            try:
                results["runs"].append(bench_world(backend, scale, options))
            except Exception as exc:  # one broken run must not lose the others' figures
                failures.append(f"{backend} scale {scale:g}: {exc}")
                _say(f"{backend} scale {scale:g} FAILED: {exc}")
    if options.grid:
        try:
            _say(
                f"grid lookup: {options.grid_points:,} points, {options.grid_cells} grids "
                f"(brute force on a sample of {options.grid_brute:,})…"
            )
            results["grid_lookup"] = case_bench.run_grid_lookup(options)
        except Exception as exc:
            failures.append(f"grid lookup: {exc}")
            _say(f"grid lookup FAILED: {exc}")
    if options.metrics_cases and "postgresql" in backends:
        _say(f"metrics over {options.metrics_cases:,} generated cases on PostgreSQL…")
        try:
            results["metrics"] = metrics_bench.run(cases=options.metrics_cases)
        except Exception as exc:
            failures.append(f"metrics: {exc}")
            _say(f"metrics FAILED: {exc}")
    if options.registry_persons:
        _say(f"registry: import, reconcile and search {options.registry_persons:,} persons…")
        try:
            results["registry"] = registry_bench.run(tuple(backends), options.registry_persons)
        except Exception as exc:
            failures.append(f"registry: {exc}")
            _say(f"registry FAILED: {exc}")
    results["failures"] = failures
    results["total_s"] = time.perf_counter() - started
    results["machine"]["load_average_at_end"] = os.getloadavg()
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(results, ensure_ascii=False, indent=2))
    _say("\n" + report.http_table(results["runs"]))
    _say("\n" + report.generation_table(results["runs"]))
    if results.get("grid_lookup"):
        _say("\n" + report.grid_table(results["grid_lookup"]))
    if results.get("metrics"):
        _say("")
        metrics_bench.print_table(results["metrics"])
    if results.get("registry"):
        _say("")
        registry_bench.print_table(results["registry"])
    _say(
        f"\n{len(results['runs'])} runs in {results['total_s'] / 60:.1f} min; results in {options.output}"
    )
    for failure in failures:
        _say(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
