"""The pretrained checkpoints ship with the course, load offline, and still score what their cards say."""
import json

import pytest
import torch

from utils import pretrained
from utils.metrics import evaluate


@pytest.mark.parametrize("name", pretrained.names())
def test_each_checkpoint_loads_and_reaches_its_recorded_test_nll(name):
    card = pretrained.card(name)
    model = pretrained.load(name)
    assert not model.training
    test = evaluate(model, pretrained.splits(card["recipe"])["test"])
    recorded = card["test_nats_per_dim"]
    assert abs(test - recorded) <= 0.01 * recorded, f"{name}: test {test:.5f} nats/dim, its card says {recorded}"
    assert card["validation_nats_per_dim"] > 0 and 1 <= card["epoch_kept"] <= card["recipe"]["training"]["max_epochs"]


def test_the_checkpoints_stay_small():
    total = sum(path.stat().st_size for path in pretrained.CHECKPOINTS.iterdir())
    assert total <= 20 * 2 ** 20, f"utils/checkpoints holds {total / 2 ** 20:.1f} MB (budget 20 MB)"
    assert sorted(p.name for p in pretrained.CHECKPOINTS.iterdir()) == sorted(
        f"{name}{suffix}" for name in pretrained.names() for suffix in (".json", ".pt"))


def test_unknown_names_get_a_clear_error():
    with pytest.raises(ValueError, match="unknown pretrained model 'made'; choose one of: made_mnist"):
        pretrained.load("made")


def test_training_keeps_the_epoch_best_on_validation(tmp_path, monkeypatch):
    recipe = dict(model="MADE", arguments=dict(num_inputs=64, hidden_sizes=[32], ordering="random", seed=0),
                  data="digits", flatten=True, conditional=False, training=dict(max_epochs=4, batch_size=100, lr=1e-2))
    monkeypatch.setattr(pretrained, "RECIPES", {"tiny": recipe})
    monkeypatch.setattr(pretrained, "CHECKPOINTS", tmp_path)
    printed = []
    monkeypatch.setattr("builtins.print", lambda *args, **kwargs: printed.append(" ".join(map(str, args))))
    card = pretrained.train("tiny")
    validations = [float(line.split("validation ")[1].split()[0]) for line in printed if ": epoch " in line]
    assert len(validations) == 4 and card["epoch_kept"] == 1 + validations.index(min(validations))
    assert json.loads((tmp_path / "tiny.json").read_text())["test_nats_per_dim"] == card["test_nats_per_dim"]
    model = pretrained.load("tiny")
    torch.testing.assert_close(evaluate(model, pretrained.splits(recipe)["test"]), card["test_nats_per_dim"],
                               atol=1e-5, rtol=0)
