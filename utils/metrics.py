"""Negative log-likelihood in nats and bits per dimension, always measured on held-out data."""
import math

import torch

LN2 = math.log(2.0)


def nats_per_dim(log_prob: torch.Tensor, num_dims: int) -> float:
    """Average negative log-likelihood per dimension, in nats.

    log_prob: (N,) log-likelihoods in nats, one per example (what `model.log_prob(x)` returns).
    num_dims: D, the number of discrete values in one example (e.g. 784 for a 28x28 image).
    """
    if not isinstance(log_prob, torch.Tensor) or log_prob.dim() != 1:
        shape = tuple(log_prob.shape) if isinstance(log_prob, torch.Tensor) else type(log_prob).__name__
        raise ValueError(f"log_prob must be a 1D tensor (one value per example), got {shape}")
    if isinstance(num_dims, bool) or not isinstance(num_dims, int) or num_dims <= 0:
        raise ValueError(f"num_dims must be a positive int, got {num_dims!r}")
    if log_prob.numel() == 0:
        raise ValueError("log_prob is empty: there is nothing to average")
    if bool((log_prob > 1e-4).any()):
        raise ValueError(f"log-probabilities of discrete data cannot be positive (max {float(log_prob.max()):.4g}); "
                         "is this a log-density or a negative log-likelihood?")
    return float(-log_prob.detach().double().mean() / num_dims)


def bits_per_dim(log_prob: torch.Tensor, num_dims: int) -> float:
    """Average negative log-likelihood per dimension, in bits (nats / ln 2)."""
    return nats_per_dim(log_prob, num_dims) / LN2


@torch.no_grad()
def evaluate(model: torch.nn.Module, data, batch_size: int = 500, log_prob=None) -> float:
    """Test nats/dim of `model` on `data`: a tensor x, or a tuple (x, labels) for conditional models.

    The model is put in eval mode and run batch by batch on the device of its parameters.
    log_prob: what scores a batch, (N,) nats from the batch's tensors; default model.log_prob.
    E.g. log_prob=model.ensemble_log_prob scores MADE's ensemble of mask sets.
    """
    log_prob = model.log_prob if log_prob is None else log_prob
    tensors = data if isinstance(data, (tuple, list)) else (data,)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(tensors[0]), batch_size):
        batch = [t[start:start + batch_size].to(device) for t in tensors]
        total += float(log_prob(*batch).double().sum())
        count += len(batch[0])
    model.train(was_training)
    num_dims = tensors[0][0].numel()
    return -total / count / num_dims
