"""Every model of utils.models follows the one protocol of utils.sampling, checked the same way for all.

For each model, at a tiny size and with random weights (zero-initialised tables would hide
dependencies and make every distribution uniform):

    forward(x, condition) -> logits (N, *event_shape, K); log_prob (N,) is the categorical log-prob
    of those logits and sums to one over *every* input; the model is autoregressive in its own
    generation order; forward changes nothing; utils.sampling.sample draws reproducibly, with
    temperature, top_k, greedy, prefix, and the cached step (where there is one) gives exactly the
    samples of the full forward pass.

And there is one sampling loop in utils/, not one per model.
"""
import ast
import itertools
import math
import pathlib
from dataclasses import dataclass
from typing import Callable

import pytest
import torch
from torch import nn

from utils.checks import dependency_report
from utils.models import (FVSBN, MADE, NADE, AutoregressiveRNN, DiagonalBiLSTM, DiscretizedLogisticMixture, GatedPixelCNN,
                          Joint2D, PixelCNN, PixelSNAIL, RowLSTM, SoftmaxDistribution, Transformer, WaveNet)
from utils.models.video_pixelcnn import VideoPixelCNN
from utils.ordering import model_order
from utils.sampling import beam_search, categorical_log_prob, sample

UTILS = pathlib.Path(__file__).resolve().parents[1] / "utils"


@dataclass(frozen=True)
class Case:
    build: Callable[[], nn.Module]
    num_classes: int | None = None      # class-conditional models: every call gets a condition
    full_coverage: bool = False         # the architecture promises that every output sees every earlier input
    weight_scale: float = 1.0


def made_with_mask(model: MADE, index: int) -> MADE:
    model.set_mask(index)
    return model


CASES = {
    "fvsbn": Case(lambda: FVSBN(4, 3, ordering=[2, 0, 3, 1]), full_coverage=True),
    "nade": Case(lambda: NADE(4, 5, 3, ordering=[1, 3, 0, 2]), full_coverage=True),
    "made-1-mask-K2": Case(lambda: MADE(5, [8, 8], 2, ordering=[3, 1, 4, 0, 2])),
    "made-1-mask-K3": Case(lambda: MADE(4, [9], 3, ordering=[2, 3, 0, 1])),
    "made-3-masks-K2": Case(lambda: made_with_mask(MADE(5, [10], 2, ordering="random", num_masks=3, seed=2), 1)),
    "made-3-masks-K3": Case(lambda: made_with_mask(MADE(4, [9, 9], 3, ordering="random", num_masks=3, seed=5), 2)),
    "rnn-gru-sequence": Case(lambda: AutoregressiveRNN(3, 8, embedding_size=4, length=5), full_coverage=True),
    "rnn-lstm-sequence": Case(lambda: AutoregressiveRNN(3, 6, cell="lstm", num_layers=2, embedding_size=4, length=4),
                              full_coverage=True),
    "rnn-image": Case(lambda: AutoregressiveRNN(2, 8, embedding_size=4, image_shape=(2, 3)), full_coverage=True),
    "wavenet-sequence": Case(lambda: WaveNet(3, (1, 2), channels=6, length=5), full_coverage=True),   # R = 4
    "wavenet-image": Case(lambda: WaveNet(2, (1, 2, 4), channels=6, image_shape=(2, 3)), full_coverage=True,
                          weight_scale=0.3),
    "wavenet-conditional": Case(lambda: WaveNet(3, (1, 2), kernel_size=3, channels=6, length=4, num_classes=3),
                                num_classes=3, full_coverage=True),
    "pixelcnn-1-channel": Case(lambda: PixelCNN((1, 2, 3), 3, hidden_channels=4, num_layers=2, first_kernel_size=3),
                               weight_scale=0.5),
    "pixelcnn-3-channels": Case(lambda: PixelCNN((3, 1, 2), 2, hidden_channels=6, num_layers=2, first_kernel_size=3),
                                weight_scale=0.5),
    "pixelcnn-rgb-no-channel-masks": Case(lambda: PixelCNN((3, 1, 2), 2, hidden_channels=4, num_layers=3,
                                                           first_kernel_size=3, channel_masks=False), weight_scale=0.5),
    "pixelcnn-conditional": Case(lambda: PixelCNN((1, 2, 2), 3, hidden_channels=4, num_layers=2, first_kernel_size=3,
                                                  num_classes=2), num_classes=2, weight_scale=0.5),
    "gated-categorical": Case(lambda: GatedPixelCNN((1, 2, 3), 3, hidden_channels=4, num_layers=2, kernel_size=3),
                              full_coverage=True, weight_scale=0.5),
    "gated-mixture": Case(lambda: GatedPixelCNN((2, 2, 2), 2, hidden_channels=4, num_layers=2, kernel_size=3,
                                                output="logistic_mixture", num_components=2),
                          full_coverage=True, weight_scale=0.5),
    "gated-mixture-K5": Case(lambda: GatedPixelCNN((1, 1, 3), 5, hidden_channels=4, num_layers=2, kernel_size=3,
                                                   output="logistic_mixture", num_components=3), weight_scale=0.5),
    "gated-conditional": Case(lambda: GatedPixelCNN((1, 2, 2), 3, hidden_channels=4, num_layers=2, kernel_size=3,
                                                    num_classes=2), num_classes=2, full_coverage=True,
                              weight_scale=0.5),
    "pixelrnn-row-lstm": Case(lambda: RowLSTM((1, 2, 3), 3, hidden_channels=4, num_layers=2, first_kernel_size=3),
                              weight_scale=0.5),
    "pixelrnn-diagonal-bilstm": Case(lambda: DiagonalBiLSTM((1, 3, 2), 3, hidden_channels=4, num_layers=2,
                                                            first_kernel_size=3), full_coverage=True, weight_scale=0.5),
    "softmax": Case(lambda: SoftmaxDistribution(5)),
    "logistic-mixture": Case(lambda: DiscretizedLogisticMixture(6, num_components=2)),
    "joint2d": Case(lambda: Joint2D(3), full_coverage=True),
    "transformer-sequence": Case(lambda: Transformer(3, length=5, d_model=8, num_heads=2), full_coverage=True),
    "transformer-rgb-row-column": Case(lambda: Transformer(2, image_shape=(3, 1, 2), d_model=8, num_heads=2,
                                                           positions="row_column"), full_coverage=True,
                                       weight_scale=0.5),
    "transformer-strided-sinusoidal": Case(lambda: Transformer(2, length=8, d_model=8, num_heads=2, positions="sinusoidal",
                                                               attention="strided", stride=3), full_coverage=True,
                                           weight_scale=0.5),
    "transformer-local-1-layer": Case(lambda: Transformer(2, length=7, d_model=8, num_heads=2, num_layers=1,
                                                          attention="local", stride=2)),
    "transformer-fixed-conditional": Case(lambda: Transformer(3, length=5, d_model=8, num_heads=2, attention="fixed",
                                                              stride=2, num_classes=2), num_classes=2, full_coverage=True),
    "pixelsnail-1-channel": Case(lambda: PixelSNAIL((1, 2, 3), 3, hidden_channels=4, num_blocks=1, layers_per_block=1,
                                                    num_heads=2), full_coverage=True, weight_scale=0.5),
    "pixelsnail-rgb-conditional": Case(lambda: PixelSNAIL((3, 1, 2), 2, hidden_channels=24, num_blocks=2, layers_per_block=1,
                                                          num_heads=2, num_classes=2), num_classes=2, full_coverage=True,
                                       weight_scale=0.5),
    "video-pixelcnn": Case(lambda: VideoPixelCNN((2, 2, 2), 2, hidden_channels=4, num_layers=2, first_kernel_size=3,
                                                 encoder_kernel_size=3, encoder_layers=1), weight_scale=0.5),
    "video-pixelcnn-per-frame-baseline": Case(lambda: VideoPixelCNN((2, 1, 3), 3, hidden_channels=4, num_layers=2,
                                                                    first_kernel_size=3, condition_on_past=False),
                                              weight_scale=0.5),
}

ALL_MODEL_CLASSES = {FVSBN, NADE, MADE, AutoregressiveRNN, WaveNet, PixelCNN, GatedPixelCNN, SoftmaxDistribution,
                     DiscretizedLogisticMixture, Joint2D, Transformer, PixelSNAIL, RowLSTM, DiagonalBiLSTM,
                     VideoPixelCNN}


def build(name: str) -> nn.Module:
    """The model of case `name`, every parameter drawn from N(0, scale^2) with a fixed seed."""
    case = CASES[name]
    torch.manual_seed(0)
    model = case.build()
    generator = torch.Generator().manual_seed(sum(map(ord, name)))
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * case.weight_scale)
    return model.eval()


def conditions(name: str, n: int) -> list:
    """One condition per class (each (n,)), or [None] for unconditional models."""
    num_classes = CASES[name].num_classes
    if num_classes is None:
        return [None]
    return [torch.full((n,), c, dtype=torch.long) for c in range(num_classes)]


def mixed_condition(name: str, n: int):
    """A condition (n,) cycling through the classes, or None."""
    num_classes = CASES[name].num_classes
    return None if num_classes is None else torch.arange(n) % num_classes


def num_positions(model) -> int:
    return math.prod(model.event_shape)


def random_inputs(model, n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, model.num_values, (n, *model.event_shape), generator=torch.Generator().manual_seed(seed))


def every_input(model) -> torch.Tensor:
    """All K^P inputs of the model's event shape, (K^P, *event_shape)."""
    values = itertools.product(range(model.num_values), repeat=num_positions(model))
    return torch.tensor(list(values)).reshape(-1, *model.event_shape)


def draw(model, name, n=6, seed=0, **options):
    return sample(model, n, condition=mixed_condition(name, n), generator=torch.Generator().manual_seed(seed), **options)


NAMES = list(CASES)


# The two models outside the protocol (utils/models/__init__.py says why): they bring their own sampler.
OUTSIDE_THE_PROTOCOL = {"RNADE": "continuous data: a density, not logits over K values",
                        "MultiscaleModel": "it draws many pixels per network evaluation"}


def test_every_model_class_is_covered():
    assert {type(build(name)) for name in NAMES} == ALL_MODEL_CLASSES
    import utils.models
    exported = {obj for obj in vars(utils.models).values() if isinstance(obj, type) and issubclass(obj, nn.Module)
                and hasattr(obj, "log_prob") and obj.__name__ not in OUTSIDE_THE_PROTOCOL}
    assert exported == ALL_MODEL_CLASSES, "a model of utils.models is missing from CASES"


# ----------------------------------------------------------------------------------------------
# the distribution


@pytest.mark.parametrize("name", NAMES)
def test_protocol_attributes_and_logits_shape(name):
    model = build(name)
    assert isinstance(model.num_values, int) and model.num_values >= 2
    assert isinstance(model.event_shape, tuple) and len(model.event_shape) in (0, 1, 3)
    assert not hasattr(model, "sample"), "models sample through utils.sampling.sample only"
    order = model_order(model)
    assert torch.equal(order.sort().values, torch.arange(num_positions(model)))
    x = random_inputs(model, 3)
    logits = model(x, mixed_condition(name, 3))
    assert logits.shape == (3, *model.event_shape, model.num_values)
    assert logits.dtype.is_floating_point and bool(torch.isfinite(logits).all())


@pytest.mark.parametrize("name", NAMES)
def test_log_prob_is_the_categorical_log_prob_of_the_logits(name):
    model = build(name)
    x = random_inputs(model, 7, seed=1)
    condition = mixed_condition(name, 7)
    log_prob = model.log_prob(x, condition)
    assert log_prob.shape == (7,)
    assert bool((log_prob <= 0).all())
    torch.testing.assert_close(log_prob, categorical_log_prob(model(x, condition), x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_probabilities_of_every_input_sum_to_one(name):
    model = build(name)
    x = every_input(model)
    assert len(x) <= 1000, "keep the event shape tiny enough to enumerate"
    with torch.no_grad():
        for condition in conditions(name, len(x)):
            total = model.log_prob(x, condition).double().exp().sum()
            assert abs(float(total) - 1) < 1e-4, f"condition {None if condition is None else int(condition[0])}"


@pytest.mark.parametrize("name", NAMES)
def test_autoregressive_in_its_own_generation_order(name):
    model = build(name)
    order = model_order(model)
    for condition in conditions(name, 1):
        outputs = lambda x: model(x, None if condition is None else condition.expand(len(x))).reshape(len(x), len(order), -1)
        report = dependency_report(model, model.event_shape, model.num_values, ordering=order.tolist(),
                                   output_fn=outputs)
        report.assert_autoregressive()
        if CASES[name].full_coverage:
            report.assert_full_coverage()
        # the first position generated depends on nothing: the check can see a dependency only where one is allowed
        assert not bool(report.dep[int(order[0])].any())
        if len(order) > 1:
            assert bool(report.dep.any()), "a multi-position model whose outputs ignore every input"


@pytest.mark.parametrize("name", NAMES)
def test_forward_has_no_side_effects(name):
    model = build(name)
    x = random_inputs(model, 4, seed=2)
    condition = mixed_condition(name, 4)
    for training in (False, True):
        model.train(training)
        state = {key: value.clone() for key, value in model.state_dict().items()}
        order = model_order(model)
        first, second = model(x, condition), model(x, condition)
        assert torch.equal(first, second), f"two calls differ in {'train' if training else 'eval'} mode"
        assert torch.equal(model.log_prob(x, condition), model.log_prob(x, condition))
        assert torch.equal(model_order(model), order)
        assert all(torch.equal(value, state[key]) for key, value in model.state_dict().items())
        assert model.training == training


# ----------------------------------------------------------------------------------------------
# sampling with utils.sampling.sample


@pytest.mark.parametrize("name", NAMES)
def test_samples_are_reproducible_and_well_formed(name):
    model = build(name).train()
    first = draw(model, name, 8, seed=11)
    assert model.training, "sample must put the model back in the mode it found it in"
    again = draw(model, name, 8, seed=11)
    other = draw(model, name, 8, seed=12)
    assert first.shape == (8, *model.event_shape) and first.dtype == torch.long
    assert int(first.min()) >= 0 and int(first.max()) < model.num_values
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("name", NAMES)
def test_greedy_top_k_and_temperature(name):
    model = build(name)
    n = 4
    greedy = draw(model, name, n, seed=0, greedy=True)
    assert torch.equal(greedy, draw(model, name, n, seed=1, greedy=True)), "greedy must not depend on the generator"
    # every greedy value is the most likely value given the values before it
    assert torch.equal(model(greedy, mixed_condition(name, n)).argmax(-1), greedy)
    assert torch.equal(draw(model, name, n, seed=2, top_k=1), greedy)
    # a vanishing temperature concentrates all mass on the most likely value
    assert torch.equal(draw(model, name, n, seed=3, temperature=1e-6), greedy)
    # top_k = K keeps every value: the same draws as without top_k
    assert torch.equal(draw(model, name, n, seed=4, top_k=model.num_values), draw(model, name, n, seed=4))
    for options in (dict(temperature=0.5), dict(temperature=2.0), dict(top_k=2, temperature=0.7)):
        x = draw(model, name, n, seed=5, **options)
        assert x.shape == (n, *model.event_shape) and int(x.min()) >= 0 and int(x.max()) < model.num_values
        assert torch.equal(x, draw(model, name, n, seed=5, **options))
    top_2 = draw(model, name, 50, seed=6, top_k=2)
    ranks = model(top_2, mixed_condition(name, 50)).argsort(-1, descending=True).argsort(-1)   # 0 = most likely
    assert int(ranks.gather(-1, top_2.unsqueeze(-1)).max()) <= 1, "top_k=2 drew a value outside the 2 most likely"


@pytest.mark.parametrize("name", NAMES)
def test_cached_and_uncached_sampling_give_the_same_samples(name):
    model = build(name)
    for seed, options in enumerate([dict(), dict(temperature=0.7, top_k=2), dict(greedy=True)]):
        cached = draw(model, name, 5, seed=seed, **options)
        assert torch.equal(cached, draw(model, name, 5, seed=seed, cached=False, **options)), options


@pytest.mark.parametrize("name", [name for name in NAMES if hasattr(build(name), "cached_step")])
def test_cached_step_gives_what_forward_gives(name):
    model = build(name)
    x = random_inputs(model, 3, seed=3)
    condition = mixed_condition(name, 3)
    logits = model(x, condition).reshape(3, -1, model.num_values)
    cache = model.start_cache(3, condition)
    with torch.no_grad():
        for step, position in enumerate(model_order(model).tolist()):
            torch.testing.assert_close(model.cached_step(x, step, cache, condition), logits[:, position],
                                       atol=1e-5, rtol=1e-5, msg=f"step {step}")


def test_the_cached_step_tests_cover_every_model_with_a_cache():
    with_cache = {type(build(name)) for name in NAMES if hasattr(build(name), "cached_step")}
    assert {WaveNet, Transformer, PixelCNN, GatedPixelCNN} <= with_cache, "the cached-step tests must cover these models"


@pytest.mark.parametrize("name", NAMES)
def test_prefix_keeps_the_first_values_in_generation_order(name):
    model = build(name)
    order = model_order(model)
    n, given = 4, max(1, len(order) // 2)
    prefix = torch.randint(0, model.num_values, (n, given), generator=torch.Generator().manual_seed(7))
    for cached in (True, False):
        x = draw(model, name, n, seed=8, prefix=prefix, cached=cached)
        assert torch.equal(x.reshape(n, -1)[:, order[:given]], prefix)
        assert torch.equal(x, draw(model, name, n, seed=8, prefix=prefix, cached=not cached))
    shared = draw(model, name, n, seed=9, prefix=prefix[0])           # (P,): the same prefix for every example
    assert torch.equal(shared.reshape(n, -1)[:, order[:given]], prefix[0].expand(n, -1))
    everything = torch.randint(0, model.num_values, (n, len(order)), generator=torch.Generator().manual_seed(10))
    complete = draw(model, name, n, seed=9, prefix=everything)        # nothing left to draw
    assert torch.equal(complete.reshape(n, -1)[:, order], everything)
    with pytest.raises(ValueError, match="prefix must hold the first P values"):
        draw(model, name, n, prefix=torch.zeros(n, len(order) + 1, dtype=torch.long))


# ----------------------------------------------------------------------------------------------
# beam search


@pytest.mark.parametrize("name", NAMES)
def test_beam_search_finds_the_most_likely_examples(name):
    model = build(name)
    condition = None if CASES[name].num_classes is None else torch.tensor([1])
    x, scores = beam_search(model, 1, condition=condition)
    greedy = sample(model, 1, condition=condition, greedy=True)
    assert torch.equal(x, greedy), "a beam of width 1 is greedy decoding"
    # a beam of K^(P-1) examples keeps every extension at the last position: it finds the exact top list
    everything = every_input(model)
    with torch.no_grad():
        exact = model.log_prob(everything, None if condition is None else condition.expand(len(everything))).double()
    width = model.num_values ** (num_positions(model) - 1)
    x, scores = beam_search(model, width, condition=condition)
    assert x.shape == (width, *model.event_shape) and scores.shape == (width,)
    torch.testing.assert_close(scores.double(), exact.topk(width).values, atol=1e-4, rtol=1e-4)
    with torch.no_grad():
        again = model.log_prob(x, None if condition is None else condition.expand(width)).double()
    torch.testing.assert_close(scores.double(), again, atol=1e-4, rtol=1e-4, msg="scores are the examples' log p(x)")
    assert bool((scores[:-1] >= scores[1:]).all()), "best first"


def test_beam_search_with_a_prefix_and_bad_arguments():
    model = build("rnn-gru-sequence")
    prefix = torch.tensor([2, 1])
    x, scores = beam_search(model, 3, prefix=prefix)
    assert torch.equal(x[:, :2], prefix.expand(3, -1))
    with torch.no_grad():
        torch.testing.assert_close(scores, model.log_prob(x), atol=1e-5, rtol=1e-5)   # the given values count too
    longer, _ = beam_search(model, 2, length=9)
    assert longer.shape == (2, 9)
    with pytest.raises(ValueError, match="beam_width must be a positive int"):
        beam_search(model, 0)
    with pytest.raises(ValueError, match=r"prefix must be one example's first P values, shape \(P,\)"):
        beam_search(model, 2, prefix=torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="condition must be one example's"):
        beam_search(build("wavenet-conditional"), 2, condition=torch.tensor([0, 1]))


# ----------------------------------------------------------------------------------------------
# one sampling loop


def test_there_is_exactly_one_sampling_loop_in_utils():
    sources = {path.relative_to(UTILS.parent).as_posix(): path.read_text() for path in UTILS.rglob("*.py")}
    loops = {path: text.count("for step, position in enumerate(") for path, text in sources.items()}
    assert {path: count for path, count in loops.items() if count} == {"utils/sampling.py": 2}   # sample, beam_search
    # nothing else picks values from logits one position at a time ...
    pickers = {path for path, text in sources.items() if "choose_next(" in text}
    # (the multiscale sampler, outside the protocol, picks a whole slice at once with the same choose_next)
    assert pickers == {"utils/sampling.py", "utils/models/multiscale.py"}
    # ... and no model class brings its own sampler
    for path, text in sources.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                methods = {item.name for item in node.body if isinstance(item, ast.FunctionDef)}
                if node.name not in OUTSIDE_THE_PROTOCOL:
                    assert "sample" not in methods, f"{path}: class {node.name} defines its own sample()"
