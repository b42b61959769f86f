"""The benchmarks run and print a row for every contestant or size (tiny budgets and sizes: speed is not tested here)."""
import math

import pytest

from utils.bench import fast_pixelcnn, made, pixelcnn, positions


@pytest.mark.parametrize("bench, contestants", [
    (pixelcnn, ["PixelCNN", "Gated PixelCNN", "Transformer"]),
    (positions, ["GRU 64, no positions", "GRU 64, with positions", "WaveNet R=64, no positions",
                 "WaveNet R=64, with positions"]),
    (made, ["FVSBN", "MADE", "NADE"]),
])
def test_a_budget_benchmark_trains_every_contestant_on_the_same_data(bench, contestants, capsys):
    rows = bench.main(["--seconds", "0.2", "--dataset", "digits"])
    printed = capsys.readouterr().out
    for contestant in contestants:
        assert any(row["model"].startswith(contestant) for row in rows), f"{contestant} missing from {rows}"
    for row in rows:
        assert row["steps"] >= 1 and math.isfinite(row["nats_per_dim"]) and 0 < row["nats_per_dim"] < 1.5, row
        assert row["model"] in printed, "every row is printed in the table"


def test_several_seeds_give_one_line_per_model_with_its_range(capsys):
    rows = pixelcnn.main(["--seconds", "0.2", "--dataset", "digits", "--seeds", "0", "1"])
    assert sorted(row["seed"] for row in rows) == [0, 0, 0, 1, 1, 1]
    printed = capsys.readouterr().out
    for name in {row["model"] for row in rows}:
        nats = [row["nats_per_dim"] for row in rows if row["model"] == name]
        line = next(line for line in printed.splitlines() if line.startswith(name))
        assert f"{sum(nats) / 2:.4f}" in line and f"({min(nats):.4f}-{max(nats):.4f})" in line, line


def test_the_fast_pixelcnn_benchmark_times_both_ways_and_checks_the_samples_are_identical(capsys):
    rows = fast_pixelcnn.main(["--sizes", "3", "5", "--samples", "2", "--hidden", "8", "--layers", "2"])
    printed = capsys.readouterr().out
    assert [row["size"] for row in rows] == [3, 5] and [row["steps"] for row in rows] == [9, 25]
    for row in rows:
        assert row["identical"], row
        assert row["naive_ms_per_image"] > 0 and row["cached_ms_per_image"] > 0 and row["speedup"] > 0, row
        assert f"{row['size']}x{row['size']}" in printed and f"{row['speedup']:.1f}x" in printed


def test_the_leaderboard_writes_its_table_csv_and_plot_with_every_column(tmp_path, capsys):
    from utils.bench import leaderboard
    rows = leaderboard.main(["--seconds", "0.3", "--seeds", "0", "--models", "histogram", "nade", "bigram",
                             "--out", str(tmp_path)])
    assert {row["model"] for row in rows} == {"Histogram (whole images)", "NADE", "Histogram (whole names)",
                                              "Bigram (counting)"}
    assert [row["task"] for row in rows if row["model"] == "NADE"] == ["digits", "shapes"]    # every image task
    table = (tmp_path / "leaderboard.md").read_text()
    assert table in capsys.readouterr().out, "the table is printed"
    header = next(line for line in table.splitlines() if line.startswith("| model"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == leaderboard.COLUMNS
    for row in rows:
        if row["model"].startswith("Histogram"):
            assert math.isinf(row["nats_per_dim"]), "a histogram of whole examples misses the unseen test examples"
            continue
        assert math.isfinite(row["nats_per_dim"]) and 0 < row["nats_per_dim"] < 3.3, row
        assert row["naive_seconds"] > 0 and row["params"] > 0, row
    nade = next(row for row in rows if row["model"] == "NADE")
    assert nade["steps"] >= 1 and nade["cached_seconds"] > 0 and nade["kept"] == "end"
    assert "give it more --seconds" in table, "a NADE trained for less than two epochs is flagged"
    import csv
    with open(tmp_path / "leaderboard.csv") as file:
        assert len(list(csv.DictReader(file))) == len(rows)
    assert (tmp_path / "leaderboard.png").stat().st_size > 1000


def test_the_published_table_has_units_sources_and_the_right_names():
    import re
    from utils.bench import published
    rows = published.rows()
    assert {row["dataset"] for row in rows} == set(published.UNITS)
    for row in rows:
        assert row["metric"].endswith(published.UNITS[row["dataset"]]), row
        assert re.search(r"\b(19|20)\d\d\b", row["source"]), f"no year in the source of {row}"
        low, high = (70, 100) if row["dataset"] == "binarised MNIST" else (2.5, 4.5)
        assert low < row["value"] < high, row
        if row["dataset"] == "binarised MNIST":
            assert row["notes"].startswith(("static", "dynamic")), "say how MNIST was binarised"
    cifar = {row["value"]: row["model"] for row in published.rows("CIFAR-10")}
    assert cifar[3.03] == "Gated PixelCNN" and cifar[3.14] == "PixelCNN"
    table = published.markdown("CIFAR-10")
    assert table.count("\n") == len(cifar) + 2 and "Sparse Transformer" in table
    assert any("3.03" in caveat and "Gated PixelCNN" in caveat for caveat in published.CAVEATS)


def test_the_mini_project_brief_is_a_valid_markdown_only_notebook():
    from pathlib import Path
    import nbformat
    path = Path(__file__).resolve().parent.parent / "projects" / "mini_project.ipynb"
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.cells and all(cell.cell_type == "markdown" for cell in notebook.cells), "a brief, not code to run"
    text = "\n".join(cell.source for cell in notebook.cells)
    for part in ("## The brief", "## What to hand in", "## Rubric", "leaderboard"):
        assert part in text, f"the brief has no {part!r}"
