"""Attention masks, how far they reach over layers and what they cost (lecture 07).

A mask says which earlier positions a query may attend to in ONE layer (utils.attention_masks).
Stacking layers lets information hop: after L layers, position j reaches query i when a path of at
most L mask edges leads from j to i (`utils.attention_masks.reachable`). Full causal attention
reaches everything in one layer but costs T (T + 1) / 2 attended pairs per layer; the sparse
patterns of the Sparse Transformer pay about 2 T sqrt(T) and still reach every earlier position
after two layers (local attention alone never gets further than L (l - 1) positions back).

Patterns of the widget (PATTERN_NAMES): the four of utils.attention_masks, plus "pixelsnail": a
PixelSNAIL-style block, a small causal convolution window for the neighbourhood and causal attention
over everything earlier. Its mask is the union of the two, which is the full causal mask: the
attention alone already reaches every earlier position in one block, so the convolution adds local
detail, not reach, and the block pays the full causal cost.

Positions are either a sequence of T tokens, or the pixels of an S x S image in raster order
(T = S * S, stride l = S, one image row, as the Transformer uses for images).

    summary = mask_summary("strided", "sequence", 16, query=13, num_layers=2)
    summary.num_reachable, summary.num_earlier, summary.pairs, summary.causal_pairs   # 13 13 ...
    plot_attention_masks("fixed", "image", 6, query=20, num_layers=1)                # a Figure

Pure functions (tested): `widget_mask`, `mask_summary`, `attended_pairs`, `reach_picture`,
`describe_summary`, `plot_attention_masks`. Widget (draws only): `attention_mask_widget`.
"""
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch, Rectangle

from ..attention_masks import attention_mask, default_stride, reachable
from ..validation import check_positive_int
from .skeleton import figure_widget

PATTERN_NAMES = {"causal": "full causal", "local": "local", "strided": "strided", "fixed": "fixed",
                 "pixelsnail": "PixelSNAIL-style"}
LAYOUTS = ("sequence", "image")
CONVOLUTION_REACH = 1        # the PixelSNAIL-style window: 1 position back (sequence), 3 x 3 causal (image)

# the four kinds of position in a reach picture, and their colours (as in the blind-spot widget)
LATER, REACHED, NOT_REACHED, QUERY = 0, 1, 2, 3
CATEGORY_NAMES = ("later position", "earlier, reached", "earlier, not reached", "the query")
CATEGORY_COLOURS = ("#f0f0f0", "#4c72b0", "#e8743b", "#222222")

MAX_LENGTH = 64              # limits of the widget, not of the masks
MAX_IMAGE_SIZE = 10
MAX_LAYERS = 6


# ----------------------------------------------------------------------------------------------
# the masks and their numbers


def _check_layout(layout: str, size: int) -> int:
    """The number of positions T for a layout and size (T for sequences, S for S x S images)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    check_positive_int(size, "size")
    if layout == "image" and size < 2:
        raise ValueError(f"an image needs at least 2 x 2 pixels, got size {size}")
    return size * size if layout == "image" else size


def layout_stride(layout: str, size: int) -> int:
    """The sparse patterns' stride l: one image row (S) for images, ceil(sqrt(T)) for sequences."""
    return size if layout == "image" else default_stride(_check_layout(layout, size))


def convolution_window(layout: str, size: int) -> torch.Tensor:
    """(T, T) bool: the causal neighbourhood of a small convolution (the PixelSNAIL-style part).

    Sequences: positions i - 1 and i. Images: the 3 x 3 window's row above (three pixels), the pixel
    to the left, and the pixel itself: what one masked 3 x 3 layer of type B reads.
    """
    length = _check_layout(layout, size)
    i = torch.arange(length)[:, None]
    j = torch.arange(length)[None, :]
    if layout == "sequence":
        return (j <= i) & (i - j <= CONVOLUTION_REACH)
    row_i, col_i, row_j, col_j = i // size, i % size, j // size, j % size
    row_above = (row_j == row_i - 1) & ((col_j - col_i).abs() <= CONVOLUTION_REACH)
    same_row = (row_j == row_i) & (col_j <= col_i) & (col_i - col_j <= CONVOLUTION_REACH)
    return row_above | same_row


def widget_mask(pattern: str, layout: str, size: int) -> torch.Tensor:
    """(T, T) bool, True = query i may attend to key j in one layer, for a pattern of PATTERN_NAMES."""
    if pattern not in PATTERN_NAMES:
        raise ValueError(f"pattern must be one of {tuple(PATTERN_NAMES)}, got {pattern!r}")
    length = _check_layout(layout, size)
    if pattern == "pixelsnail":
        return attention_mask("causal", length) | convolution_window(layout, size)
    return attention_mask(pattern, length, layout_stride(layout, size))


def attended_pairs(mask: torch.Tensor) -> int:
    """The number of (query, key) pairs one layer computes a score for: the True entries of the mask."""
    return int(mask.sum())


@dataclass
class MaskSummary:
    """What the widget shows for one setting.

    mask: (T, T) bool, one layer; reach: (T,) bool, the positions that reach the query after
    num_layers layers (the query's row of `reachable`); num_reachable: earlier positions among them;
    num_earlier: the query's earlier positions (= query); pairs: attended pairs per layer;
    causal_pairs: the same for full causal attention, T (T + 1) / 2.
    """
    pattern: str
    layout: str
    size: int
    query: int
    num_layers: int
    mask: torch.Tensor
    reach: torch.Tensor
    num_reachable: int
    num_earlier: int
    pairs: int
    causal_pairs: int


def mask_summary(pattern: str, layout: str, size: int, query: int, num_layers: int) -> MaskSummary:
    """The mask, the query's reach after num_layers layers, and the counts (see MaskSummary).

    Raises ValueError when the reach includes a later position: the mask is not causal.
    """
    mask = widget_mask(pattern, layout, size)
    length = len(mask)
    if isinstance(query, bool) or not isinstance(query, int) or not 0 <= query < length:
        raise ValueError(f"query must be a position in [0, {length - 1}], got {query!r}")
    reach = reachable(mask, check_positive_int(num_layers, "num_layers"))[query]
    positions = torch.arange(length)
    if (reach & (positions > query)).any():
        later = positions[reach & (positions > query)].tolist()
        raise ValueError(f"position {query} is reached from later position(s) {later[:5]}: the mask is not causal")
    num_reachable = int((reach & (positions < query)).sum())
    return MaskSummary(pattern, layout, size, query, num_layers, mask, reach, num_reachable, query,
                       attended_pairs(mask), length * (length + 1) // 2)


def reach_picture(summary: MaskSummary) -> np.ndarray:
    """LATER, REACHED, NOT_REACHED or QUERY for every position: (1, T) for sequences, (S, S) for images."""
    positions = np.arange(len(summary.reach))
    reach = summary.reach.numpy()
    picture = np.where(positions > summary.query, LATER, np.where(reach, REACHED, NOT_REACHED))
    picture[summary.query] = QUERY
    return picture.reshape(summary.size, summary.size) if summary.layout == "image" else picture[None, :]


def position_name(summary: MaskSummary) -> str:
    """'position 13' for sequences, 'pixel (3, 2)' for images."""
    if summary.layout == "image":
        return f"pixel {divmod(summary.query, summary.size)}"
    return f"position {summary.query}"


def describe_summary(summary: MaskSummary) -> str:
    """'after 2 layers position 13 is reached by 13 of 13 earlier positions; 61 pairs per layer (45 % of full causal)'."""
    layers = f"{summary.num_layers} layer{'s' if summary.num_layers > 1 else ''}"
    share = 100 * summary.pairs / summary.causal_pairs
    return (f"after {layers} {position_name(summary)} is reached by {summary.num_reachable} of "
            f"{summary.num_earlier} earlier positions; {summary.pairs} pairs per layer ({share:.0f} % of full causal)")


# ----------------------------------------------------------------------------------------------
# drawing


def draw_mask(ax, summary: MaskSummary) -> None:
    """The mask as a matrix (queries down, keys across), with the query's row boxed."""
    length = len(summary.mask)
    ax.imshow(summary.mask.numpy(), cmap=ListedColormap(["#f0f0f0", "#4c72b0"]), vmin=0, vmax=1,
              interpolation="nearest")
    ax.add_patch(Rectangle((-0.5, summary.query - 0.5), length, 1, fill=False, edgecolor="#e8743b", linewidth=1.5))
    ax.set_xlabel("key j (attended to)", fontsize=8)
    ax.set_ylabel("query i", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(f"one layer's mask ({PATTERN_NAMES[summary.pattern]})\n{summary.pairs} attended pairs", fontsize=9)


def draw_reach(ax, summary: MaskSummary) -> None:
    """Which positions reach the query after the summary's number of layers."""
    picture = reach_picture(summary)
    ax.imshow(picture, cmap=ListedColormap(CATEGORY_COLOURS), vmin=-0.5, vmax=3.5, interpolation="nearest",
              aspect="equal" if summary.layout == "image" else "auto")
    if summary.layout == "image":
        ax.set_xlabel("column", fontsize=8)
        ax.set_ylabel("row", fontsize=8)
    else:
        ax.set_yticks([])
        ax.set_xlabel("position", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(f"reach of {position_name(summary)} after {summary.num_layers} layer"
                 f"{'s' if summary.num_layers > 1 else ''}\n{summary.num_reachable} of {summary.num_earlier} "
                 "earlier positions", fontsize=9)


def cost_curve(pattern: str, layout: str, sizes) -> list[int]:
    """Attended pairs per layer of `pattern` for each size of `sizes` (T, or S for S x S images)."""
    return [attended_pairs(widget_mask(pattern, layout, size)) for size in sizes]


def draw_cost(ax, summary: MaskSummary) -> None:
    """Attended pairs per layer against T, for this pattern and full causal, with T sqrt(T) for scale."""
    sizes = range(4, 257, 12) if summary.layout == "sequence" else range(2, 17)
    lengths = np.array([size * size if summary.layout == "image" else size for size in sizes])
    ax.plot(lengths, lengths * (lengths + 1) / 2, "-", color="#999999", label="full causal: T(T+1)/2")
    ax.plot(lengths, 2 * lengths ** 1.5, ":", color="#999999", label="2 T sqrt(T)")
    if summary.pattern not in ("causal", "pixelsnail"):
        ax.plot(lengths, cost_curve(summary.pattern, summary.layout, sizes), "-", color="#4c72b0",
                label=PATTERN_NAMES[summary.pattern])
    ax.plot([len(summary.mask)], [summary.pairs], "o", color="#e8743b", label="this setting")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("positions T", fontsize=8)
    ax.set_ylabel("attended pairs per layer", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
    ax.set_title("cost per layer", fontsize=9)


def plot_attention_masks(pattern: str = "strided", layout: str = "sequence", size: int = 16, query: int | None = None,
                         num_layers: int = 1):
    """Figure: the mask, the query's reach after num_layers layers, and the cost per layer.

    query: a position in [0, T); None picks the last one. The title gives the counts.
    """
    if query is None:
        query = _check_layout(layout, size) - 1
    summary = mask_summary(pattern, layout, size, query, num_layers)
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1, 1, 1.1]})
    draw_mask(axes[0], summary)
    draw_reach(axes[1], summary)
    draw_cost(axes[2], summary)
    handles = [Patch(facecolor=colour, edgecolor="#999999", label=name)
               for name, colour in zip(CATEGORY_NAMES, CATEGORY_COLOURS)]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(describe_summary(summary), fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


# ----------------------------------------------------------------------------------------------
# the widget


def attention_mask_widget(pattern: str = "strided", layout: str = "sequence", size: int | None = None,
                          query: int | None = None, num_layers: int = 1):
    """An ipywidgets.VBox over `plot_attention_masks`: pattern, size, query position, layers.

    layout: "sequence" (the size control is the sequence length T) or "image" (the image size S,
    T = S * S pixels in raster order); it is fixed when the widget is built. size None: 16 for
    sequences, 6 for images; query None: the last position. Changing the size moves the query
    slider's range with it. CSS classes: `ar-widget` and `ar-widget-attention-masks`.
    """
    import ipywidgets as widgets

    size = (16 if layout == "sequence" else 6) if size is None else size
    length = _check_layout(layout, size)
    query = length - 1 if query is None else query
    mask_summary(pattern, layout, size, query, num_layers)          # clear errors for bad options
    largest_size = MAX_LENGTH if layout == "sequence" else MAX_IMAGE_SIZE
    for name, value, largest in (("size", size, largest_size), ("num_layers", num_layers, MAX_LAYERS)):
        if value > largest:
            raise ValueError(f"{name} can be at most {largest} in the widget, got {value}")
    style = {"description_width": "110px"}
    layout_box = widgets.Layout(width="460px")

    def slider(value, low, high, description):
        return widgets.IntSlider(value=value, min=low, max=high, continuous_update=False,
                                 description=description, style=style, layout=layout_box)

    positions = (lambda s: s * s) if layout == "image" else (lambda s: s)
    size_slider = slider(size, 2 if layout == "image" else 4, largest_size,
                         "image size" if layout == "image" else "sequence length")
    query_slider = slider(query, 0, length - 1, "query position")

    def follow_size(change):          # registered before the redraw, so the query is in range when it draws
        query_slider.max = positions(change["new"]) - 1    # ipywidgets moves a value above the new max down

    size_slider.observe(follow_size, names="value")
    controls = {"pattern": widgets.ToggleButtons(options=[(name, key) for key, name in PATTERN_NAMES.items()],
                                                 value=pattern, description="pattern", style=style),
                "size": size_slider,
                "query": query_slider,
                "num_layers": slider(num_layers, 1, MAX_LAYERS, "layers")}

    def draw(pattern, size, query, num_layers):
        return plot_attention_masks(pattern, layout, size, min(query, positions(size) - 1), num_layers)

    return figure_widget("attention-masks", controls, draw)

