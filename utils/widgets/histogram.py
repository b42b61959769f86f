"""Over-fitting of histograms, as numbers, a figure and a widget (lecture 01).

A histogram with B bins over the K values {0, ..., K-1} cuts the values into B runs of (nearly)
equal width and spreads the probability of each run evenly over its values:

    p(v) = count(bin of v) / (N * width(bin of v))

With B = K every value is its own bin (the plain histogram, `utils.models.fit_histogram`); with
B = 1 the model is the uniform distribution. More bins fit the training data better, but a value
that never occurs in the training data gets probability 0, and one such value in the test data
makes the test NLL infinite. A pseudo-count (added to every bin) keeps every probability positive.

Pure functions (tested): `mixture1d_split`, `value_to_bin`, `fit_binned_histogram`,
`average_nll`, `overfitting_curves`, `plot_histogram_fit`.
Widget (draws only): `histogram_overfitting_widget`.
"""
import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..data import load
from ..validation import check_discrete, check_positive_int
from .skeleton import figure_widget

POOL_SIZE = 20_000   # training points available to the widget; the first 1000 are load("mixture1d").train


def mixture1d_split(n_train: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """(train (n_train,), test (1000,), true probabilities (100,)) of the mixture1d data.

    The training points are the first n_train of a pool of POOL_SIZE draws whose first 1000 are
    exactly `load("mixture1d").train`, so more data only ever adds points. The test split is always
    `load("mixture1d").test`.
    """
    check_positive_int(n_train, "n_train")
    if n_train > POOL_SIZE:
        raise ValueError(f"n_train can be at most {POOL_SIZE}, got {n_train}")
    standard = load("mixture1d")
    pool = load("mixture1d", n_train=POOL_SIZE).train
    return pool[:n_train], standard.test, standard.extra["probs"]


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


def overfitting_curves(n_train: int, max_bins: int = 100, pseudocount: float = 0.0) -> dict:
    """Train and test NLL (nats) of binned histograms fitted to the first n_train mixture1d points.

    Returns a dict of lists, one entry per number of bins 1, 2, ..., max_bins:
        num_bins, train_nll, test_nll (math.inf where a test value has probability 0),
        test_zeros (how many test points get probability 0).
    """
    train, test, true_probs = mixture1d_split(n_train)
    num_values = len(true_probs)
    check_positive_int(max_bins, "max_bins")
    if max_bins > num_values:
        raise ValueError(f"max_bins can be at most {num_values}, got {max_bins}")
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


def _format_nll(value: float) -> str:
    return "∞" if math.isinf(value) else f"{value:.3f}"


def plot_histogram_fit(n_train: int, num_bins: int, pseudocount: float = 0.0, max_bins: int = 100):
    """Figure: left, the fitted histogram against the data; right, train/test NLL against bins.

    Infinite test NLLs are drawn as crosses along the top edge of the right panel.
    """
    train, test, true_probs = mixture1d_split(n_train)
    num_values = len(true_probs)
    probs = fit_binned_histogram(train, num_values, num_bins, pseudocount)
    curves = overfitting_curves(n_train, max_bins, pseudocount)
    values = np.arange(num_values)

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.bar(values, np.bincount(train.numpy(), minlength=num_values) / n_train, width=1.0, color="#bcd3ea",
             linewidth=0, label="training frequencies")
    left.plot(values, true_probs, "k--", lw=1, label="true distribution")
    left.step(values, probs.numpy(), where="mid", color="C3", label=f"histogram, {num_bins} bins")
    left.set_xlabel("x")
    left.set_ylabel("probability")
    left.legend(fontsize=8)
    train_nll, test_nll = average_nll(probs, train), average_nll(probs, test)
    zeros = int((probs[test] == 0).sum())
    left.set_title(f"n_train = {n_train}: train {_format_nll(train_nll)}, test {_format_nll(test_nll)} nats"
                   + (f"\n{zeros} test points get probability 0" if zeros else ""), fontsize=9)

    bins = np.array(curves["num_bins"])
    train_curve, test_curve = np.array(curves["train_nll"]), np.array(curves["test_nll"])
    finite = np.isfinite(test_curve)
    low = min(train_curve.min(), test_curve[finite].min() if finite.any() else np.inf) - 0.1
    high = max(math.log(num_values), test_curve[finite].max() if finite.any() else 0.0) + 0.3
    right.plot(bins, train_curve, label="train")
    right.plot(bins, np.where(finite, test_curve, np.nan), label="test")   # gaps where infinite
    if (~finite).any():
        right.plot(bins[~finite], np.full((~finite).sum(), high - 0.05), "x", color="C1", ms=4,
                   label="test = ∞ (a test point has p = 0)")
    right.axvline(num_bins, color="grey", lw=1, ls=":")
    right.set_ylim(low, high)
    right.set_xlabel("number of bins")
    right.set_ylabel("NLL (nats)")
    right.set_title("smaller is better; the gap is over-fitting", fontsize=9)
    right.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    return fig


def histogram_overfitting_widget(n_train: int = 1000, num_bins: int = 100, pseudocount: float = 0.0):
    """An ipywidgets.VBox with sliders for n_train, num_bins and pseudo-count over `plot_histogram_fit`.

    The figure is redrawn whenever a slider moves (see `figure_widget`). CSS classes: `ar-widget`
    and `ar-widget-histogram`.
    """
    import ipywidgets as widgets

    look = {"continuous_update": False, "style": {"description_width": "120px"},
            "layout": widgets.Layout(width="480px")}
    controls = {"n_train": widgets.IntSlider(value=n_train, min=10, max=POOL_SIZE, step=10,
                                             description="training points", **look),
                "num_bins": widgets.IntSlider(value=num_bins, min=1, max=100, step=1,
                                              description="number of bins", **look),
                "pseudocount": widgets.FloatSlider(value=pseudocount, min=0.0, max=2.0, step=0.1,
                                                   description="pseudo-count", **look)}
    return figure_widget("histogram", controls, plot_histogram_fit)
