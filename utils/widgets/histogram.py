"""Over-fitting of histograms, as a figure and a widget (lecture 01).

The maths (binned histograms, average NLL, train/test curves over the number of bins) lives in
`utils.models.histogram`; this module only picks the data and draws.

Data: `mixture1d_split(n_train)`, the first n_train of a large pool of mixture1d draws.
Figure (tested): `plot_histogram_fit`. Widget (draws only): `histogram_overfitting_widget`.
"""
import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..data import load
from ..models.histogram import average_nll, fit_binned_histogram, overfitting_curves
from ..validation import check_positive_int
from .skeleton import figure_widget

POOL_SIZE = 20_000   # training points available to the widget; the first 1000 are load("mixture1d").train


def mixture1d_split(n_train: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """(train (n_train,), test (1000,), true probabilities (100,)) of the mixture1d data.

    The training points are the first n_train of a pool of POOL_SIZE draws whose first 1000 are
    exactly `load("mixture1d").train`, so more data only ever adds points; the rest are draws made
    after the standard validation split, so the pool never holds a test or validation point. The
    test split is always `load("mixture1d").test`.
    """
    check_positive_int(n_train, "n_train")
    if n_train > POOL_SIZE:
        raise ValueError(f"n_train can be at most {POOL_SIZE}, got {n_train}")
    standard = load("mixture1d")
    # validation is drawn last, so a larger validation split starts with the standard one: skip it
    later_draws = load("mixture1d", n_valid=POOL_SIZE).validation[len(standard.validation):]
    pool = torch.cat([standard.train, later_draws])[:POOL_SIZE]
    return pool[:n_train], standard.test, standard.extra["probs"]


def _format_nll(value: float) -> str:
    return "∞" if math.isinf(value) else f"{value:.3f}"


def plot_histogram_fit(n_train: int, num_bins: int, pseudocount: float = 0.0, max_bins: int = 100):
    """Figure: left, the fitted histogram against the data; right, train/test NLL against bins.

    Infinite test NLLs are drawn as crosses along the top edge of the right panel.
    """
    train, test, true_probs = mixture1d_split(n_train)
    num_values = len(true_probs)
    probs = fit_binned_histogram(train, num_values, num_bins, pseudocount)
    curves = overfitting_curves(train, test, num_values, max_bins, pseudocount)
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
