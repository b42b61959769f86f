"""Homework 3 through real nbgrader: a class of submissions graded once by the instructor's command.

Students: the reference solution, the untouched release, one correct homework written differently
(top-k by sorting and an inverse-CDF draw, convolution padded on both sides then cropped, a cache
that keeps plain lists and reruns each layer on its short window) and three wrong ones (a convolution
padded on the wrong side; a cache that reads its taps before pushing the new input, one step stale;
sampling that multiplies the logits by the temperature instead of dividing them). Each wrong one
must lose exactly the marks of its own part (the hidden tests install reference parts around the
part they grade, and test top-k apart from the temperature), and its feedback must say what is wrong.
(That assignments/hw3 is current and holds no solution or hidden test is checked in test_releases.py.)
"""
import re

import pytest

import submissions as subs

pytestmark = pytest.mark.grading

POINTS = {  # every graded cell and its points (the written answer is graded by hand)
    "test_sample_temperature": 2, "test_sample_top_k": 2,
    "test_causal_conv": 3, "test_receptive_field": 1,
    "test_gated_block": 3, "test_cached_generation": 3,
}
AUTO_POINTS, MANUAL_POINTS = sum(POINTS.values()), 2

# -------------------------------------------------------------------------------------------------
# correct homework, written differently from the reference

WRITTEN_DIFFERENTLY = {
    "sampling_solution": '''
def sample_next(logits, temperature=1.0, top_k=None, *, generator=None):
    scores = logits.clone()
    if top_k is not None:
        ranked = torch.sort(scores, dim=1, descending=True).indices
        scores = scores.scatter(1, ranked[:, top_k:], float("-inf"))     # drop all but the top_k
    probs = F.softmax(scores / temperature, dim=1)
    u = torch.rand(len(probs), 1, generator=generator)
    return (probs.cumsum(dim=1) < u).sum(dim=1).clamp(max=probs.shape[1] - 1)   # inverse CDF
''',
    "causal_conv_solution": '''
class CausalConv1d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, dilation=1):
        super().__init__()
        self.kernel_size, self.dilation = kernel_size, dilation
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation)

    def forward(self, x):
        reach = (self.kernel_size - 1) * self.dilation
        both_sides = F.conv1d(x, self.conv.weight, self.conv.bias, padding=reach, dilation=self.dilation)
        return both_sides[:, :, :x.shape[-1]]          # drop the outputs that read the right padding


def receptive_field(kernel_size, dilations):
    span = 1
    for d in dilations:
        span += (kernel_size - 1) * d
    return span
''',
    "block_solution": '''
class GatedResidualBlock(nn.Module):
    def __init__(self, channels, skip_channels, kernel_size, dilation):
        super().__init__()
        self.conv = CausalConv1d(channels, 2 * channels, kernel_size, dilation)
        self.residual = nn.Conv1d(channels, channels, 1)
        self.skip = nn.Conv1d(channels, skip_channels, 1)

    def forward(self, x):
        both = self.conv(x)
        c = x.shape[1]
        z = torch.tanh(both[:, :c]) * torch.sigmoid(both[:, c:])
        mixed = torch.einsum("oc,ncl->nol", self.residual.weight[:, :, 0], z) + self.residual.bias[:, None]
        return x + mixed, self.skip(z)
''',
    "cache_solution": '''
def make_queues(model, n):
    return [[] for _ in model.convs]


def cached_step(model, previous, queues):
    h = model.embedding(previous)
    for conv, history in zip(model.convs, queues):
        history.append(h)
        span = (conv.kernel_size - 1) * conv.dilation + 1
        del history[:-span]                               # keep only what the next output needs
        window = torch.stack(history, dim=2)              # (n, C, <= span), oldest first
        h = h + torch.tanh(conv(window)[:, :, -1])
    return model.head(h)
''',
}

# -------------------------------------------------------------------------------------------------
# wrong homework: what it breaks

WRONG_SIDE = ("F.pad(x, (left_padding, 0))", "F.pad(x, (0, left_padding))")
TEMPERATURE_TIMES = ("logits = logits / temperature", "logits = logits * temperature")
STALE_CACHE = ("""        queue.append(h)
        taps = torch.stack([queue[j * conv.dilation] for j in range(conv.kernel_size)], dim=2)   # (n, C, k)
""", """        taps = torch.stack([queue[j * conv.dilation] for j in range(conv.kernel_size)], dim=2)   # (n, C, k)
        queue.append(h)
""")


def cells_except(lost: list[str]) -> dict:
    return subs.points_except(POINTS, lost)


def build_class() -> dict:
    """One submission per student: student -> (notebook, expected points of every graded cell)."""
    good = subs.filled("hw3")
    return {
        "alice_solution": (good, cells_except([])),
        "bob_untouched": (subs.release_notebook("hw3"), cells_except(list(POINTS))),
        "carol_written_differently": (subs.with_sources(good, WRITTEN_DIFFERENTLY), cells_except([])),
        "dan_pads_the_wrong_side": (subs.edit_source(good, "causal_conv_solution", *WRONG_SIDE),
                                    cells_except(["test_causal_conv"])),
        "erin_stale_cache": (subs.edit_source(good, "cache_solution", *STALE_CACHE), cells_except(["test_cached_generation"])),
        "frank_multiplies_by_the_temperature": (subs.edit_source(good, "sampling_solution", *TEMPERATURE_TIMES),
                                                cells_except(["test_sample_temperature"])),
    }


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    return subs.grade_class("hw3", tmp_path_factory.mktemp("hw3_class"), build_class())


# -------------------------------------------------------------------------------------------------
# the graded class


@pytest.mark.parametrize("student", ["alice_solution", "bob_untouched", "carol_written_differently",
                                     "dan_pads_the_wrong_side", "erin_stale_cache",
                                     "frank_multiplies_by_the_temperature"])
def test_each_student_gets_the_expected_points_in_every_cell(graded_class, student):
    graded_class.check_points(student, AUTO_POINTS + MANUAL_POINTS)


def test_the_solution_leaves_only_the_written_answer_to_grade_by_hand(graded_class):
    assert float(graded_class.rows["alice_solution"]["manual_pending"]) == MANUAL_POINTS


def test_feedback_says_what_is_wrong(graded_class):
    leak = graded_class.feedback("dan_pads_the_wrong_side")
    assert re.search(r"output x\[(\d+)\] depends on input x\[\d+\] \((itself|comes later)\)", leak), leak[-3000:]
    stale = graded_class.feedback("erin_stale_cache")
    assert re.search(r"the cached logits at t = \d+ is off by", stale), stale[-3000:]
    tempered = graded_class.feedback("frank_multiplies_by_the_temperature")
    assert re.search(r"at temperature [\d.]+ the frequencies differ from softmax\(logits / T\)", tempered), tempered[-3000:]


def test_feedback_hides_hidden_tests(graded_class):
    graded_class.check_feedback_hides_hidden_tests()
    assert "NotImplementedError" in graded_class.feedback("bob_untouched")
