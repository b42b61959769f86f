"""The simplest generative model of one discrete variable: a table of probabilities.

Fitting is counting; sampling is the inverse CDF (cumulative sums + a search).
"""
import torch

from ..validation import check_discrete, check_positive_int


def fit_histogram(x: torch.Tensor, num_values: int) -> torch.Tensor:
    """Maximum-likelihood probabilities (K,) of values x (N,): counts divided by N."""
    check_positive_int(num_values, "num_values")
    check_discrete(x, num_values, ndim=1)
    if len(x) == 0:
        raise ValueError("x is empty: there is nothing to count")
    counts = torch.bincount(x, minlength=num_values).double()
    return counts / counts.sum()


def check_probabilities(probs: torch.Tensor, name: str = "probs") -> None:
    """Raise unless `probs` is a 1D tensor of non-negative numbers that sum to one."""
    if not isinstance(probs, torch.Tensor) or probs.dim() != 1 or not probs.dtype.is_floating_point:
        raise ValueError(f"{name} must be a 1D float tensor of probabilities")
    if bool((probs < 0).any()) or abs(float(probs.sum()) - 1) > 1e-4:
        raise ValueError(f"{name} must be non-negative and sum to 1 (they sum to {float(probs.sum()):.6f})")


def sample_inverse_cdf(probs: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n samples (n,) from a table of probabilities (K,), by inverting the CDF of uniform draws.

    Value v is returned when CDF(v-1) <= u < CDF(v).
    """
    check_probabilities(probs)
    check_positive_int(n, "n")
    cdf = torch.cumsum(probs.double(), 0)
    cdf = cdf / cdf[-1]                                   # guard against rounding: the last entry is 1
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    return torch.searchsorted(cdf, u, right=True).clamp(max=len(probs) - 1)
