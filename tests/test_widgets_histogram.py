"""Lecture 01's histogram maths (utils.models.histogram), and the over-fitting widget drawn over it."""
import math

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from utils import data  # noqa: E402
from utils.models import fit_histogram  # noqa: E402
from utils.models import histogram as hm  # noqa: E402
from utils.widgets import histogram as hw  # noqa: E402
from utils.widgets.skeleton import find_control  # noqa: E402

K = 100


def curves_for(n_train, **options):
    """The over-fitting curves of the first n_train mixture1d points, as the widget draws them."""
    train, test, _ = hw.mixture1d_split(n_train)
    return hm.overfitting_curves(train, test, K, **options)


def assert_binned_mle(probs, x, num_values, num_bins):
    """probs is the binned-histogram fit of x: a distribution, flat inside each bin,
    and each bin holds exactly the fraction of x that falls into it."""
    bin_of = hm.value_to_bin(num_values, num_bins)
    assert probs.shape == (num_values,)
    assert bool((probs >= 0).all()), "negative probability"
    assert abs(float(probs.sum()) - 1) < 1e-9, f"probabilities sum to {float(probs.sum())}"
    for b in range(num_bins):
        inside = probs[bin_of == b]
        assert torch.allclose(inside, inside[0].expand_as(inside)), f"bin {b} is not flat"
        expected_mass = float((bin_of[x] == b).double().mean())
        assert abs(float(inside.sum()) - expected_mass) < 1e-9, f"bin {b} holds the wrong mass"


# ------------------------------------------------------------------------------------------
# value_to_bin


@pytest.mark.parametrize("num_values,num_bins", [(100, 1), (100, 7), (100, 20), (100, 100), (10, 3)])
def test_value_to_bin_cuts_values_into_contiguous_near_equal_runs(num_values, num_bins):
    bin_of = hm.value_to_bin(num_values, num_bins)
    assert bin_of.shape == (num_values,) and bin_of.dtype == torch.long
    assert int(bin_of[0]) == 0 and int(bin_of[-1]) == num_bins - 1
    steps = bin_of[1:] - bin_of[:-1]
    assert bool(((steps == 0) | (steps == 1)).all()), "bins must be contiguous and in order"
    widths = torch.bincount(bin_of, minlength=num_bins)
    assert int(widths.min()) >= 1 and int(widths.max() - widths.min()) <= 1


def test_value_to_bin_extremes_and_errors():
    assert torch.equal(hm.value_to_bin(K, K), torch.arange(K))
    assert int(hm.value_to_bin(K, 1).max()) == 0
    with pytest.raises(ValueError, match="cannot exceed"):
        hm.value_to_bin(10, 11)
    with pytest.raises(ValueError, match="positive int"):
        hm.value_to_bin(10, 0)


# ------------------------------------------------------------------------------------------
# fit_binned_histogram


@pytest.mark.parametrize("num_bins", [1, 3, 20, 33, 100])
def test_binned_histogram_is_the_binned_mle(num_bins):
    x = torch.randint(0, K, (500,), generator=torch.Generator().manual_seed(num_bins))
    assert_binned_mle(hm.fit_binned_histogram(x, K, num_bins), x, K, num_bins)


def test_the_property_check_catches_a_histogram_that_forgets_the_bin_width():
    x = torch.randint(0, K, (500,), generator=torch.Generator().manual_seed(0))
    bin_of = hm.value_to_bin(K, 20)
    wrong = (torch.bincount(bin_of[x], minlength=20).double() / len(x))[bin_of]   # no division by width
    with pytest.raises(AssertionError, match="sum to"):
        assert_binned_mle(wrong, x, K, 20)
    leaky = hm.fit_binned_histogram(x, K, 20).roll(1)                               # mass moved across bins
    with pytest.raises(AssertionError):
        assert_binned_mle(leaky, x, K, 20)


def test_binned_histogram_special_cases():
    train = data.load("mixture1d").train
    assert torch.allclose(hm.fit_binned_histogram(train, K, K), fit_histogram(train, K))
    assert torch.allclose(hm.fit_binned_histogram(train, K, 1), torch.full((K,), 1 / K, dtype=torch.float64))


def test_pseudocount_removes_zeros_and_keeps_a_distribution():
    x = torch.tensor([3, 3, 4])
    plain = hm.fit_binned_histogram(x, 10, 10)
    smoothed = hm.fit_binned_histogram(x, 10, 10, pseudocount=1.0)
    assert int((plain == 0).sum()) == 8
    assert bool((smoothed > 0).all()) and abs(float(smoothed.sum()) - 1) < 1e-12
    assert torch.allclose(smoothed[3], torch.tensor(3 / 13, dtype=torch.float64))   # (2 + 1) / (3 + 10)
    with pytest.raises(ValueError, match="pseudocount"):
        hm.fit_binned_histogram(x, 10, 10, pseudocount=-1.0)


def test_binned_histogram_rejects_bad_input():
    with pytest.raises(TypeError):
        hm.fit_binned_histogram(torch.rand(5), K, 10)
    with pytest.raises(ValueError, match="values must lie"):
        hm.fit_binned_histogram(torch.tensor([0, 100]), K, 10)
    with pytest.raises(ValueError, match="empty"):
        hm.fit_binned_histogram(torch.zeros(0, dtype=torch.long), K, 10)


# ------------------------------------------------------------------------------------------
# average_nll


def test_average_nll_matches_the_definition_and_is_infinite_on_zero_probability():
    probs = torch.tensor([0.5, 0.25, 0.25, 0.0], dtype=torch.float64)
    x = torch.tensor([0, 0, 1, 2, 1])
    expected = -sum(math.log(float(probs[v])) for v in x) / len(x)
    assert hm.average_nll(probs, x) == pytest.approx(expected, abs=1e-12)
    assert math.isinf(hm.average_nll(probs, torch.tensor([0, 3])))
    with pytest.raises(ValueError, match="empty"):
        hm.average_nll(probs, torch.zeros(0, dtype=torch.long))


# ------------------------------------------------------------------------------------------
# data and curves


def test_mixture1d_split_grows_the_standard_training_set():
    standard = data.load("mixture1d")
    train, test, probs = hw.mixture1d_split(1000)
    assert torch.equal(train, standard.train) and torch.equal(test, standard.test)
    bigger, _, _ = hw.mixture1d_split(5000)
    assert torch.equal(bigger[:1000], standard.train) and len(bigger) == 5000
    # the added points are later draws, never the test or validation draws (which come right after train)
    assert not torch.equal(bigger[1000:2000], standard.test)
    assert not torch.equal(bigger[1000:2000], standard.validation)
    assert len(hw.mixture1d_split(hw.POOL_SIZE)[0]) == hw.POOL_SIZE
    assert len(probs) == K
    for bad in (0, hw.POOL_SIZE + 1):
        with pytest.raises(ValueError):
            hw.mixture1d_split(bad)


def test_overfitting_curves_agree_with_direct_fits():
    curves = curves_for(300)
    assert curves["num_bins"] == list(range(1, K + 1))
    assert all(len(v) == K for v in curves.values())
    train, test, _ = hw.mixture1d_split(300)
    for num_bins in (1, 13, 50, 100):
        probs = hm.fit_binned_histogram(train, K, num_bins)
        i = num_bins - 1
        assert curves["train_nll"][i] == pytest.approx(hm.average_nll(probs, train), abs=1e-9)
        assert curves["test_nll"][i] == pytest.approx(hm.average_nll(probs, test), abs=1e-9)
        assert curves["test_zeros"][i] == int((probs[test] == 0).sum())
    assert curves["train_nll"][0] == pytest.approx(math.log(K))


def test_overfitting_curves_options_and_errors():
    train, test, _ = hw.mixture1d_split(300)
    short = hm.overfitting_curves(train, test, K, max_bins=10)
    assert short["num_bins"] == list(range(1, 11))
    assert short["test_nll"] == curves_for(300)["test_nll"][:10]
    with pytest.raises(ValueError, match="max_bins"):
        hm.overfitting_curves(train, test, K, max_bins=K + 1)
    with pytest.raises(ValueError, match="at least one"):
        hm.overfitting_curves(train, test[:0], K)
    with pytest.raises(ValueError, match="test values must lie"):
        hm.overfitting_curves(train, test + K, K)


def test_the_widget_draws_the_maths_of_utils_models_not_a_copy():
    for name in ("fit_binned_histogram", "average_nll", "overfitting_curves"):
        assert getattr(hw, name) is getattr(hm, name), name


def test_training_nll_never_rises_when_bins_are_refined():
    curves = curves_for(200)
    for chain in [(1, 2, 4, 20, 100), (1, 5, 10, 50, 100), (1, 25, 50, 100)]:   # each divides the next
        nlls = [curves["train_nll"][b - 1] for b in chain]
        assert all(a >= b - 1e-12 for a, b in zip(nlls, nlls[1:])), f"{chain}: {nlls}"
    assert curves["train_nll"][-1] == min(curves["train_nll"])   # the full histogram fits best


def test_test_nll_is_infinite_exactly_when_a_test_point_gets_probability_zero():
    curves = curves_for(1000)
    for nll, zeros in zip(curves["test_nll"], curves["test_zeros"]):
        assert math.isinf(nll) == (zeros > 0)
    assert curves["test_zeros"][-1] == 2 and math.isinf(curves["test_nll"][-1])
    plenty = curves_for(hw.POOL_SIZE)
    assert math.isfinite(plenty["test_nll"][-1])
    smoothed = curves_for(100, pseudocount=0.5)
    assert all(math.isfinite(v) for v in smoothed["test_nll"]) and sum(smoothed["test_zeros"]) == 0


def test_more_data_moves_the_best_number_of_bins_up():
    def best_bins(n_train):
        c = curves_for(n_train, pseudocount=0.5)
        return c["num_bins"][min(range(K), key=c["test_nll"].__getitem__)]
    assert best_bins(100) < best_bins(1000) < best_bins(hw.POOL_SIZE)


# ------------------------------------------------------------------------------------------
# figure and widget


def test_plot_histogram_fit_reports_infinite_test_nll():
    fig = hw.plot_histogram_fit(100, 100)
    try:
        left, right = fig.axes
        assert "∞" in left.get_title() and "probability 0" in left.get_title()
        assert right.get_xlabel() == "number of bins"
    finally:
        plt.close(fig)
    fig = hw.plot_histogram_fit(1000, 20)
    try:
        assert "∞" not in fig.axes[0].get_title() and "4.218" in fig.axes[0].get_title()
    finally:
        plt.close(fig)


def test_widget_structure_and_redraw_on_every_slider(monkeypatch):
    import ipywidgets as widgets

    calls = []

    def fake_plot(n_train, num_bins, pseudocount=0.0):
        calls.append((n_train, num_bins, pseudocount))
        return plt.figure(figsize=(1, 1))

    monkeypatch.setattr(hw, "plot_histogram_fit", fake_plot)
    open_before = set(plt.get_fignums())
    box = hw.histogram_overfitting_widget(n_train=1000, num_bins=100)
    assert isinstance(box, widgets.VBox)
    assert {"ar-widget", "ar-widget-histogram"} <= set(box._dom_classes)
    n_slider = find_control(box, "training points")
    bins_slider = find_control(box, "number of bins")
    pseudo_slider = find_control(box, "pseudo-count")
    assert isinstance(n_slider, widgets.IntSlider) and isinstance(bins_slider, widgets.IntSlider)
    assert isinstance(pseudo_slider, widgets.FloatSlider)
    assert sum(isinstance(child, widgets.Output) for child in box.children) == 1
    assert calls == [(1000, 100, 0.0)]                       # drawn once when built
    n_slider.value = 1010
    bins_slider.value = 20
    pseudo_slider.value = 0.5
    assert calls[1:] == [(1010, 100, 0.0), (1010, 20, 0.0), (1010, 20, 0.5)]
    assert set(plt.get_fignums()) == open_before, "the widget must close its figures"
