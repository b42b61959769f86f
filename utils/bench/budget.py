"""What the CPU-budget benchmarks share: their command line and their table.

Training is utils.train.fit(..., epochs=None, cpu_seconds=...) (every model sees the same shuffled
mini-batches and stops at the first step after its budget of CPU time), scoring
utils.metrics.evaluate on the test split (not counted in the budget).
"""
import argparse
import math

import torch


def budget_arguments(description: str, batch_size: int) -> argparse.ArgumentParser:
    """A parser with the options every CPU-budget benchmark shares; add the benchmark's own after."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seconds", type=float, default=60, help="CPU seconds of training per model")
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="train every model once per seed (initial weights and mini-batches); with several, "
                             "the table shows the mean and the lowest-highest test nats/dim")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 keeps CPU-time budgets comparable on a busy machine")
    return parser


def fit_options(args: argparse.Namespace, seed: int) -> dict:
    """The keyword arguments of utils.train.fit for the budget on the command line and one seed."""
    return dict(epochs=None, cpu_seconds=args.seconds, batch_size=args.batch_size, lr=args.lr, seed=seed,
                progress=False)


def result_row(name: str, model: torch.nn.Module, history, nats_per_dim: float, seed: int) -> dict:
    """One run of the table: a model, its parameter count, its training History, its test nats/dim, the seed."""
    return dict(model=name, params=sum(p.numel() for p in model.parameters()), steps=history.steps,
                epochs=history.epochs, nats_per_dim=nats_per_dim, seed=seed)


def print_results(rows: list[dict], num_dims: int) -> None:
    """One line per model: parameters, steps, epochs, test nats/dim, bits/dim and nats per example.

    With several seeds (several rows per model) every figure is the mean over the seeds, and the
    lowest-highest test nats/dim is shown beside it: a difference between two models means
    something only where their ranges do not overlap.
    """
    runs = {}
    for row in rows:
        runs.setdefault(row["model"], []).append(row)
    width = max(len("model"), *(len(name) for name in runs))
    print(f"\n{'model':{width}s} {'params':>9s} {'steps':>6s} {'epochs':>6s} {'nats/dim':>9s} {'(lowest-highest)':>17s} "
          f"{'bits/dim':>9s} {'nats/image':>10s}   seeds")
    for name, model_runs in runs.items():
        nats = [run["nats_per_dim"] for run in model_runs]
        mean = sum(nats) / len(nats)
        spread = f"({min(nats):.4f}-{max(nats):.4f})" if len(nats) > 1 else ""
        print(f"{name:{width}s} {model_runs[0]['params']:9,d} {sum(r['steps'] for r in model_runs) / len(nats):6.0f} "
              f"{sum(r['epochs'] for r in model_runs) / len(nats):6.2f} {mean:9.4f} {spread:>17s} "
              f"{mean / math.log(2):9.4f} {mean * num_dims:10.1f}   {len(nats)}")
