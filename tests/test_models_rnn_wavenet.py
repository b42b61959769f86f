"""The recurrent model and WaveNet: autoregressive, receptive field, cached sampling == naive sampling.

Every property test is paired with a broken variant that it must catch (a leak, a stale cache), so
a check that can never fail would show up here.
"""
import itertools
from collections import deque

import pytest
import torch
import torch.nn.functional as F

from utils.checks import dependency_matrix, dependency_report
from utils.models import rnn as rnn_module
from utils.models import wavenet as wavenet_module
from utils.models.rnn import AutoregressiveRNN
from utils.models.wavenet import CausalConv1d, GatedResidualBlock, WaveNet, reachable_offsets, receptive_field
from utils.sampling import choose_next, sample

SEEDS = range(4)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def all_sequences(length: int, num_values: int) -> torch.Tensor:
    """Every sequence of `length` values in [0, K): (K**length, length)."""
    return torch.tensor(list(itertools.product(range(num_values), repeat=length)))


def band(num_positions: int, width: int) -> torch.Tensor:
    """dep[i, j] True exactly when i - width <= j < i: output i sees the `width` values before it."""
    i, j = torch.arange(num_positions)[:, None], torch.arange(num_positions)[None, :]
    return (j < i) & (j >= i - width)


# ----------------------------------------------------------------------------------------------
# recurrent model


@pytest.mark.parametrize("cell, num_layers", [("gru", 1), ("lstm", 2)])
def test_rnn_is_autoregressive_and_sees_every_earlier_value(cell, num_layers):
    torch.manual_seed(0)
    model = AutoregressiveRNN(3, 16, cell=cell, num_layers=num_layers, embedding_size=8)
    report = dependency_report(model, (10,), 3)
    report.assert_autoregressive()
    report.assert_full_coverage()


def test_rnn_with_positions_is_autoregressive_over_raster_pixels():
    torch.manual_seed(0)
    model = AutoregressiveRNN(2, 16, embedding_size=8, image_shape=(3, 4))
    report = dependency_report(model, (1, 3, 4), 2)
    report.assert_autoregressive()
    report.assert_full_coverage()


@pytest.mark.parametrize("make", [lambda: AutoregressiveRNN(3, 16, embedding_size=8, image_shape=(3, 4)),
                                  lambda: WaveNet(3, (1, 2, 4), channels=8, image_shape=(3, 4))])
def test_an_image_model_draws_the_first_pixels_when_given_a_length(make):
    torch.manual_seed(0)
    model = make()
    full = sample(model, 3, generator=generator(0))
    first = sample(model, 3, length=5, generator=generator(0))
    assert full.shape == (3, 1, 3, 4) and first.shape == (3, 5)
    assert torch.equal(first, full.flatten(1)[:, :5])        # the same draws, in the same (raster) order
    assert torch.equal(first, sample(model, 3, length=5, generator=generator(0), cached=False))


def test_rnn_position_inputs_change_the_prediction():
    torch.manual_seed(0)
    model = AutoregressiveRNN(2, 16, embedding_size=8, image_shape=(3, 4))
    x = torch.zeros(1, 12, dtype=torch.long)
    logits = model(x)[0]
    # same previous value (0) at steps 1 and 2: only the position input differs
    assert not torch.allclose(logits[1], logits[2])
    images = x.reshape(1, 1, 3, 4)
    assert model(images).shape == (1, 1, 3, 4, 2)
    assert torch.equal(model(images).reshape(1, 12, 2), logits[None])


def test_a_leaky_rnn_without_the_shift_is_caught(monkeypatch):
    monkeypatch.setattr(rnn_module, "shift_right", lambda x, start_value: x)
    model = AutoregressiveRNN(3, 16, embedding_size=8)
    report = dependency_report(model, (6,), 3)
    assert (1, 1) in report.violations()
    with pytest.raises(AssertionError, match="not autoregressive"):
        report.assert_autoregressive()


@pytest.mark.parametrize("options", [dict(), dict(cell="lstm", num_layers=2), dict(image_shape=(2, 3))])
def test_rnn_probabilities_of_all_sequences_sum_to_one(options):
    torch.manual_seed(0)
    model = AutoregressiveRNN(3, 12, embedding_size=8, **options)
    x = all_sequences(3, 3)
    assert torch.exp(model.log_prob(x)).sum().item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("options", [dict(), dict(cell="lstm", num_layers=2), dict(image_shape=(4, 5))])
@pytest.mark.parametrize("n", [1, 3])
def test_rnn_cached_sampling_equals_naive_sampling(options, n):
    torch.manual_seed(0)
    model = AutoregressiveRNN(5, 16, embedding_size=8, **options)
    length = None if "image_shape" in options else 20
    for seed in SEEDS:
        cached = sample(model, n, length=length, generator=generator(seed))
        naive = sample(model, n, length=length, generator=generator(seed), cached=False)
        assert torch.equal(cached, naive), f"seed {seed}"
    expected_shape = (n, 1, 4, 5) if "image_shape" in options else (n, 20)
    assert cached.shape == expected_shape
    assert not torch.equal(cached, sample(model, n, length=length, generator=generator(99)))


@pytest.mark.parametrize("options", [dict(num_layers=2), dict(cell="lstm"), dict(image_shape=(3, 5))])
def test_rnn_step_and_cached_step_equal_forward_exactly(options):
    # forward is a loop of steps, so the cached path is exact, not just close
    torch.manual_seed(0)
    model = AutoregressiveRNN(4, 16, embedding_size=8, **options)
    x = torch.randint(0, 4, (3, 15))
    logits = model(x)
    previous, state = torch.full((3,), model.start_token), None
    cache = model.start_cache(3)
    for i in range(15):
        step_logits, state = model.step(previous, i, state)
        assert torch.equal(step_logits, logits[:, i])
        assert torch.equal(model.cached_step(x, i, cache), logits[:, i])
        previous = x[:, i]


def test_rnn_sampling_options():
    torch.manual_seed(0)
    model = AutoregressiveRNN(6, 16, embedding_size=8, length=10)
    greedy = sample(model, 2, greedy=True)
    assert greedy.shape == (2, 10)
    assert torch.equal(greedy, sample(model, 2, top_k=1, generator=generator(3)))
    assert torch.equal(model(greedy).argmax(-1), greedy)             # every value is the most likely one
    for seed in SEEDS:                                                 # top-k, temperature, prefix: still equal
        kwargs = dict(top_k=3, temperature=0.7, prefix=torch.tensor([4, 1, 2]), length=12)
        cached = sample(model, 3, generator=generator(seed), **kwargs)
        assert cached.shape == (3, 12)                                 # length= overrides the built length
        assert torch.equal(cached, sample(model, 3, generator=generator(seed), cached=False, **kwargs))
        assert torch.equal(cached[:, :3], torch.tensor([[4, 1, 2]] * 3))
    assert not torch.equal(sample(model, 4, generator=generator(0)), sample(model, 4, generator=generator(1)))


def test_top_k_draws_only_among_the_k_most_likely_values_of_the_model():
    torch.manual_seed(0)
    model = AutoregressiveRNN(6, 16, embedding_size=8, length=10)
    with torch.no_grad():
        model.head.weight.mul_(5)                                      # far from uniform
    drawn = sample(model, 200, top_k=2, generator=generator(0))
    rank = model(drawn).argsort(-1, descending=True).argsort(-1)      # 0 = the most likely value
    chosen = rank.gather(-1, drawn.unsqueeze(-1))
    assert int(chosen.max()) == 1 and int(chosen.min()) == 0          # both of the top 2 occur, nothing else


def test_temperature_sharpens_and_flattens_the_draws():
    torch.manual_seed(0)
    model = AutoregressiveRNN(4, 16, embedding_size=8, length=12)
    with torch.no_grad():
        model.head.weight.mul_(3)

    @torch.no_grad()
    def mean_log_prob(temperature):
        return float(model.log_prob(sample(model, 300, temperature=temperature, generator=generator(0))).mean())

    cold, warm, hot = mean_log_prob(0.3), mean_log_prob(1.0), mean_log_prob(3.0)
    assert cold > warm > hot, (cold, warm, hot)                        # colder draws are the likelier sequences


def test_choose_next_top_k_only_draws_the_k_most_likely_values():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.5, -1.0]]).expand(2000, -1)
    draws = choose_next(logits, generator(0), top_k=2)
    assert set(draws.unique().tolist()) == {1, 3}
    with pytest.raises(ValueError, match="top_k must be an int between 1 and 5"):
        choose_next(logits, top_k=6)
    assert torch.equal(choose_next(logits[:3], generator(1), greedy=True), torch.tensor([1, 1, 1]))


def test_rnn_rejects_bad_input_with_clear_errors():
    model = AutoregressiveRNN(3, 8, embedding_size=4)
    image_model = AutoregressiveRNN(2, 8, embedding_size=4, image_shape=(3, 3))
    with pytest.raises(TypeError, match="integers"):
        model(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"values must lie in \[0, 2\]"):
        model(torch.full((2, 5), 3))
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        model(torch.zeros(2, 5, 1, dtype=torch.long))
    with pytest.raises(ValueError, match=r"shape \(N, 1, 3, 3\)"):
        image_model(torch.zeros(2, 1, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="has only 9"):
        image_model(torch.zeros(2, 10, dtype=torch.long))
    with pytest.raises(ValueError, match="cell must be one of"):
        AutoregressiveRNN(3, cell="transformer")
    with pytest.raises(ValueError, match="pass length="):
        sample(model, 2)
    for cached in (True, False):                                      # the cached step checks what forward checks
        with pytest.raises(ValueError, match="has only 9"):
            sample(image_model, 2, length=10, cached=cached)
    with pytest.raises(ValueError, match="length must be a positive int"):
        sample(model, 2, length=0)
    with pytest.raises(ValueError, match="n must be a positive int"):
        sample(model, 0, length=5)
    with pytest.raises(ValueError, match="prefix must hold the first P values"):
        sample(model, 2, length=3, prefix=torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"prefix values must lie in \[0, 2\]"):
        sample(model, 2, length=3, prefix=torch.tensor([3]))
    with pytest.raises(ValueError, match="temperature must be positive"):
        sample(model, 2, length=3, temperature=0)


# ----------------------------------------------------------------------------------------------
# causal convolutions and the receptive field


def test_receptive_field_formula():
    assert receptive_field(2, [1, 2, 4, 8]) == 16
    assert receptive_field(2, [2 ** i for i in range(10)] * 2) == 2047
    assert receptive_field(3, [1, 3, 9]) == 27
    assert receptive_field(1, [5, 5]) == 1
    with pytest.raises(ValueError, match="at least one layer"):
        receptive_field(2, [])
    with pytest.raises(ValueError, match="every dilation must be a positive int"):
        receptive_field(2, [1, 0])
    with pytest.raises(ValueError, match="kernel_size must be a positive int"):
        receptive_field(0, [1])


def measured_receptive_field(layers: list, length: int, channels: int) -> list[int]:
    """Input positions whose gradient reaches the output at the last position of a conv stack."""
    x = torch.randn(1, channels, length, dtype=torch.float64, requires_grad=True)
    h = x
    for layer in layers:
        h = torch.tanh(layer(h))
    h[0, :, -1].sum().backward()
    return x.grad[0].abs().sum(0).nonzero().flatten().tolist()


def test_receptive_field_formula_matches_gradients_of_random_stacks():
    rng = torch.Generator().manual_seed(0)
    length = 60
    for _ in range(12):
        kernel_size = int(torch.randint(1, 5, (1,), generator=rng))
        dilations = torch.randint(1, 6, (int(torch.randint(1, 5, (1,), generator=rng)),), generator=rng).tolist()
        layers = [CausalConv1d(3, 3, kernel_size, d).double() for d in dilations]
        seen = measured_receptive_field(layers, length, channels=3)
        farthest_back = length - 1 - seen[0]
        assert farthest_back + 1 == receptive_field(kernel_size, dilations), f"kernel {kernel_size}, {dilations}"
        assert seen[-1] == length - 1                                   # never beyond the output itself
        assert [length - 1 - p for p in reversed(seen)] == reachable_offsets(kernel_size, dilations)


def test_reachable_offsets_show_holes():
    assert reachable_offsets(2, [1, 2, 4]) == list(range(8))          # no holes
    assert reachable_offsets(2, [2, 2]) == [0, 2, 4]                  # odd offsets never reached
    assert reachable_offsets(3, [1, 3]) == list(range(9))


def test_causal_conv_is_a_dilated_convolution_padded_on_the_left():
    torch.manual_seed(0)
    conv = CausalConv1d(4, 6, kernel_size=3, dilation=2)
    x = torch.randn(2, 4, 11)
    expected = F.conv1d(F.pad(x, (4, 0)), conv.conv.weight, conv.conv.bias, dilation=2)
    assert conv(x).shape == (2, 6, 11)
    assert torch.allclose(conv(x), expected)
    # output t = the weighted sum of in[t-4], in[t-2], in[t]: what `step` computes from those taps
    padded = F.pad(x, (4, 0))
    for t in range(11):
        taps = padded[:, :, t:t + 5:2]
        assert torch.allclose(conv.step(taps), conv(x)[:, :, t], atol=1e-6)


def test_a_convolution_padded_on_both_sides_leaks_the_future():
    class CentredConv1d(CausalConv1d):  # the classic bug: "same" padding instead of left padding
        def forward(self, x):
            half = self.left_padding // 2
            return self.conv(F.pad(x, (half, self.left_padding - half)))

    torch.manual_seed(0)
    model = WaveNet(3, (1, 2), kernel_size=3, channels=8)
    leaky = CentredConv1d(8, 16, kernel_size=3, dilation=2)          # reads t-2, t, t+2
    leaky.load_state_dict(model.blocks[1].conv.state_dict())
    model.blocks[1].conv = leaky
    report = dependency_report(model, (12,), 3)
    assert any(j > i for i, j in report.violations()), "some output should see a later value"
    with pytest.raises(AssertionError, match="not autoregressive"):
        report.assert_autoregressive()


def test_gated_block_shapes():
    block = GatedResidualBlock(8, 5, kernel_size=2, dilation=4, num_classes=3)
    residual, skip = block(torch.randn(2, 8, 9), F.one_hot(torch.tensor([0, 2]), 3).float())
    assert residual.shape == (2, 8, 9) and skip.shape == (2, 5, 9)


# ----------------------------------------------------------------------------------------------
# WaveNet: autoregressive, covers exactly its receptive field


WAVENET_STACKS = [(2, (1, 2, 4)), (2, (1, 1, 2, 2)), (3, (1, 2)), (3, (2, 1, 3)), (1, (1, 4))]


@pytest.mark.parametrize("kernel_size, dilations", WAVENET_STACKS)
def test_wavenet_sees_exactly_the_receptive_field_before_each_output(kernel_size, dilations):
    torch.manual_seed(0)
    model = WaveNet(3, dilations, kernel_size=kernel_size, channels=8)
    length = 20
    dep = dependency_matrix(model, (length,), 3)
    assert model.receptive_field == receptive_field(kernel_size, dilations)
    assert torch.equal(dep, band(length, model.receptive_field)), "dependencies differ from the receptive field"
    dependency_report(model, (length,), 3).assert_autoregressive()


def test_wavenet_with_positions_is_autoregressive_over_raster_pixels():
    torch.manual_seed(0)
    model = WaveNet(2, (1, 2, 4, 8), channels=8, image_shape=(4, 5))
    report = dependency_report(model, (1, 4, 5), 2)
    report.assert_autoregressive()
    assert torch.equal(report.dep, band(20, 16))
    assert model(torch.zeros(3, 1, 4, 5, dtype=torch.long)).shape == (3, 1, 4, 5, 2)


def test_wavenet_conditioned_on_a_class_is_autoregressive_and_uses_the_condition():
    torch.manual_seed(0)
    model = WaveNet(3, (1, 2, 4), channels=8, num_classes=4)
    condition = torch.tensor([2])
    report = dependency_report(model, (12,), 3, output_fn=lambda x: model(x, condition.expand(len(x))))
    report.assert_autoregressive()
    x = torch.randint(0, 3, (1, 12))
    assert not torch.allclose(model(x, torch.tensor([0])), model(x, torch.tensor([3])))
    assert torch.equal(model(x.repeat(2, 1), 3), model(x.repeat(2, 1), torch.tensor([3, 3])))   # one int for all


def test_a_wavenet_without_the_shift_sees_its_own_value(monkeypatch):
    monkeypatch.setattr(wavenet_module, "shift_right", lambda x, start_value: x)
    model = WaveNet(3, (1, 2), channels=8)
    with pytest.raises(AssertionError, match="itself"):
        dependency_report(model, (8,), 3).assert_autoregressive()


@pytest.mark.parametrize("options", [dict(), dict(image_shape=(2, 3)), dict(num_classes=2)])
def test_wavenet_probabilities_of_all_sequences_sum_to_one(options):
    torch.manual_seed(0)
    model = WaveNet(3, (1, 2), channels=8, **options)
    x = all_sequences(3, 3)           # for the image model: the first 3 pixels of a 2x3 image
    classes = range(options["num_classes"]) if "num_classes" in options else [None]
    for c in classes:
        condition = None if c is None else torch.full((len(x),), c)
        assert torch.exp(model.log_prob(x, condition)).sum().item() == pytest.approx(1.0, abs=1e-5)


# ----------------------------------------------------------------------------------------------
# WaveNet: cached sampling == naive sampling


def sharpened(model: WaveNet) -> WaveNet:
    """Scale up the last layer so the logits swing strongly with the inputs (an untrained model's are
    nearly uniform, and then even a wrong cache would rarely change a draw)."""
    with torch.no_grad():
        model.head_output.weight.mul_(30)
    return model


SAMPLING_CONFIGS = [
    dict(kernel_size=2, dilations=(1, 2, 4, 8)),
    dict(kernel_size=2, dilations=(1, 2, 4, 1, 2, 4)),
    dict(kernel_size=3, dilations=(1, 3, 9)),
    dict(kernel_size=3, dilations=(2, 1, 5)),
    dict(kernel_size=2, dilations=(1, 2, 4), image_shape=(5, 6)),
    dict(kernel_size=3, dilations=(1, 2), num_classes=3),
]


@pytest.mark.parametrize("config", SAMPLING_CONFIGS, ids=str)
def test_wavenet_cached_sampling_equals_naive_sampling(config):
    torch.manual_seed(0)
    model = sharpened(WaveNet(4, channels=8, **config))
    length = None if "image_shape" in config else 40
    for seed, n in itertools.product(SEEDS, (1, 3)):
        condition = seed % 3 if "num_classes" in config else None
        cached = sample(model, n, length=length, generator=generator(seed), condition=condition)
        naive = sample(model, n, length=length, generator=generator(seed), condition=condition, cached=False)
        assert torch.equal(cached, naive), f"seed {seed}, n {n}"
    assert cached.shape == ((n, 1, 5, 6) if "image_shape" in config else (n, 40))


@pytest.mark.parametrize("options", [dict(num_classes=2), dict(image_shape=(5, 6))])
def test_wavenet_cached_step_logits_match_forward(options):
    torch.manual_seed(0)
    model = sharpened(WaveNet(4, (1, 2, 4, 8), kernel_size=3, channels=8, **options))
    x = torch.randint(0, 4, (3, 30))
    condition = torch.tensor([0, 1, 1]) if "num_classes" in options else None
    logits = model(x, condition)
    cache = model.start_cache(3, condition)
    with torch.no_grad():
        for i in range(30):
            torch.testing.assert_close(model.cached_step(x, i, cache, condition), logits[:, i], atol=1e-5, rtol=1e-5)


class OneStepLateQueue(deque):
    """A queue whose pushes land one step late: a cache that is always one step stale."""

    def __init__(self, items, maxlen):
        super().__init__(items, maxlen=maxlen)
        self.pending = None

    def append(self, item):
        if self.pending is not None:
            super().append(self.pending)
        self.pending = item


def test_a_one_step_stale_cache_gives_different_samples():
    torch.manual_seed(0)
    model = sharpened(WaveNet(4, (1, 2, 4), channels=8))
    honest = sample(model, 3, length=30, generator=generator(0))

    def stale_cache(n, condition=None):
        cache = WaveNet.start_cache(model, n, condition)
        cache["queues"] = [OneStepLateQueue(queue, queue.maxlen) for queue in cache["queues"]]
        return cache

    model.start_cache = stale_cache
    stale = sample(model, 3, length=30, generator=generator(0))
    naive = sample(model, 3, length=30, generator=generator(0), cached=False)
    assert torch.equal(honest, naive)
    assert not torch.equal(stale, naive)


def test_wavenet_sampling_with_prefix_and_conditions():
    torch.manual_seed(0)
    model = sharpened(WaveNet(4, (1, 2), channels=8, num_classes=3))
    prefix = torch.tensor([[3, 3, 1], [0, 1, 2]])
    condition = torch.tensor([0, 2])
    drawn = [sample(model, 2, length=10, generator=generator(0), condition=condition, prefix=prefix, cached=cached)
             for cached in (True, False)]
    assert torch.equal(drawn[0][:, :3], prefix) and drawn[0].shape == (2, 10)
    assert torch.equal(drawn[0], drawn[1])
    other_class = sample(model, 2, length=10, generator=generator(0), condition=torch.tensor([1, 1]), prefix=prefix)
    assert not torch.equal(other_class, drawn[0]), "the condition should change the draws"
    image_model = WaveNet(2, (1, 2), channels=8, image_shape=(3, 4))
    image = sample(image_model, 2, generator=generator(0))
    assert image.shape == (2, 1, 3, 4)
    top_row = image[:, 0, 0]                                           # images: the prefix is in raster order
    completed = sample(image_model, 2, generator=generator(1), prefix=top_row)
    assert torch.equal(completed[:, 0, 0], top_row)


def test_wavenet_learns_a_repeating_pattern():
    torch.manual_seed(0)
    phase = torch.randint(0, 3, (64, 1))
    x = (phase + torch.arange(24)) % 3                 # 0 1 2 0 1 2 ... from a random start
    model = WaveNet(3, (1, 2, 4), channels=16)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        loss = -model.log_prob(x).mean() / 24
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2, f"nats/dim {loss.item():.3f} (a uniform guess is {torch.log(torch.tensor(3.)):.3f})"
    continued = sample(model, 4, length=24, generator=generator(0), prefix=torch.tensor([2, 0]))
    assert torch.equal(continued, (torch.arange(24) + 2) % 3 * torch.ones(4, 1, dtype=torch.long))


def test_wavenet_rejects_bad_input_with_clear_errors():
    model = WaveNet(3, (1, 2), channels=8)
    conditional = WaveNet(3, (1, 2), channels=8, num_classes=2)
    with pytest.raises(TypeError, match="integers"):
        model(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"values must lie in \[0, 2\]"):
        model(torch.full((2, 5), 7))
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        model(torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="not class-conditional"):
        model(torch.zeros(2, 5, dtype=torch.long), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="class-conditional: pass condition="):
        sample(conditional, 2, length=5)
    with pytest.raises(ValueError, match=r"condition values must lie in \[0, 1\]"):
        sample(conditional, 2, length=5, condition=2)
    with pytest.raises(ValueError, match="one class per example"):
        sample(conditional, 2, length=5, condition=torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="one class per example"):
        conditional(torch.zeros(2, 5, dtype=torch.long), torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="every dilation must be a positive int"):
        WaveNet(3, (1, -2))
    with pytest.raises(ValueError, match="at least one layer"):
        WaveNet(3, ())
    with pytest.raises(ValueError, match="channels must exceed the 2 position channels"):
        WaveNet(3, (1,), channels=2, image_shape=(4, 4))
    with pytest.raises(ValueError, match="pass length="):
        sample(model, 2)
