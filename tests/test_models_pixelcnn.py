"""PixelCNN, Gated PixelCNN, the logistic mixture head and the blind-spot map.

Every property is measured on the models themselves (perturb an input, see which outputs move),
and every check is also shown to fail on a deliberately broken model.
"""
import itertools

import pytest
import torch
import torch.nn.functional as F

from utils.checks import dependency_report
from utils.models import gated_pixelcnn
from utils.models.gated_pixelcnn import GatedPixelCNN
from utils.models.image_layers import pixelcnn_mask, to_channels_last
from utils.models.logistic_mixture_head import mixture_params, mixture_value_log_probs, split_mixture_params
from utils.models.pixelcnn import PixelCNN
from utils.receptive_field import receptive_field_map
from utils.sampling import categorical_log_prob, sample


def flat(c, h, w, shape):
    """Flat position of sub-pixel (c, h, w), as used by utils.checks."""
    _, height, width = shape
    return c * height * width + h * width + w


def plain(shape, num_values=3, **kwargs):
    torch.manual_seed(0)
    options = dict(hidden_channels=6, num_layers=3, first_kernel_size=5, kernel_size=3) | kwargs
    return PixelCNN(shape, num_values, **options)


def gated(shape, num_values=3, **kwargs):
    torch.manual_seed(0)
    options = dict(hidden_channels=12, num_layers=3, kernel_size=5) | kwargs
    return GatedPixelCNN(shape, num_values, **options)


def all_images(shape, num_values):
    """Every image of a tiny shape, (K ** (C*H*W), C, H, W)."""
    values = list(itertools.product(range(num_values), repeat=torch.Size(shape).numel()))
    return torch.tensor(values).reshape(-1, *shape)


def footprint_reach(num_layers, kernel_size, image_size, pixel):
    """Which pixels reach `pixel` through one type-A then (num_layers - 1) type-B footprints (H, W) bool."""
    field = torch.zeros(1, 1, image_size, image_size)
    field[0, 0, pixel[0], pixel[1]] = 1
    for mask_type in ["B"] * (num_layers - 1) + ["A"]:
        footprint = pixelcnn_mask(kernel_size, mask_type).flip(2, 3)    # which inputs an output sees
        field = (F.conv2d(field, footprint, padding=kernel_size // 2) > 0).float()
    return field[0, 0].bool()


# ----------------------------------------------------------------------------------------------
# masks


def test_mask_hides_the_centre_in_type_a_and_shows_it_in_type_b():
    expected_a = torch.tensor([[1., 1, 1], [1, 0, 0], [0, 0, 0]])
    expected_b = torch.tensor([[1., 1, 1], [1, 1, 0], [0, 0, 0]])
    assert torch.equal(pixelcnn_mask(3, "A")[0, 0], expected_a)
    assert torch.equal(pixelcnn_mask(3, "B")[0, 0], expected_b)
    assert pixelcnn_mask(5, "B", 4, 2).shape == (2, 4, 5, 5)


def test_mask_orders_colour_groups_at_the_centre():
    # 3 input channels (R, G, B), 6 output channels: two per colour
    centre_a = pixelcnn_mask(3, "A", 3, 6, color_groups=3)[:, :, 1, 1]
    centre_b = pixelcnn_mask(3, "B", 3, 6, color_groups=3)[:, :, 1, 1]
    assert torch.equal(centre_a, torch.tensor([[0., 0, 0], [0, 0, 0], [1, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 0]]))
    assert torch.equal(centre_b, torch.tensor([[1., 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 0], [1, 1, 1], [1, 1, 1]]))
    # away from the centre every channel sees every channel
    assert bool((pixelcnn_mask(3, "A", 3, 6, color_groups=3)[:, :, 0, :] == 1).all())


@pytest.mark.parametrize("args, error, match", [
    ((4, "A"), ValueError, "odd"),
    ((3, "C"), ValueError, "mask_type"),
    ((3, "B", 3, 4, 3), ValueError, "multiple of color_groups"),
])
def test_mask_rejects_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        pixelcnn_mask(*args)


# ----------------------------------------------------------------------------------------------
# the autoregressive property, with the channel order inside a pixel


MODELS = {
    "pixelcnn": lambda shape: plain(shape),
    "gated": lambda shape: gated(shape),
    "gated_mixture": lambda shape: gated(shape, output="logistic_mixture", num_components=2),
}


@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("shape", [(1, 6, 6), (3, 4, 4)])
def test_models_are_autoregressive_in_raster_then_channel_order(kind, shape):
    model = MODELS[kind](shape)
    report = dependency_report(model, shape, 3)
    report.assert_autoregressive()
    if shape[0] == 3:
        # inside pixel (2, 1): G sees R, B sees R and G; R sees neither
        r, g, b = (flat(c, 2, 1, shape) for c in range(3))
        assert report.dep[g, r] and report.dep[b, r] and report.dep[b, g]
        assert not report.dep[r, g] and not report.dep[r, b] and not report.dep[g, b]


def test_without_channel_masks_a_pixel_sees_none_of_its_own_channels():
    shape = (3, 4, 4)
    report = dependency_report(plain(shape, channel_masks=False), shape, 3)
    report.assert_autoregressive()
    r, g = flat(0, 2, 1, shape), flat(1, 2, 1, shape)
    assert not report.dep[g, r]


def test_the_plain_pixelcnn_has_a_blind_spot_that_the_check_detects():
    shape = (1, 8, 8)
    model = plain(shape, 2, hidden_channels=12, num_layers=4, first_kernel_size=3).double()
    report = dependency_report(model, shape, 2, atol=1e-12)
    report.assert_autoregressive()
    counts = report.unseen_counts()
    print(f"plain PixelCNN 8x8, 4 layers of 3x3: {int((counts > 0).sum())} of 64 outputs miss earlier pixels, "
          f"{int(counts.sum())} missed in total, at most {int(counts.max())} for one output")
    assert int(counts.sum()) > 0
    # exactly the pixels that the stacked mask footprints cannot reach
    earlier = torch.arange(64)[None, :] < torch.arange(64)[:, None]
    reach = torch.stack([footprint_reach(4, 3, 8, (p // 8, p % 8)).flatten() for p in range(64)])
    assert torch.equal(counts, (earlier & ~reach).sum(1))
    # pixel (4, 2) cannot see the pixel just above and 3 to the right: the blind spot of stacked masks
    assert flat(0, 3, 5, shape) in report.unseen(flat(0, 4, 2, shape))
    with pytest.raises(AssertionError, match="blind spot"):
        report.assert_full_coverage()


@pytest.mark.parametrize("shape, num_layers", [((1, 7, 7), 3), ((3, 4, 4), 2)])
def test_a_deep_enough_gated_pixelcnn_sees_every_earlier_subpixel(shape, num_layers):
    # with k=5 each layer widens the field by 2 columns: 3 layers cover a 7-pixel-wide image.
    # Far pixels have tiny effects at initialisation, so measure in float64 with a tiny tolerance.
    model = gated(shape, num_layers=num_layers).double()
    report = dependency_report(model, shape, 3, atol=1e-12)
    report.assert_autoregressive()
    assert int(report.unseen_counts().sum()) == 0
    report.assert_full_coverage()


def test_a_pixelcnn_with_a_type_b_first_layer_is_caught():
    shape = (1, 5, 5)
    model = plain(shape)
    model.input_conv.mask.copy_(pixelcnn_mask(5, "B", 1, 6))     # the first layer now sees its own pixel
    report = dependency_report(model, shape, 3)
    assert (flat(0, 2, 2, shape), flat(0, 2, 2, shape)) in report.violations()
    with pytest.raises(AssertionError, match="not autoregressive"):
        report.assert_autoregressive()


def test_a_gated_pixelcnn_whose_vertical_stack_is_not_shifted_down_is_caught(monkeypatch):
    shape = (1, 5, 5)
    monkeypatch.setattr(gated_pixelcnn, "shift_down", lambda v: v)
    report = dependency_report(gated(shape), shape, 3)
    # the vertical stack covers the current row, right of the pixel included
    assert (flat(0, 2, 1, shape), flat(0, 2, 3, shape)) in report.violations()
    with pytest.raises(AssertionError, match="not autoregressive"):
        report.assert_autoregressive()


def test_a_gated_pixelcnn_with_a_type_b_first_horizontal_mask_is_caught():
    shape = (3, 4, 4)
    model = gated(shape)
    first = model.layers[0].horizontal
    leaky = pixelcnn_mask(5, "B", 3, 12, color_groups=3)[:, :, 2:3, :]
    first.mask.copy_(torch.cat([leaky, leaky]))
    with pytest.raises(AssertionError, match="itself"):
        dependency_report(model, shape, 3).assert_autoregressive()


# ----------------------------------------------------------------------------------------------
# class conditioning


@pytest.mark.parametrize("make", [plain, gated])
def test_conditions_change_the_outputs_and_the_model_stays_autoregressive(make):
    shape = (1, 5, 5)
    model = make(shape, num_classes=4)
    x = torch.randint(0, 3, (2, *shape), generator=torch.Generator().manual_seed(1))
    out_0 = model(x, torch.tensor([0, 0]))
    out_3 = model(x, torch.tensor([3, 3]))
    assert (out_0 - out_3).abs().max() > 1e-4
    assert torch.allclose(model(x, torch.tensor([0, 3]))[0], out_0[0])      # one class per image
    assert torch.allclose(model(x, 3), out_3)                               # one int for the whole batch
    fixed = torch.tensor([2])
    outputs = lambda batch: model(batch, fixed.expand(len(batch))).reshape(len(batch), 25, -1)
    report = dependency_report(model, shape, 3, output_fn=outputs)
    report.assert_autoregressive()
    condition = torch.tensor([1, 2])
    log_prob = model.log_prob(x, condition)
    assert torch.allclose(log_prob, categorical_log_prob(model(x, condition), x))
    assert not torch.allclose(log_prob, model.log_prob(x, torch.tensor([0, 0])))


@pytest.mark.parametrize("make", [plain, gated])
def test_conditions_are_required_by_conditional_models_only(make):
    x = torch.zeros(2, 1, 5, 5, dtype=torch.long)
    with pytest.raises(ValueError, match="class-conditional: pass condition="):
        make((1, 5, 5), num_classes=4)(x)
    with pytest.raises(ValueError, match="not class-conditional"):
        make((1, 5, 5))(x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"condition values must lie in \[0, 3\]"):
        make((1, 5, 5), num_classes=4)(x, torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="one class per example"):
        make((1, 5, 5), num_classes=4)(x, torch.tensor([1]))
    with pytest.raises(ValueError, match="class-conditional: pass condition="):
        sample(make((1, 5, 5), num_classes=4), 2)


# ----------------------------------------------------------------------------------------------
# the differentiable seam


@pytest.mark.parametrize("make, options", [(plain, {}), (gated, {}), (gated, {"output": "logistic_mixture"}),
                                            (plain, {"num_classes": 3})])
def test_forward_is_forward_features_of_input_features(make, options):
    shape, n = (3, 4, 4), 8
    model = make(shape, **options)
    x = torch.randint(0, 3, (n, *shape), generator=torch.Generator().manual_seed(5))
    condition = torch.arange(n) % 3 if "num_classes" in options else None
    features = model.input_features(x)
    assert features.shape == x.shape and features.dtype == torch.float32
    assert torch.equal(features, x.float() - 1)                            # K = 3: values 0, 1, 2 -> -1, 0, 1
    assert torch.equal(model(x, condition), model.forward_features(features, condition))
    # differentiable: the gradient of one logit reaches earlier sub-pixels and never a later one
    features.requires_grad_(True)
    model.forward_features(features, condition)[:, 1, 2, 1].sum().backward()    # G of pixel (2, 1), every image
    reached = features.grad.abs().amax(0).flatten() > 0                          # by any of the n images
    rank = torch.arange(48).reshape(4, 4, 3).permute(2, 0, 1).flatten()          # raster order, R G B in turn
    assert not bool(reached[rank >= int(rank[flat(1, 2, 1, shape)])].any())
    assert bool(reached[flat(0, 2, 1, shape)]) and bool(reached[flat(2, 2, 0, shape)])   # its own R, the pixel left
    features.grad = None
    model.forward_features(features, condition)[0, 1, 2, 1].sum().backward()
    assert not bool(features.grad[1:].any()), "one image's logits must not depend on another image"
    with pytest.raises(TypeError, match="must hold integers"):
        model.input_features(features.detach())


# ----------------------------------------------------------------------------------------------
# probabilities


@pytest.mark.parametrize("make, shape, num_values, options", [
    (plain, (1, 2, 2), 3, {}),
    (plain, (3, 1, 2), 2, {}),
    (gated, (2, 2, 2), 2, {}),
    (gated, (1, 2, 2), 4, {"output": "logistic_mixture", "num_components": 2}),
])
def test_probabilities_of_all_images_sum_to_one(make, shape, num_values, options):
    model = make(shape, num_values, **options)
    with torch.no_grad():
        total = model.log_prob(all_images(shape, num_values)).double().exp().sum()
    assert abs(float(total) - 1) < 1e-4


def test_mixture_head_logits_are_the_mixture_probabilities_of_the_values():
    num_values, shape = 5, (2, 3, 3)
    model = gated(shape, num_values, output="logistic_mixture", num_components=3)
    x = torch.randint(0, num_values, (1, *shape), generator=torch.Generator().manual_seed(2))
    raw = []
    model.output.register_forward_hook(lambda module, inputs, output: raw.append(output))
    with torch.no_grad():
        logits = model(x)                                 # (1, C, H, W, K): log P of every value
    assert logits.shape == (1, *shape, num_values)
    assert torch.allclose(logits.logsumexp(-1), torch.zeros(1, *shape), atol=1e-5)   # already normalised
    params = mixture_params(to_channels_last(raw[0], shape[0]), num_values)           # (1, C, H, W, 3M)
    assert torch.equal(logits, mixture_value_log_probs(params, num_values))
    last = params[0, 1, 2, 2]                           # the last sub-pixel: channel 1 of the bottom-right pixel
    logit_weights, means, log_scales = split_mixture_params(last)
    # brute force: value v gets CDF(v + 0.5) - CDF(v - 0.5), the end values also get the tails
    edges = torch.arange(num_values + 1, dtype=torch.float32) - 0.5
    edges[0], edges[-1] = -float("inf"), float("inf")
    cdf = torch.sigmoid((edges[:, None] - means) / log_scales.exp())             # (K + 1, M)
    expected = ((cdf[1:] - cdf[:-1]) * torch.softmax(logit_weights, 0)).sum(1)  # (K,)
    probs = logits[0, 1, 2, 2].exp()
    assert abs(float(probs.sum()) - 1) < 1e-5
    assert torch.allclose(probs, expected, atol=1e-5)
    # the model's log_prob uses exactly these numbers: change the last sub-pixel, nothing else moves
    images = x.repeat(num_values, 1, 1, 1)
    images[:, 1, 2, 2] = torch.arange(num_values)
    with torch.no_grad():
        log_probs = model.log_prob(images)
    assert torch.allclose(log_probs - log_probs[0], probs.log() - probs[0].log(), atol=1e-4)


# ----------------------------------------------------------------------------------------------
# sampling


@pytest.mark.parametrize("make, options", [(plain, {}), (gated, {}),
                                            (gated, {"output": "logistic_mixture", "num_components": 2})])
def test_sampling_is_reproducible_with_a_generator(make, options):
    model = make((2, 4, 4), 3, **options)
    first = sample(model, 3, generator=torch.Generator().manual_seed(7))
    again = sample(model, 3, generator=torch.Generator().manual_seed(7))
    other = sample(model, 3, generator=torch.Generator().manual_seed(8))
    assert first.shape == (3, 2, 4, 4) and first.dtype == torch.long
    assert int(first.min()) >= 0 and int(first.max()) < 3
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert torch.equal(first, sample(model, 3, generator=torch.Generator().manual_seed(7), cached=False))
    cooler = sample(model, 3, generator=torch.Generator().manual_seed(7), temperature=0.5)
    assert torch.equal(cooler, sample(model, 3, generator=torch.Generator().manual_seed(7), temperature=0.5))


@pytest.mark.parametrize("make", [plain, gated])
def test_completion_keeps_the_given_rows(make):
    model = make((2, 5, 5), 3, num_classes=2)
    top_rows = torch.randint(0, 3, (4, 2, 2, 5), generator=torch.Generator().manual_seed(3))
    prefix = top_rows.permute(0, 2, 3, 1).reshape(4, -1)      # the top rows in raster order, channels in turn
    condition = torch.tensor([0, 1, 0, 1])
    completed = sample(model, 4, generator=torch.Generator().manual_seed(4), condition=condition, prefix=prefix)
    assert torch.equal(completed[:, :, :2], top_rows)
    again = sample(model, 4, generator=torch.Generator().manual_seed(4), condition=condition, prefix=prefix)
    assert torch.equal(completed, again)
    fresh = sample(model, 4, generator=torch.Generator().manual_seed(4), condition=condition)
    assert not torch.equal(completed[:, :, 2:], fresh[:, :, 2:]), "the rows below should depend on the given rows"
    # 13 values: row 0 (5 pixels x 2 channels), pixel (1, 0), and channel 0 of pixel (1, 1): the prefix may
    # end inside a row, even inside a pixel
    part = sample(model, 4, generator=torch.Generator().manual_seed(5), condition=condition, prefix=prefix[:, :13])
    assert torch.equal(part[:, :, 0], top_rows[:, :, 0]) and torch.equal(part[:, :, 1, 0], top_rows[:, :, 1, 0])
    assert torch.equal(part[:, 0, 1, 1], top_rows[:, 0, 1, 1])


def test_sampling_draws_from_the_model_distribution():
    # one binary pixel: the frequency of ones must match the model's probability
    model = plain((1, 1, 1), 2)
    with torch.no_grad():
        model.output[-1].bias.copy_(torch.tensor([0.0, 1.0]))
        p_one = float(model.log_prob(torch.ones(1, 1, 1, 1, dtype=torch.long)).exp())
    samples = sample(model, 4000, generator=torch.Generator().manual_seed(0))
    assert abs(float(samples.float().mean()) - p_one) < 0.03


def test_mixture_sampling_draws_from_the_mixture_probabilities():
    # one pixel, 6 values: the sample frequencies follow the mixture's probabilities (the logits)
    model = gated((1, 1, 1), 6, output="logistic_mixture", num_components=2)
    with torch.no_grad():
        model.output[-1].bias.copy_(torch.tensor([0.5, -0.5, -0.6, 0.4, 0.3, -0.2]))
        probs = model(torch.zeros(1, 1, 1, 1, dtype=torch.long)).exp().flatten().double()
    samples = sample(model, 20000, generator=torch.Generator().manual_seed(0)).flatten()
    frequencies = torch.bincount(samples, minlength=6).double() / len(samples)
    assert float(probs.min()) > 0.02 and float((frequencies - probs).abs().max()) < 0.015


# ----------------------------------------------------------------------------------------------
# clear errors


@pytest.mark.parametrize("make", [plain, gated])
def test_bad_inputs_raise_clear_errors(make):
    model = make((1, 5, 5), 3)
    with pytest.raises(TypeError, match="must hold integers"):
        model(torch.zeros(2, 1, 5, 5))
    with pytest.raises(ValueError, match=r"values must lie in \[0, 2\]"):
        model(torch.full((2, 1, 5, 5), 3))
    with pytest.raises(ValueError, match=r"shape \(N, 1, 5, 5\)"):
        model(torch.zeros(2, 1, 4, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="prefix must hold the first P values"):
        sample(model, 2, prefix=torch.zeros(2, 26, dtype=torch.long))
    with pytest.raises(ValueError, match="prefix must hold the first P values"):
        sample(model, 2, prefix=torch.zeros(3, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="prefix must have 2 dimensions"):
        sample(model, 2, prefix=torch.zeros(2, 1, 2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="n must be a positive int"):
        sample(model, 0)


def test_bad_model_options_raise_clear_errors():
    with pytest.raises(ValueError, match="image_shape"):
        PixelCNN((28, 28), 2)
    with pytest.raises(ValueError, match="multiple of color_groups"):
        PixelCNN((3, 8, 8), 2, hidden_channels=16)
    with pytest.raises(ValueError, match="num_layers must be a positive int"):
        PixelCNN((1, 8, 8), 2, num_layers=0)
    with pytest.raises(ValueError, match="output must be"):
        GatedPixelCNN((1, 8, 8), 2, output="gaussian")
    with pytest.raises(ValueError, match="temperature must be positive"):
        sample(gated((1, 2, 2), output="logistic_mixture"), 1, temperature=0)


# ----------------------------------------------------------------------------------------------
# learning and the blind-spot map


def test_training_lowers_the_test_nll():
    from utils.data import load
    from utils.train import fit
    data = load("digits")
    torch.manual_seed(0)
    model = GatedPixelCNN((1, 8, 8), 2, hidden_channels=16, num_layers=3, kernel_size=3)
    history = fit(model, data.train[:600], data.validation, epochs=1, batch_size=50, lr=3e-3, progress=False)
    assert history.valid_losses[-1] < history.valid_losses[0] - 0.1
    assert history.valid_losses[-1] < 0.6           # nats/dim; a fair coin is ln 2 = 0.69


def test_receptive_field_map_shows_the_blind_spot_of_plain_pixelcnn_only():
    size, layers, pixel = 8, 7, (4, 4)
    plain_field = receptive_field_map("pixelcnn", layers, 3, size, pixel)
    gated_field = receptive_field_map("gated", layers, 3, size, pixel)
    print(f"8x8, {layers} layers of 3x3, pixel {pixel}: plain sees {plain_field.num_seen}, misses "
          f"{plain_field.num_unseen}; gated sees {gated_field.num_seen}, misses {gated_field.num_unseen}")
    assert plain_field.num_seen + plain_field.num_unseen == 36 == gated_field.num_seen
    assert plain_field.num_unseen > 0 and int(plain_field.unseen_counts.sum()) > 0
    assert int(gated_field.unseen_counts.sum()) == 0
    # the measured plain field is exactly the stacked mask footprints
    expected = footprint_reach(layers, 3, size, pixel) & plain_field.earlier
    assert torch.equal(plain_field.seen & plain_field.earlier, expected)
    assert not bool((plain_field.seen & ~plain_field.earlier).any())
    with pytest.raises(ValueError, match="model_kind"):
        receptive_field_map("rnn", 2, 3, 8, (1, 1))
    with pytest.raises(ValueError, match="pixel must be"):
        receptive_field_map("gated", 2, 3, 8, (8, 0))
