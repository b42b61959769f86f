"""The receptive field of a stack of causal 1D convolutions, as a drawing and a widget (lecture 05).

A causal convolution with kernel size k and dilation d computes its output at t from its input at
t, t - d, ..., t - (k-1)d (positions before 0 are the zero padding). Stack L of them and one output
sees R = 1 + (k - 1) * (d_1 + ... + d_L) consecutive inputs at most (`receptive_field`). Here we walk
the stack down from one chosen output and light up every unit that reaches it, layer by layer:

    dilations = dilation_schedule("1, 2, 4, ...", num_layers=4)          # [1, 2, 4, 8]
    reaching_units(kernel_size=2, dilations=dilations, output=20, length=32)
        # [inputs (32,), layer 1, ..., layer 4 (the output layer)] bool
    draw_receptive_field(2, dilations, output=20, length=32)              # a Figure

In WaveNet the input row holds the values shifted right by one (START first), so the output at t
is the distribution of x_{t+1}: it sees x_{t+1-R}, ..., x_t.

Pure functions (tested): `dilation_schedule`, `reaching_units`, `draw_receptive_field`.
Widget (draws only): `receptive_field_widget`.
"""
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import LineCollection

from ..models.wavenet import receptive_field
from ..validation import check_positive_int
from .skeleton import figure_widget

SCHEDULES = ("1, 1, 1, ...", "1, 2, 4, ...", "1, 2, 4, ..., repeat")
REPEAT_EVERY = 4          # the "repeat" schedule: 1, 2, 4, 8, 1, 2, 4, 8, ...
MAX_LAYERS = 8            # limits of the drawing, not of the formula
MAX_LENGTH = 64


def dilation_schedule(schedule: str, num_layers: int) -> list[int]:
    """The dilations of `num_layers` layers for one of SCHEDULES.

    "1, 1, 1, ..."          -> 1, 1, 1, 1, ...       (a plain causal stack: R grows by k-1 per layer)
    "1, 2, 4, ..."          -> 1, 2, 4, 8, ...       (doubling: R doubles per layer with k = 2)
    "1, 2, 4, ..., repeat"  -> 1, 2, 4, 8, 1, 2, ... (doubling, restarted every REPEAT_EVERY layers)
    """
    check_positive_int(num_layers, "num_layers")
    if schedule == SCHEDULES[0]:
        return [1] * num_layers
    if schedule == SCHEDULES[1]:
        return [2 ** layer for layer in range(num_layers)]
    if schedule == SCHEDULES[2]:
        return [2 ** (layer % REPEAT_EVERY) for layer in range(num_layers)]
    raise ValueError(f"schedule must be one of {', '.join(repr(s) for s in SCHEDULES)}; got {schedule!r}")


def reaching_units(kernel_size: int, dilations, output: int, length: int) -> list[torch.Tensor]:
    """Which units of the stack reach `output`: [inputs, layer 1, ..., layer L], each (length,) bool.

    The last entry is the output layer, where only `output` itself is lit. Going down one layer
    with dilation d, unit t is reached from t, t - d, ..., t - (k-1)d (those >= 0; the rest is padding).
    """
    check_positive_int(kernel_size, "kernel_size")
    check_positive_int(length, "length")
    receptive_field(kernel_size, dilations)                     # checks the dilations
    if not 0 <= output < length:
        raise ValueError(f"output must be a position in [0, {length - 1}], got {output!r}")
    lit = torch.zeros(length, dtype=torch.bool)
    lit[output] = True
    layers = [lit]
    for d in reversed(list(dilations)):
        below = torch.zeros(length, dtype=torch.bool)
        for j in range(kernel_size):
            below[:length - j * d] |= lit[j * d:]                # unit t - j*d feeds unit t
        layers.append(below)
        lit = below
    return layers[::-1]


def _edges(lit_above, dilation, kernel_size, y_below, only_lit):
    """Segments from the taps t - j*d of every unit t of a layer (lit units only if only_lit)."""
    segments = []
    for t in range(len(lit_above)):
        if only_lit and not lit_above[t]:
            continue
        for j in range(kernel_size):
            if t - j * dilation >= 0:
                segments.append(((t - j * dilation, y_below), (t, y_below + 1)))
    return segments


def draw_receptive_field(kernel_size: int, dilations, output: int, length: int = 32, title: str = ""):
    """Figure: the stack of causal convolutions, inputs at the bottom, with the units that reach
    `output` (and the connections between them) in red.

    The title gives the receptive field R from the formula and the inputs that are lit; they differ
    only when R reaches past the start of the sequence (those taps read the zero padding).
    """
    dilations = list(dilations)
    layers = reaching_units(kernel_size, dilations, output, length)
    num_rows = len(layers)
    fig, ax = plt.subplots(figsize=(10, 1.1 + 0.55 * num_rows))
    grey = [seg for layer, d in enumerate(dilations) for seg in _edges(layers[layer + 1], d, kernel_size, layer, False)]
    ax.add_collection(LineCollection(grey, colors="#c8c8c8", linewidths=0.5, alpha=0.6))
    lit = [seg for layer, d in enumerate(dilations) for seg in _edges(layers[layer + 1], d, kernel_size, layer, True)]
    ax.add_collection(LineCollection(lit, colors="#d62728", linewidths=1.4))
    size = 36 if length <= 32 else 16
    for row, on in enumerate(layers):
        on = on.numpy()
        positions = np.arange(length)
        ax.scatter(positions[~on], np.full((~on).sum(), row), s=size, color="#e6e6e6", edgecolors="#999999",
                   linewidths=0.6, zorder=3)
        ax.scatter(positions[on], np.full(on.sum(), row), s=size * 1.3, color="#d62728", edgecolors="black",
                   linewidths=0.6, zorder=4)
    names = ["input"] + [f"layer {l}, d={d}" for l, d in enumerate(dilations[:-1], start=1)] + [f"output, d={dilations[-1]}"]
    for row, name in enumerate(names):
        ax.text(-1.2, row, name, ha="right", va="center", fontsize=8)
    step = 1 if length <= 16 else (4 if length <= 32 else 8)
    for t in range(0, length, step):
        ax.text(t, -0.55, str(t), ha="center", va="top", fontsize=7, color="#555555")
    ax.set_xlim(-7.5, length - 0.3)
    ax.set_ylim(-1.0, num_rows - 0.5)
    ax.axis("off")

    seen = layers[0].nonzero().flatten().tolist()
    full = receptive_field(kernel_size, dilations)
    if not title:
        title = (f"kernel {kernel_size}, dilations {', '.join(map(str, dilations))}: receptive field R = {full}\n"
                 f"output {output} sees {len(seen)} input(s), {seen[0]}..{seen[-1]}"
                 + (" (the rest of R lies before position 0: zero padding)" if len(seen) < full and seen[0] == 0 else "")
                 + (f", with {seen[-1] - seen[0] + 1 - len(seen)} hole(s)" if seen[-1] - seen[0] + 1 > len(seen) else ""))
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def receptive_field_widget(kernel_size: int = 2, num_layers: int = 4, schedule: str = SCHEDULES[1],
                           output: int | None = None, length: int = 32):
    """An ipywidgets.VBox over `draw_receptive_field`: kernel size, number of layers, dilation
    schedule (Dropdown of SCHEDULES) and the output whose receptive field is lit.

    The figure is redrawn whenever a control changes (see `figure_widget`).
    CSS classes: `ar-widget` and `ar-widget-receptive-field`.
    """
    import ipywidgets as widgets

    check_positive_int(length, "length")
    if length > MAX_LENGTH:
        raise ValueError(f"length can be at most {MAX_LENGTH} (the drawing gets unreadable), got {length}")
    look = {"style": {"description_width": "110px"}, "layout": widgets.Layout(width="420px")}
    controls = {"kernel_size": widgets.IntSlider(value=kernel_size, min=2, max=4, continuous_update=False,
                                                 description="kernel size", **look),
                "num_layers": widgets.IntSlider(value=num_layers, min=1, max=MAX_LAYERS, continuous_update=False,
                                                description="layers", **look),
                "schedule": widgets.Dropdown(options=SCHEDULES, value=schedule, description="dilations", **look),
                "output": widgets.IntSlider(value=length - 1 if output is None else output, min=0, max=length - 1,
                                            continuous_update=False, description="output index", **look)}

    def draw(kernel_size, num_layers, schedule, output):
        return draw_receptive_field(kernel_size, dilation_schedule(schedule, num_layers), output, length)

    return figure_widget("receptive-field", controls, draw)
