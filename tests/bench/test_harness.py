"""The benchmark harness's pure parts: wrk report parsing, ratios, tables, options. The full
bench (``make bench``) is never run from the tests."""

from __future__ import annotations

import os

import pytest

from bench import app, databases, report, runner, wrk

WRK_REPORT = """\
Running 2s test @ http://127.0.0.1:8913/ping
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   134.93ms  247.34ms 893.62ms   82.95%
    Req/Sec   760.67    276.60     1.00k    91.67%
  Latency Distribution
     50%    2.23ms
     75%  143.02ms
     90%  593.93ms
     99%  864.50ms
  1893 requests in 2.06s, 728.73KB read
Requests/sec:    917.00
Transfer/sec:    353.01KB
"""

WRK_REPORT_WITH_ERRORS = """\
Running 1s test @ http://127.0.0.1:8913/api/territory/buildings
  1 threads and 2 connections
  Latency Distribution
     50%  812.00us
     75%    1.10ms
     90%    1.50ms
     99%    1.02s
  1298 requests in 1.00m, 668.01KB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 1298
Requests/sec:   1294.53
Transfer/sec:    666.23KB
"""


def test_parse_wrk_report():
    result = wrk.parse(WRK_REPORT)
    assert result == wrk.WrkResult(
        requests=1893, seconds=2.06, requests_per_s=917.0, p50_ms=2.23, p99_ms=864.5
    )


def test_parse_wrk_report_with_errors_and_other_units():
    result = wrk.parse(WRK_REPORT_WITH_ERRORS)
    assert result.p50_ms == pytest.approx(0.812)
    assert result.p99_ms == pytest.approx(1020.0)
    assert result.seconds == pytest.approx(60.0)
    assert (result.non_2xx, result.socket_errors) == (1298, 5)


def test_parse_rejects_a_report_without_latency_distribution():
    with pytest.raises(wrk.WrkOutputError):
        wrk.parse("Running 1s test @ http://127.0.0.1:1/\nRequests/sec: 10.0\n")


@pytest.mark.parametrize(
    ("text", "ms"), [("812.00us", 0.812), ("3.21ms", 3.21), ("1.02s", 1020.0), ("2.00m", 120_000.0)]
)
def test_durations(text, ms):
    assert wrk.parse_duration_ms(text) == pytest.approx(ms)


def test_counts():
    assert wrk.parse_count("1.33k") == pytest.approx(1330)
    assert wrk.parse_count("250") == 250


def test_wrk_command_is_bounded_and_loopback_only(monkeypatch):
    monkeypatch.setattr(wrk, "wrk_path", lambda: "/usr/bin/wrk")
    args = wrk.command(
        "http://127.0.0.1:8911/ping",
        seconds=5,
        threads=2,
        connections=8,
        headers={"Cookie": "sessionid=x"},
    )
    assert args == [
        "/usr/bin/wrk", "-t2", "-c8", "-d5s", "--timeout", "10s", "--latency",
        "-H", "Cookie: sessionid=x", "http://127.0.0.1:8911/ping",
    ]  # fmt: skip
    with pytest.raises(ValueError):
        wrk.command("http://example.org/", seconds=5, threads=1, connections=1)


def test_generation_line_is_read():
    output = "Demo world generated in 8.8 s (93,060 rows).\ndistrict 1, ...\n"
    generation = app.parse_generation(output)
    assert (generation.seconds, generation.rows) == (8.8, 93060)
    assert generation.rows_per_s == pytest.approx(93060 / 8.8)
    translated = app.parse_generation("演示数据已生成，用时 5.7 秒（共 93,060 行）。\n")
    assert (translated.seconds, translated.rows) == (5.7, 93060)
    with pytest.raises(ValueError):
        app.parse_generation("nothing here")


def test_ratios_are_against_the_bare_endpoint():
    figures = {
        "ping": {"requests_per_s": 1000.0, "p50_ms": 2.0},
        "api": {"requests_per_s": 250.0, "p50_ms": 8.0},
        "broken": {"skipped": True, "status": 500},
    }
    report.add_ratios(figures)
    assert figures["ping"]["rps_vs_baseline"] == 1.0
    assert figures["api"]["rps_vs_baseline"] == 0.25 and figures["api"]["p50_vs_baseline"] == 4.0
    assert figures["broken"]["rps_vs_baseline"] is None


def test_tables_render_every_run():
    run = {
        "backend": "sqlite",
        "scale": 1.0,
        "migrate_s": 2.5,
        "plain_insert_s": 0.1,
        "generation": {"seconds": 8.0, "rows": 93060, "rows_per_s": 11632.5},
        "http": {
            "ping": {
                "requests_per_s": 1000.0,
                "p50_ms": 2.0,
                "p99_ms": 5.0,
                "non_2xx": 0,
                "socket_errors": 0,
            },
            "grid_page": {"skipped": True, "status": 500},
        },
    }
    report.add_ratios(run["http"])
    http = report.http_table([run])
    assert "1,000.0" in http and "1.00×" in http and "HTTP 500" in http
    generation = report.generation_table([run])
    assert "93,060" in generation and "80.00×" in generation


def test_options_and_names():
    quick = runner.parse_args(["--quick"])
    assert (quick.scales, quick.duration) == ("1", 3)
    assert runner.scales("1, 10") == [1.0, 10.0]
    assert runner.scale_tag(0.5) == "0_5"
    assert runner.FIGURES[0].key == report.BASELINE
    assert (
        databases.with_database("postgres://u@127.0.0.1:5432/postgres", "x")
        == "postgres://u@127.0.0.1:5432/x"
    )
    with pytest.raises(ValueError):
        databases.create_sqlite("bad name; drop")


def test_sqlite_scratch_database_is_removed_with_its_directory():
    database = databases.create_sqlite("jiedao_bench_sq_test")
    path = database.url.removeprefix("sqlite:///")
    with open(path, "w") as handle:
        handle.write("x")
    databases.drop_sqlite(database)
    assert not os.path.exists(os.path.dirname(path))
