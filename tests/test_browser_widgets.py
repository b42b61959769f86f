"""Widgets render and respond in a real JupyterLab, driven through headless Chromium.

Each test opens a notebook in the lab (a temporary copy of course/), runs all cells from the
"Run" menu, moves a control of one widget like a user would, checks that the widget's picture
was redrawn, and saves a screenshot into the test's tmp_path.
"""

import nbformat
import pytest

from browser import chromium, lab_server, page  # noqa: F401  (pytest fixtures)
from browser import (control, nudge_slider, open_notebook, output_image_src,
                     press_slider, run_all_cells, screenshot, set_dropdown, set_text, set_toggle_buttons,
                     slider_value, wait_for_image, wait_for_new_image, wait_until_idle, widget, widget_errors)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

SMOKE_WIDGET = '''\
frequency = w.IntSlider(value=1, min=1, max=10, description="frequency")
unused = w.IntSlider(value=1, min=1, max=10, description="unused")
picture = w.Output()

def redraw(change=None):
    with picture:
        picture.clear_output(wait=True)
        fig, ax = plt.subplots(figsize=(4, 2.5))
        ax.plot([(i * frequency.value) % 7 for i in range(20)])
        ax.set_title(f"frequency = {frequency.value}")
        plt.show()

frequency.observe(redraw, names="value")
box = w.VBox([frequency, unused, picture])
box.add_class("ar-widget")
box.add_class("ar-widget-smoke")
redraw()
box'''


def write_notebook(path, sources):
    """Write a notebook with one code cell per source string (python3 kernel); returns path."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def assert_png(path, min_bytes=5_000):
    """`path` is a PNG with more in it than a blank page."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    assert len(data) > min_bytes, f"{path} is only {len(data)} bytes"


def open_lecture_widget(page, server, notebook, css_class, timeout_s=120):
    """Open a lecture, run all its cells, and return (its widget box, the widget's first picture)."""
    open_notebook(page, server, notebook)
    run_all_cells(page, timeout_s=timeout_s)
    box = widget(page, css_class)
    assert "ar-widget" in box.get_attribute("class")
    assert widget_errors(page) == []
    return box, wait_for_image(box)


def screenshot_widget(page, box, tmp_path, name):
    """Once the kernel is idle: a screenshot of the page and one of the widget alone."""
    wait_until_idle(page)
    assert_png(screenshot(page, tmp_path, name))
    assert_png(screenshot(page, tmp_path, f"{name}-widget", locator=box), min_bytes=2_000)


def check_slider_redraws(page, box, tmp_path, name):
    """Move the widget's first slider one step; its picture must change. Screenshots it."""
    before = wait_for_image(box)
    old_value, new_value = nudge_slider(box)
    assert new_value != old_value, "the slider did not move"
    after = wait_for_new_image(box, before)
    assert after.startswith("data:image/png")
    screenshot_widget(page, box, tmp_path, name)


def test_smoke_widget_responds_to_its_slider(lab_server, page, tmp_path):
    relpath = "browser-smoke/smoke.ipynb"
    write_notebook(lab_server.root / relpath,
                   ["import ipywidgets as w\nimport matplotlib.pyplot as plt", SMOKE_WIDGET])
    open_notebook(page, lab_server, relpath)
    run_all_cells(page)

    box = widget(page, "ar-widget-smoke")
    assert "ar-widget" in box.get_attribute("class")
    assert control(box, "slider", "frequency").is_visible()
    assert widget_errors(page) == []
    first_picture = wait_for_image(box)

    check_slider_redraws(page, box, tmp_path, "smoke")
    assert output_image_src(box) != first_picture

    # The harness must notice a widget that does not redraw: `unused` is wired to nothing.
    still = output_image_src(box)
    nudge_slider(box, description="unused")
    with pytest.raises(TimeoutError):
        wait_for_new_image(box, still, timeout_s=3)


def test_run_all_cells_reports_a_failing_cell(lab_server, page):
    relpath = "browser-smoke/broken.ipynb"
    write_notebook(lab_server.root / relpath,
                   ["x = 1", "raise ValueError('broken on purpose')", "y = 2"])
    open_notebook(page, lab_server, relpath)
    with pytest.raises(AssertionError, match="broken on purpose"):
        run_all_cells(page)


LECTURE_01 = "01_likelihood_and_histograms.ipynb"


def test_lecture_01_histogram_widget(lab_server, page, tmp_path):
    box, _ = open_lecture_widget(page, lab_server, LECTURE_01, "ar-widget-histogram")
    check_slider_redraws(page, box, tmp_path, "lecture01-histogram")


LECTURE_03 = "03_made.ipynb"


@pytest.mark.timeout(420)
def test_lecture_03_made_widget(lab_server, page, tmp_path):
    # the lecture trains several small models before the widget
    box, first = open_lecture_widget(page, lab_server, LECTURE_03, "ar-widget-made", timeout_s=300)

    # A new ordering redraws the network ...
    set_dropdown(box, "reversed", description="ordering")
    reordered = wait_for_new_image(box, first)
    # ... and so does picking another output.
    old_output, new_output = nudge_slider(box, description="output")
    assert new_output != old_output, "the output slider did not move"
    picked = wait_for_new_image(box, reordered)
    assert picked.startswith("data:image/png")
    press_slider(box, "Home", description="output")      # x0: generated last in reversed order
    last = wait_for_new_image(box, picked)
    screenshot_widget(page, box, tmp_path, "lecture03-made")

    # Invalid hidden sizes: a message, and the last good picture stays.
    set_text(box, "8, lots", description="hidden sizes")
    box.get_by_text("whole numbers").wait_for(state="visible")
    wait_until_idle(page)
    assert output_image_src(box) == last


LECTURE_05 = "05_wavenet.ipynb"


@pytest.mark.timeout(420)
def test_lecture_05_receptive_field_widget(lab_server, page, tmp_path):
    # the lecture trains three small WaveNets and times sampling before the widget
    box, first = open_lecture_widget(page, lab_server, LECTURE_05, "ar-widget-receptive-field", timeout_s=300)

    # Another dilation schedule redraws the stack ...
    set_dropdown(box, "1, 1, 1, ...", description="dilations")
    plain = wait_for_new_image(box, first)
    # ... and so does picking another output index.
    old_index, new_index = nudge_slider(box, description="output index")
    assert new_index != old_index, "the output index slider did not move"
    moved = wait_for_new_image(box, plain)
    press_slider(box, "Home", description="output index")   # output 0: sees input 0 only
    assert slider_value(box, "output index") == "0"
    start = wait_for_new_image(box, moved)
    assert start.startswith("data:image/png") and len({first, plain, moved, start}) == 4
    # End on a repeated doubling schedule with one more layer, looking from the last output.
    set_dropdown(box, "1, 2, 4, ..., repeat", description="dilations")
    repeated = wait_for_new_image(box, start)
    nudge_slider(box, description="layers")
    deeper = wait_for_new_image(box, repeated)
    press_slider(box, "End", description="output index")
    wait_for_new_image(box, deeper)
    wait_until_idle(page)
    assert slider_value(box, "layers") == "5" and slider_value(box, "output index") == "31"
    screenshot_widget(page, box, tmp_path, "lecture05-receptive-field")


LECTURE_06 = "06_pixelcnn.ipynb"


@pytest.mark.timeout(480)
def test_lecture_06_blind_spot_widget(lab_server, page, tmp_path):
    # the lecture trains four small PixelCNNs and samples from them before the widget
    box, plain = open_lecture_widget(page, lab_server, LECTURE_06, "ar-widget-blind-spot", timeout_s=360)

    # The gated model gives another picture (its field has no blind spot) ...
    set_toggle_buttons(box, "gated PixelCNN", description="model")
    gated = wait_for_new_image(box, plain)
    # ... and so does moving the chosen pixel.
    old_row, new_row = nudge_slider(box, description="pixel row")
    assert new_row != old_row, "the pixel row slider did not move"
    moved = wait_for_new_image(box, gated)
    # Back to the plain model at the new pixel: its blind spot again, in another place.
    set_toggle_buttons(box, "plain PixelCNN", description="model")
    plain_moved = wait_for_new_image(box, moved)
    assert plain_moved.startswith("data:image/png") and len({plain, gated, moved, plain_moved}) == 4
    wait_until_idle(page)
    assert slider_value(box, "pixel row") == new_row and slider_value(box, "layers") == "5"
    screenshot_widget(page, box, tmp_path, "lecture06-blind-spot")


LECTURE_07 = "07_self_attention.ipynb"


@pytest.mark.timeout(420)
def test_lecture_07_attention_mask_widget(lab_server, page, tmp_path):
    # the lecture trains five small models and times sampling before the widget
    box, strided = open_lecture_widget(page, lab_server, LECTURE_07, "ar-widget-attention-masks", timeout_s=300)

    # Another pattern gives another mask and another reach ...
    set_toggle_buttons(box, "local", description="pattern")
    local = wait_for_new_image(box, strided)
    # ... and so does another number of layers (local attention reaches further with each) ...
    old_layers, new_layers = nudge_slider(box, description="layers")
    assert new_layers != old_layers, "the layers slider did not move"
    deeper = wait_for_new_image(box, local)
    # ... and moving the query.
    old_query, new_query = nudge_slider(box, description="query position")
    assert new_query != old_query, "the query position slider did not move"
    moved = wait_for_new_image(box, deeper)
    assert moved.startswith("data:image/png") and len({strided, local, deeper, moved}) == 4
    wait_until_idle(page)
    assert slider_value(box, "layers") == new_layers and slider_value(box, "query position") == new_query
    screenshot_widget(page, box, tmp_path, "lecture07-attention-masks")
