"""Baseline for generation: insert N plain rows (id, text, integer) in one transaction with the
database driver's executemany, bypassing the ORM. Run as ``python -m bench.plain_insert N``
with DATABASE_URL set; prints the seconds taken."""

from __future__ import annotations

import os
import sys
import time

BATCH = 2000


def main(rows: int) -> float:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jiedao.config.settings")
    import django

    django.setup()
    from django.db import connection, transaction

    values = [(f"第{n}行 plain row", n) for n in range(rows)]
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_plain")
        cursor.execute(
            "CREATE TABLE bench_plain (id integer PRIMARY KEY, label varchar(120), n integer)"
        )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, rows, BATCH):
            chunk = [(start + i, *row) for i, row in enumerate(values[start : start + BATCH])]
            cursor.executemany("INSERT INTO bench_plain (id, label, n) VALUES (%s, %s, %s)", chunk)
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_plain")
    return elapsed


if __name__ == "__main__":
    print(f"{main(int(sys.argv[1])):.3f}")
