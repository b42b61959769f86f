"""The CPU-budget benchmarks run and print a row for every contestant (tiny budgets: speed is not tested here)."""
import math

import pytest

from utils.bench import made, pixelcnn, positions


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
