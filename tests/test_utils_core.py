"""Unit and property tests for the utils core: data, metrics, train, checks, reference models."""
import math

import matplotlib
import pytest
import torch
from torch import nn

matplotlib.use("Agg")

from utils import data, get_device, metrics, plotting, seed_everything  # noqa: E402
from utils.checks import (CheckFailed, dependency_report, expect, expect_between, expect_close,  # noqa: E402
                          friendly_check, generation_rank, position_name)
from utils.models import (DiscretizedLogisticMixture, Joint2D, SoftmaxDistribution,  # noqa: E402
                          discretized_logistic_mixture_log_prob, fit_histogram, sample_inverse_cdf,
                          sample_discretized_logistic_mixture)
from utils.ordering import generation_order, model_order  # noqa: E402
from utils.sampling import categorical_log_prob, sample  # noqa: E402
from utils.train import fit  # noqa: E402


# ---------------------------------------------------------------------------------------------- data

OFFLINE_DATASETS = [name for name in data.DATASETS if name not in data.DOWNLOADABLE]


@pytest.mark.parametrize("name", OFFLINE_DATASETS)
def test_every_dataset_is_seeded_discrete_and_split(name):
    first, second = data.load(name), data.load(name)
    assert torch.equal(first.train, second.train) and torch.equal(first.test, second.test)
    for split in (first.train, first.test):
        assert split.dtype == torch.long and len(split) > 0
        assert int(split.min()) >= 0 and int(split.max()) < first.num_values
    assert first.train.shape[1:] == first.test.shape[1:]
    if first.train_labels is not None:
        assert len(first.train_labels) == len(first.train) and len(first.test_labels) == len(first.test)


def test_a_caller_cannot_change_the_next_load():
    shapes = data.load("shapes")
    shapes.train.zero_()
    assert int(data.load("shapes").train.sum()) > 0


def test_dataset_shapes_match_the_syllabus():
    assert data.load("shapes").shape == (1, 20, 20) and data.load("shapes_color").shape == (3, 20, 20)
    mnist = data.load("mnist_binary")
    assert mnist.shape == (1, 28, 28) and (len(mnist.train), len(mnist.validation), len(mnist.test)) == (3500, 500, 1000)
    assert data.load("mnist_2bit").num_values == 4 and data.load("digits").shape == (1, 8, 8)
    assert data.load("gaussian1d").num_values == 20 and data.load("mixture1d").num_values == 100
    smiley = data.load("smiley2d")
    assert smiley.shape == (2,) and smiley.extra["density"].shape == (32, 32)
    assert abs(smiley.extra["density"].sum() - 1) < 1e-9


def test_train_and_test_splits_differ():
    mnist = data.load("mnist_binary")
    train_set = {bytes(x.flatten().tolist()) for x in mnist.train[:500]}
    overlap = sum(bytes(x.flatten().tolist()) in train_set for x in mnist.test[:200])
    assert overlap < 20


@pytest.mark.parametrize("name", ["gaussian1d", "mixture1d", "smiley2d", "shapes", "shapes_color", "mnist_binary",
                                  "mnist_2bit", "mnist_color", "digits", "names"])
def test_every_dataset_has_three_fixed_splits_with_matching_labels(name):
    first, again = data.load(name), data.load(name)
    for split in ("train", "validation", "test"):
        x = getattr(first, split)
        assert len(x) > 0 and x.dtype == torch.long and 0 <= int(x.min()) and int(x.max()) < first.num_values
        assert torch.equal(x, getattr(again, split))                   # the same split every call
        labels = getattr(first, f"{split}_labels")
        assert (labels is None) == (first.train_labels is None) and (labels is None or len(labels) == len(x))
    assert x.shape[1:] == first.train.shape[1:] == first.validation.shape[1:]
    assert len(first.validation) >= len(first.test) // 2              # big enough to choose on


def test_the_validation_split_is_held_out_from_training():
    # the real digits: validation images are other images than the training ones (the same 5000
    # digits, cut in three); counted as exact duplicates, which MNIST-5k has a few of
    mnist = data.load("mnist_binary")
    key = lambda x: bytes(x.flatten().tolist())
    train_set, test_set = {key(x) for x in mnist.train}, {key(x) for x in mnist.test}
    assert sum(key(x) in train_set for x in mnist.validation) < 10
    assert sum(key(x) in test_set for x in mnist.validation) < 10
    # generated data: the validation sample is drawn after train and test, so its size moves neither
    small, large = data.load("shapes", n_valid=10), data.load("shapes")
    assert len(small.validation) == 10 and torch.equal(small.train, large.train) and torch.equal(small.test, large.test)
    assert not torch.equal(large.validation[:len(large.test)], large.test)


def test_size_options_resize_generated_data_only():
    assert len(data.load("mixture1d", n_train=50).train) == 50
    with pytest.raises(ValueError, match="fixed split"):
        data.load("mnist_binary", n_train=10)
    with pytest.raises(ValueError, match="positive int"):
        data.load("mixture1d", n_train=0)


def test_unknown_dataset_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown dataset 'cifar'.*mnist_binary"):
        data.load("cifar")


def test_question_mark_lists_every_dataset_without_loading(capsys, monkeypatch):
    monkeypatch.setattr(data, "DATASETS", {name: None for name in data.DATASETS})   # nothing may be loaded
    assert data.load("?") is None
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == list(data.DESCRIPTIONS) == list(data.DATASETS)


def test_full_size_datasets_download_only_on_request(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DATA_ROOT", tmp_path)
    for name in ["mnist", "cifar10"]:
        with pytest.raises(RuntimeError, match="pass download=True"):
            data.load(name)
    with pytest.raises(ValueError, match="never downloads"):
        data.load("shapes", download=True)


@pytest.mark.skipif(not (data.DEBIAN_FASHION_MNIST / "t10k-images-idx3-ubyte.gz").exists(),
                    reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")
def test_fashion_mnist_loads_offline_from_the_debian_package():
    fashion = data.load("fashion_mnist")
    assert fashion.train.shape == (55000, 1, 28, 28) and fashion.validation.shape == (5000, 1, 28, 28)
    assert fashion.test.shape == (10000, 1, 28, 28) and fashion.validation_labels.shape == (5000,)
    assert set(fashion.train[:100].unique().tolist()) == {0, 1} and fashion.test_labels.max() == 9


# ---------------------------------------------------------------------------------------------- metrics

def test_bits_are_nats_over_ln2():
    log_prob = torch.tensor([-2.0, -4.0])
    assert metrics.nats_per_dim(log_prob, 2) == pytest.approx(1.5)
    assert metrics.bits_per_dim(log_prob, 2) == pytest.approx(1.5 / math.log(2))


@pytest.mark.parametrize("log_prob, dims, message", [
    (torch.tensor([[-1.0]]), 1, "1D tensor"), (torch.tensor([-1.0]), 0, "positive int"),
    (torch.tensor([]), 1, "empty"), (torch.tensor([0.5]), 1, "cannot be positive")])
def test_metrics_reject_bad_input(log_prob, dims, message):
    with pytest.raises(ValueError, match=message):
        metrics.nats_per_dim(log_prob, dims)


def test_uniform_model_scores_log_k():
    model = SoftmaxDistribution(8)
    assert metrics.evaluate(model, torch.randint(0, 8, (100,))) == pytest.approx(math.log(8), abs=1e-5)


# ---------------------------------------------------------------------------------------------- train

def test_fit_records_losses_and_learns():
    seed_everything(0)
    mixture = data.load("mixture1d")
    model = SoftmaxDistribution(mixture.num_values)
    steps = []
    history = fit(model, mixture.train, mixture.validation, epochs=3, batch_size=100, lr=0.1, progress=False,
                  before_step=steps.append)
    assert len(history.valid_losses) == 4 and len(history.train_losses) == 30
    assert steps == list(range(30))                       # called before every step with its number
    assert history.valid_losses[-1] < history.valid_losses[0] - 0.2
    fig = plotting.plot_training_curves(history)
    train_line, valid_line = fig.axes[0].get_lines()
    assert list(train_line.get_ydata()) == history.train_losses and list(valid_line.get_ydata()) == history.valid_losses[1:]
    assert list(valid_line.get_xdata()) == [10, 20, 30]    # measured validation losses sit at the epoch ends
    assert f"before training {history.valid_losses[0]:.3g}" in valid_line.get_label()   # epoch 0 named, not drawn
    matplotlib.pyplot.close(fig)


def test_fit_rejects_bad_arguments():
    model = SoftmaxDistribution(4)
    x = torch.randint(0, 4, (10,))
    with pytest.raises(ValueError, match="epochs"):
        fit(model, x, x, epochs=0)
    with pytest.raises(ValueError, match="unknown optimizer"):
        fit(model, x, x, optimizer="magic", progress=False)
    with pytest.raises(TypeError, match="tensor"):
        fit(model, [1, 2], x, progress=False)
    with pytest.raises(ValueError, match="lr must be a positive number, got '0.01'"):
        fit(model, x, x, lr="0.01", progress=False)
    with pytest.raises(TypeError, match="whole Dataset; pass one of its splits, e.g. data.train"):
        fit(model, data.load("gaussian1d"), x, progress=False)


def test_fit_on_a_missing_gpu_says_so(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    x = torch.randint(0, 4, (10,))
    with pytest.raises(RuntimeError, match="CUDA is not available here"):
        fit(SoftmaxDistribution(4), x, x, device="cuda", progress=False)


def test_gpu_scale_without_a_gpu_says_so(monkeypatch):
    from utils import check_scale
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert check_scale("cpu") == "cpu"
    with pytest.raises(RuntimeError, match='SCALE = "gpu" .* need a CUDA GPU'):
        check_scale("gpu")
    with pytest.raises(ValueError, match="SCALE must be one of"):
        check_scale("GPU")


def test_device_helper_refuses_missing_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_device().type == "cpu"
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        get_device("cuda")


# ---------------------------------------------------------------------------------------------- checks

class LeakyPair(nn.Module):
    """A broken two-variable model whose first output peeks at x2 (must be caught)."""

    def __init__(self, num_values=3):
        super().__init__()
        self.table = nn.Parameter(torch.randn(num_values, num_values))

    def forward(self, x):
        first = self.table[x[:, 1]]          # p(x1 | x2): a leak
        second = self.table[x[:, 0]]
        return torch.stack([first, second], 1)


class BlindVector(nn.Module):
    """Output i sees only x_{i-1}: autoregressive, but blind to everything earlier."""

    def __init__(self, dim=5, num_values=2):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_values, num_values))
        self.dim = dim

    def forward(self, x):
        shifted = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], 1)
        return self.weight[shifted]


def randomized(model, seed=0):
    """The model with every parameter drawn at random (zero-initialised tables hide dependencies)."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(seed)))
    return model


def test_joint2d_is_autoregressive_with_full_coverage():
    report = dependency_report(randomized(Joint2D(5)), (2,), 5)
    report.assert_autoregressive()
    report.assert_full_coverage()


def test_a_leak_is_reported_with_positions():
    report = dependency_report(LeakyPair(), (2,), 3)
    assert (0, 1) in report.violations()
    with pytest.raises(AssertionError, match=r"output x\[0\] depends on input x\[1\] \(comes later\)"):
        report.assert_autoregressive()


def test_a_blind_spot_is_reported():
    report = dependency_report(BlindVector(), (5,), 2)
    report.assert_autoregressive()
    assert report.unseen_counts().tolist() == [0, 0, 1, 2, 3]
    assert report.unseen(4) == [0, 1, 2]
    with pytest.raises(AssertionError, match="blind spot"):
        report.assert_full_coverage()


def test_orderings_change_what_counts_as_a_leak():
    # BlindVector in the reversed order: every output now depends on a *later* input
    report = dependency_report(BlindVector(), (5,), 2, ordering=[4, 3, 2, 1, 0])
    assert not report.is_autoregressive


def test_image_rank_puts_channels_inside_a_pixel():
    rank = generation_rank((3, 2, 2))
    # flat index c*4 + h*2 + w; R, G, B of pixel (0, 0) come first, then pixel (0, 1)
    assert rank[[0, 4, 8, 1]].tolist() == [0, 1, 2, 3]
    order = generation_order((3, 2, 2))
    assert order.tolist() == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]
    assert torch.equal(rank[order], torch.arange(12))              # the rank is the inverse of the order
    with pytest.raises(ValueError, match="permutation"):
        generation_rank((3,), ordering=[0, 0, 1])


def test_orders_of_vectors_and_models():
    assert generation_order((4,)).tolist() == [0, 1, 2, 3] and generation_order(()).tolist() == [0]
    assert generation_order((4,), [2, 0, 3, 1]).tolist() == [2, 0, 3, 1]
    assert generation_rank((4,), [2, 0, 3, 1]).tolist() == [1, 3, 0, 2]
    assert model_order(Joint2D(3)).tolist() == [0, 1]                  # no `ordering` attribute: natural order
    assert position_name(5, (7,)) == "x[5]" and position_name(11, (3, 2, 2)) == "x[c=2, h=1, w=1]"
    with pytest.raises(ValueError, match="permutation of range"):
        generation_order((2, 2), [0, 1, 2])


def test_friendly_check_reports_instead_of_raising(capsys, monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)     # what students and self-learners have
    with friendly_check("sums to one", hint="divide by the total"):
        expect(False, "it sums to 2")
    with friendly_check("not written yet"):
        raise NotImplementedError()
    with friendly_check("fine"):
        expect_close(torch.tensor([1.0]), torch.tensor([1.0]), "x")
    out = capsys.readouterr().out
    assert "✗ sums to one: it sums to 2\n  Hint: divide by the total" in out
    assert "✗ not written yet: not implemented yet" in out and "✓ fine" in out


def test_under_the_test_command_a_failed_check_raises_with_its_message(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")               # what `make test` sets
    with pytest.raises(CheckFailed, match="✗ sums to one: it sums to 2\n  Hint: divide by the total"):
        with friendly_check("sums to one", hint="divide by the total"):
            expect(False, "it sums to 2")
    with pytest.raises(CheckFailed, match="not implemented yet"):
        with friendly_check("not written yet"):
            raise NotImplementedError()
    with friendly_check("fine"):
        expect(True, "never shown")
    out = capsys.readouterr().out
    assert "✗ sums to one: it sums to 2" in out and "✓ fine" in out    # the same lines are printed first


def test_expect_between_checks_a_band():
    expect_between(0.061, 0.054, 0.066, "test nats/dim")
    with pytest.raises(AssertionError, match=r"test nats/dim is 0.07, outside the expected band \[0.054, 0.066\]"):
        expect_between(0.07, 0.054, 0.066, "test nats/dim")


def test_expect_close_says_how_far_off():
    with pytest.raises(AssertionError, match="off by up to 0.5"):
        expect_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.5]), "values")
    with pytest.raises(AssertionError, match="shape"):
        expect_close(torch.ones(2), torch.ones(3), "values")


# ---------------------------------------------------------------------------------------------- models

def test_histogram_counts_and_inverse_cdf_samples_match():
    probs = fit_histogram(torch.tensor([0, 1, 1, 3]), 4)
    assert probs.tolist() == [0.25, 0.5, 0.0, 0.25]
    draws = sample_inverse_cdf(probs, 40000, torch.Generator().manual_seed(0))
    assert int((draws == 2).sum()) == 0
    expect_close(fit_histogram(draws, 4), probs, "sample frequencies", atol=0.01)
    assert torch.equal(draws, sample_inverse_cdf(probs, 40000, torch.Generator().manual_seed(0)))


@pytest.mark.parametrize("bad, message", [(torch.tensor([0.5, 1.0]), "integers"), (torch.tensor([0, 4]), r"\[0, 3\]"),
                                          (torch.tensor([[0, 1]]), "dimensions")])
def test_histogram_rejects_bad_data(bad, message):
    with pytest.raises((TypeError, ValueError), match=message):
        fit_histogram(bad, 4)


def test_inverse_cdf_rejects_non_probabilities():
    with pytest.raises(ValueError, match="sum to 1"):
        sample_inverse_cdf(torch.tensor([0.5, 0.6]), 3)


def brute_force_mixture(x, weights, means, scales, num_values):
    """P(x) by summing component masses computed from float64 sigmoid differences, edges as tails."""
    total = torch.zeros(len(x), dtype=torch.float64)
    for w, mu, s in zip(torch.softmax(weights.double(), 0), means.double(), scales.double()):
        cdf = lambda t: torch.sigmoid((t - mu) / s)
        upper = torch.where(x == num_values - 1, torch.ones_like(x, dtype=torch.float64), cdf(x + 0.5))
        lower = torch.where(x == 0, torch.zeros_like(x, dtype=torch.float64), cdf(x - 0.5))
        total += w * (upper - lower)
    return total


@pytest.mark.parametrize("num_values, components", [(2, 1), (20, 3), (256, 5)])
def test_logistic_mixture_matches_brute_force_and_sums_to_one(num_values, components):
    g = torch.Generator().manual_seed(num_values)
    weights, means = torch.randn(components, generator=g), torch.rand(components, generator=g) * num_values
    log_scales = torch.randn(components, generator=g)
    x = torch.arange(num_values)
    log_p = discretized_logistic_mixture_log_prob(x, weights, means, log_scales, num_values)
    expect_close(log_p.exp(), brute_force_mixture(x, weights, means, log_scales.exp(), num_values), "P(x)", atol=1e-5)
    assert abs(float(log_p.double().exp().sum()) - 1) < 1e-5


def test_logistic_mixture_is_finite_far_in_the_tails():
    log_p = discretized_logistic_mixture_log_prob(torch.arange(256), torch.zeros(1), torch.tensor([3.0]),
                                                  torch.tensor([-2.0]), 256)
    assert torch.isfinite(log_p).all() and float(log_p[-2]) < -100


def test_logistic_mixture_samples_follow_its_probabilities():
    model = DiscretizedLogisticMixture(30, num_components=2)
    draws = sample(model, 40000, generator=torch.Generator().manual_seed(1))
    assert draws.shape == (40000,) and draws.dtype == torch.long
    with torch.no_grad():
        expect_close(fit_histogram(draws, 30), model.probs().double(), "sample frequencies", atol=0.012)
    # the direct sampler (component, then inverse CDF, then rounding) draws from the same probabilities
    weights, means, log_scales = torch.tensor([0.3, -0.3]), torch.tensor([1.0, 6.5]), torch.tensor([0.0, -0.5])
    direct = sample_discretized_logistic_mixture(weights.expand(40000, -1), means.expand(40000, -1),
                                                 log_scales.expand(40000, -1), 10, torch.Generator().manual_seed(0))
    assert direct.shape == (40000,) and direct.dtype == torch.long
    probs = discretized_logistic_mixture_log_prob(torch.arange(10), weights, means, log_scales, 10).exp()
    expect_close(fit_histogram(direct, 10), probs.double(), "direct sample frequencies", atol=0.01)
    one = sample_discretized_logistic_mixture(weights, means, log_scales, 10, torch.Generator().manual_seed(0))
    assert one.shape == () and 0 <= int(one) < 10                # unbatched parameters: one draw


def test_one_variable_models_give_the_same_logits_for_every_input():
    softmax = SoftmaxDistribution(4)
    mixture = DiscretizedLogisticMixture(6, num_components=2)
    with torch.no_grad():
        softmax.logits.copy_(torch.tensor([0.5, -1.0, 2.0, 0.0]))
    for model in (softmax, mixture):
        x = torch.arange(model.num_values)
        logits = model(x)
        assert logits.shape == (model.num_values, model.num_values)
        expect_close(logits.softmax(-1), model.probs().expand(model.num_values, -1), "softmax of the logits")
        expect_close(model.log_prob(x), categorical_log_prob(logits, x), "log_prob")
        expect_close(model.log_prob(x).exp(), model.probs(), "P(x)")


def test_logistic_mixture_rejects_mismatched_parameters():
    with pytest.raises(ValueError, match="same shape"):
        discretized_logistic_mixture_log_prob(torch.tensor([1]), torch.zeros(2), torch.zeros(3), torch.zeros(2), 5)


def test_joint2d_probabilities_and_samples_agree():
    model = randomized(Joint2D(4), seed=3)
    pairs = torch.cartesian_prod(torch.arange(4), torch.arange(4))
    with torch.no_grad():
        table = model.log_prob(pairs).exp()
        expect_close(table.reshape(4, 4), model.joint_probs(), "joint table")
    assert abs(float(table.sum()) - 1) < 1e-5
    draws = sample(model, 50000, generator=torch.Generator().manual_seed(0))
    assert draws.shape == (50000, 2) and draws.dtype == torch.long
    freq = torch.bincount(draws[:, 0] * 4 + draws[:, 1], minlength=16).double() / len(draws)
    expect_close(freq, table.double(), "pair frequencies", atol=0.01)


def test_models_reject_bad_input():
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        Joint2D(4)(torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="dtype torch.float32"):
        SoftmaxDistribution(4).log_prob(torch.zeros(3))
    with pytest.raises(ValueError, match="max 9"):
        SoftmaxDistribution(4).log_prob(torch.tensor([9]))


def test_sampling_generator_must_match_the_device():
    from utils.sampling import sample_categorical
    with pytest.raises(RuntimeError, match="generator is on cpu"):
        sample_categorical(torch.zeros(2, 3, device="meta"), torch.Generator())
    with pytest.raises(ValueError, match="temperature"):
        sample_categorical(torch.zeros(2, 3), temperature=0)


def test_plots_show_what_they_are_given():
    import numpy as np
    from matplotlib import pyplot as plt
    fig = plotting.plot_distribution_1d(torch.tensor([0, 1, 1]), torch.tensor([0.3, 0.7]), 2)
    ax = fig.axes[0]
    assert [patch.get_height() for patch in ax.patches] == pytest.approx([1 / 3, 2 / 3])   # data frequencies
    assert list(ax.get_lines()[0].get_ydata()) == pytest.approx([0.3, 0.7])               # the model
    plt.close(fig)
    density = np.full((4, 4), 1 / 16)
    fig = plotting.plot_joint_2d(density, 2 * density, torch.tensor([[0, 1], [3, 2], [1, 1], [0, 0], [2, 3]]))
    assert len(fig.axes) == 3 and fig.axes[1].images[0].get_array().max() == pytest.approx(1 / 8)
    assert fig.axes[2].collections[0].get_offsets().tolist() == [[1, 0], [2, 3], [1, 1], [0, 0], [3, 2]]  # (x2, x1)
    assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes] == [("x2", "x1")] * 3     # every panel says its axes
    plt.close(fig)
    images = torch.randint(0, 4, (5, 3, 6, 6), generator=torch.Generator().manual_seed(0))
    grid = plotting.image_grid(images, 4, nrow=5)
    assert grid.shape == (8, 36, 3)                                   # 1-pixel borders around 5 images in a row
    assert np.allclose(grid[1:7, 1:7], images[0].permute(1, 2, 0).numpy() / 3)
    fig = plotting.plot_samples(images, 4)
    assert np.allclose(fig.axes[0].images[0].get_array(), plotting.image_grid(images, 4))
    plt.close(fig)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        plotting.image_grid(torch.zeros(3, 6, 6), 2)


def test_names_round_trip_and_reject_bad_words():
    codes = data.encode_names(["ada", "bob"])
    assert codes.shape == (2, data.NAME_LENGTH) and codes[0, 3] == 0
    assert data.decode_names(codes) == ["ada", "bob"]
    test_codes = data.load("names").test[:3]
    assert torch.equal(data.encode_names(data.decode_names(test_codes)), test_codes)   # the stored codes round-trip
    with pytest.raises(ValueError, match="letters a-z"):
        data.encode_names(["Zoë"])
