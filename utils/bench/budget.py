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
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 keeps CPU-time budgets comparable on a busy machine")
    return parser


def fit_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of utils.train.fit for the budget on the command line."""
    return dict(epochs=None, cpu_seconds=args.seconds, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                progress=False)


def result_row(name: str, model: torch.nn.Module, history, nats_per_dim: float) -> dict:
    """One line of the table: a model, its parameter count, its training History and its test nats/dim."""
    return dict(model=name, params=sum(p.numel() for p in model.parameters()), steps=history.steps,
                epochs=history.epochs, nats_per_dim=nats_per_dim)


def print_results(rows: list[dict], num_dims: int) -> None:
    """One line per model: parameters, steps, epochs, test nats/dim, bits/dim and nats per example."""
    width = max(len("model"), *(len(row["model"]) for row in rows))
    print(f"\n{'model':{width}s} {'params':>9s} {'steps':>6s} {'epochs':>6s} {'nats/dim':>9s} {'bits/dim':>9s} "
          f"{'nats/image':>10s}")
    for row in rows:
        print(f"{row['model']:{width}s} {row['params']:9,d} {row['steps']:6d} {row['epochs']:6.2f} "
              f"{row['nats_per_dim']:9.4f} {row['nats_per_dim'] / math.log(2):9.4f} "
              f"{row['nats_per_dim'] * num_dims:10.1f}")
