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
