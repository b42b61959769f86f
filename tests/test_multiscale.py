"""The multiscale model (utils.models.multiscale): exact likelihood, the dependency structure of its
two levels, the number of sequential evaluations of its parallel sampler, and the subscale order.

Every structural claim is measured on the model (perturb an input, see which outputs move), and the
exactness claim by summing p(x) over every 4 x 4 binary image.
"""
import itertools

import matplotlib
import pytest
import torch

from utils.checks import DependencyReport, dependency_matrix, dependency_report
from utils.models.multiscale import (MultiscaleModel, from_slices, plot_generation_order, subscale_order,
                                     to_slices)
from utils.models.pixelcnn import PixelCNN
from utils.sampling import sample

matplotlib.use("Agg")


def small(shape=(1, 4, 4), num_values=2, **kwargs):
    torch.manual_seed(0)
    options = dict(hidden_channels=8, coarse_layers=2, slice_layers=2) | kwargs
    model = MultiscaleModel(shape, num_values, **options)
    with torch.no_grad():                 # sharper logits: a leak or a wrong sum would show clearly
        for p in model.parameters():
            p.mul_(3)
    return model


def every_binary_image(height, width):
    return torch.tensor(list(itertools.product([0, 1], repeat=height * width))).reshape(-1, 1, height, width)


# ----------------------------------------------------------------------------------------------
# exactness


@pytest.mark.parametrize("nested", [False, True])
@torch.no_grad()
def test_probabilities_of_every_4x4_binary_image_sum_to_one(nested):
    """The exactness proof: sum over all 2^16 images of p(x) = 1 (random weights, two or three levels)."""
    if nested:
        torch.manual_seed(1)
        model = MultiscaleModel((1, 4, 4), 2, hidden_channels=8, slice_layers=2,
                                coarse=MultiscaleModel((1, 2, 2), 2, hidden_channels=8, coarse_layers=2))
    else:
        model = small()
    log_p = model.log_prob(every_binary_image(4, 4)).double()
    assert abs(float(torch.logsumexp(log_p, 0))) < 1e-5


@torch.no_grad()
def test_log_prob_is_the_sum_of_the_two_levels():
    model = small((1, 6, 4), num_values=3)
    x = torch.randint(0, 3, (5, 1, 6, 4))
    coarse = model.coarse.log_prob(x[:, :, ::2, ::2])
    logits = model(x)
    rest = torch.log_softmax(logits, -1).gather(-1, x[..., None])[..., 0]
    rest[:, :, ::2, ::2] = 0
    assert torch.allclose(model.log_prob(x), coarse + rest.flatten(1).sum(1), atol=1e-4)


def test_slices_round_trip():
    x = torch.arange(2 * 3 * 6 * 9).reshape(2, 3, 6, 9)
    slices = to_slices(x, 3)
    assert slices.shape == (2, 9, 3, 2, 3)
    assert torch.equal(slices[:, 5], x[:, :, 1::3, 2::3])
    assert torch.equal(from_slices(slices, 3), x)


# ----------------------------------------------------------------------------------------------
# structure: level 1 autoregressive, each slice in one step, seeing only earlier slices


def test_level_one_is_an_autoregressive_pixelcnn_over_the_subsampled_image():
    model = small((1, 8, 8))
    assert isinstance(model.coarse, PixelCNN) and model.coarse.event_shape == (1, 4, 4)
    dependency_report(model.coarse, (1, 4, 4), 2).assert_autoregressive()


@pytest.mark.parametrize("shape,num_values", [((1, 6, 6), 2), ((2, 4, 4), 3)])
def test_no_output_depends_on_its_own_step_or_a_later_one(shape, num_values):
    """Against generation_step: a slice's outputs see neither its own slice nor later ones, and slice 0
    is raster-autoregressive (the same report with `ordering` for the one-position-at-a-time view)."""
    model = small(shape, num_values)
    dep = dependency_matrix(model, shape, num_values)
    DependencyReport(dep, model.generation_step.flatten(), shape).assert_autoregressive()
    dependency_report(model, shape, num_values, ordering=model.ordering).assert_autoregressive()
    # and the last slice does use what it may see: the coarse image and both other slices
    steps = model.generation_step.flatten()
    first_parallel = model.sequential_evaluations - 3
    last = steps == model.sequential_evaluations - 1
    for earlier in (steps < first_parallel, steps == first_parallel, steps == first_parallel + 1):
        assert bool(dep[last][:, earlier].any())


def test_a_leaking_slice_net_is_caught():
    model = small((1, 4, 4))

    def outputs(x):                            # slice 1's logits made to read slice 1 itself
        logits = model(x).clone()
        logits[:, :, 0::2, 1::2, 1] += x[:, :, 0::2, 1::2].float()
        return logits.reshape(len(x), 16, -1)

    dep = dependency_matrix(None, (1, 4, 4), 2, output_fn=outputs)
    with pytest.raises(AssertionError, match="not autoregressive"):
        DependencyReport(dep, model.generation_step.flatten(), (1, 4, 4)).assert_autoregressive()


# ----------------------------------------------------------------------------------------------
# sampling


def count_evaluations(model, run):
    """Run `run()` and count the network evaluations it makes: forward calls of the coarse PixelCNN
    (uncached sampling) and of every SliceNet."""
    calls = []
    networks = [module for module in model.modules() if isinstance(module, PixelCNN)] + list(
        net for module in model.modules() if isinstance(module, MultiscaleModel) for net in module.slice_nets)
    handles = [net.register_forward_hook(lambda *_: calls.append(1)) for net in networks]
    try:
        result = run()
    finally:
        for handle in handles:
            handle.remove()
    return result, len(calls)


def test_sampling_takes_49_plus_3_sequential_evaluations_at_14x14():
    model = small((1, 14, 14))
    assert model.sequential_evaluations == 49 + 3
    x, calls = count_evaluations(model, lambda: model.sample(3, torch.Generator().manual_seed(0), cached=False))
    assert calls == 52
    assert x.shape == (3, 1, 14, 14) and x.dtype == torch.long and int(x.max()) <= 1 and int(x.min()) >= 0
    steps = model.generation_step[0]
    assert torch.equal(steps[::2, ::2].flatten(), torch.arange(49))
    assert set(steps[0::2, 1::2].flatten().tolist()) == {49}
    assert set(steps[1::2, 0::2].flatten().tolist()) == {50}
    assert set(steps[1::2, 1::2].flatten().tolist()) == {51}


def test_hierarchy_of_three_levels_counts_its_steps():
    torch.manual_seed(0)
    model = MultiscaleModel((1, 8, 8), 2, hidden_channels=6, slice_layers=1,
                            coarse=MultiscaleModel((1, 4, 4), 2, hidden_channels=6, coarse_layers=2, slice_layers=1))
    assert model.sequential_evaluations == 4 + 3 + 3
    _, calls = count_evaluations(model, lambda: model.sample(2, cached=False))
    assert calls == 10


@torch.no_grad()
def test_sampling_is_deterministic_and_matches_the_distribution():
    model = small((1, 2, 2), hidden_channels=6)
    one = model.sample(5, torch.Generator().manual_seed(3))
    assert torch.equal(one, model.sample(5, torch.Generator().manual_seed(3)))
    assert torch.equal(one, model.sample(5, torch.Generator().manual_seed(3), cached=False))
    # the empirical distribution of 4000 parallel samples of the 16 possible 2 x 2 images is p(x)
    images = every_binary_image(2, 2)
    p = model.log_prob(images).exp()
    drawn = model.sample(4000, torch.Generator().manual_seed(0))
    codes = (drawn.flatten(1) * torch.tensor([8, 4, 2, 1])).sum(1)
    frequencies = torch.bincount(codes, minlength=16).float() / 4000
    assert float((frequencies - p).abs().max()) < 0.03
    # and the shared one-position-at-a-time loop drives the same model through `ordering`
    assert sample(model, 3, generator=torch.Generator().manual_seed(0)).shape == (3, 1, 2, 2)


# ----------------------------------------------------------------------------------------------
# bad input


def test_bad_input_raises_clear_errors():
    model = small((1, 4, 4))
    with pytest.raises(ValueError, match="shape"):
        model.log_prob(torch.zeros(2, 1, 4, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="values must lie"):
        model.log_prob(torch.full((2, 1, 4, 4), 2))
    with pytest.raises(TypeError, match="integers"):
        model.log_prob(torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match="not class-conditional"):
        model.log_prob(torch.zeros(2, 1, 4, 4, dtype=torch.long), condition=torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="multiples of factor"):
        MultiscaleModel((1, 7, 8), 2)
    with pytest.raises(ValueError, match="at least 2"):
        MultiscaleModel((1, 4, 4), 2, factor=1)
    with pytest.raises(ValueError, match="coarse must model the slices"):
        MultiscaleModel((1, 8, 8), 2, coarse=PixelCNN((1, 8, 8), 2))
    with pytest.raises(ValueError, match="positive int"):
        model.sample(0)


# ----------------------------------------------------------------------------------------------
# the subscale order


def test_subscale_order_is_a_permutation_with_the_right_slices():
    rank = subscale_order(8, 8, 4)
    assert torch.equal(rank.flatten().sort().values, torch.arange(64))
    for s in range(16):                                   # slice s holds steps 4s ... 4s + 3
        i, j = divmod(s, 4)
        block = rank[i::4, j::4]
        assert torch.equal(block.flatten(), torch.arange(4 * s, 4 * s + 4))     # raster order inside a slice
    assert torch.equal(subscale_order(4, 6, 1), torch.arange(24).reshape(4, 6))   # factor 1: raster order
    rank = subscale_order(6, 4, 2)
    assert torch.equal(rank.flatten().sort().values, torch.arange(24))
    assert rank[1, 0] == 12 and rank[0, 1] == 6 and rank[5, 3] == 23
    with pytest.raises(ValueError, match="multiples of factor"):
        subscale_order(8, 6, 4)


def test_plot_generation_order_returns_a_figure():
    figure = plot_generation_order(subscale_order(8, 8, 4), "subscale order, factor 4", factor=4)
    assert isinstance(figure, matplotlib.figure.Figure)
    assert len(figure.axes[0].texts) == 64
    with pytest.raises(ValueError, match="one number per pixel"):
        plot_generation_order(torch.arange(4))
    matplotlib.pyplot.close("all")


# ----------------------------------------------------------------------------------------------
# the benchmark runs (tiny budget: figures are not tested here)


def test_the_benchmark_prints_nll_and_sequential_evaluations_for_both_models(capsys):
    from utils.bench import multiscale as bench
    rows = bench.main(["--seconds", "0.2", "--samples", "2", "--dataset", "digits"])     # 8 x 8 images
    printed = capsys.readouterr().out
    assert [row["sequential_evaluations"] for row in rows] == [64, 16 + 3]
    for row in rows:
        assert row["steps"] >= 1 and 0 < row["nats_per_dim"] < 0.75 and row["sample_seconds"] > 0, row
        assert row["model"] in printed
    assert "independent pixels" in printed
