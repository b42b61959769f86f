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
from utils.models.rnn import AutoregressiveRNN, choose_next
from utils.models.wavenet import CausalConv1d, GatedResidualBlock, WaveNet, reachable_offsets, receptive_field

SEEDS = range(4)


@pytest.fixture(autouse=True)
def one_thread():
    """These models are tiny: with one thread, no time goes on syncing threads (slow on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
        cached = model.sample(n, length, generator=generator(seed))
        naive = model.sample(n, length, generator=generator(seed), cached=False)
        assert torch.equal(cached, naive), f"seed {seed}"
    expected_shape = (n, 1, 4, 5) if "image_shape" in options else (n, 20)
    assert cached.shape == expected_shape


def test_rnn_step_equals_forward_exactly():
    # forward is a loop of steps, so the cached path is exact, not just close
    torch.manual_seed(0)
    model = AutoregressiveRNN(4, 16, embedding_size=8, num_layers=2)
    x = torch.randint(0, 4, (3, 15))
    logits = model(x)
    previous, state = torch.full((3,), model.start_token), None
    for i in range(15):
        step_logits, state = model.step(previous, i, state)
        assert torch.equal(step_logits, logits[:, i])
        previous = x[:, i]


def test_rnn_sampling_options():
    torch.manual_seed(0)
    model = AutoregressiveRNN(6, 16, embedding_size=8)
    greedy = model.sample(2, 10, greedy=True)
    assert torch.equal(greedy, model.sample(2, 10, top_k=1, generator=generator(3)))
    assert torch.equal(model(greedy).argmax(-1), greedy)             # every value is the most likely one
    for seed in SEEDS:                                                 # top-k, temperature, prefix: still equal
        kwargs = dict(top_k=3, temperature=0.7, prefix=torch.tensor([4, 1, 2]))
        cached = model.sample(3, 12, generator=generator(seed), **kwargs)
        assert torch.equal(cached, model.sample(3, 12, generator=generator(seed), cached=False, **kwargs))
        assert torch.equal(cached[:, :3], torch.tensor([[4, 1, 2]] * 3))
    assert not torch.equal(model.sample(4, 12, generator=generator(0)), model.sample(4, 12, generator=generator(1)))


def test_choose_next_top_k_only_draws_the_k_most_likely_values():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.5, -1.0]]).expand(2000, -1)
    draws = choose_next(logits, generator(0), top_k=2)
    assert set(draws.unique().tolist()) == {1, 3}
    with pytest.raises(ValueError, match="top_k must be between 1 and 5"):
        choose_next(logits, top_k=6)


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
        model.sample(2)
    with pytest.raises(ValueError, match="leave length out"):
        image_model.sample(2, 5)
    with pytest.raises(ValueError, match="n must be a positive int"):
        model.sample(0, 5)
    with pytest.raises(ValueError, match="prefix must have shape"):
        model.sample(2, 3, prefix=torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="temperature must be positive"):
        model.sample(2, 3, temperature=0)


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


def test_wavenet_conditioned_on_a_label_is_autoregressive_and_uses_the_label():
    torch.manual_seed(0)
    model = WaveNet(3, (1, 2, 4), channels=8, num_classes=4)
    labels = torch.tensor([2])
    report = dependency_report(None, (12,), 3, output_fn=lambda x: model(x, labels.expand(len(x))))
    report.assert_autoregressive()
    x = torch.randint(0, 3, (1, 12))
    assert not torch.allclose(model(x, torch.tensor([0])), model(x, torch.tensor([3])))


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
    label = torch.ones(len(x), dtype=torch.long) if "num_classes" in options else None
    assert torch.exp(model.log_prob(x, label)).sum().item() == pytest.approx(1.0, abs=1e-5)


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
        label = seed % 3 if "num_classes" in config else None
        cached = model.sample(n, length, generator=generator(seed), label=label)
        naive = model.sample(n, length, generator=generator(seed), label=label, cached=False)
        assert torch.equal(cached, naive), f"seed {seed}, n {n}"


def test_wavenet_step_logits_match_forward():
    torch.manual_seed(0)
    model = sharpened(WaveNet(4, (1, 2, 4, 8), kernel_size=3, channels=8, num_classes=2))
    x, label = torch.randint(0, 4, (3, 30)), torch.tensor([0, 1, 1])
    logits = model(x, label)
    cache, previous = model.make_cache(3), torch.full((3,), model.start_token)
    for i in range(30):
        assert torch.allclose(model.step(previous, i, cache, label), logits[:, i], atol=1e-5)
        previous = x[:, i]


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
    honest = model.sample(3, 30, generator=generator(0))
    model.make_cache = lambda n: [OneStepLateQueue(q, q.maxlen) for q in WaveNet.make_cache(model, n)]
    stale = model.sample(3, 30, generator=generator(0))
    naive = model.sample(3, 30, generator=generator(0), cached=False)
    assert torch.equal(honest, naive)
    assert not torch.equal(stale, naive)


def test_wavenet_sampling_with_prefix_and_labels():
    torch.manual_seed(0)
    model = WaveNet(4, (1, 2), channels=8, num_classes=3)
    prefix = torch.tensor([[3, 3, 1], [0, 1, 2]])
    for cached in (True, False):
        x = model.sample(2, 10, generator=generator(0), label=torch.tensor([0, 2]), prefix=prefix, cached=cached)
        assert torch.equal(x[:, :3], prefix) and x.shape == (2, 10)
    image_model = WaveNet(2, (1, 2), channels=8, image_shape=(3, 4))
    assert image_model.sample(2, generator=generator(0)).shape == (2, 1, 3, 4)


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
    continued = model.sample(4, 24, generator=generator(0), prefix=torch.tensor([2, 0]))
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
    with pytest.raises(ValueError, match="class-conditional: pass label="):
        conditional.sample(2, 5)
    with pytest.raises(ValueError, match=r"label values must lie in \[0, 1\]"):
        conditional.sample(2, 5, label=2)
    with pytest.raises(ValueError, match="one class per example"):
        conditional(torch.zeros(2, 5, dtype=torch.long), torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="every dilation must be a positive int"):
        WaveNet(3, (1, -2))
    with pytest.raises(ValueError, match="at least one layer"):
        WaveNet(3, ())
    with pytest.raises(ValueError, match="channels must exceed the 2 position channels"):
        WaveNet(3, (1,), channels=2, image_shape=(4, 4))
    with pytest.raises(ValueError, match="pass length="):
        model.sample(2)
