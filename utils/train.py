"""A small fit loop shared by lectures, homework and the CPU-budget benchmarks (utils.bench)."""
import time
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from .metrics import evaluate
from .runtime import get_device
from .validation import check_positive_int


@dataclass
class History:
    """Losses in nats/dim: one per training step, and one per epoch on the validation split.

    valid_losses[0] is measured before any training, then one after every epoch, so
    len(valid_losses) == epochs + 1; a CPU budget that stops training inside an epoch measures the
    model as it stopped too (len(valid_losses) == 1 + epochs begun). No validation split, no
    validation losses. (The test split is not fit's business: measure it once, at the end, with
    utils.metrics.evaluate.)
    steps: training steps taken; epochs: passes over the training split, a fraction when a budget
    stopped training inside one; cpu_seconds: CPU time (time.process_time) spent in training steps.
    """
    train_losses: list = field(default_factory=list)
    valid_losses: list = field(default_factory=list)
    steps: int = 0
    epochs: float = 0.0
    cpu_seconds: float = 0.0


def _as_tuple(data, name: str) -> tuple:
    if hasattr(data, "train") and hasattr(data, "test"):
        raise TypeError(f"{name} is a whole Dataset; pass one of its splits, e.g. data.train (and data.validation)")
    tensors = tuple(data) if isinstance(data, (tuple, list)) else (data,)
    if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise TypeError(f"{name} must be a tensor x or a tuple of tensors (x, labels), got {type(data).__name__}")
    if any(len(t) != len(tensors[0]) for t in tensors):
        raise ValueError(f"all tensors in data must have the same length, got {[len(t) for t in tensors]}")
    return tensors


def fit(model: torch.nn.Module, train_data, valid_data, *, epochs: int | None = 10, batch_size: int = 128,
        lr: float = 1e-3, optimizer: str = "adam", grad_clip: float | None = None,
        device: torch.device | str | None = None, seed: int = 0, progress: bool = True,
        before_step=None, cpu_seconds: float | None = None) -> History:
    """Train `model` by maximum likelihood (minimise nats/dim) and return its History.

    This is the loop a notebook writes out by hand (lecture 01), packaged: shuffle, take a batch,
    loss = -log_prob(batch).mean() / num_dims, backward, optimizer step; the validation split
    measured before training and after every epoch (choose epochs, sizes and settings on it; report
    the test split once, at the end).

    train_data, valid_data: a long tensor x (N, ...) or a tuple (x, labels) for conditional models;
    the model's `log_prob` is called with the batch's tensors in that order. valid_data None: no
    validation measurements (nothing is evaluated).
    device: where to train (the model and each batch are moved there); None keeps the model's device.
    before_step: called with the step number (0, 1, ...) before every step, e.g. MADE's mask
    schedule for order-agnostic training: before_step=lambda step: model.set_mask(step % model.num_masks).
    cpu_seconds: a training budget: stop at the first step after this much CPU time
    (time.process_time, so other programs on the machine matter less than with a wall clock)
    spent in training steps, before_step included, validation measurements not. epochs then caps the
    number of passes; epochs=None trains until the budget is spent. Every call with the same seed
    sees the same mini-batches, so models trained on the same budget are compared fairly.
    """
    if epochs is None:
        if cpu_seconds is None:
            raise ValueError("epochs=None trains until a budget is spent: pass cpu_seconds=... as well")
    else:
        check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if cpu_seconds is not None and (isinstance(cpu_seconds, bool) or not isinstance(cpu_seconds, (int, float))
                                    or not cpu_seconds > 0):
        raise ValueError(f"cpu_seconds must be a positive number, got {cpu_seconds!r}")
    train_data = _as_tuple(train_data, "train_data")
    valid_data = None if valid_data is None else _as_tuple(valid_data, "valid_data")
    if device is not None:
        model.to(get_device(str(device)))
    device = next(model.parameters()).device
    optimizers = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
    if optimizer not in optimizers:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of: {', '.join(optimizers)}")
    opt = optimizers[optimizer](model.parameters(), lr=lr)
    num_examples, num_dims = len(train_data[0]), train_data[0][0].numel()
    shuffle = torch.Generator().manual_seed(seed)
    history = History(valid_losses=[] if valid_data is None else [evaluate(model, valid_data)])
    steps_per_epoch = -(-num_examples // batch_size)
    bar = tqdm(total=None if epochs is None else epochs * steps_per_epoch, disable=not progress,
               desc="training", leave=False)
    out_of_budget, epoch = False, 0
    while not out_of_budget and (epochs is None or epoch < epochs):
        model.train()
        order = torch.randperm(num_examples, generator=shuffle)
        seen = 0
        for start in range(0, num_examples, batch_size):
            started = time.process_time()
            if before_step is not None:
                before_step(history.steps)
            index = order[start:start + batch_size]
            batch = [t[index].to(device) for t in train_data]
            loss = -model.log_prob(*batch).mean() / num_dims
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            history.train_losses.append(loss.item())
            history.cpu_seconds += time.process_time() - started
            history.steps += 1
            seen += len(index)
            if progress:
                bar.update(1)
                bar.set_postfix(train=f"{history.train_losses[-1]:.4f}",
                                valid=f"{history.valid_losses[-1]:.4f}" if history.valid_losses else "-")
            if cpu_seconds is not None and history.cpu_seconds >= cpu_seconds:
                out_of_budget = True
                break
        epoch += 1
        history.epochs += seen / num_examples
        if valid_data is not None:
            history.valid_losses.append(evaluate(model, valid_data))
    bar.close()
    return history
