"""What goes into and comes out of a model per position, shared by FVSBN, NADE and MADE.

K = 2 values: the value itself goes in (one number per position) and one logit a comes out, with
p(x = 1) = sigmoid(a). K > 2: a one-hot vector of length K goes in and K logits come out.
"""
import torch
import torch.nn.functional as F


def numbers_per_position(num_values: int) -> int:
    """P: 1 for binary data, K otherwise."""
    return 1 if num_values == 2 else num_values


def encode_values(x: torch.Tensor, num_values: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """x (N, D) long -> (N, D, P): the value itself for K = 2, a one-hot vector for K > 2."""
    if num_values == 2:
        return x.to(dtype).unsqueeze(-1)
    return F.one_hot(x, num_values).to(dtype)


def output_logits(out: torch.Tensor, num_values: int) -> torch.Tensor:
    """(..., P) outputs -> (..., K) logits; for K = 2 the pair [0, a], so that p(1) = sigmoid(a)."""
    if num_values == 2:
        return torch.cat([torch.zeros_like(out), out], dim=-1)
    return out


def output_log_prob(out: torch.Tensor, x: torch.Tensor, num_values: int) -> torch.Tensor:
    """log p(x) summed over positions from outputs (N, D, P) and x (N, D) -> (N,) nats.

    For K = 2 this is the binary cross-entropy with logits, as cheap as it gets; for K > 2 the
    log-softmax of the logits at x.
    """
    if num_values == 2:
        return -F.binary_cross_entropy_with_logits(out.squeeze(-1), x.to(out.dtype), reduction="none").sum(1)
    return torch.log_softmax(out, dim=-1).gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(1)
