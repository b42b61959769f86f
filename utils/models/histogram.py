"""The simplest generative model of one discrete variable: a table of probabilities.

Fitting is counting; sampling is the inverse CDF (cumulative sums + a search).

Fewer numbers: a histogram with B bins over the K values {0, ..., K-1} cuts the values into B runs
of (nearly) equal width and spreads the probability of each run evenly over its values:

    p(v) = count(bin of v) / (N * width(bin of v))

With B = K every value is its own bin (the plain histogram, `fit_histogram`); with B = 1 the model
is the uniform distribution. More bins fit the training data better, but a value that never occurs
in the training data gets probability 0, and one such value in the test data makes the test NLL
infinite. A pseudo-count (added to every bin) keeps every probability positive.

    probs = fit_binned_histogram(train, num_values=100, num_bins=20)
    average_nll(probs, test)                              # nats, math.inf if a test value has p = 0
    overfitting_curves(train, test, num_values=100)       # train and test NLL for B = 1, ..., 100

The over-fitting widget of lecture 01 (utils.widgets.histogram) draws these numbers.
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


# ----------------------------------------------------------------------------------------------
# histograms with fewer bins, and their over-fitting


def value_to_bin(num_values: int, num_bins: int) -> torch.Tensor:
    """(K,) long: the bin of every value when K values are cut into num_bins runs of equal width.

    Value v goes to bin floor(v * B / K), so bins are contiguous and their widths differ by at most 1.
    """
    check_positive_int(num_values, "num_values")
    check_positive_int(num_bins, "num_bins")
    if num_bins > num_values:
        raise ValueError(f"num_bins ({num_bins}) cannot exceed the number of values ({num_values})")
    return torch.arange(num_values) * num_bins // num_values


def fit_binned_histogram(x: torch.Tensor, num_values: int, num_bins: int, pseudocount: float = 0.0) -> torch.Tensor:
    """Probabilities (K,) of a histogram with num_bins bins, fitted to x (N,).

    With pseudocount = 0 this is the maximum-likelihood fit among histograms with these bins.
    Each bin receives (count + pseudocount) / (N + pseudocount * B) of the probability, shared
    equally by the values in it.
    """
    check_discrete(x, num_values, ndim=1)
    if len(x) == 0:
        raise ValueError("x is empty: there is nothing to count")
    return _binned_probs(torch.bincount(x, minlength=num_values), num_bins, pseudocount)


def _binned_probs(value_counts: torch.Tensor, num_bins: int, pseudocount: float) -> torch.Tensor:
    """Probabilities (K,) of the binned histogram, from the counts (K,) of every value."""
    if pseudocount < 0:
        raise ValueError(f"pseudocount must be >= 0, got {pseudocount}")
    bin_of = value_to_bin(len(value_counts), num_bins)
    counts = torch.bincount(bin_of, weights=value_counts.double(), minlength=num_bins) + pseudocount
    widths = torch.bincount(bin_of, minlength=num_bins).double()
    bin_probs = counts / counts.sum()
    return (bin_probs / widths)[bin_of]


def average_nll(probs: torch.Tensor, x: torch.Tensor) -> float:
    """Average negative log-likelihood in nats of values x (N,) under probabilities (K,).

    It is math.inf as soon as one value of x has probability 0.
    """
    check_discrete(x, len(probs), ndim=1)
    if len(x) == 0:
        raise ValueError("x is empty: there is nothing to average")
    return _nll_from_counts(probs, torch.bincount(x, minlength=len(probs)))


def _nll_from_counts(probs: torch.Tensor, value_counts: torch.Tensor) -> float:
    """-(1/N) sum_i log p(x_i), with equal values grouped: -(1/N) sum_v n_v log p(v)."""
    seen = value_counts > 0
    return float(-(value_counts[seen] * torch.log(probs.double()[seen])).sum() / value_counts.sum())


def overfitting_curves(train: torch.Tensor, test: torch.Tensor, num_values: int, max_bins: int | None = None,
                       pseudocount: float = 0.0) -> dict:
    """Train and test NLL (nats) of binned histograms fitted to train (N,), for 1, 2, ..., max_bins bins.

    max_bins: at most num_values (the default). Returns a dict of lists, one entry per number of bins:
        num_bins, train_nll, test_nll (math.inf where a test value has probability 0),
        test_zeros (how many test points get probability 0).
    """
    check_positive_int(num_values, "num_values")
    max_bins = num_values if max_bins is None else check_positive_int(max_bins, "max_bins")
    if max_bins > num_values:
        raise ValueError(f"max_bins can be at most {num_values}, got {max_bins}")
    check_discrete(train, num_values, name="train", ndim=1)
    check_discrete(test, num_values, name="test", ndim=1)
    if len(train) == 0 or len(test) == 0:
        raise ValueError("train and test must both hold at least one value")
    train_counts = torch.bincount(train, minlength=num_values)
    test_counts = torch.bincount(test, minlength=num_values)
    curves = {"num_bins": [], "train_nll": [], "test_nll": [], "test_zeros": []}
    for num_bins in range(1, max_bins + 1):
        probs = _binned_probs(train_counts, num_bins, pseudocount)
        curves["num_bins"].append(num_bins)
        curves["train_nll"].append(_nll_from_counts(probs, train_counts))
        curves["test_nll"].append(_nll_from_counts(probs, test_counts))
        curves["test_zeros"].append(int(test_counts[probs == 0].sum()))
    return curves
