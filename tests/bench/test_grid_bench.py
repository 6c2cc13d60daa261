"""The grid-lookup bench on a tiny tiling: its figures, its options and its table. The full run
(a million points) is never run from the tests."""

from __future__ import annotations

import pytest

from bench import cases, report, runner


def test_cell_counts():
    assert cases.cell_counts("1000,10000") == [1000, 10000]
    assert cases.cell_counts(" 50 ") == [50]
    assert cases.cell_counts(300) == [300]
    for bad in ("", "0", "10,-1", "ten"):
        with pytest.raises(ValueError):
            cases.cell_counts(bad)


def test_a_small_run_measures_all_three_methods_with_the_same_answers():
    run = cases.grid_lookup(points=3000, cells=60, brute_points=400, seed=7)
    assert run["grids"] == 60 and run["points"] == 3000 and run["brute_points"] == 400
    assert run["disagreements"] == 0 and run["bulk_disagreements"] == 0
    assert 0.85 < run["hit_share"] < 0.99  # the box is widened by 2 % on each side
    for key in ("index_lookups_per_s", "bulk_lookups_per_s", "brute_lookups_per_s"):
        assert run[key] > 0
    assert run["bulk_vs_brute"] == pytest.approx(
        run["bulk_lookups_per_s"] / run["brute_lookups_per_s"]
    )
    assert run["brute_scaled_s"] == pytest.approx(run["brute_s"] * 3000 / 400)


def test_the_table_shows_every_grid_count_and_the_sample():
    runs = [
        cases.grid_lookup(points=500, cells=cells, brute_points=100, seed=1) for cells in (20, 40)
    ]
    text = report.grid_table({"runs": runs})
    assert "GridIndex.locate, 20 grids" in text and "GridIndex.locate_many, 40 grids" in text
    assert "brute force, 40 grids (sample)" in text
    assert "brute force on the first 100 points, for all 500 extrapolated" in text
    assert "0 between locate_many and locate" in text
    # An older result (one run, no locate_many) still prints.
    old = {k: v for k, v in runs[0].items() if not k.startswith("bulk")}
    assert "locate_many" not in report.grid_table(old)


def test_default_and_quick_options():
    options = runner.parse_args([])
    assert (options.grid_points, options.grid_cells, options.grid_brute) == (
        1_000_000,
        "1000,10000",
        10_000,
    )
    quick = runner.parse_args(["--quick"])
    assert (quick.grid_points, quick.grid_cells, quick.grid_brute) == (100_000, "1000", 2_000)
