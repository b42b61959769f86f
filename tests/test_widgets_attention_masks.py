"""The pure functions behind lecture 07's attention-mask widget, and the widget's wiring."""
import math

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from utils.attention_masks import PATTERNS, attention_mask, default_stride, reachable  # noqa: E402
from utils.widgets import attention_masks as am  # noqa: E402
from utils.widgets.skeleton import find_control  # noqa: E402

SETTINGS = [("sequence", 16), ("sequence", 30), ("image", 5), ("image", 7)]


def stride_of(layout, size):
    """The stride the widget must use: one row for images, ceil(sqrt(T)) for sequences."""
    return size if layout == "image" else default_stride(size)


# ------------------------------------------------------------------------------------------
# masks and counts


@pytest.mark.parametrize("layout, size", SETTINGS)
@pytest.mark.parametrize("pattern", PATTERNS)
def test_sparse_masks_are_those_of_utils(pattern, layout, size):
    length = size * size if layout == "image" else size
    assert torch.equal(am.widget_mask(pattern, layout, size), attention_mask(pattern, length, stride_of(layout, size)))


@pytest.mark.parametrize("layout, size", SETTINGS)
@pytest.mark.parametrize("pattern", list(am.PATTERN_NAMES))
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_counts_agree_with_reachable(pattern, layout, size, num_layers):
    mask = am.widget_mask(pattern, layout, size)
    length = len(mask)
    reach = reachable(mask, num_layers)
    for query in (0, 1, length // 2, length - 1):
        summary = am.mask_summary(pattern, layout, size, query, num_layers)
        assert summary.num_reachable == int(reach[query, :query].sum())
        assert summary.num_earlier == query
        assert torch.equal(summary.reach, reach[query])
        assert summary.pairs == int(mask.sum()) and summary.causal_pairs == length * (length + 1) // 2


@pytest.mark.parametrize("layout, size", SETTINGS)
def test_pixelsnail_style_block_is_causal_and_contains_its_convolution_window(layout, size):
    mask = am.widget_mask("pixelsnail", layout, size)
    window = am.convolution_window(layout, size)
    assert torch.equal(mask, attention_mask("causal", len(mask)))
    assert bool((window <= mask).all()) and bool(window.diagonal().all())
    assert int(window.sum(1).max()) == (2 if layout == "sequence" else 5)        # i-1, i  /  3 above, left, itself


@pytest.mark.parametrize("layout, size", SETTINGS)
@pytest.mark.parametrize("pattern", ["strided", "fixed"])
def test_strided_and_fixed_reach_every_earlier_position_in_two_layers_but_not_in_one(pattern, layout, size):
    last = (size * size if layout == "image" else size) - 1
    assert am.mask_summary(pattern, layout, size, last, 2).num_reachable == last
    assert am.mask_summary(pattern, layout, size, last, 1).num_reachable < last


@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_local_attention_reaches_layers_times_stride_minus_one_back(num_layers):
    size, query = 40, 39
    stride = default_stride(size)
    summary = am.mask_summary("local", "sequence", size, query, num_layers)
    assert summary.num_reachable == min(num_layers * (stride - 1), query)


def test_sparse_patterns_cost_order_t_sqrt_t_and_causal_t_squared():
    for size in (64, 144, 256):
        causal, strided, fixed = am.cost_curve("causal", "sequence", [size]) + am.cost_curve(
            "strided", "sequence", [size]) + am.cost_curve("fixed", "sequence", [size])
        assert causal == size * (size + 1) // 2
        assert strided <= 2 * size * math.sqrt(size) and fixed <= 2 * size * math.sqrt(size)
    # quadrupling T multiplies the sparse cost by about 8 (T^1.5), the causal one by about 16 (T^2)
    small, large = am.cost_curve("strided", "sequence", [64, 256])
    assert 6 < large / small < 10


def test_a_mask_that_lets_a_query_see_a_later_position_is_refused(monkeypatch):
    leaky = am.widget_mask("strided", "sequence", 12).clone()
    leaky[3, 7] = True                                              # query 3 attends to key 7
    monkeypatch.setattr(am, "widget_mask", lambda pattern, layout, size: leaky)
    with pytest.raises(ValueError, match=r"later position\(s\) \[7\]"):
        am.mask_summary("strided", "sequence", 12, 3, 1)
    with pytest.raises(ValueError, match="not causal"):             # through two layers as well
        am.mask_summary("strided", "sequence", 12, 5, 2)      # 7 -> 3 -> 5
    assert am.mask_summary("strided", "sequence", 12, 5, 1).num_reachable == 4      # one layer: 2, 3, 4 and 1


def test_reach_picture_puts_every_position_in_one_category():
    summary = am.mask_summary("local", "image", 6, 20, 2)
    picture = am.reach_picture(summary)
    assert picture.shape == (6, 6) and picture[3, 2] == am.QUERY
    assert int((picture == am.LATER).sum()) == 36 - 21
    assert int((picture == am.REACHED).sum()) == summary.num_reachable
    assert int((picture == am.NOT_REACHED).sum()) == 20 - summary.num_reachable
    assert am.reach_picture(am.mask_summary("causal", "sequence", 9, 4, 1)).tolist() == [[1, 1, 1, 1, 3, 0, 0, 0, 0]]


def test_describe_summary_gives_counts_and_cost():
    summary = am.mask_summary("fixed", "image", 4, 9, 1)
    assert am.describe_summary(summary) == (
        f"after 1 layer pixel (2, 1) is reached by {summary.num_reachable} of 9 earlier positions; "
        f"{summary.pairs} pairs per layer ({100 * summary.pairs / 136:.0f} % of full causal)")


@pytest.mark.parametrize("args, match", [
    (("dilated", "sequence", 8, 3, 1), "pattern"),
    (("causal", "grid", 8, 3, 1), "layout"),
    (("causal", "sequence", 8, 8, 1), "query"),
    (("causal", "sequence", 8, -1, 1), "query"),
    (("causal", "image", 3, 9, 1), "query"),
    (("causal", "sequence", 8, 3, 0), "num_layers"),
    (("causal", "image", 1, 0, 1), "2 x 2"),
])
def test_bad_options_raise_clear_errors(args, match):
    with pytest.raises(ValueError, match=match):
        am.mask_summary(*args)


# ------------------------------------------------------------------------------------------
# the figure


def test_plot_draws_the_mask_the_reach_and_the_cost():
    open_before = set(plt.get_fignums())
    fig = am.plot_attention_masks("strided", "sequence", 20, 17, 2)
    try:
        summary = am.mask_summary("strided", "sequence", 20, 17, 2)
        mask_ax, reach_ax, cost_ax = fig.axes
        assert (mask_ax.images[0].get_array() == summary.mask.numpy()).all()
        assert (reach_ax.images[0].get_array() == am.reach_picture(summary)).all()
        assert f"{summary.num_reachable} of 17 earlier positions" in reach_ax.get_title()
        assert [line.get_label() for line in cost_ax.lines][-2:] == ["strided", "this setting"]
        assert fig._suptitle.get_text() == am.describe_summary(summary)
    finally:
        plt.close(fig)
    assert set(plt.get_fignums()) == open_before
    fig = am.plot_attention_masks("causal", "image", 4)                  # query None: the last pixel
    try:
        assert fig._suptitle.get_text().startswith("after 1 layer pixel (3, 3) is reached by 15 of 15")
    finally:
        plt.close(fig)


# ------------------------------------------------------------------------------------------
# the widget


def test_widget_structure_and_redraw_on_every_control(monkeypatch):
    import ipywidgets as widgets

    calls = []

    def fake_plot(pattern, layout, size, query, num_layers):
        calls.append((pattern, layout, size, query, num_layers))
        return plt.figure(figsize=(1, 1))

    monkeypatch.setattr(am, "plot_attention_masks", fake_plot)
    open_before = set(plt.get_fignums())
    box = am.attention_mask_widget("strided", "sequence", size=16, query=10, num_layers=1)
    assert isinstance(box, widgets.VBox)
    assert {"ar-widget", "ar-widget-attention-masks"} <= set(box._dom_classes)
    pattern, size, query, layers = (find_control(box, description) for description in
                                    ("pattern", "sequence length", "query position", "layers"))
    assert isinstance(pattern, widgets.ToggleButtons)
    assert [value for _, value in pattern.options] == ["causal", "local", "strided", "fixed", "pixelsnail"]
    assert "PixelSNAIL-style" in pattern._options_labels
    assert (query.min, query.max, layers.max) == (0, 15, am.MAX_LAYERS)
    assert sum(isinstance(child, widgets.Output) for child in box.children) == 1
    assert calls == [("strided", "sequence", 16, 10, 1)]              # drawn once when built
    pattern.value = "fixed"
    layers.value = 2
    query.value = 15
    size.value = 8                                                    # the query follows the shorter sequence
    assert query.max == 7 and query.value == 7
    size.value = 30
    assert query.max == 29 and query.value == 7
    assert calls[1:] == [("fixed", "sequence", 16, 10, 1), ("fixed", "sequence", 16, 10, 2),
                         ("fixed", "sequence", 16, 15, 2), ("fixed", "sequence", 8, 7, 2),
                         ("fixed", "sequence", 30, 7, 2)]
    assert set(plt.get_fignums()) == open_before, "the widget must close its figures"


def test_image_widget_counts_pixels_and_redraws_the_real_figure():
    open_before = set(plt.get_fignums())
    box = am.attention_mask_widget("fixed", "image", size=5, num_layers=2)    # real figures, no fakes
    size, query = find_control(box, "image size"), find_control(box, "query position")
    assert (query.max, query.value) == (24, 24)                               # the last of 5 x 5 pixels
    size.value = 3
    assert (query.max, query.value) == (8, 8)
    find_control(box, "pattern").value = "pixelsnail"
    assert set(plt.get_fignums()) == open_before


def test_widget_rejects_options_it_cannot_show():
    with pytest.raises(ValueError, match="size can be at most"):
        am.attention_mask_widget(layout="image", size=am.MAX_IMAGE_SIZE + 1)
    with pytest.raises(ValueError, match="num_layers can be at most"):
        am.attention_mask_widget(num_layers=am.MAX_LAYERS + 1)
    with pytest.raises(ValueError, match="query"):
        am.attention_mask_widget(size=8, query=8)
