"""Turning measurements into ratios and plain-text tables (pure functions, tested)."""

from __future__ import annotations

from typing import Any

BASELINE = "ping"


def ratio(value: float | None, base: float | None) -> float | None:
    if value is None or not base:
        return None
    return value / base


def add_ratios(figures: dict[str, dict[str, Any]], baseline: str = BASELINE) -> None:
    """Each figure's requests/s, p50 and p99 beside the bare endpoint's, measured in the same
    run."""
    base = figures.get(baseline) or {}
    for figure in figures.values():
        figure["rps_vs_baseline"] = ratio(figure.get("requests_per_s"), base.get("requests_per_s"))
        figure["p50_vs_baseline"] = ratio(figure.get("p50_ms"), base.get("p50_ms"))
        figure["p99_vs_baseline"] = ratio(figure.get("p99_ms"), base.get("p99_ms"))


def number(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def times(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}×" if value < 0.1 else f"{value:.2f}×"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Left-aligned first column, right-aligned numbers."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        first, *rest = cells
        parts = [str(first).ljust(widths[0])] + [
            str(c).rjust(w) for c, w in zip(rest, widths[1:], strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def http_table(runs: list[dict[str, Any]]) -> str:
    headers = [
        "figure",
        "db",
        "scale",
        "req/s",
        "p50 ms",
        "p99 ms",
        "req/s ÷ ping",
        "p50 × ping",
        "p99 × ping",
        "serial ms",
        "non-2xx",
    ]
    rows = []
    for run in runs:
        for key, figure in run.get("http", {}).items():
            if figure.get("skipped"):
                rows.append(
                    [key, run["backend"], number(run["scale"], 0), f"HTTP {figure.get('status')}"]
                    + ["-"] * 7
                )
                continue
            rows.append(
                [
                    key,
                    run["backend"],
                    number(run["scale"], 0),
                    number(figure["requests_per_s"]),
                    number(figure["p50_ms"], 2),
                    number(figure["p99_ms"], 2),
                    times(figure["rps_vs_baseline"]),
                    times(figure["p50_vs_baseline"]),
                    times(figure.get("p99_vs_baseline")),
                    number(figure.get("serial_ms"), 1),
                    number(figure["non_2xx"] + figure["socket_errors"]),
                ]
            )
    return table(headers, rows)


def generation_table(runs: list[dict[str, Any]]) -> str:
    headers = [
        "demo_world",
        "db",
        "rows",
        "seconds",
        "rows/s",
        "plain insert s",
        "× plain",
        "migrate s",
    ]
    rows = []
    for run in runs:
        generation = run["generation"]
        rows.append(
            [
                f"scale {number(run['scale'], 0)}",
                run["backend"],
                number(generation["rows"]),
                number(generation["seconds"]),
                number(generation["rows_per_s"], 0),
                number(run.get("plain_insert_s"), 2),
                times(ratio(generation["seconds"], run.get("plain_insert_s"))),
                number(run.get("migrate_s")),
            ]
        )
    return table(headers, rows)


def grid_table(grid: dict[str, Any]) -> str:
    """Grid lookup: per tiling, the STRtree index point by point and vectorised (when measured)
    beside a brute-force loop over the same polygons, which runs on a sample of the points (its
    rate is per point; the time for the whole sample is extrapolated in the note). ``grid`` is
    ``{"runs": [...]}`` or one run."""
    runs = grid.get("runs") or [grid]
    headers = ["grid lookup", "points", "seconds", "points/s", "µs each", "× brute force"]
    rows, notes = [], []
    for run in runs:
        grids = number(run["grids"])
        rows.append(
            [
                f"GridIndex.locate, {grids} grids",
                number(run["points"]),
                number(run["index_s"], 2),
                number(run["index_lookups_per_s"], 0),
                number(run["index_us"], 2),
                times(run["index_vs_brute"]),
            ]
        )
        if "bulk_s" in run:
            rows.append(
                [
                    f"GridIndex.locate_many, {grids} grids",
                    number(run["points"]),
                    number(run["bulk_s"], 2),
                    number(run["bulk_lookups_per_s"], 0),
                    number(run["bulk_us"], 2),
                    times(run["bulk_vs_brute"]),
                ]
            )
        rows.append(
            [
                f"brute force, {grids} grids (sample)",
                number(run["brute_points"]),
                number(run["brute_s"], 2),
                number(run["brute_lookups_per_s"], 0),
                number(run["brute_us"], 2),
                times(1.0),
            ]
        )
        differ = f"{run['disagreements']} answers differ from the brute force"
        if "bulk_disagreements" in run:
            differ += f", {run['bulk_disagreements']} between locate_many and locate"
        notes.append(
            f"{grids} grids: brute force on the first {number(run['brute_points'])} points, "
            f"for all {number(run['points'])} extrapolated {number(run['brute_scaled_s'], 1)} s; "
            f"index build {number(run['build_s'] * 1000, 1)} ms; "
            f"{run['hit_share']:.1%} of points in a grid; {differ}"
        )
    return table(headers, rows) + "\n" + "\n".join(notes)
