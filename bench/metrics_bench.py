"""Case metrics at scale: ``python -m bench.metrics_bench --database-url postgres://…/postgres``.

Creates a scratch PostgreSQL database, migrates it, inserts a small world (one street, 11
communities, 33 grids, 8 departments, 20 subcategories, a street-staff user) and N cases (default
1,000,000) over the last year with ``INSERT … SELECT generate_series`` and realistic shares
(80 % closed, 70 % of those rated, ~70 % closed on time …), one dispatch event per dispatched case,
then times, over ``--runs`` runs each:

* ``page``: GET /cases/metrics/ (last 12 months, by community) with Django's test client as the
  street user: scope, three aggregate queries, names, charts and template;
* ``report``: ``metrics.report()`` alone (the same queries, no HTTP or template);
* ``raw_sql``: the grouped aggregate as one hand-written SQL query (the baseline);
* ``handler_page``: the page grouped by handler, whose closed cases need the latest dispatch event
  (a correlated subquery per case: what a denormalised last-handler column would save);
* ``league``: the public league page for one month (unscoped).

Prints p50/p99 of each and the ratio to the raw query. ``run(database_url)`` returns the same as
a dict, for bench/runner.py. The measuring runs in a child process whose Django points at the
scratch database, so the caller's own Django set-up is never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench import app, databases

NAME = "jiedao_bench_metrics"
STREET_CODE = "110119001000"
COMMUNITIES, GRIDS_PER_COMMUNITY, DEPARTMENTS = 11, 3, 8


def run(
    database_url: str | None = None, cases: int = 1_000_000, runs: int = 20, keep: bool = False
) -> dict[str, Any]:
    """Build the scratch database, measure in a child process, drop it; the figures as a dict."""
    server = database_url or databases.pg_server_url()
    problem = databases.postgres_available(server)
    if problem:
        return {"skipped": True, "reason": problem}
    database = databases.create_postgres(NAME, server)
    try:
        started = time.perf_counter()
        app.manage(database.url, "migrate", "--noinput", "-v", "0")
        migrate_s = time.perf_counter() - started
        # JIEDAO_TESTING: plain static storage, so no collectstatic manifest is needed to render.
        env = {**app.app_env(database.url), "JIEDAO_TESTING": "1"}
        done = subprocess.run(
            [sys.executable, "-m", "bench.metrics_bench", "--child", str(cases), str(runs)],
            cwd=app.ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"metrics bench child failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["migrate_s"] = round(migrate_s, 2)
        return result
    finally:
        if not keep:
            databases.drop_postgres(database, server)


# --- In the child: Django is set up on the scratch database ---------------------------------


def child(cases: int, runs: int) -> dict[str, Any]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jiedao.config.settings")
    import django

    django.setup()
    started = time.perf_counter()
    world = build_world()
    world_s = time.perf_counter() - started
    started = time.perf_counter()
    insert_cases(cases)
    cases_s = time.perf_counter() - started
    started = time.perf_counter()
    events = insert_dispatch_events()
    events_s = time.perf_counter() - started
    analyse()
    return {
        "cases": cases,
        "events": events,
        "runs": runs,
        "world_s": round(world_s, 2),
        "generate_cases_s": round(cases_s, 2),
        "generate_events_s": round(events_s, 2),
        "timings": measure(world["user"], runs),
    }


def build_world() -> dict[str, Any]:
    """One district, one street, its communities and grids, departments, a catalogue and the
    street-staff user the page is measured as."""
    from jiedao.accounts.models import RoleGrant, User
    from jiedao.accounts.roles import Role
    from jiedao.cases.models import Category, HandlerType
    from jiedao.core.scopes import unscoped
    from jiedao.territory.models import Community, Department, District, Grid, Street

    with unscoped():
        district = District.all_objects.create(code="110119000000", name="延庆区")
        street = Street.all_objects.create(district=district, code=STREET_CODE, name="香水园街道")
        for c in range(1, COMMUNITIES + 1):
            community = Community.all_objects.create(
                street=street, code=f"110119001{c:03d}", name=f"第{c}社区"
            )
            for g in range(1, GRIDS_PER_COMMUNITY + 1):
                Grid.all_objects.create(
                    community=community, code=f"{community.code}{g:03d}", name=f"第{c}-{g}网格"
                )
        for d in range(1, DEPARTMENTS + 1):
            Department.all_objects.create(
                district=district, code=f"D{d:02d}", name=f"区部门{d}", kind="administration"
            )
        for m in range(1, 6):
            main = Category.objects.create(code=f"{m:02d}", name=f"大类{m}")
            for s in range(1, 5):
                Category.objects.create(
                    code=f"{m:02d}{s:02d}",
                    name=f"小类{m}-{s}",
                    parent=main,
                    handler_type=HandlerType.COMMUNITY,
                )
    user = User.objects.create_user("street", password=None)
    RoleGrant.objects.create(user=user, role=Role.STREET_STAFF, street=street)
    return {"user": user}


CASES_SQL = """
WITH g AS (SELECT array_agg(id ORDER BY id) AS ids, array_agg(code ORDER BY id) AS codes
           FROM territory_grid),
     c AS (SELECT array_agg(id ORDER BY id) AS ids FROM cases_category WHERE parent_id IS NOT NULL),
     d AS (SELECT array_agg(id ORDER BY id) AS ids FROM territory_department),
     base AS (
       SELECT 1 + floor(random() * array_length(g.ids, 1))::int AS gi,
              c.ids[1 + floor(random() * array_length(c.ids, 1))::int] AS category_id,
              d.ids[1 + floor(random() * array_length(d.ids, 1))::int] AS department_id,
              now() - random() * interval '365 days' AS reg,
              random() AS r_node, random() AS r_ack, random() AS r_contact,
              random() AS r_close, random() AS r_rating, random() AS r_dept, random() AS r_count
       FROM generate_series(1, %(n)s), g, c, d),
     shaped AS (
       SELECT base.*, g.ids[gi] AS grid_id, g.codes[gi] AS code,
              CASE WHEN r_node < 0.03 THEN 'registered' WHEN r_node < 0.07 THEN 'dispatched'
                   WHEN r_node < 0.10 THEN 'acknowledged' WHEN r_node < 0.18 THEN 'in_progress'
                   WHEN r_node < 0.20 THEN 'handled' ELSE 'closed' END AS node
       FROM base, g),
     timed AS (
       SELECT shaped.*,
              CASE WHEN node <> 'registered' THEN reg + interval '30 minutes' END AS dispatched,
              CASE WHEN node IN ('handled', 'closed') THEN reg + r_close * interval '10 days'
                   END AS finished,
              node IN ('dispatched', 'acknowledged', 'in_progress', 'handled') AS has_handler,
              node IN ('dispatched', 'acknowledged', 'in_progress', 'handled')
                AND r_dept < 0.3 AS to_department,
              node <> 'registered' AS had_handler,
              node <> 'registered' AND r_dept < 0.3 AS last_to_department,
              CASE WHEN node = 'closed' AND r_rating < 0.42 THEN 'satisfied'
                   WHEN node = 'closed' AND r_rating < 0.60 THEN 'mostly_satisfied'
                   WHEN node = 'closed' AND r_rating < 0.70 THEN 'dissatisfied'
                   ELSE '' END AS rating
       FROM shaped)
INSERT INTO cases_case (
  territory_code, channel, category_id, description, urgent, grid_id, community_code,
  street_code, caller_name, caller_phone, caller_phone_index, anonymous, source_system,
  idempotency_key, external_id, attributes, node, public_status, delivery_state, handler_type,
  handler_department_id, handler_unit_code, created_at, registered_at, dispatched_at,
  acknowledged_at, handled_at, verified_at, closed_at, contacted_at, acknowledge_due,
  contact_due, resolve_due, deadline_note, extension, rating, solved, rejection_reason,
  return_count, rework_count, reopen_count, last_handler_type, last_handler_department_id,
  last_handler_unit_code)
SELECT code, 'hotline', category_id, '楼道灯坏了', false, grid_id, left(code, 12),
  left(code, 9) || '000', '', '', '', false, '', '', '', '{}'::jsonb, node,
  CASE WHEN node = 'closed' THEN 'closed' ELSE 'open' END, 'none',
  CASE WHEN NOT has_handler THEN '' WHEN to_department THEN 'department' ELSE 'community' END,
  CASE WHEN to_department THEN department_id END,
  CASE WHEN has_handler AND NOT to_department THEN left(code, 12) ELSE '' END,
  reg, reg, dispatched,
  CASE WHEN node NOT IN ('registered', 'dispatched')
       THEN dispatched + r_ack * interval '3 hours' END,
  finished - interval '2 hours',
  CASE WHEN node = 'closed' THEN finished - interval '1 hour' END,
  CASE WHEN node = 'closed' THEN finished END,
  CASE WHEN node <> 'registered' AND r_contact < 0.95
       THEN reg + r_contact * interval '30 hours' END,
  dispatched + interval '2 hours', reg + interval '24 hours', reg + interval '7 days',
  '', '', rating,
  CASE WHEN rating = '' THEN NULL ELSE rating <> 'dissatisfied' AND r_rating < 0.66 END, '',
  (r_count >= 0.05 AND r_count < 0.09)::int, (r_count < 0.05)::int,
  (node = 'closed' AND r_count >= 0.09 AND r_count < 0.12)::int,
  CASE WHEN NOT had_handler THEN '' WHEN last_to_department THEN 'department'
       ELSE 'community' END,
  CASE WHEN last_to_department THEN department_id END,
  CASE WHEN had_handler AND NOT last_to_department THEN left(code, 12) ELSE '' END
FROM timed
"""

EVENTS_SQL = """
INSERT INTO cases_caseevent (territory_code, case_id, action, from_node, to_node, actor_label,
                             at, note, data)
SELECT territory_code, id, 'dispatch', 'registered', 'dispatched', 'bench', dispatched_at, '',
  CASE WHEN handler_department_id IS NOT NULL
         THEN jsonb_build_object('handler_type', 'department',
                                 'department', handler_department_id)
       WHEN handler_type <> '' OR random() < 0.7
         THEN jsonb_build_object('handler_type', 'community')
       ELSE jsonb_build_object('handler_type', 'department', 'department',
            (SELECT min(id) FROM territory_department)) END
FROM cases_case WHERE dispatched_at IS NOT NULL
"""


def insert_cases(count: int) -> None:
    from django.db import connection, transaction

    with bulk_load(), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(CASES_SQL, {"n": count})


def insert_dispatch_events() -> int:
    from django.db import connection, transaction

    with bulk_load(), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(EVENTS_SQL)
        return cursor.rowcount


@contextmanager
def bulk_load() -> Iterator[None]:
    """Skip the foreign-key triggers while loading: Django's constraints are deferred, so a
    million rows would otherwise be checked one by one at COMMIT. The ids come from the tables
    themselves. Needs a superuser (the scratch server's postgres); without one, load as usual."""
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
    except DatabaseError:
        yield
        return
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = DEFAULT")


def analyse() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE cases_case")
        cursor.execute("VACUUM ANALYZE cases_caseevent")


# The page's grouped aggregate, by hand: the street's cases of the last 12 months by community.
RAW_SQL = """
SELECT community_code, count(*),
  count(*) FILTER (WHERE dispatched_at IS NOT NULL),
  count(*) FILTER (WHERE dispatched_at IS NOT NULL AND acknowledged_at <= acknowledge_due
                   AND contacted_at <= contact_due),
  count(*) FILTER (WHERE rating <> ''),
  count(*) FILTER (WHERE rating <> '' AND solved),
  count(*) FILTER (WHERE rating IN ('satisfied', 'mostly_satisfied')),
  count(*) FILTER (WHERE node = 'closed' AND closed_at IS NOT NULL),
  count(*) FILTER (WHERE node = 'closed' AND closed_at <= resolve_due),
  count(*) FILTER (WHERE handled_at IS NOT NULL OR rework_count > 0),
  count(*) FILTER (WHERE rework_count > 0),
  count(*) FILTER (WHERE dispatched_at IS NOT NULL OR return_count > 0),
  count(*) FILTER (WHERE return_count > 0),
  count(*) FILTER (WHERE (node = 'closed' AND closed_at IS NOT NULL) OR reopen_count > 0),
  count(*) FILTER (WHERE reopen_count > 0),
  sum(closed_at - registered_at) FILTER (WHERE node = 'closed' AND closed_at IS NOT NULL)
FROM cases_case
WHERE territory_code >= %(lo)s AND territory_code < %(hi)s
  AND registered_at >= %(start)s AND registered_at < %(end)s
GROUP BY community_code
"""


def measure(user: Any, runs: int) -> dict[str, dict[str, float]]:
    from django.db import connection
    from django.test import Client

    from jiedao.cases import metrics

    client = Client()
    client.force_login(user)
    period = metrics.Period.last_months(12)
    month = metrics.recent_months(1)[0]
    bounds: dict[str, Any] = {
        "lo": "110119001",
        "hi": "110119002",
        "start": period.start,
        "end": period.end,
    }

    def page(**params: str) -> Callable[[], None]:
        def get() -> None:
            response = client.get("/cases/metrics/", params)
            assert response.status_code == 200, response.status_code

        return get

    def report() -> None:
        metrics.report(user, period, metrics.DIMENSION_BY_KEY["community"])

    def raw() -> None:
        with connection.cursor() as cursor:
            cursor.execute(RAW_SQL, bounds)
            cursor.fetchall()

    def league() -> None:
        anonymous = Client()
        assert anonymous.get("/cases/league/", {"month": month}).status_code == 200

    timings = {
        "page": timed(page(), runs),
        "report": timed(report, max(3, runs // 4)),
        "raw_sql": timed(raw, runs),
        "handler_page": timed(page(group="handler"), max(3, runs // 6)),
        "league": timed(league, max(3, runs // 4)),
    }
    baseline = timings["raw_sql"]["p50_ms"]
    for figures in timings.values():
        figures["ratio_to_raw_p50"] = round(figures["p50_ms"] / baseline, 2) if baseline else 0.0
    return timings


def timed(action: Callable[[], None], runs: int) -> dict[str, float]:
    action()  # warm-up: caches, plans, imports
    samples = []
    for _run in range(runs):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p99_index = min(len(samples) - 1, round(0.99 * (len(samples) - 1)))
    return {
        "runs": runs,
        "p50_ms": round(statistics.median(samples), 1),
        "p99_ms": round(samples[p99_index], 1),
        "min_ms": round(samples[0], 1),
    }


def print_table(result: dict[str, Any]) -> None:
    if result.get("skipped"):
        print(f"metrics bench skipped: {result['reason']}")
        return
    print(
        f"{result['cases']:,} cases in {result['generate_cases_s']} s, {result['events']:,} "
        f"dispatch events in {result['generate_events_s']} s (migrate {result['migrate_s']} s)"
    )
    print(f"{'figure':<14}{'runs':>6}{'p50 ms':>11}{'p99 ms':>11}{'× raw p50':>11}")
    for key, figures in result["timings"].items():
        print(
            f"{key:<14}{figures['runs']:>6}{figures['p50_ms']:>11.1f}{figures['p99_ms']:>11.1f}"
            f"{figures['ratio_to_raw_p50']:>11.2f}"
        )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        print(json.dumps(child(int(argv[1]), int(argv[2]))))
        return
    parser = argparse.ArgumentParser(prog="python -m bench.metrics_bench", description=__doc__)
    parser.add_argument("--database-url", default=databases.pg_server_url())
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    options = parser.parse_args(argv)
    result = run(options.database_url, options.cases, options.runs, options.keep)
    if options.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
