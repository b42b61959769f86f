"""The pure functions behind lecture 06's blind-spot widget, and the widget's wiring."""
import matplotlib
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from utils.checks import dependency_report  # noqa: E402
from utils.models.pixelcnn import MaskedConv2d, PixelCNN  # noqa: E402
from utils.receptive_field import ReceptiveField, receptive_field_map  # noqa: E402
from utils.widgets import blind_spot as bs  # noqa: E402
from utils.widgets.skeleton import find_control  # noqa: E402


def field_of(model, image_size, pixel):
    """The ReceptiveField of `pixel`, measured on any binary (1, S, S) model."""
    report = dependency_report(model, (1, image_size, image_size), 2, seed=0)
    row, col = pixel
    output = row * image_size + col
    earlier = (torch.arange(image_size * image_size) < output).reshape(image_size, image_size)
    return ReceptiveField(pixel, earlier, report.dep[output].reshape(image_size, image_size),
                          report.unseen_counts().reshape(image_size, image_size))


# ------------------------------------------------------------------------------------------
# measuring and classifying pixels


def test_measure_receptive_field_is_the_utils_map_and_is_remembered():
    first = bs.measure_receptive_field("pixelcnn", 3, 3, 8, (5, 4))
    direct = receptive_field_map("pixelcnn", 3, 3, 8, (5, 4))
    assert torch.equal(first.seen, direct.seen) and torch.equal(first.unseen_counts, direct.unseen_counts)
    assert bs.measure_receptive_field("pixelcnn", 3, 3, 8, [5, 4]) is first      # a list works as well


@pytest.mark.parametrize("args, match", [
    (("convnet", 3, 3, 8, (1, 1)), "model_kind"),
    (("pixelcnn", 0, 3, 8, (1, 1)), "num_layers"),
    (("pixelcnn", 3, 4, 8, (1, 1)), "odd"),
    (("pixelcnn", 3, 3, 8, (8, 0)), "pixel"),
    (("pixelcnn", 3, 3, 8, (1,)), "pixel"),
    (("gated", 3, 3, 8, (1.0, 2)), "pixel"),
])
def test_bad_options_raise_clear_errors(args, match):
    with pytest.raises(ValueError, match=match):
        bs.measure_receptive_field(*args)


@pytest.mark.parametrize("kind", ["pixelcnn", "gated"])
def test_field_picture_puts_every_pixel_in_one_category(kind):
    size, pixel = 9, (5, 3)
    field = bs.measure_receptive_field(kind, 3, 3, size, pixel)
    picture = bs.field_picture(field)
    assert picture.shape == (size, size)
    assert picture[pixel] == bs.PIXEL and int((picture == bs.PIXEL).sum()) == 1
    position = pixel[0] * size + pixel[1]
    assert int((picture == bs.LATER).sum()) == size * size - 1 - position     # everything after the pixel
    assert int((picture == bs.SEEN).sum()) == field.num_seen
    assert int((picture == bs.UNSEEN).sum()) == field.num_unseen
    assert field.num_seen + field.num_unseen == position


@pytest.mark.parametrize("num_layers", [2, 3, 5])
def test_the_plain_pixelcnn_misses_the_wedge_above_right_whatever_its_depth(num_layers):
    row, col = 7, 4
    picture = bs.field_picture(bs.measure_receptive_field("pixelcnn", num_layers, 3, 10, (row, col)))
    assert picture[row - 1, col + 1] == bs.SEEN and picture[row - 2, col + 2] == bs.SEEN
    assert picture[row - 1, col + 2] == bs.UNSEEN           # closer than (row-2, col+2), and never seen
    assert picture[row, col - 1] == bs.SEEN and picture[row - 1, col] == bs.SEEN


def test_a_deep_enough_gated_pixelcnn_misses_nothing_and_a_plain_one_does():
    # 5 layers of 5 x 5 reach 10 columns and 11 rows: the whole 10 x 10 image
    gated = bs.measure_receptive_field("gated", 5, 5, 10, (6, 5))
    plain = bs.measure_receptive_field("pixelcnn", 5, 5, 10, (6, 5))
    assert int(gated.unseen_counts.sum()) == 0 and not (bs.field_picture(gated) == bs.UNSEEN).any()
    assert plain.num_unseen > 0 and int((plain.unseen_counts > 0).sum()) > 10


def test_field_picture_refuses_a_model_that_sees_its_own_pixel():
    torch.manual_seed(0)
    leaky = PixelCNN((1, 6, 6), 2, hidden_channels=4, num_layers=2, first_kernel_size=3, kernel_size=3).double()
    leaky.input_conv = MaskedConv2d(1, 4, 3, "B").double()        # type B first layer: sees the pixel itself
    with pytest.raises(ValueError, match="not autoregressive"):
        bs.field_picture(field_of(leaky, 6, (3, 2)))
    honest = PixelCNN((1, 6, 6), 2, hidden_channels=4, num_layers=2, first_kernel_size=3, kernel_size=3).double()
    assert bs.field_picture(field_of(honest, 6, (3, 2)))[3, 2] == bs.PIXEL


def test_field_picture_refuses_a_field_that_sees_a_later_pixel():
    field = bs.measure_receptive_field("pixelcnn", 2, 3, 6, (2, 2))
    seen = field.seen.clone()
    seen[4, 0] = True                                             # a pixel of a later row
    with pytest.raises(ValueError, match=r"\(4, 0\)"):
        bs.field_picture(ReceptiveField(field.pixel, field.earlier, seen, field.unseen_counts))


def test_describe_field_counts_seen_and_missed_pixels():
    plain = bs.measure_receptive_field("pixelcnn", 5, 5, 10, (6, 5))
    assert bs.describe_field(plain) == f"pixel (6, 5) sees {plain.num_seen} of 65 earlier pixels, misses {plain.num_unseen}"
    gated = bs.measure_receptive_field("gated", 5, 5, 10, (6, 5))
    assert bs.describe_field(gated) == "pixel (6, 5) sees 65 of 65 earlier pixels, all of them"


# ------------------------------------------------------------------------------------------
# figures


def test_plot_receptive_field_draws_the_picture_and_the_counts():
    open_before = set(plt.get_fignums())
    fig = bs.plot_receptive_field("pixelcnn", 3, 3, 10, (6, 5))
    try:
        field = bs.measure_receptive_field("pixelcnn", 3, 3, 10, (6, 5))
        left, right = fig.axes[:2]
        assert (left.images[0].get_array() == bs.field_picture(field)).all()
        assert (right.images[0].get_array() == field.unseen_counts.numpy()).all()
        assert left.get_title() == bs.describe_field(field)
        assert f"({int(field.unseen_counts.sum())} in all)" in right.get_title()
        assert "plain PixelCNN: 3 layers of 3×3" in fig._suptitle.get_text()
    finally:
        plt.close(fig)
    assert set(plt.get_fignums()) == open_before
    fig = bs.plot_receptive_field("gated", 5, 5, 10)                 # pixel None: the middle (5, 5)
    try:
        assert fig.axes[0].get_title().startswith("pixel (5, 5) sees 55 of 55")
        assert "0 of 100 outputs miss some" in fig.axes[1].get_title()
    finally:
        plt.close(fig)


def test_plot_receptive_field_comparison_shows_both_models():
    fig = bs.plot_receptive_field_comparison(5, 5, 10, (6, 5))
    try:
        plain_ax, gated_ax = fig.axes
        assert plain_ax.get_title().startswith("plain PixelCNN") and "misses" in plain_ax.get_title()
        assert gated_ax.get_title().startswith("gated PixelCNN") and "all of them" in gated_ax.get_title()
        assert (gated_ax.images[0].get_array() != bs.UNSEEN).all()
    finally:
        plt.close(fig)


# ------------------------------------------------------------------------------------------
# the widget


def test_widget_structure_and_redraw_on_every_control(monkeypatch):
    import ipywidgets as widgets

    calls = []

    def fake_plot(model_kind, num_layers, kernel_size, image_size, pixel):
        calls.append((model_kind, num_layers, kernel_size, image_size, pixel))
        return plt.figure(figsize=(1, 1))

    monkeypatch.setattr(bs, "plot_receptive_field", fake_plot)
    open_before = set(plt.get_fignums())
    box = bs.blind_spot_widget(num_layers=4, kernel_size=3, image_size=10, pixel=(6, 5))
    assert isinstance(box, widgets.VBox)
    assert {"ar-widget", "ar-widget-blind-spot"} <= set(box._dom_classes)
    kind, layers, kernel, row, col = (find_control(box, description) for description in
                                      ("model", "layers", "kernel size", "pixel row", "pixel column"))
    assert isinstance(kind, widgets.ToggleButtons)
    assert kind.options == (("plain PixelCNN", "pixelcnn"), ("gated PixelCNN", "gated"))
    assert all(isinstance(slider, widgets.IntSlider) for slider in (layers, kernel, row, col))
    assert (row.max, col.max, kernel.step) == (9, 9, 2)
    assert sum(isinstance(child, widgets.Output) for child in box.children) == 1
    assert calls == [("pixelcnn", 4, 3, 10, (6, 5))]                 # drawn once when built
    kind.value = "gated"
    layers.value = 6
    kernel.value = 5
    row.value = 2
    col.value = 9
    assert calls[1:] == [("gated", 4, 3, 10, (6, 5)), ("gated", 6, 3, 10, (6, 5)), ("gated", 6, 5, 10, (6, 5)),
                         ("gated", 6, 5, 10, (2, 5)), ("gated", 6, 5, 10, (2, 9))]
    assert set(plt.get_fignums()) == open_before, "the widget must close its figures"


def test_widget_rejects_options_it_cannot_show():
    with pytest.raises(ValueError, match="num_layers can be at most"):
        bs.blind_spot_widget(num_layers=bs.MAX_LAYERS + 1)
    with pytest.raises(ValueError, match="image_size can be at most"):
        bs.blind_spot_widget(image_size=bs.MAX_IMAGE_SIZE + 1)
    with pytest.raises(ValueError, match="pixel"):
        bs.blind_spot_widget(image_size=8, pixel=(8, 0))
