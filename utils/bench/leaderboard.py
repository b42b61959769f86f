"""One leaderboard: every model of the course on the same data, within the same CPU budget per model.

    python -m utils.bench.leaderboard                              # 10 CPU s per model, seeds 0 1: the stored results
    python -m utils.bench.leaderboard --seconds 20 --seeds 0 1 2   # longer, one more seed
    python -m utils.bench.leaderboard --scale gpu --seconds 300    # 28x28 digits, bigger models, on a GPU
    python -m utils.bench.leaderboard --models made pixelcnn --out /tmp/board

Images: binarised MNIST-5k (utils.data "mnist_binary"), at 14x14 on the CPU scale (each pixel the
brightest of a 2x2 block, as lectures 06 and 07 do) and at 28x28 on the GPU scale, and the generated
20x20 binary shapes (utils.data "shapes"). Names: the `names` dataset (12 characters, K = 27) for the
sequence models. Every model is trained by
utils.train.fit on the training split, with the same mini-batches, until its budget of CPU seconds
is spent (utils.bench.budget). fit measures the validation split after every epoch; the weights
kept are those of the best validation measurement: the end of an epoch, or the end of the budget
("end" in the table). The test split is measured once, on the kept weights.

NADE must see the training split more than once for its figure to mean something: the table's
epochs column shows how many passes each model made, and a note says whether NADE reached
NADE_MIN_EPOCHS (if not, raise --seconds). The histogram of whole images (or whole names) needs no
training: it gives probability 0 to every test example missing from the training split (nearly all
of them), so its test NLL is infinite.
The counting bigram (names) is fitted by counting, its add-alpha smoothing chosen on validation.

Sampling: CPU seconds (time.process_time, one thread; wall-clock on a GPU) to draw 16 examples with
utils.sampling.sample, naive (the full forward pass at every position) and cached (the model's
cached step: RNN state, WaveNet queues, KV cache, NADE's running sum, the fast PixelCNN); "-" where
a model has no cached step. The cost of a step does not depend on the weights, so sampling is timed
on the first seed's model only. With several seeds the other figures are means over the seeds, and
nats/dim also gives the lowest-highest.
Writes leaderboard.md, leaderboard.csv and leaderboard.png into --out and prints the table.
"""
import csv
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from ..data import load
from ..metrics import evaluate
from ..models import (FVSBN, MADE, NADE, AutoregressiveRNN, GatedPixelCNN, PixelCNN, PixelSNAIL, Transformer,
                      WaveNet)
from ..pretrained import splits
from ..runtime import get_device, seed_everything
from ..sampling import model_device, sample
from ..train import History, fit
from .budget import budget_arguments, fit_options, print_results, result_row
from .tables import markdown_table

RESULTS = Path(__file__).resolve().parent / "results"
NADE_MIN_EPOCHS = 2      # fewer passes than this over the training split, and NADE's figure is flagged
SAMPLES = 16             # examples drawn when timing sampling

# Sizes by scale: image side, hidden channels of the convolutional models, MADE/NADE hidden units,
# RNN hidden size, transformer width. "gpu" is the full-size digits with larger models.
SIZES = {"cpu": dict(side=14, channels=32, made=256, nade=64, rnn=64, d_model=32, layers=2),
         "gpu": dict(side=28, channels=64, made=1000, nade=250, rnn=128, d_model=64, layers=4)}


@dataclass
class Contestant:
    key: str                 # what --models selects
    name: str                # what the table shows
    kind: str                # "images" (the digits and shapes tasks) or "names"
    build: object = None     # (event shape, K, sizes) -> model; None: counted, not trained
    flat: bool = False       # takes images flattened to (N, H*W) in raster order
    min_epochs: float = 0.0  # fewer passes than this: the table flags its figure as undertrained


def _dilations(length: int) -> tuple:
    """1, 2, 4, ... up to a receptive field that covers `length` positions (kernel 2)."""
    return tuple(2 ** i for i in range(max(1, math.ceil(math.log2(length)))))


CONTESTANTS = [
    Contestant("histogram", "Histogram (whole images)", "images"),
    Contestant("fvsbn", "FVSBN", "images", lambda shape, k, s: FVSBN(math.prod(shape), k), flat=True),
    Contestant("nade", "NADE", "images", lambda shape, k, s: NADE(math.prod(shape), s["nade"], k), flat=True,
               min_epochs=NADE_MIN_EPOCHS),
    Contestant("made", "MADE (1 hidden layer)", "images",
               lambda shape, k, s: MADE(math.prod(shape), [s["made"]], k), flat=True),
    Contestant("rnn", "RNN (GRU, + positions)", "images",
               lambda shape, k, s: AutoregressiveRNN(k, s["rnn"], image_shape=shape[1:])),
    Contestant("wavenet", "WaveNet (+ positions)", "images",
               lambda shape, k, s: WaveNet(k, _dilations(math.prod(shape)), channels=s["channels"],
                                           image_shape=shape[1:])),
    Contestant("pixelcnn", "PixelCNN", "images",
               lambda shape, k, s: PixelCNN(shape, k, s["channels"], num_layers=5)),
    Contestant("gated", "Gated PixelCNN", "images",
               lambda shape, k, s: GatedPixelCNN(shape, k, s["channels"], num_layers=5, kernel_size=3)),
    Contestant("transformer", "Transformer (image)", "images",
               lambda shape, k, s: Transformer(k, image_shape=shape, d_model=s["d_model"], num_heads=4,
                                               num_layers=s["layers"], positions="row_column", fused=True)),
    Contestant("pixelsnail", "PixelSNAIL", "images",
               lambda shape, k, s: PixelSNAIL(shape, k, s["channels"], num_blocks=2, layers_per_block=2,
                                              num_heads=4, fused=True)),
    Contestant("histogram", "Histogram (whole names)", "names"),
    Contestant("bigram", "Bigram (counting)", "names"),
    Contestant("rnn", "RNN (GRU)", "names", lambda shape, k, s: AutoregressiveRNN(k, 2 * s["rnn"], length=shape[0])),
    Contestant("wavenet", "WaveNet", "names",
               lambda shape, k, s: WaveNet(k, _dilations(shape[0]), channels=2 * s["channels"], length=shape[0])),
    Contestant("transformer", "Transformer", "names",
               lambda shape, k, s: Transformer(k, length=shape[0], d_model=2 * s["d_model"], num_heads=4,
                                               num_layers=s["layers"], fused=True)),
]
TASKS = {"digits": "binary MNIST-5k digits", "shapes": "binary shapes, 20x20", "names": "names (12 characters, K = 27)"}
KIND = {"digits": "images", "shapes": "images", "names": "names"}      # which contestants enter a task


class CountingBigram(nn.Module):
    """p(x_t | x_{t-1}) from counts with add-alpha smoothing (x_{-1} = START): the makemore baseline.

    forward: x (N, L) long -> logits (N, L, K); log_prob: x -> (N,) nats. The table of
    log-probabilities is a frozen parameter (counted in the table's parameters, never trained).
    """

    def __init__(self, x: torch.Tensor, num_values: int, alpha: float):
        super().__init__()
        self.num_values, self.event_shape = num_values, tuple(x.shape[1:])
        previous = torch.cat([torch.full_like(x[:, :1], num_values), x[:, :-1]], dim=1)   # START = K
        counts = torch.zeros(num_values + 1, num_values, dtype=torch.float64)
        counts.index_put_((previous.flatten(), x.flatten()), torch.ones(x.numel(), dtype=torch.float64),
                          accumulate=True)
        table = torch.log((counts + alpha) / (counts + alpha).sum(1, keepdim=True)).float()
        self.table = nn.Parameter(table, requires_grad=False)

    def forward(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        previous = torch.cat([torch.full_like(x[:, :1], self.num_values), x[:, :-1]], dim=1)
        return self.table[previous]

    def log_prob(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        return self(x).gather(-1, x[..., None])[..., 0].double().sum(1).float()


def fit_bigram(train: torch.Tensor, valid: torch.Tensor, num_values: int) -> tuple[CountingBigram, History]:
    """The counting bigram whose smoothing (alpha) is best on the validation split."""
    started = time.process_time()
    candidates = [CountingBigram(train, num_values, alpha) for alpha in (0.01, 0.1, 0.5, 1.0, 2.0)]
    valid_losses = [evaluate(model, valid) for model in candidates]
    best = min(range(len(candidates)), key=valid_losses.__getitem__)
    return candidates[best], History(valid_losses=valid_losses, epochs=1.0,
                                     cpu_seconds=time.process_time() - started)


def histogram_nats(train: torch.Tensor, test: torch.Tensor) -> tuple[float, int, int]:
    """(test nats/dim, entries, test examples seen in training) of the histogram of whole examples.

    Maximum likelihood puts probability count/N on each training example and 0 elsewhere: one test
    example missing from the training split makes the test NLL infinite.
    """
    seen = {bytes(row.to(torch.uint8).numpy()) for row in train.flatten(1)}
    hits = sum(bytes(row.to(torch.uint8).numpy()) in seen for row in test.flatten(1))
    if hits == len(test):
        raise NotImplementedError("every test example was seen in training: score it by counting")
    return math.inf, len(seen), hits


def fit_selected(model: nn.Module, train: torch.Tensor, valid: torch.Tensor, options: dict) -> tuple[History, str]:
    """Train with fit on `options`, then keep the weights of the best validation measurement.

    fit measures the validation split after every epoch and where the budget stops it; the weights
    at the end of each epoch are copied (before the next epoch's first step) so that the best can be
    put back. Returns the History and what was kept: "epoch e of E" or "end" (the last weights).
    """
    steps_per_epoch = -(-len(train) // options["batch_size"])
    copies = {}

    def keep_weights(step: int) -> None:
        if step > 0 and step % steps_per_epoch == 0:
            copies[step // steps_per_epoch] = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}

    history = fit(model, train, valid, **options, before_step=keep_weights)
    measured = history.valid_losses[1:]                      # after epoch 1, 2, ..., and at the end
    best = 1 + min(range(len(measured)), key=measured.__getitem__)
    if best == len(history.valid_losses) - 1:
        return history, "end"
    model.load_state_dict(copies[best])
    return history, f"epoch {best} of {history.epochs:.1f}"


def time_sampling(model: nn.Module, seed: int) -> tuple[float, float | None]:
    """Seconds to draw SAMPLES examples naive and cached (None without a cached step): CPU seconds
    (time.process_time) on the CPU, wall-clock on a GPU."""
    device = model_device(model)
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    times = []
    for cached in (False, True):
        if cached and not hasattr(model, "cached_step"):
            times.append(None)
            continue
        started = clock()
        sample(model, SAMPLES, generator=torch.Generator(device=device).manual_seed(seed), cached=cached)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(clock() - started)
    return tuple(times)


def task_data(task: str, side: int) -> dict:
    """train / validation / test tensors of a task: digits at side x side, shapes, or names."""
    if task in ("names", "shapes"):
        data = load(task)
        return {"train": data.train, "validation": data.validation, "test": data.test, "num_values": data.num_values}
    split = splits(dict(data="mnist_binary", halve=side == 14, conditional=False))
    return dict(split, num_values=2)


def run_contestant(contestant: Contestant, task: str, data: dict, sizes: dict, args, seed: int, device,
                   timed: bool = True) -> dict:
    """Train, select on validation, test once and (if timed) time sampling: one row of the table (one seed)."""
    train, valid, test = data["train"], data["validation"], data["test"]
    if contestant.flat:
        train, valid, test = train.flatten(1), valid.flatten(1), test.flatten(1)
    num_dims = test[0].numel()
    budget = args.seconds
    if contestant.key == "histogram":
        nats, entries, seen = histogram_nats(train, test)
        return dict(model=contestant.name, task=task, params=entries, steps=0, epochs=0.0,
                    nats_per_dim=nats, seed=seed, cpu_seconds=0.0, budget=0.0, kept="-", naive_seconds=None,
                    cached_seconds=None, num_dims=num_dims, note=f"{seen} of {len(test)} test examples seen in training")
    seed_everything(seed)
    if contestant.key == "bigram":
        model, history = fit_bigram(train, valid, data["num_values"])
        kept, budget = "alpha on validation", 0.0
    else:
        model = contestant.build(tuple(train.shape[1:]), data["num_values"], sizes).to(device)
        options = dict(fit_options(args, seed), cpu_seconds=budget)
        history, kept = fit_selected(model, train.to(device), valid.to(device), options)
    row = result_row(contestant.name, model, history, evaluate(model, test.to(model_device(model))), seed)
    naive, cached = time_sampling(model, seed) if timed else (None, None)
    note = (f"only {history.epochs:.1f} passes over the training split: give it more --seconds"
            if history.epochs < contestant.min_epochs else
            f"at least {contestant.min_epochs:g} passes over the training split (epochs column): its figure means something"
            if contestant.min_epochs else "")
    return dict(row, task=task, cpu_seconds=history.cpu_seconds, budget=budget, kept=kept,
                naive_seconds=naive, cached_seconds=cached, num_dims=num_dims, note=note)


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def summarise(rows: list[dict]) -> list[dict]:
    """One line per (task, model): means over seeds, and the lowest and highest test nats/dim."""
    groups = {}
    for row in rows:
        groups.setdefault((row["task"], row["model"]), []).append(row)
    summary = []
    for (task, name), runs in groups.items():
        nats = [run["nats_per_dim"] for run in runs]
        kept = sorted({run["kept"] for run in runs})
        summary.append(dict(
            task=task, model=name, params=runs[0]["params"], seeds=len(runs),
            budget=runs[0]["budget"], cpu_seconds=_mean(r["cpu_seconds"] for r in runs),
            steps=_mean(r["steps"] for r in runs), epochs=_mean(r["epochs"] for r in runs),
            kept=kept[0] if len(kept) == 1 else "; ".join(kept),
            nats_per_dim=sum(nats) / len(nats), nats_min=min(nats), nats_max=max(nats),
            bits_per_dim=sum(nats) / len(nats) / math.log(2),
            naive_seconds=_mean(r["naive_seconds"] for r in runs),
            cached_seconds=_mean(r["cached_seconds"] for r in runs),
            note="; ".join(dict.fromkeys(run["note"] for run in runs if run["note"]))))
    return summary


COLUMNS = ["model", "data", "params", "CPU s budget", "train CPU s", "steps", "epochs", "weights kept",
           "nats/dim", "(lowest-highest)", "bits/dim", f"sample {SAMPLES}: naive s", f"sample {SAMPLES}: cached s"]


def table_rows(summary: list[dict], data_names: dict) -> list[list[str]]:
    """The summary as the strings of the Markdown table (COLUMNS)."""
    number = lambda value, digits=2: "-" if value is None else f"{value:.{digits}f}"
    lines = []
    for s in summary:
        nats = "inf" if math.isinf(s["nats_per_dim"]) else f"{s['nats_per_dim']:.4f}"
        bits = "inf" if math.isinf(s["bits_per_dim"]) else f"{s['bits_per_dim']:.4f}"
        spread = f"({s['nats_min']:.4f}-{s['nats_max']:.4f})" if s["seeds"] > 1 and math.isfinite(s["nats_min"]) else ""
        budget = "-" if not s["budget"] else f"{s['budget']:g}"
        lines.append([s["model"], data_names[s["task"]], f"{s['params']:,}", budget, number(s["cpu_seconds"], 1),
                      f"{s['steps']:.0f}", f"{s['epochs']:.1f}", s["kept"], nats, spread, bits,
                      number(s["naive_seconds"]), number(s["cached_seconds"])])
    return lines


def write_results(summary: list[dict], data_names: dict, header: str, out: Path, clock: str = "CPU seconds") -> str:
    """leaderboard.md, leaderboard.csv and leaderboard.png into `out`; returns the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    notes = [f"- {s['model']}, {data_names[s['task']]}: {s['note']}" for s in summary if s["note"]]
    markdown = header + "\n\n" + markdown_table(COLUMNS, table_rows(summary, data_names)) + \
        ("\n" + "\n".join(notes) + "\n" if notes else "")
    (out / "leaderboard.md").write_text(markdown)
    fields = list(summary[0])
    with open(out / "leaderboard.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=["data"] + fields)
        writer.writeheader()
        for s in summary:
            writer.writerow(dict(s, data=data_names[s["task"]]))
    plot_results(summary, data_names, out / "leaderboard.png", clock)
    return markdown


def plot_results(summary: list[dict], data_names: dict, path: Path, clock: str = "CPU seconds") -> None:
    """Test bits/dim against the time to sample (cached where the model can, else naive), per task."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter
    tasks = [task for task in TASKS if any(s["task"] == task for s in summary)]
    fig, axes = plt.subplots(1, len(tasks), figsize=(6.2 * len(tasks), 4.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for s in summary:
            if s["task"] != task or not math.isfinite(s["bits_per_dim"]):
                continue
            seconds = s["cached_seconds"] or s["naive_seconds"]
            low, high = s["nats_min"] / math.log(2), s["nats_max"] / math.log(2)
            marker = "o" if s["cached_seconds"] else "s"
            ax.errorbar(seconds, s["bits_per_dim"], yerr=[[s["bits_per_dim"] - low], [high - s["bits_per_dim"]]],
                        fmt=marker, capsize=3)
            ax.annotate(s["model"], (seconds, s["bits_per_dim"]), fontsize=8, xytext=(4, 3),
                        textcoords="offset points")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(f"{clock} to sample {SAMPLES} (o: cached step, s: naive)")
        ax.set_ylabel("test bits/dim (lower is better)")
        ax.set_title(data_names[task], fontsize=10)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None) -> list[dict]:
    parser = budget_arguments(__doc__.splitlines()[0], batch_size=32)
    parser.add_argument("--scale", choices=sorted(SIZES), default="cpu",
                        help="cpu: 14x14 digits, small models, on the CPU; gpu: 28x28 digits, larger models, on CUDA "
                             "where available (COURSE_DEVICE overrides)")
    parser.add_argument("--models", nargs="+", choices=sorted({c.key for c in CONTESTANTS}),
                        help="only these contestants (default: all)")
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for leaderboard.md / .csv / .png")
    parser.set_defaults(seconds=10, seeds=[0, 1])      # what utils/bench/results/ holds (about 25 min on a busy 2-core CPU)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = SIZES[args.scale]
    device = get_device() if args.scale == "gpu" else torch.device("cpu")   # gpu: CUDA where there is one
    side = sizes["side"]
    data_names = {"digits": f"binary MNIST-5k {side}x{side}", "shapes": "binary shapes 20x20", "names": "names (12 chars, K=27)"}
    contestants = [c for c in CONTESTANTS if args.models is None or c.key in args.models]
    header = (f"Test NLL after {args.seconds:g} CPU seconds of training per model (utils.train.fit, Adam lr "
              f"{args.lr:g}, batch {args.batch_size}, {args.threads} thread(s), {device.type}), weights kept on "
              f"validation, seeds {' '.join(map(str, args.seeds))}: mean (lowest-highest). Sampling: "
              f"{'wall-clock' if device.type == 'cuda' else 'CPU'} seconds for {SAMPLES} examples (first seed's model).\n`python -m utils.bench.leaderboard --scale {args.scale} "
              f"--seconds {args.seconds:g} --seeds {' '.join(map(str, args.seeds))}`")
    print(header, flush=True)
    rows = []
    for task in args.tasks:
        data = task_data(task, side)
        for seed in args.seeds:
            for contestant in (c for c in contestants if c.kind == KIND[task]):
                rows.append(run_contestant(contestant, task, data, sizes, args, seed, device, timed=seed == args.seeds[0]))
                print(f"  {task} seed {seed}: {contestant.name} done", flush=True)
        trained = [row for row in rows if row["task"] == task and row["steps"] > 0]
        if trained:
            print_results(trained, trained[0]["num_dims"])
    clock = "wall-clock seconds" if device.type == "cuda" else "CPU seconds"
    markdown = write_results(summarise(rows), data_names, header, args.out, clock)
    print("\n" + markdown + f"\nwritten to {args.out}/leaderboard.md, .csv and .png")
    return rows


if __name__ == "__main__":
    main()
