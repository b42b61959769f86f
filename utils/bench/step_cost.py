"""The CPU cost of one training step of our models next to a minimal hand-written equivalent.

    python -m utils.bench.step_cost                          # MADE, PixelCNN and WaveNet, 1 thread
    python -m utils.bench.step_cost --models made --rounds 5 --steps 20

One step = forward, loss (nats/dim), backward, Adam step. Each pair sees the same mini-batches of
binarised MNIST-5k (long tensors, as a training loop hands them over) and starts from the same
weights: the hand-written model copies ours, and the script checks that both give the same loss on
the first batch, i.e. that they compute the same function. The hand-written models are the plain
way to write each architecture (masks applied as F.linear(x, mask * weight, bias) or
F.conv2d(x, mask * weight, ...), a BCE-with-logits or cross-entropy loss on the raw batch, no input
checks). The two take turns, step by step, in rounds of about half a CPU second each (CPU time,
time.process_time, one torch thread); the table gives the median ms/step of each, the median of
the per-round ratios ours / hand-written (the course's target: at most 1.15) and their quartiles,
which show how much the load of a shared machine moves the figure.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from ..data import load
from ..models.made import MADE
from ..models.pixelcnn import PixelCNN
from ..models.wavenet import WaveNet

TARGET = 1.15


# ----------------------------------------------------------------------------------------------
# the hand-written models: the same architectures, written plainly


class PlainMADE(nn.Module):
    """Masked linear layers with ReLUs in between, one logit per position (binary data)."""

    def __init__(self, sizes: list[int], masks: list[torch.Tensor]):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.masks = masks                      # (out, in) 0/1 per layer: ours, so that both compute the same

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        h = x = x.float()
        for i, layer in enumerate(self.layers):
            if i > 0:
                h = F.relu(h)
            h = F.linear(h, self.masks[i] * layer.weight, layer.bias)
        return F.binary_cross_entropy_with_logits(h, x, reduction="sum") / x.numel()


def causal_mask(size: int, see_centre: bool) -> torch.Tensor:
    """(size, size) 0/1: the rows above and the pixels to the left (and the centre itself for type B)."""
    mask = torch.ones(size, size)
    mask[size // 2, size // 2 + see_centre:] = 0
    mask[size // 2 + 1:] = 0
    return mask


class PlainPixelCNN(nn.Module):
    """A 7x7 type-A masked convolution, residual blocks (3x3 type B, then 1x1), a 1x1 head; one channel."""

    def __init__(self, channels: int, blocks: int, num_values: int):
        super().__init__()
        self.first = nn.Conv2d(1, channels, 7, padding=3)
        self.blocks = nn.ModuleList(nn.ModuleList([nn.Conv2d(channels, channels, 3, padding=1),
                                                   nn.Conv2d(channels, channels, 1)]) for _ in range(blocks))
        self.hidden = nn.Conv2d(channels, channels, 1)
        self.out = nn.Conv2d(channels, num_values, 1)
        self.mask_a, self.mask_b = causal_mask(7, False), causal_mask(3, True)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        h = F.conv2d(2 * x.float() - 1, self.mask_a * self.first.weight, self.first.bias, padding=3)
        for conv, mix in self.blocks:
            h = h + mix(F.relu(F.conv2d(F.relu(h), self.mask_b * conv.weight, conv.bias, padding=1)))
        logits = self.out(F.relu(self.hidden(F.relu(h))))    # (N, K, H, W)
        return F.cross_entropy(logits, x[:, 0], reduction="sum") / x.numel()


class PlainWaveNet(nn.Module):
    """Embedding of the shifted sequence, gated blocks of dilated causal convolutions, a 1x1 head."""

    def __init__(self, num_values: int, dilations, channels: int):
        super().__init__()
        self.embedding = nn.Embedding(num_values + 1, channels)             # value K is START
        self.blocks = nn.ModuleList(nn.ModuleList([nn.Conv1d(channels, 2 * channels, 2, dilation=d),
                                                   nn.Conv1d(channels, channels, 1),
                                                   nn.Conv1d(channels, channels, 1)]) for d in dilations)
        self.hidden = nn.Conv1d(channels, channels, 1)
        self.out = nn.Conv1d(channels, num_values, 1)
        self.start = num_values

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        previous = torch.cat([torch.full_like(x[:, :1], self.start), x[:, :-1]], dim=1)
        h = self.embedding(previous).transpose(1, 2)                       # (N, C, D)
        skips = 0
        for conv, residual, skip in self.blocks:
            a, b = conv(F.pad(h, (conv.dilation[0], 0))).chunk(2, dim=1)
            z = torch.tanh(a) * torch.sigmoid(b)
            h, skips = h + residual(z), skips + skip(z)
        logits = self.out(F.relu(self.hidden(F.relu(skips))))              # (N, K, D)
        return F.cross_entropy(logits, x, reduction="sum") / x.numel()


# ----------------------------------------------------------------------------------------------
# the pairs


def made_pair(data, hidden: int = 500):
    ours = MADE(784, [hidden], 2)
    plain = PlainMADE([784, hidden, 784], [mask.clone() for mask in ours.masks()])
    return ours, plain, data.train.flatten(1), 100, 50


def pixelcnn_pair(data, channels: int = 30, layers: int = 5):
    ours = PixelCNN((1, 28, 28), 2, channels, num_layers=layers)
    return ours, PlainPixelCNN(channels, layers - 1, 2), data.train, 32, 5


def wavenet_pair(data, channels: int = 32, dilations=(1, 2, 4, 8, 16, 32)):
    ours = WaveNet(2, dilations, channels=channels)
    return ours, PlainWaveNet(2, dilations, channels), data.train.flatten(1), 32, 4


# name: (what the table calls it, a function data -> (ours, plain, train split, batch size, steps per round))
PAIRS = {"made": ("MADE [500], batch 100", made_pair),
         "pixelcnn": ("PixelCNN 5 layers, 30 ch, batch 32", pixelcnn_pair),
         "wavenet": ("WaveNet 6 blocks, 32 ch, batch 32", wavenet_pair)}


def copy_weights(plain: nn.Module, ours: nn.Module) -> None:
    """Give `plain` our weights: both list the same parameter shapes in the same order."""
    mine, theirs = list(plain.parameters()), list(ours.parameters())
    if [p.shape for p in mine] != [q.shape for q in theirs]:
        raise RuntimeError("the hand-written model does not have our model's parameters")
    with torch.no_grad():
        for p, q in zip(mine, theirs):
            p.copy_(q)


def our_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What utils.train.fit minimises: nats/dim."""
    return -model.log_prob(x).mean() / x[0].numel()


def train_step(loss_fn, optimizer, x: torch.Tensor) -> float:
    """One Adam step on batch x; return the CPU seconds it took."""
    start = time.process_time()
    loss = loss_fn(x)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return time.process_time() - start


def measure(ours: nn.Module, plain: nn.Module, train: torch.Tensor, batch_size: int, steps: int, rounds: int,
            seed: int) -> dict:
    """ms/step of each (medians over rounds) and the ratio ours / plain (median and quartiles over rounds).

    In every round the two take turns step by step on the same batches (who goes first alternates),
    so that both see the same load on a shared machine.
    """
    copy_weights(plain, ours)
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    batches = [train[order[i:i + batch_size]] for i in range(0, len(train) - batch_size + 1, batch_size)]
    with torch.no_grad():
        gap = abs(float(our_loss(ours, batches[0])) - float(plain.loss(batches[0])))
    if gap > 1e-5:
        raise RuntimeError(f"the two models disagree on the first batch by {gap:.2g} nats/dim")
    runs = {"ours": (lambda x: our_loss(ours, x), torch.optim.Adam(ours.parameters(), lr=1e-3)),
            "plain": (plain.loss, torch.optim.Adam(plain.parameters(), lr=1e-3))}
    for x in batches[:2]:                                    # warm-up: allocator, Adam state
        for loss_fn, optimizer in runs.values():
            train_step(loss_fn, optimizer, x)
    times = {"ours": [], "plain": []}
    for r in range(rounds):
        spent = {"ours": 0.0, "plain": 0.0}
        for i in range(steps):
            x = batches[(r * steps + i) % len(batches)]
            for name in (("ours", "plain") if i % 2 == 0 else ("plain", "ours")):
                spent[name] += train_step(*runs[name], x)
        for name in times:
            times[name].append(spent[name] / steps)
    ratios = [o / p for o, p in zip(times["ours"], times["plain"])]
    low, _, high = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return {"ours_ms": 1e3 * statistics.median(times["ours"]), "plain_ms": 1e3 * statistics.median(times["plain"]),
            "ratio": statistics.median(ratios), "ratio_low": low, "ratio_high": high, "gap": gap}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list(PAIRS), default=list(PAIRS))
    parser.add_argument("--steps", type=int, default=None,
                        help="steps of each model per round (default: about half a CPU second of each)")
    parser.add_argument("--rounds", type=int, default=11, help="rounds per model, alternating which goes first")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 keeps CPU-time measurements comparable on a busy machine")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    data = load("mnist_binary")
    print(f"{data.name}: train {tuple(data.train.shape)}, K={data.num_values}; {args.rounds} rounds per model, "
          f"{torch.get_num_threads()} thread(s), CPU time per training step (forward, loss, backward, Adam)")
    print(f"\n{'model':36s} {'steps':>5s} {'ours ms':>9s} {'plain ms':>9s} {'ratio':>6s} {'quartiles':>13s}"
          f"  (target <= {TARGET})")
    rows = []
    for key in args.models:
        name, build = PAIRS[key]
        torch.manual_seed(args.seed)
        ours, plain, train, batch_size, steps = build(data)
        steps = args.steps or steps
        row = dict(model=name, steps=steps, **measure(ours, plain, train, batch_size, steps, args.rounds, args.seed))
        flag = "" if row["ratio"] <= TARGET else "  ABOVE TARGET"
        print(f"{name:36s} {steps:5d} {row['ours_ms']:9.2f} {row['plain_ms']:9.2f} {row['ratio']:6.3f} "
              f"{row['ratio_low']:6.3f}-{row['ratio_high']:<6.3f}{flag}", flush=True)
        rows.append(row)
    return rows


if __name__ == "__main__":
    main()
