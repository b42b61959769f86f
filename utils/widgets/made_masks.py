"""The MADE mask explorer: degrees, masks and the paths that reach one output (lecture 03).

MADE gives every unit a degree (`utils.models.made.made_degrees`): input j gets its generation step,
a hidden unit of degree d listens only to units below with degree <= d, and output i listens only to
hidden units with degree < step(i). Here we draw the network those degrees make, and light up every
unit and every connection on a path to one chosen output: the lit inputs are exactly the inputs
that output can see, and none of them comes at or after it in the order.

    degrees = made_degrees(4, [5, 5], ordering="random", generator=torch.Generator().manual_seed(0))
    reachable_units(made_masks(degrees), output=2)   # [inputs (4,), hidden 1 (5,), hidden 2 (5,)] bool
    draw_made_network(degrees, highlight_output=2)   # a Figure: the graph and the connectivity matrix

Pure functions (tested): `parse_hidden_sizes`, `parse_ordering`, `choose_ordering`, `reachable_units`,
`draw_made_network`. Widget (draws only): `made_mask_widget`.
"""
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap

from ..models.made import made_connectivity, made_degrees, made_masks
from .skeleton import figure_widget

ORDERING_CHOICES = ("natural", "reversed", "random", "custom")
MAX_HIDDEN_LAYERS = 4     # limits of the drawing, not of MADE
MAX_HIDDEN_WIDTH = 40
MAX_INPUTS = 16


# ----------------------------------------------------------------------------------------------
# reading the controls


def _integers(text: str, what: str) -> list[int]:
    """'3, 1 2' -> [3, 1, 2] (commas and/or spaces); ValueError naming `what` otherwise."""
    pieces = text.replace(",", " ").split()
    try:
        return [int(piece) for piece in pieces]
    except ValueError:
        raise ValueError(f"{what} must be whole numbers separated by commas, got {text!r}") from None


def parse_hidden_sizes(text: str) -> list[int]:
    """'8, 8' -> [8, 8]: the widths of the hidden layers ('' means no hidden layer at all).

    The drawing allows at most MAX_HIDDEN_LAYERS layers of 1 to MAX_HIDDEN_WIDTH units each.
    """
    sizes = _integers(text, "hidden sizes")
    if len(sizes) > MAX_HIDDEN_LAYERS:
        raise ValueError(f"at most {MAX_HIDDEN_LAYERS} hidden layers fit in the picture, got {len(sizes)}")
    for size in sizes:
        if not 1 <= size <= MAX_HIDDEN_WIDTH:
            raise ValueError(f"each hidden size must lie between 1 and {MAX_HIDDEN_WIDTH}, got {size}")
    return sizes


def parse_ordering(text: str, num_inputs: int) -> list[int]:
    """'2, 0, 3, 1' -> [2, 0, 3, 1]: the positions in the order they are generated.

    It must name every position 0, ..., num_inputs - 1 exactly once.
    """
    order = _integers(text, "the order")
    if sorted(order) != list(range(num_inputs)):
        raise ValueError(f"the order must list each of the positions 0..{num_inputs - 1} exactly once, "
                         f"e.g. {', '.join(map(str, reversed(range(num_inputs))))}; got {text!r}")
    return order


def choose_ordering(choice: str, num_inputs: int, custom: str = ""):
    """The `ordering` argument of made_degrees for a choice in ORDERING_CHOICES.

    natural -> None (0, 1, ..., D-1); reversed -> [D-1, ..., 0]; random -> "random";
    custom -> the order typed in `custom` (see parse_ordering).
    """
    if choice == "natural":
        return None
    if choice == "reversed":
        return list(reversed(range(num_inputs)))
    if choice == "random":
        return "random"
    if choice == "custom":
        return parse_ordering(custom, num_inputs)
    raise ValueError(f"ordering must be one of {ORDERING_CHOICES}, got {choice!r}")


# ----------------------------------------------------------------------------------------------
# which units reach an output


def reachable_units(masks: list[torch.Tensor], output: int) -> list[torch.Tensor]:
    """Units with a path to output `output`: [inputs (D,), hidden 1 (H1,), ..., hidden L (HL,)] bool.

    masks: the (out, in) masks of made_masks, the last one (D, HL) feeding the outputs.
    Walks down from the output: a unit reaches it when it feeds, through an allowed weight, a unit of
    the layer above that reaches it. The input part equals made_connectivity(masks)[output] > 0.
    """
    num_outputs = masks[-1].shape[0]
    if not 0 <= output < num_outputs:
        raise ValueError(f"output must lie in [0, {num_outputs - 1}], got {output}")
    reach = [masks[-1][output] > 0]
    for mask in reversed(masks[:-1]):
        reach.insert(0, (mask.T @ reach[0].float()) > 0)
    return reach


# ----------------------------------------------------------------------------------------------
# the picture


def _layer_x(size: int, width: int) -> np.ndarray:
    """Horizontal positions of `size` units spread evenly over the width of the widest layer."""
    half = (width - 1) / 2
    return np.zeros(1) if size == 1 else np.linspace(-half, half, size)


def _edges(mask, x_below, x_above, y_below, keep=None):
    """Line segments for the allowed weights mask[u, v] = 1 (unit v below -> unit u above)."""
    allowed = mask.bool() if keep is None else mask.bool() & keep
    above, below = allowed.nonzero(as_tuple=True)
    return [((x_below[v], y_below), (x_above[u], y_below + 1)) for u, v in zip(above.tolist(), below.tolist())]


def draw_made_network(degrees: list[torch.Tensor], highlight_output: int | None = None, title: str = ""):
    """Figure: left, MADE's network with its degrees; right, which inputs each output can see.

    degrees: [input (D,), hidden 1, ..., hidden L] as made by made_degrees.
    Units are circles holding their degree (the colour also shows it); inputs x_j at the bottom,
    outputs (the distribution of x_i, given its earlier inputs) at the top, both in position order.
    Grey lines are the weights the masks keep. With highlight_output = i, the units and weights on a
    path to output i are drawn in red and the rest fade; the matrix marks row i.
    """
    masks = made_masks(degrees)
    num_inputs, num_layers = len(degrees[0]), len(degrees) + 1     # inputs, hidden..., outputs
    rank = degrees[0]
    unit_degrees = [d.numpy() for d in degrees] + [rank.numpy()]       # output i shows its own step
    width = max(len(d) for d in unit_degrees)
    xs = [_layer_x(len(d), width) for d in unit_degrees]
    reach = None
    if highlight_output is not None:
        reach = reachable_units(masks, highlight_output)
        reach.append(torch.arange(num_inputs) == highlight_output)     # the output layer itself

    fig, (graph, matrix) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=80, gridspec_kw={"width_ratios": [2.6, 1]})
    grey = [seg for layer, mask in enumerate(masks) for seg in _edges(mask, xs[layer], xs[layer + 1], layer)]
    graph.add_collection(LineCollection(grey, colors="#b8b8b8", linewidths=0.6, alpha=0.35 if reach else 0.8))
    if reach is not None:
        lit = [seg for layer, mask in enumerate(masks)
               for seg in _edges(mask, xs[layer], xs[layer + 1], layer, reach[layer + 1][:, None] & reach[layer][None, :])]
        graph.add_collection(LineCollection(lit, colors="#d62728", linewidths=1.3))

    cmap, top = plt.get_cmap("viridis"), max(num_inputs - 1, 1)
    node_area = min(260.0, (300 / width) ** 2)                        # circles shrink on wide layers
    digits_size, label_size = (7, 8) if width <= 16 else (5.5, 6.5)
    for layer, (x, layer_degrees) in enumerate(zip(xs, unit_degrees)):
        on = np.ones(len(x), dtype=bool) if reach is None else reach[layer].numpy()
        for xi, degree, is_on in zip(x, layer_degrees, on):
            graph.scatter(xi, layer, s=node_area, color=cmap(degree / top), alpha=1.0 if is_on else 0.25,
                          edgecolors="#d62728" if (reach is not None and is_on) else "white",
                          linewidths=2 if (reach is not None and is_on) else 1, zorder=3)
            graph.text(xi, layer, str(int(degree)), ha="center", va="center", fontsize=digits_size, zorder=4,
                       color="white" if degree / top < 0.6 else "black", alpha=1.0 if is_on else 0.4)
    for j, xj in enumerate(xs[0]):
        graph.text(xj, -0.42, f"x{j}", ha="center", va="top", fontsize=label_size)
        graph.text(xs[-1][j], num_layers - 1 + 0.42, f"x{j}", ha="center", va="bottom", fontsize=label_size)
    names = ["inputs\n(step)"] + [f"hidden {l}\n(degree)" for l in range(1, num_layers - 1)] + ["outputs\n(step)"]
    for layer, name in enumerate(names):
        graph.text(-width / 2 - 0.6, layer, name, ha="right", va="center", fontsize=8)
    graph.set_xlim(-width / 2 - 2.6, width / 2)
    graph.set_ylim(-0.9, num_layers - 1 + 0.9)
    graph.axis("off")

    sees = (made_connectivity(masks) > 0).numpy()
    earlier = (rank[None, :] < rank[:, None]).numpy()
    picture = np.where(sees, 2, np.where(earlier, 1, 0))          # sees it / earlier but cut off / later
    colours = ListedColormap(["white", "#f5b971", "#3b528b"])
    matrix.imshow(picture, cmap=colours, vmin=0, vmax=2, interpolation="nearest")
    matrix.set_xlabel("input j")
    matrix.set_ylabel("output i")
    ticks = range(num_inputs) if num_inputs <= 10 else range(0, num_inputs, 2)
    matrix.set_xticks(list(ticks))
    matrix.set_yticks(list(ticks))
    matrix.set_title("can output i see input j?\nblue: yes, orange: earlier but cut off", fontsize=8)
    if highlight_output is not None:
        matrix.add_patch(plt.Rectangle((-0.5, highlight_output - 0.5), num_inputs, 1, fill=False,
                                       edgecolor="#d62728", linewidth=2))

    if not title:
        order = torch.argsort(rank).tolist()
        title = "order: " + " → ".join(f"x{p}" for p in order)
        if highlight_output is not None:
            seen = reach[0].nonzero().flatten().tolist()
            missed = int(earlier[highlight_output].sum()) - len(seen)
            title += (f"\noutput x{highlight_output} (step {int(rank[highlight_output])}) sees "
                      + (", ".join(f"x{j}" for j in seen) if seen else "nothing")
                      + (f"; {missed} earlier input(s) cut off" if missed else ""))
    graph.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------
# the widget


def made_mask_widget(num_inputs: int = 6, hidden_sizes: str = "8, 8", ordering: str = "natural",
                     hidden_degrees: str = "random", output: int | None = None, seed: int = 0):
    """An ipywidgets.VBox to explore MADE's masks, drawn by `draw_made_network`.

    Controls: the number of inputs, the hidden sizes (text, e.g. "8, 8"), the ordering (natural,
    reversed, random or a custom order typed in a text box), the rule for hidden degrees, a button
    that draws new random degrees, and the output whose paths are lit. Degrees are drawn from
    torch.Generator().manual_seed(seed + number of button presses), so picking another output keeps
    the network. A message line explains invalid input and the last good picture stays.
    CSS classes: `ar-widget` and `ar-widget-made`.
    """
    import ipywidgets as widgets

    look = {"style": {"description_width": "110px"}, "layout": widgets.Layout(width="420px")}
    controls = {
        "num_inputs": widgets.IntSlider(value=num_inputs, min=2, max=MAX_INPUTS, continuous_update=False,
                                        description="inputs D", **look),
        "hidden_sizes": widgets.Text(value=hidden_sizes, continuous_update=False, description="hidden sizes",
                                     placeholder="e.g. 8, 8", **look),
        "ordering": widgets.Dropdown(options=ORDERING_CHOICES, value=ordering, description="ordering", **look),
        "custom_order": widgets.Text(value="", continuous_update=False, description="custom order",
                                     placeholder="positions in order, e.g. 3, 0, 2, 1", **look),
        "hidden_degrees": widgets.Dropdown(options=("random", "spread"), value=hidden_degrees,
                                           description="hidden degrees", **look),
        "resamples": widgets.Button(description="resample degrees", icon="refresh", layout=widgets.Layout(width="180px")),
        "output": widgets.IntSlider(value=num_inputs - 1 if output is None else output, min=0, max=num_inputs - 1,
                                    continuous_update=False, description="output", **look),
    }
    # the output slider follows D; linked before figure_widget observes D, so the figure sees both move
    widgets.dlink((controls["num_inputs"], "value"), (controls["output"], "max"), lambda size: size - 1)

    def draw(num_inputs, hidden_sizes, ordering, custom_order, hidden_degrees, resamples, output):
        hidden = parse_hidden_sizes(hidden_sizes)
        if ordering == "custom" and not custom_order.strip():
            example = ", ".join(map(str, reversed(range(num_inputs))))
            raise ValueError(f"type the custom order in the box, e.g. {example}")
        order = choose_ordering(ordering, num_inputs, custom_order)
        generator = torch.Generator().manual_seed(seed + resamples)
        degrees = made_degrees(num_inputs, hidden, order, hidden_degrees, generator)
        return draw_made_network(degrees, highlight_output=output)

    return figure_widget("made", controls, draw, show_errors=True)
