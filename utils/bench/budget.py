"""Training for a fixed budget of CPU time, shared by the benchmarks that compare models."""
import argparse
import math
import time

import torch


def train_for_cpu_seconds(model: torch.nn.Module, train: torch.Tensor, seconds: float, batch_size: int,
                          lr: float, seed: int) -> tuple[int, float]:
    """Adam on nats/dim until `seconds` of CPU time (time.process_time) are used; returns (steps, epochs).

    train: (N, ...) long tensor; every call with the same seed sees the same mini-batches.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    shuffle = torch.Generator().manual_seed(seed)
    num_dims = train[0].numel()
    model.train()
    steps, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        order = torch.randperm(len(train), generator=shuffle)
        for begin in range(0, len(train), batch_size):
            loss = -model.log_prob(train[order[begin:begin + batch_size]]).mean() / num_dims
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
            if time.process_time() - start >= seconds:
                break
    return steps, steps * batch_size / len(train)


def print_results(rows: list[dict], num_dims: int) -> None:
    """One line per model: parameters, steps, epochs, test nats/dim, bits/dim and nats per example."""
    print(f"\n{'model':36s} {'params':>8s} {'steps':>6s} {'epochs':>6s} {'nats/dim':>9s} {'bits/dim':>9s} "
          f"{'nats/image':>10s}")
    for row in rows:
        print(f"{row['model']:36s} {row['params']:8,d} {row['steps']:6d} {row['epochs']:6.2f} "
              f"{row['nats_per_dim']:9.4f} {row['nats_per_dim'] / math.log(2):9.4f} "
              f"{row['nats_per_dim'] * num_dims:10.1f}")


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
