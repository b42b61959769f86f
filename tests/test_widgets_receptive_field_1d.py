"""The pure functions behind lecture 05's receptive-field widget, and the widget's wiring."""
import matplotlib
import pytest
import torch
from torch import nn

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from utils.models.wavenet import CausalConv1d, reachable_offsets, receptive_field  # noqa: E402
from utils.widgets import receptive_field_1d as rf  # noqa: E402
from utils.widgets.skeleton import find_control  # noqa: E402


def gradient_reach(convs: list[nn.Module], output: int, length: int) -> torch.Tensor:
    """(length,) bool: the inputs with a nonzero gradient of output `output` of a conv stack."""
    torch.manual_seed(0)
    x = torch.randn(1, 1, length, requires_grad=True)
    h = x
    for conv in convs:
        h = conv(h)
    h[0, 0, output].backward()
    return x.grad[0, 0] != 0


def causal_stack(kernel_size, dilations):
    torch.manual_seed(1)
    convs = [CausalConv1d(1, 1, kernel_size, d) for d in dilations]
    with torch.no_grad():
        for conv in convs:                     # positive weights: no accidental cancellation to zero
            conv.conv.weight.uniform_(0.5, 1.0)
    return convs


def test_dilation_schedules():
    assert rf.dilation_schedule("1, 1, 1, ...", 3) == [1, 1, 1]
    assert rf.dilation_schedule("1, 2, 4, ...", 5) == [1, 2, 4, 8, 16]
    assert rf.dilation_schedule("1, 2, 4, ..., repeat", 6) == [1, 2, 4, 8, 1, 2]
    with pytest.raises(ValueError, match="schedule must be one of"):
        rf.dilation_schedule("1, 3, 9", 3)
    with pytest.raises(ValueError, match="positive int"):
        rf.dilation_schedule("1, 2, 4, ...", 0)


@pytest.mark.parametrize("kernel_size,dilations,output", [
    (2, [1, 2, 4, 8], 31), (2, [1, 2, 4, 8], 5), (3, [1, 1, 1], 20), (2, [2, 2], 30),
    (3, [1, 2, 4, 1, 2, 4], 40), (4, [1], 0)])
def test_reaching_units_match_a_real_causal_stack(kernel_size, dilations, output):
    length = 48
    layers = rf.reaching_units(kernel_size, dilations, output, length)
    assert len(layers) == len(dilations) + 1
    assert all(layer.shape == (length,) and layer.dtype == torch.bool for layer in layers)
    assert layers[-1].nonzero().flatten().tolist() == [output]
    measured = gradient_reach(causal_stack(kernel_size, dilations), output, length)
    assert torch.equal(layers[0], measured)
    expected = sorted(output - o for o in reachable_offsets(kernel_size, dilations) if output - o >= 0)
    assert layers[0].nonzero().flatten().tolist() == expected
    assert not layers[0][output + 1:].any(), "a causal stack never reaches later inputs"


def test_full_receptive_field_when_far_from_the_start():
    layers = rf.reaching_units(2, [1, 2, 4, 8], output=40, length=48)
    assert int(layers[0].sum()) == receptive_field(2, [1, 2, 4, 8]) == 16
    assert layers[0].nonzero().flatten().tolist() == list(range(25, 41))


def test_the_comparison_catches_a_stack_padded_on_both_sides():
    """A 'same'-padded stack reaches later inputs: the measured reach must then differ."""
    torch.manual_seed(1)
    same = [nn.Conv1d(1, 1, 3, padding=1) for _ in range(2)]
    with torch.no_grad():
        for conv in same:
            conv.weight.uniform_(0.5, 1.0)
    measured = gradient_reach(same, output=10, length=24)
    assert measured[11:].any()
    assert not torch.equal(rf.reaching_units(3, [1, 1], 10, 24)[0], measured)


def test_reaching_units_rejects_bad_arguments():
    with pytest.raises(ValueError, match="output must be a position"):
        rf.reaching_units(2, [1, 2], output=32, length=32)
    with pytest.raises(ValueError):
        rf.reaching_units(2, [], output=3, length=32)
    with pytest.raises(ValueError, match="positive int"):
        rf.reaching_units(0, [1], output=3, length=32)


def test_draw_receptive_field_title_reports_the_field():
    fig = rf.draw_receptive_field(2, [1, 2, 4, 8], output=31, length=32)
    try:
        title = fig.axes[0].get_title()
        assert "receptive field R = 16" in title and "sees 16 input(s), 16..31" in title
    finally:
        plt.close(fig)
    fig = rf.draw_receptive_field(2, [1, 2, 4, 8], output=5, length=32)
    try:
        assert "sees 6 input(s), 0..5" in fig.axes[0].get_title() and "zero padding" in fig.axes[0].get_title()
    finally:
        plt.close(fig)
    fig = rf.draw_receptive_field(2, [2, 2], output=20, length=32)
    try:
        assert "hole" in fig.axes[0].get_title()
    finally:
        plt.close(fig)


def test_widget_structure_and_redraw_on_every_control(monkeypatch):
    import ipywidgets as widgets

    calls = []

    def fake_draw(kernel_size, dilations, output, length=32, title=""):
        calls.append((kernel_size, list(dilations), output))
        return plt.figure(figsize=(1, 1))

    monkeypatch.setattr(rf, "draw_receptive_field", fake_draw)
    open_before = set(plt.get_fignums())
    box = rf.receptive_field_widget(kernel_size=2, num_layers=4, schedule="1, 2, 4, ...", length=32)
    assert isinstance(box, widgets.VBox)
    assert {"ar-widget", "ar-widget-receptive-field"} <= set(box._dom_classes)
    kernel, layers, schedule, output = (find_control(box, description) for description in
                                        ("kernel size", "layers", "dilations", "output index"))
    assert all(isinstance(slider, widgets.IntSlider) for slider in (kernel, layers, output))
    assert isinstance(schedule, widgets.Dropdown) and list(schedule.options) == list(rf.SCHEDULES)
    assert sum(isinstance(child, widgets.Output) for child in box.children) == 1
    assert calls == [(2, [1, 2, 4, 8], 31)]
    schedule.value = "1, 1, 1, ..."
    layers.value = 5
    kernel.value = 3
    output.value = 10
    assert calls[1:] == [(2, [1, 1, 1, 1], 31), (2, [1, 1, 1, 1, 1], 31), (3, [1, 1, 1, 1, 1], 31),
                         (3, [1, 1, 1, 1, 1], 10)]
    assert set(plt.get_fignums()) == open_before, "the widget must close its figures"
    with pytest.raises(ValueError, match="length can be at most"):
        rf.receptive_field_widget(length=rf.MAX_LENGTH + 1)
