"""Population registry at scale: ``python -m bench.registry_bench --persons 1000000``.

For each database (PostgreSQL, SQLite) it creates a scratch database, migrates it, builds one
street (11 communities, 33 grids, one dwelling per three persons with standard addresses) and a
public-security extract CSV of N person rows (户号, 姓名, 公民身份号码, 与户主关系, 住址; valid
identity numbers), then measures, each step in its own child process:

* ``copy``: the baseline — the same file loaded into a plain table of five text columns
  (PostgreSQL ``COPY … FROM STDIN``; SQLite ``executemany`` in one transaction);
* ``import``: ``importing.run_import`` of the file (mapping, validation of every identity number,
  address lookup, encryption, blind indexes, upsert by identity number, versions, checkpoints):
  rows/s, the ratio to the baseline, and the child's peak memory (ru_maxrss) against its memory
  before the import;
* ``reconcile``: after 70 % of the persons are marked as living at their registered dwelling and
  15 % elsewhere in the street (what a first survey would say), ``reconciliation.reconcile`` of
  the street (85 % of the persons change class): seconds; then the daily re-run (nothing
  changed);
* ``search``: the person list page searched by a name, by pinyin initials and by an identity
  number (Django test client as street staff), p50/p99 against the bare blind-index query.

``run(...)`` returns the figures as a dict for bench/runner.py; ``print_table`` prints them.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import app, databases

NAME = "jiedao_bench_registry"
STREET_CODE = "110119001000"
COMMUNITIES, GRIDS_PER_COMMUNITY = 11, 3
PERSONS_PER_DWELLING = 3
DWELLINGS_PER_BUILDING = 24  # 6 floors × 2 entrances × 2 rooms
HEADERS = ["户号", "姓名", "公民身份号码", "与户主关系", "住址"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬芳燕彩春菊兰凤洁梅琳素云莲真环雪荣爱妹霞香月莺媛艳瑞凡佳嘉琼勤珍贞莉桂娣叶璧璐娅琦晶妍茜秋珊莎锦黛青倩婷姣婉娴瑾颖露瑶怡婵雁蓓纨仪荷丹蓉眉君琴蕊薇菁梦岚苑婕馨瑗琰韵融园艺咏卿聪澜纯毓悦昭冰爽琬茗羽希宁欣飘育滢馥筠柔竹霭凝晓欢霄枫芸菲寒伊亚宜可姬舒影荔枝思丽"
RELATIONS = ["户主", "配偶", "子女"]
DAYS = 32_870  # birth dates over 90 years: with 1,000 serials, 32 million unique numbers


def run(
    backends: tuple[str, ...] = ("postgresql", "sqlite"),
    persons: int = 1_000_000,
    runs: int = 100,
    keep: bool = False,
) -> dict[str, Any]:
    results: dict[str, Any] = {"persons": persons, "runs": {}}
    for backend in backends:
        if backend == "postgresql" and (why := databases.postgres_available(pg_server())):
            results["runs"][backend] = {"skipped": True, "reason": why}
            continue
        results["runs"][backend] = run_one(backend, persons, runs, keep)
    return results


def pg_server() -> str:
    return databases.pg_server_url()


def run_one(backend: str, persons: int, runs: int, keep: bool) -> dict[str, Any]:
    if backend == "postgresql":
        database = databases.create_postgres(NAME, pg_server())
    else:
        database = databases.create_sqlite(NAME)
    workdir = Path(tempfile.mkdtemp(prefix="jiedao-registry-bench-"))
    csv_path = workdir / "extract.csv"
    try:
        started = time.perf_counter()
        app.manage(database.url, "migrate", "--noinput", "-v", "0")
        result: dict[str, Any] = {"migrate_s": round(time.perf_counter() - started, 2)}
        result["world"] = child(database.url, "world", str(persons), str(csv_path))
        result["copy"] = child(database.url, "copy", str(csv_path))
        result["import"] = child(database.url, "import", str(csv_path))
        result["reconcile"] = child(database.url, "reconcile")
        result["search"] = child(database.url, "search", str(runs))
        rows = result["import"]["rows"]
        result["import"]["rows_per_s"] = round(rows / result["import"]["seconds"], 1)
        result["copy"]["rows_per_s"] = round(rows / result["copy"]["seconds"], 1)
        result["import"]["ratio_to_copy"] = round(
            result["import"]["rows_per_s"] / result["copy"]["rows_per_s"], 4
        )
        return result
    finally:
        csv_path.unlink(missing_ok=True)
        workdir.rmdir()
        if not keep:
            databases.drop(database)


def child(database_url: str, step: str, *args: str) -> dict[str, Any]:
    env = {**app.app_env(database_url), "JIEDAO_TESTING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.registry_bench", "--child", step, *args],
        cwd=app.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"registry bench step {step} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- In the children: Django is set up on the scratch database ------------------------------


def setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jiedao.config.settings")
    import django

    django.setup()


def step_world(persons: int, csv_path: str) -> dict[str, Any]:
    started = time.perf_counter()
    addresses = build_world(-(-persons // PERSONS_PER_DWELLING))
    world_s = time.perf_counter() - started
    started = time.perf_counter()
    write_extract(Path(csv_path), persons, addresses)
    return {
        "dwellings": len(addresses),
        "world_s": round(world_s, 2),
        "write_csv_s": round(time.perf_counter() - started, 2),
        "csv_mb": round(Path(csv_path).stat().st_size / 2**20, 1),
    }


def build_world(dwellings: int) -> list[str]:
    """The street, its grids, buildings, entrances and dwellings with standard addresses, and a
    street-staff user; returns the dwellings' full addresses."""
    from jiedao.accounts.models import RoleGrant, User
    from jiedao.accounts.roles import Role
    from jiedao.core.scopes import unscoped
    from jiedao.territory.models import (
        Building,
        Community,
        District,
        Dwelling,
        Entrance,
        Grid,
        StandardAddress,
        Street,
    )

    with unscoped():
        district = District.all_objects.create(code="110119000000", name="延庆区")
        street = Street.all_objects.create(district=district, code=STREET_CODE, name="香水园街道")
        grids = []
        for c in range(1, COMMUNITIES + 1):
            community = Community.all_objects.create(
                street=street, code=f"110119001{c:03d}", name=f"第{c}社区"
            )
            for g in range(1, GRIDS_PER_COMMUNITY + 1):
                grids.append(
                    Grid.all_objects.create(
                        community=community, code=f"{community.code}{g:03d}", name=f"第{c}-{g}网格"
                    )
                )
        buildings = -(-dwellings // DWELLINGS_PER_BUILDING)
        building_rows = [_building(grids[b % len(grids)], b) for b in range(buildings)]
        StandardAddress.all_objects.bulk_create([a for a, _ in building_rows], batch_size=2000)
        for address, building in building_rows:
            building.address = address
        Building.all_objects.bulk_create([b for _, b in building_rows], batch_size=2000)
        entrances = [
            Entrance(building=b, number=n, territory_code=b.territory_code)
            for _, b in building_rows
            for n in (1, 2)
        ]
        Entrance.all_objects.bulk_create(entrances, batch_size=2000)
        homes = [_dwelling(entrances, d) for d in range(dwellings)]
        StandardAddress.all_objects.bulk_create([a for a, _ in homes], batch_size=2000)
        for address, dwelling in homes:
            dwelling.address = address
        Dwelling.all_objects.bulk_create([d for _, d in homes], batch_size=2000)
    user = User.objects.create_user("street", password=None)
    RoleGrant.objects.create(user=user, role=Role.STREET_STAFF, street=street)
    return [address.full_text for address, _ in homes]


def _building(grid: Any, index: int) -> tuple[Any, Any]:
    from jiedao.territory.models import Building, StandardAddress

    road, number = f"妫水{index // 500 + 1}路", f"{index % 500 + 1}号"
    address = StandardAddress(
        grid=grid, road=road, number=number, territory_code=grid.code, building_no="1"
    )
    address.full_text = address.compose()
    building = Building(
        grid=grid, name=f"{road}{number}1号楼", initials="", territory_code=grid.code
    )
    return address, building


def _dwelling(entrances: list[Any], index: int) -> tuple[Any, Any]:
    from jiedao.territory.models import Dwelling, StandardAddress

    building_index, slot = divmod(index, DWELLINGS_PER_BUILDING)
    entrance = entrances[building_index * 2 + slot // 12]
    floor, room = divmod(slot % 12, 2)
    building = entrance.building
    base = building.address
    address = StandardAddress(
        grid=building.grid,
        road=base.road,
        number=base.number,
        building_no="1",
        entrance_no=str(entrance.number),
        room_no=f"{floor + 1}0{room + 1}",
        territory_code=building.territory_code,
    )
    address.full_text = address.compose()
    dwelling = Dwelling(
        entrance=entrance,
        building=building,
        room=address.room_no,
        floor=floor + 1,
        territory_code=building.territory_code,
    )
    return address, dwelling


def write_extract(path: Path, persons: int, addresses: list[str]) -> None:
    from jiedao.core.identity import make_identity_number

    rng = random.Random(2026)
    first = datetime.date(1930, 1, 1)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADERS)
        for i in range(persons):
            dwelling, member = divmod(i, PERSONS_PER_DWELLING)
            birth = first + datetime.timedelta(days=(i * 7919) % DAYS)
            number = make_identity_number("110119", birth, i // DAYS)
            name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
            writer.writerow(
                [f"H{dwelling:08d}", name, number, RELATIONS[member], addresses[dwelling]]
            )


def step_copy(csv_path: str) -> dict[str, Any]:
    """The same file into a plain five-column table, by the database's own fastest path."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_extract (household text, name text, identity text, "
            "relation text, address text)"
        )
    started = time.perf_counter()
    if connection.vendor == "postgresql":
        sql = "COPY bench_extract FROM STDIN WITH (FORMAT csv, HEADER)"
        with (
            connection.cursor() as cursor,
            open(csv_path, "rb") as source,
            cursor.copy(sql) as copy,
        ):
            while chunk := source.read(1 << 20):
                copy.write(chunk)
        method = "COPY FROM STDIN"
    else:
        with open(csv_path, encoding="utf-8", newline="") as source, transaction.atomic():
            reader = csv.reader(source)
            next(reader)
            with connection.cursor() as cursor:
                while batch := [row for _, row in zip(range(5000), reader, strict=False)]:
                    cursor.executemany("INSERT INTO bench_extract VALUES (%s,%s,%s,%s,%s)", batch)
        method = "executemany in one transaction"
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_extract")
    return {"seconds": round(seconds, 2), "method": method}


def step_import(csv_path: str) -> dict[str, Any]:
    from django.core.files import File

    from jiedao.accounts.models import User
    from jiedao.core.scopes import unscoped
    from jiedao.registry import importing
    from jiedao.registry.models import ImportJob

    user = User.objects.get(username="street")
    with unscoped(), open(csv_path, "rb") as source:
        job = importing.create_import(
            user, File(source, name="extract.csv"), ImportJob.Source.REGISTRY, STREET_CODE
        )
        job.mapping = importing.suggest_mapping(job.headers, job.source)
        job.state = ImportJob.State.IMPORTING
        job.save()
    rss_before = _rss_mb()
    started = time.perf_counter()
    with unscoped():
        importing.run_import(job)
    seconds = time.perf_counter() - started
    with unscoped():
        job.refresh_from_db()
    return {
        "seconds": round(seconds, 2),
        "rows": job.processed_rows,
        "created": job.created_count,
        "errors": job.error_count,
        "state": job.state,
        "rss_before_mb": rss_before,
        "rss_peak_mb": _rss_mb(),
    }


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def step_reconcile() -> dict[str, Any]:
    from django.db import connection, transaction

    from jiedao.core.scopes import unscoped
    from jiedao.registry import reconciliation

    with transaction.atomic(), connection.cursor() as cursor:
        # What the door-to-door survey would say: 70 % live where they are registered, 15 % in
        # another dwelling of the street, 15 % elsewhere (no dwelling here).
        cursor.execute(
            "UPDATE registry_person SET dwelling_id = registered_dwelling_id WHERE id % 20 < 14"
        )
        cursor.execute(
            "UPDATE registry_person SET dwelling_id = "
            "(SELECT min(id) FROM territory_dwelling) WHERE id % 20 IN (14, 15, 16)"
        )
    with unscoped():
        started = time.perf_counter()
        changed = reconciliation.reconcile(STREET_CODE[:9])
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        unchanged = reconciliation.reconcile(STREET_CODE[:9])  # the daily run: nothing moved
        daily_s = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "changed": changed,
        "daily_s": round(daily_s, 2),
        "daily_changed": unchanged,
    }


def step_search(runs: int) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client

    from jiedao.accounts.models import User
    from jiedao.core.crypto import blind_index
    from jiedao.core.scopes import unscoped
    from jiedao.registry.models import Person

    with unscoped():
        sample = Person.all_objects.order_by("id")[500_000 % max(1, Person.all_objects.count())]
    client = Client()
    client.force_login(User.objects.get(username="street"))

    def page(query: str) -> Callable[[], None]:
        def get() -> None:
            response = client.get("/registry/people/", {"q": query})
            assert response.status_code == 200, response.status_code

        return get

    index = blind_index("identity", sample.identity_number)

    def raw() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM registry_person WHERE identity_index = %s", [index])
            cursor.fetchall()

    def ping() -> None:
        assert client.get("/healthz").status_code == 200

    timings = {
        "bare_endpoint": timed(ping, runs),
        "by_name": timed(page(sample.name), runs),
        "by_initials": timed(page(sample.initials), runs),
        "by_identity_number": timed(page(sample.identity_number), runs),
        "raw_index_query": timed(raw, runs),
    }
    raw_p99, ping_p99 = timings["raw_index_query"]["p99_ms"], timings["bare_endpoint"]["p99_ms"]
    for figures in timings.values():
        figures["ratio_to_raw_p99"] = round(figures["p99_ms"] / raw_p99, 1) if raw_p99 else 0.0
        figures["ratio_to_ping_p99"] = round(figures["p99_ms"] / ping_p99, 1) if ping_p99 else 0.0
    return timings


def timed(action: Callable[[], None], runs: int) -> dict[str, float]:
    action()  # warm-up
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "runs": runs,
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))], 2),
    }


STEPS: dict[str, Callable[..., dict[str, Any]]] = {
    "world": lambda persons, path: step_world(int(persons), path),
    "copy": step_copy,
    "import": step_import,
    "reconcile": step_reconcile,
    "search": lambda runs: step_search(int(runs)),
}


def print_table(result: dict[str, Any]) -> None:
    print(f"registry at {result['persons']:,} persons")
    header = (
        f"{'db':<11}{'import rows/s':>15}{'baseline rows/s':>17}{'ratio':>8}{'MB before/peak':>16}"
    )
    print(header + f"{'reconcile s':>13}{'daily s':>9}")
    for backend, run_ in result["runs"].items():
        if run_.get("skipped"):
            print(f"{backend:<11}skipped: {run_['reason']}")
            continue
        imp, copy = run_["import"], run_["copy"]
        print(
            f"{backend:<11}{imp['rows_per_s']:>15,.0f}{copy['rows_per_s']:>17,.0f}"
            f"{imp['ratio_to_copy']:>8.3f}{imp['rss_before_mb']:>9.0f}/{imp['rss_peak_mb']:<6.0f}"
            f"{run_['reconcile']['seconds']:>13.1f}{run_['reconcile']['daily_s']:>9.1f}"
        )
        for key, figures in run_["search"].items():
            print(
                f"  search {key:<20} p50 {figures['p50_ms']:>8.1f} ms  p99 "
                f"{figures['p99_ms']:>8.1f} ms  ({figures['ratio_to_ping_p99']}× bare endpoint, "
                f"{figures['ratio_to_raw_p99']}× raw index query)"
            )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        setup()
        print(json.dumps(STEPS[argv[1]](*argv[2:])))
        return
    parser = argparse.ArgumentParser(prog="python -m bench.registry_bench", description=__doc__)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    options = parser.parse_args(argv)
    backends = tuple(b.strip() for b in options.backends.split(",") if b.strip())
    result = run(backends, options.persons, options.runs, options.keep)
    print(json.dumps(result, indent=2) if options.json else "")
    print_table(result)


if __name__ == "__main__":
    main()
