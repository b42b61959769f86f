"""The blind spot of PixelCNN, as a picture and a widget (lecture 06).

Pick an output pixel of a PixelCNN. Every pixel before it in raster order (the rows above, and the
pixels to its left) should be able to influence it. `utils.receptive_field.receptive_field_map`
measures which ones really do, on a random model. Here we draw the answer as a map with four
colours (pixels after it, earlier pixels it sees, earlier pixels it misses, the pixel itself) next
to a heat map of how many earlier pixels each output of the image misses.

An output can miss an earlier pixel for two reasons. The pixel may be too far away: a stack of L
layers of k x k kernels reaches only about L * (k // 2) rows up and columns sideways, and more
layers fix that. Or it may sit in a plain PixelCNN's blind spot, the wedge above and to the right of
the output that no number of layers ever reaches. A gated PixelCNN with enough layers misses nothing.

    field = measure_receptive_field("pixelcnn", num_layers=5, kernel_size=5, image_size=10, pixel=(6, 5))
    field_picture(field)                                   # (10, 10) ints: LATER, SEEN, UNSEEN, PIXEL
    plot_receptive_field("gated", 5, 5, 10, (6, 5))        # a Figure with both panels

Pure functions (tested): `measure_receptive_field`, `field_picture`, `describe_field`,
`plot_receptive_field`, `plot_receptive_field_comparison`; the drawing pieces `draw_field`,
`draw_unseen_counts` and `add_category_legend` compose other figures (lecture 06 uses them).
Widget (draws only): `blind_spot_widget`.
"""
from functools import lru_cache

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch, Rectangle

from ..receptive_field import MODEL_KINDS, ReceptiveField, receptive_field_map
from ..validation import check_positive_int
from .skeleton import figure_widget

MODEL_NAMES = {"pixelcnn": "plain PixelCNN", "gated": "gated PixelCNN"}

# the four kinds of pixel in a receptive-field picture, and their colours
LATER, SEEN, UNSEEN, PIXEL = 0, 1, 2, 3
CATEGORY_NAMES = ("generated later", "earlier, seen", "earlier, not seen", "the chosen pixel")
CATEGORY_COLOURS = ("#f0f0f0", "#4c72b0", "#e8743b", "#222222")

MAX_LAYERS = 10          # limits of the widget, not of the models
MAX_KERNEL_SIZE = 7
MAX_IMAGE_SIZE = 16      # a 16 x 16 map takes about a second to measure


# ----------------------------------------------------------------------------------------------
# measuring and classifying pixels


def _check_options(model_kind: str, num_layers: int, kernel_size: int, image_size: int, pixel) -> tuple:
    """Clear errors for bad widget options; returns the pixel as a (row, col) tuple of ints."""
    if model_kind not in MODEL_KINDS:
        raise ValueError(f"model_kind must be one of {MODEL_KINDS}, got {model_kind!r}")
    check_positive_int(num_layers, "num_layers")
    check_positive_int(kernel_size, "kernel_size")
    check_positive_int(image_size, "image_size")
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd so that the kernel has a centre, got {kernel_size}")
    if not (isinstance(pixel, (tuple, list)) and len(pixel) == 2
            and all(isinstance(p, int) and not isinstance(p, bool) and 0 <= p < image_size for p in pixel)):
        raise ValueError(f"pixel must be (row, col) with both in [0, {image_size - 1}], got {pixel!r}")
    return tuple(pixel)


@lru_cache(maxsize=256)
def _cached_field(model_kind: str, num_layers: int, kernel_size: int, image_size: int, pixel: tuple):
    return receptive_field_map(model_kind, num_layers, kernel_size, image_size, pixel)


def measure_receptive_field(model_kind: str, num_layers: int, kernel_size: int, image_size: int,
                            pixel) -> ReceptiveField:
    """`receptive_field_map` of a random model of that kind (see utils.receptive_field), remembered.

    The same options always give the same answer (the model is seeded), so a widget that comes
    back to a setting reuses the measurement. Treat the returned maps as read-only.
    """
    pixel = _check_options(model_kind, num_layers, kernel_size, image_size, pixel)
    return _cached_field(model_kind, num_layers, kernel_size, image_size, pixel)


def field_picture(field: ReceptiveField) -> np.ndarray:
    """(H, W) int array: LATER, SEEN, UNSEEN or PIXEL for every pixel of the image.

    Raises ValueError when the output depends on itself or on a later pixel: such a model is not
    autoregressive, and a picture of its "blind spot" would hide the real bug.
    """
    earlier = field.earlier.numpy().astype(bool)
    seen = field.seen.numpy().astype(bool)
    leaks = seen & ~earlier
    if leaks.any():
        rows, cols = np.nonzero(leaks)
        raise ValueError(f"output {field.pixel} depends on pixel(s) {list(zip(rows.tolist(), cols.tolist()))[:5]} "
                         "that are not generated before it: the model is not autoregressive")
    picture = np.full(earlier.shape, LATER, dtype=np.int64)
    picture[earlier & seen] = SEEN
    picture[earlier & ~seen] = UNSEEN
    picture[field.pixel] = PIXEL
    return picture


# ----------------------------------------------------------------------------------------------
# drawing


def _grid_lines(ax, size: int) -> None:
    ax.set_xticks(np.arange(-0.5, size, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, size, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=0.8)
    ax.tick_params(which="minor", length=0)
    step = 2 if size <= 12 else 4
    ax.set_xticks(range(0, size, step))
    ax.set_yticks(range(0, size, step))
    ax.tick_params(labelsize=7)


def draw_field(ax, field: ReceptiveField, title: str = "") -> None:
    """Draw `field_picture(field)` into `ax`."""
    size = field.earlier.shape[0]
    ax.imshow(field_picture(field), cmap=ListedColormap(CATEGORY_COLOURS), vmin=-0.5, vmax=3.5,
              interpolation="nearest")
    _grid_lines(ax, size)
    ax.set_xlabel("column", fontsize=8)
    ax.set_ylabel("row", fontsize=8)
    ax.set_title(title, fontsize=9)


def add_category_legend(fig) -> None:
    """One legend for the four colours of `draw_field`, along the bottom of the figure."""
    handles = [Patch(facecolor=colour, edgecolor="#999999", label=name)
               for name, colour in zip(CATEGORY_NAMES, CATEGORY_COLOURS)]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)


def draw_unseen_counts(ax, field: ReceptiveField) -> None:
    """Heat map: for every output pixel, how many earlier pixels it misses; the chosen one is boxed."""
    counts = field.unseen_counts.numpy()
    size = counts.shape[0]
    image = ax.imshow(counts, cmap="Oranges", vmin=0, vmax=max(int(counts.max()), 1), interpolation="nearest")
    _grid_lines(ax, size)
    row, col = field.pixel
    ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="#222222", linewidth=2))
    missing = int(counts.sum())
    outputs = int((counts > 0).sum())
    ax.set_title(f"earlier pixels missed by each output\n{outputs} of {counts.size} outputs miss some "
                 f"({missing} in all)", fontsize=9)
    ax.set_xlabel("column", fontsize=8)
    colourbar = ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    colourbar.ax.tick_params(labelsize=7)


def describe_field(field: ReceptiveField) -> str:
    """'pixel (6, 6) sees 34 of 78 earlier pixels, misses 44' (or '..., all of them')."""
    earlier = field.num_seen + field.num_unseen
    missed = f"misses {field.num_unseen}" if field.num_unseen else "all of them"
    return f"pixel {field.pixel} sees {field.num_seen} of {earlier} earlier pixels, {missed}"


def plot_receptive_field(model_kind: str = "pixelcnn", num_layers: int = 5, kernel_size: int = 5,
                         image_size: int = 10, pixel=None):
    """Figure: left, which earlier pixels reach `pixel`; right, what every output misses.

    pixel: (row, col); None picks the middle of the image. The title gives the counts.
    """
    if pixel is None:
        pixel = (image_size // 2, image_size // 2)
    field = measure_receptive_field(model_kind, num_layers, kernel_size, image_size, pixel)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.4, 4.6))
    draw_field(left, field, title=describe_field(field))
    draw_unseen_counts(right, field)
    fig.suptitle(f"{MODEL_NAMES[model_kind]}: {num_layers} layer{'s' if num_layers > 1 else ''} "
                 f"of {kernel_size}×{kernel_size} on a {image_size}×{image_size} image", fontsize=10)
    add_category_legend(fig)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def plot_receptive_field_comparison(num_layers: int = 5, kernel_size: int = 5, image_size: int = 10,
                                    pixel=None):
    """Figure: the receptive field of one pixel in a plain and in a gated PixelCNN, side by side."""
    if pixel is None:
        pixel = (image_size // 2, image_size // 2)
    fig, axes = plt.subplots(1, len(MODEL_KINDS), figsize=(8.4, 4.6))
    for ax, kind in zip(axes, MODEL_KINDS):
        field = measure_receptive_field(kind, num_layers, kernel_size, image_size, pixel)
        draw_field(ax, field, title=f"{MODEL_NAMES[kind]}\n{describe_field(field)}")
    fig.suptitle(f"{num_layers} layers of {kernel_size}×{kernel_size}, {image_size}×{image_size} image",
                 fontsize=10)
    add_category_legend(fig)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


# ----------------------------------------------------------------------------------------------
# the widget


def blind_spot_widget(model_kind: str = "pixelcnn", num_layers: int = 5, kernel_size: int = 5,
                      image_size: int = 10, pixel=None):
    """An ipywidgets.VBox over `plot_receptive_field`: model kind, layers, kernel size, pixel row/col.

    The figure is redrawn whenever a control changes (see `figure_widget`).
    CSS classes: `ar-widget` and `ar-widget-blind-spot`.
    """
    import ipywidgets as widgets

    if pixel is None:
        pixel = (image_size // 2, image_size // 2)
    pixel = _check_options(model_kind, num_layers, kernel_size, image_size, pixel)
    for name, value, largest in (("num_layers", num_layers, MAX_LAYERS), ("kernel_size", kernel_size, MAX_KERNEL_SIZE),
                                 ("image_size", image_size, MAX_IMAGE_SIZE)):
        if value > largest:
            raise ValueError(f"{name} can be at most {largest} in the widget, got {value}")
    style = {"description_width": "100px"}
    layout = widgets.Layout(width="440px")

    def slider(value, low, high, description, step=1):
        return widgets.IntSlider(value=value, min=low, max=high, step=step, continuous_update=False,
                                 description=description, style=style, layout=layout)

    controls = {"model_kind": widgets.ToggleButtons(options=[(MODEL_NAMES[kind], kind) for kind in MODEL_KINDS],
                                                    value=model_kind, description="model", style=style),
                "num_layers": slider(num_layers, 1, MAX_LAYERS, "layers"),
                "kernel_size": slider(kernel_size, 1, MAX_KERNEL_SIZE, "kernel size", step=2),
                "row": slider(pixel[0], 0, image_size - 1, "pixel row"),
                "col": slider(pixel[1], 0, image_size - 1, "pixel column")}

    def draw(model_kind, num_layers, kernel_size, row, col):
        return plot_receptive_field(model_kind, num_layers, kernel_size, image_size, (row, col))

    return figure_widget("blind-spot", controls, draw)
