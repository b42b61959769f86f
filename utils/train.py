"""A small fit loop shared by lectures and homework."""
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from .metrics import evaluate
from .runtime import get_device
from .validation import check_positive_int


@dataclass
class History:
    """Losses in nats/dim: one per training step, and one per epoch on the test split.

    test_losses[0] is measured before any training, so len(test_losses) == epochs + 1.
    """
    train_losses: list = field(default_factory=list)
    test_losses: list = field(default_factory=list)


def _as_tuple(data, name: str) -> tuple:
    if hasattr(data, "train") and hasattr(data, "test"):
        raise TypeError(f"{name} is a whole Dataset; pass one of its splits, e.g. data.train (and data.test)")
    tensors = tuple(data) if isinstance(data, (tuple, list)) else (data,)
    if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise TypeError(f"{name} must be a tensor x or a tuple of tensors (x, labels), got {type(data).__name__}")
    if any(len(t) != len(tensors[0]) for t in tensors):
        raise ValueError(f"all tensors in data must have the same length, got {[len(t) for t in tensors]}")
    return tensors


def fit(model: torch.nn.Module, train_data, test_data, *, epochs: int = 10, batch_size: int = 128,
        lr: float = 1e-3, optimizer: str = "adam", grad_clip: float | None = None,
        device: torch.device | str | None = None, seed: int = 0, progress: bool = True,
        before_step=None) -> History:
    """Train `model` by maximum likelihood (minimise nats/dim) and return its History.

    This is the loop a notebook writes out by hand (lecture 01), packaged: shuffle, take a batch,
    loss = -log_prob(batch).mean() / num_dims, backward, optimizer step; the test split measured
    before training and after every epoch.

    train_data, test_data: a long tensor x (N, ...) or a tuple (x, labels) for conditional models;
    the model's `log_prob` is called with the batch's tensors in that order.
    device: where to train (the model and each batch are moved there); None keeps the model's device.
    before_step: called with the step number (0, 1, ...) before every step, e.g. MADE's mask
    schedule for order-agnostic training: before_step=lambda step: model.set_mask(step % model.num_masks).
    """
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    train_data, test_data = _as_tuple(train_data, "train_data"), _as_tuple(test_data, "test_data")
    if device is not None:
        model.to(get_device(str(device)))
    device = next(model.parameters()).device
    optimizers = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
    if optimizer not in optimizers:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of: {', '.join(optimizers)}")
    opt = optimizers[optimizer](model.parameters(), lr=lr)
    num_dims = train_data[0][0].numel()
    shuffle = torch.Generator().manual_seed(seed)
    history = History(test_losses=[evaluate(model, test_data)])
    steps_per_epoch = -(-len(train_data[0]) // batch_size)
    bar = tqdm(total=epochs * steps_per_epoch, disable=not progress, desc="training", leave=False)
    step = 0
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(train_data[0]), generator=shuffle)
        for start in range(0, len(order), batch_size):
            if before_step is not None:
                before_step(step)
            index = order[start:start + batch_size]
            batch = [t[index].to(device) for t in train_data]
            loss = -model.log_prob(*batch).mean() / num_dims
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            history.train_losses.append(loss.item())
            step += 1
            bar.update(1)
            bar.set_postfix(train=f"{history.train_losses[-1]:.4f}", test=f"{history.test_losses[-1]:.4f}")
        history.test_losses.append(evaluate(model, test_data))
    bar.close()
    return history
