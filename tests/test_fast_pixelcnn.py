"""Fast PixelCNN caching (start_cache / cached_step of PixelCNN and GatedPixelCNN) and PixelCNNs at another size.

The cached step computes every layer at one pixel from the windows its masked kernels read (the gated
model's vertical stack: one row at a time, once the row is complete); it must
give what the full forward pass gives (float64: to rounding, and bit-for-bit the same samples with
the same generator; float32: logits within 1e-5), for every option of the classes, at every step and
after any prefix. `with_image_shape` gives the same layers for another height and width: still
autoregressive, weights shared, and a clear error for models that have parts sized to their shape.
Speed is measured by `python -m utils.bench.fast_pixelcnn`, not tested.
"""
import pytest
import torch

from utils.checks import dependency_report
from utils.models import (MADE, AutoregressiveRNN, GatedPixelCNN, PixelCNN, PixelSNAIL, Transformer, WaveNet,
                          with_image_shape)
from utils.ordering import model_order
from utils.sampling import sample

# (model class, image_shape, K, constructor options, num_classes): every option of both classes
OPTIONS = {
    "binary": (PixelCNN, (1, 5, 6), 2, dict(hidden_channels=6, num_layers=3, first_kernel_size=5), None),
    "rgb-groups": (PixelCNN, (3, 4, 5), 4, dict(hidden_channels=6, num_layers=3, first_kernel_size=3), None),
    "rgb-no-channel-masks": (PixelCNN, (3, 4, 4), 3, dict(hidden_channels=5, num_layers=2, channel_masks=False), None),
    "conditional-rgb": (PixelCNN, (3, 3, 4), 2, dict(hidden_channels=9, num_layers=3, first_kernel_size=5), 3),
    "no-residual-blocks": (PixelCNN, (2, 3, 4), 3, dict(hidden_channels=4, num_layers=1, first_kernel_size=3), None),
    "kernels-wider-than-the-image": (PixelCNN, (1, 2, 3), 5, dict(hidden_channels=4, num_layers=3, first_kernel_size=7,
                                                                  kernel_size=5), None),
    "gated-binary": (GatedPixelCNN, (1, 5, 6), 2, dict(hidden_channels=6, num_layers=3, kernel_size=3), None),
    "gated-rgb-conditional": (GatedPixelCNN, (3, 4, 5), 3, dict(hidden_channels=6, num_layers=3, kernel_size=5), 2),
    "gated-mixture-rgb": (GatedPixelCNN, (3, 3, 4), 6, dict(hidden_channels=6, num_layers=2, kernel_size=3,
                                                            output="logistic_mixture", num_components=2), None),
    "gated-one-layer": (GatedPixelCNN, (2, 3, 4), 3, dict(hidden_channels=4, num_layers=1, kernel_size=3), None),
    "gated-kernel-wider-than-the-image": (GatedPixelCNN, (1, 3, 2), 4, dict(hidden_channels=4, num_layers=3,
                                                                            kernel_size=7), None),
}


def build(name: str, dtype=torch.float64, scale: float = 0.5) -> tuple[PixelCNN | GatedPixelCNN, int | None]:
    """The model of OPTIONS[name] with N(0, scale^2) weights (a fixed seed), in eval mode, and its num_classes."""
    model_class, image_shape, num_values, options, num_classes = OPTIONS[name]
    torch.manual_seed(0)
    model = model_class(image_shape, num_values, num_classes=num_classes, **options).to(dtype)
    generator = torch.Generator().manual_seed(sum(map(ord, name)))
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator, dtype=dtype) * scale)
    return model.eval(), num_classes


def labels(num_classes: int | None, n: int):
    return None if num_classes is None else torch.arange(n) % num_classes


def cached_logits(model, x, condition=None) -> torch.Tensor:
    """(n, P, K): the cached step's logits of every position, taken in generation order, laid out like forward's."""
    n = len(x)
    cache = model.start_cache(n, condition)
    out = torch.empty(n, x[0].numel(), model.num_values, dtype=next(model.parameters()).dtype)
    with torch.no_grad():
        for step, position in enumerate(model_order(model).tolist()):
            out[:, position] = model.cached_step(x, step, cache, condition)
    return out


@pytest.mark.parametrize("name", OPTIONS)
@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_cached_step_gives_the_logits_of_the_full_forward_pass(name, dtype, tolerance):
    model, num_classes = build(name, dtype)
    x = torch.randint(0, model.num_values, (4, *model.image_shape), generator=torch.Generator().manual_seed(1))
    condition = labels(num_classes, 4)
    with torch.no_grad():
        full = model(x, condition).reshape(4, -1, model.num_values)
    torch.testing.assert_close(cached_logits(model, x, condition), full, atol=tolerance, rtol=tolerance)


@pytest.mark.parametrize("name", OPTIONS)
def test_cached_and_naive_sampling_draw_identical_images(name):
    model, num_classes = build(name, scale=1.0)
    for seed, options in enumerate([dict(), dict(temperature=0.7), dict(top_k=2), dict(greedy=True)]):
        draw = lambda cached: sample(model, 6, condition=labels(num_classes, 6), cached=cached,
                                     generator=torch.Generator().manual_seed(seed), **options)
        assert torch.equal(draw(True), draw(False)), options


@pytest.mark.parametrize("name", ["rgb-groups", "conditional-rgb", "gated-rgb-conditional"])
def test_identical_samples_after_a_prefix_of_any_length(name):
    model, num_classes = build(name, scale=1.0)
    num_positions = model.image_shape[0] * model.image_shape[1] * model.image_shape[2]
    channels, width = model.image_shape[0], model.image_shape[2]
    # none, one sub-pixel, part of a pixel, one pixel, one row and a bit, all but one, everything
    for given in (0, 1, channels - 1, channels, channels * width + 2, num_positions - 1, num_positions):
        prefix = torch.randint(0, model.num_values, (5, given), generator=torch.Generator().manual_seed(given))
        draw = lambda cached: sample(model, 5, condition=labels(num_classes, 5), prefix=prefix, cached=cached,
                                     generator=torch.Generator().manual_seed(3))
        cached = draw(True)
        assert torch.equal(cached, draw(False)), f"prefix of {given} values"
        assert torch.equal(cached.reshape(5, -1)[:, model_order(model)[:given]], prefix)


@pytest.mark.parametrize("name", ["rgb-groups", "gated-mixture-rgb"])
def test_float32_samples_are_identical_too(name):
    model, _ = build(name, torch.float32, scale=1.0)
    for seed in range(3):
        assert torch.equal(sample(model, 8, generator=torch.Generator().manual_seed(seed)),
                           sample(model, 8, generator=torch.Generator().manual_seed(seed), cached=False))


@pytest.mark.parametrize("name", ["binary", "gated-binary"])
def test_the_steps_come_in_order_and_are_checked(name):
    model, _ = build(name)
    x = torch.zeros(2, *model.image_shape, dtype=torch.long)
    cache = model.start_cache(2)
    model.cached_step(x, 0, cache)
    with pytest.raises(ValueError, match="steps 0, 1, 2, ... in order: expected step 1, got 2"):
        model.cached_step(x, 2, cache)
    with pytest.raises(ValueError, match="shape"):
        model.cached_step(torch.zeros(2, 1, 3, 3, dtype=torch.long), 0, model.start_cache(2))
    with pytest.raises(ValueError, match="class-conditional"):
        build("conditional-rgb" if name == "binary" else "gated-rgb-conditional")[0].start_cache(2)


@pytest.mark.parametrize("name", ["rgb-groups", "gated-rgb-conditional"])
def test_the_cached_step_never_reads_a_later_value(name):
    """Values at or after the current sub-pixel (garbage here) do not change the cached step's logits."""
    model, num_classes = build(name)
    condition = labels(num_classes, 3)
    x = torch.randint(0, model.num_values, (3, *model.image_shape), generator=torch.Generator().manual_seed(4))
    order = model_order(model)
    cache, noisy_cache = model.start_cache(3, condition), model.start_cache(3, condition)
    with torch.no_grad():
        for step in range(len(order)):
            noisy = x.clone().reshape(3, -1)
            noisy[:, order[step:]] = torch.randint(0, model.num_values, (3, len(order) - step))
            torch.testing.assert_close(model.cached_step(noisy.reshape(x.shape), step, noisy_cache, condition),
                                       model.cached_step(x, step, cache, condition), atol=1e-12, rtol=0)


# ----------------------------------------------------------------------------------------------
# another image size


@pytest.mark.parametrize("name, new_shape", [("binary", (1, 7, 9)), ("rgb-groups", (3, 3, 6)),
                                             ("conditional-rgb", (3, 5, 2))])
def test_a_resized_pixelcnn_is_autoregressive_and_shares_the_weights(name, new_shape):
    model, num_classes = build(name)
    old_shape = model.image_shape
    resized = with_image_shape(model, new_shape)
    assert resized is not model and type(resized) is PixelCNN
    assert resized.image_shape == resized.event_shape == new_shape and model.image_shape == old_shape
    assert [id(p) for p in resized.parameters()] == [id(p) for p in model.parameters()], "the same weights"
    condition = None if num_classes is None else torch.tensor([1])
    with_condition = lambda x: None if condition is None else condition.expand(len(x))
    outputs = lambda x: resized(x, with_condition(x)).reshape(len(x), x[0].numel(), -1)
    report = dependency_report(resized, new_shape, resized.num_values, output_fn=outputs, atol=1e-12)
    report.assert_autoregressive()
    # the same logits as a PixelCNN built at the new size with these weights
    _, image_shape, num_values, options, _ = OPTIONS[name]
    built = PixelCNN(new_shape, num_values, num_classes=num_classes, **options).double().eval()
    built.load_state_dict(model.state_dict())
    x = torch.randint(0, num_values, (3, *new_shape), generator=torch.Generator().manual_seed(5))
    three = labels(num_classes, 3)
    with torch.no_grad():
        torch.testing.assert_close(resized(x, three), built(x, three), atol=1e-12, rtol=0)
        model.input_conv.weight.mul_(2)                       # editing the original changes the resized model
        assert not torch.allclose(resized(x, three), built(x, three))
    # and the cached step works at the new size
    torch.testing.assert_close(cached_logits(resized, x, three), resized(x, three).reshape(3, -1, num_values).detach(),
                               atol=1e-12, rtol=0)


def test_a_model_trained_small_samples_large_images_with_the_cache():
    model, _ = build("binary", scale=1.0)
    big = with_image_shape(model, (1, 12, 20))
    first = sample(big, 2, generator=torch.Generator().manual_seed(0))
    assert first.shape == (2, 1, 12, 20)
    assert torch.equal(first, sample(big, 2, generator=torch.Generator().manual_seed(0), cached=False))


def test_a_resized_gated_pixelcnn_keeps_full_coverage():
    torch.manual_seed(0)
    gated = GatedPixelCNN((1, 3, 3), 2, hidden_channels=4, num_layers=4, kernel_size=3).double().eval()
    resized = with_image_shape(gated, (1, 4, 5))
    report = dependency_report(resized, (1, 4, 5), 2, atol=1e-12)
    report.assert_autoregressive()
    report.assert_full_coverage()


@pytest.mark.parametrize("build_model", [
    lambda: Transformer(2, image_shape=(1, 3, 3), d_model=8, num_heads=2),
    lambda: WaveNet(2, (1, 2), channels=4, image_shape=(3, 3)),
    lambda: AutoregressiveRNN(2, 4, image_shape=(3, 3)),
    lambda: PixelSNAIL((1, 3, 3), 2, hidden_channels=4, num_blocks=1, layers_per_block=1, num_heads=2),
    lambda: MADE(9, [8], 2),
], ids=["transformer", "wavenet-positions", "rnn", "pixelsnail", "made"])
def test_models_sized_to_their_shape_cannot_be_resized(build_model):
    with pytest.raises(ValueError, match="cannot be used at another size"):
        with_image_shape(build_model(), (1, 6, 6))


def test_the_number_of_channels_cannot_change():
    model, _ = build("rgb-groups")
    with pytest.raises(ValueError, match="number of channels is fixed by the weights"):
        with_image_shape(model, (1, 8, 8))
    with pytest.raises(ValueError, match="image_shape"):
        with_image_shape(model, (3, 0, 8))
