"""Small pretrained models, so that a lecture can show samples a learner recognises at once.

    model = utils.pretrained.load("made_mnist")      # offline: the weights ship with the course
    card = utils.pretrained.card("made_mnist")       # how it was trained, and its figures

    python -m utils.pretrained train                 # retrain every checkpoint (CPU; see each card's time)
    python -m utils.pretrained train made_mnist      # one of them

Every recipe trains on its dataset's training split and keeps the epoch with the lowest NLL on the
validation split (utils.data); the test split is measured once, at the end.
A checkpoint is two files in utils/checkpoints/: the weights (<name>.pt, a state_dict) and its card
(<name>.json: the recipe, the epoch kept, CPU seconds, validation and test nats/dim, torch version).
The cards' test figures are checked by the test suite (tests/test_pretrained.py).
"""
import argparse
import copy
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .data import load as load_dataset
from .metrics import evaluate
from .models import MADE, PixelCNN
from .runtime import seed_everything
from .train import fit

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"

# name -> what to build, on which data, and how to train it. Each model is built by its `build`
# entry from these keyword arguments, so the card alone says how to rebuild it.
RECIPES = {
    "made_mnist": dict(
        model="MADE", arguments=dict(num_inputs=784, hidden_sizes=[500], ordering="random", seed=0),
        data="mnist_binary", flatten=True, conditional=False,
        training=dict(max_epochs=40, batch_size=100, lr=2e-3)),
    "pixelcnn_mnist_conditional": dict(   # at 14 x 14, as lecture 06 on a CPU: sampling 784 pixels would be slow
        model="PixelCNN", arguments=dict(image_shape=[1, 14, 14], num_values=2, hidden_channels=64, num_layers=7,
                                         first_kernel_size=7, kernel_size=3, num_classes=10),
        data="mnist_binary", halve=True, conditional=True,
        training=dict(max_epochs=20, batch_size=32, lr=2e-3)),
}


def build(recipe: dict) -> torch.nn.Module:
    """A fresh model of the recipe (its weights random)."""
    arguments = dict(recipe["arguments"])
    if recipe["model"] == "MADE":
        return MADE(arguments.pop("num_inputs"), arguments.pop("hidden_sizes"), **arguments)
    if recipe["model"] == "PixelCNN":
        return PixelCNN(tuple(arguments.pop("image_shape")), arguments.pop("num_values"), **arguments)
    raise ValueError(f"unknown model {recipe['model']!r}")


def splits(recipe: dict) -> dict:
    """train / validation / test as fit and evaluate take them: tensors, or (tensor, labels) if conditional."""
    data = load_dataset(recipe["data"])
    split = {"train": data.train, "validation": data.validation, "test": data.test}
    if recipe.get("halve"):        # (N, C, H, W) -> (N, C, H/2, W/2): the brightest pixel of each 2 x 2 block
        split = {name: F.max_pool2d(x.float(), 2).long() for name, x in split.items()}
    if recipe.get("flatten"):
        split = {name: x.flatten(1) for name, x in split.items()}
    if recipe["conditional"]:
        labels = {"train": data.train_labels, "validation": data.validation_labels, "test": data.test_labels}
        return {name: (x, labels[name]) for name, x in split.items()}
    return split


def names() -> list[str]:
    return list(RECIPES)


def _check_name(name: str) -> None:
    if name not in RECIPES:
        raise ValueError(f"unknown pretrained model {name!r}; choose one of: {', '.join(RECIPES)}")


def card(name: str) -> dict:
    """The card of checkpoint `name`: its recipe and the figures measured when it was trained."""
    _check_name(name)
    path = CHECKPOINTS / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint {name!r} in {CHECKPOINTS}: run `python -m utils.pretrained train {name}`")
    return json.loads(path.read_text())


def load(name: str, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The pretrained model `name`, in eval mode on `device` (no download: the weights ship with the course)."""
    model = build(card(name)["recipe"])
    state = torch.load(CHECKPOINTS / f"{name}.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.to(device).eval()


def train(name: str) -> dict:
    """Train checkpoint `name` by its recipe, keep the epoch best on validation, save weights and card."""
    _check_name(name)
    recipe = RECIPES[name]
    data = splits(recipe)
    settings = recipe["training"]
    torch.set_num_threads(1)
    seed_everything(0)
    model = build(recipe)
    num_train = len(data["train"][0] if recipe["conditional"] else data["train"])
    steps_per_epoch = -(-num_train // settings["batch_size"])
    best = dict(validation=float("inf"), epoch=0, state=None)

    def keep_if_best(epoch: int) -> None:
        validation = evaluate(model, data["validation"])
        print(f"{name}: epoch {epoch}, validation {validation:.4f} nats/dim", flush=True)
        if validation < best["validation"]:
            best.update(validation=validation, epoch=epoch, state=copy.deepcopy(model.state_dict()))

    def before_step(step: int) -> None:          # at the start of each epoch: judge the one that ended
        if step > 0 and step % steps_per_epoch == 0:
            keep_if_best(step // steps_per_epoch)

    started = time.process_time()
    fit(model, data["train"], None, epochs=settings["max_epochs"], batch_size=settings["batch_size"],
        lr=settings["lr"], progress=False, before_step=before_step)
    keep_if_best(settings["max_epochs"])
    seconds = time.process_time() - started
    model.load_state_dict(best["state"])
    test = evaluate(model, data["test"])                      # measured once, for the chosen epoch
    CHECKPOINTS.mkdir(exist_ok=True)
    torch.save({key: value.contiguous() for key, value in best["state"].items()}, CHECKPOINTS / f"{name}.pt")
    result = dict(recipe=recipe, epoch_kept=best["epoch"], validation_nats_per_dim=round(best["validation"], 5),
                  test_nats_per_dim=round(test, 5), cpu_seconds=round(seconds), torch=torch.__version__,
                  note="trained on the first 3500 training images; epoch chosen on the other 500; test measured once")
    (CHECKPOINTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{name}: kept epoch {best['epoch']}, validation {best['validation']:.4f}, test {test:.4f} nats/dim, "
          f"{seconds:.0f} CPU s", flush=True)
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m utils.pretrained", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    retrain = commands.add_parser("train", help="retrain checkpoints (all by default)")
    retrain.add_argument("names", nargs="*", help=f"any of: {', '.join(RECIPES)}")
    args = parser.parse_args(argv)
    for name in args.names or names():
        train(name)


if __name__ == "__main__":
    main()
