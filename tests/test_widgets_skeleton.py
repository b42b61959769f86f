"""The skeleton every lecture widget shares: controls wired to a redrawn figure, found by description."""
import matplotlib
import pytest

matplotlib.use("Agg")
import ipywidgets as widgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from utils.widgets.skeleton import figure_widget, find_control, find_message  # noqa: E402


def recording_draw(calls, fail_when=None):
    """A draw function that records its arguments; it raises ValueError when fail_when(values) is true."""
    def draw(**values):
        if fail_when is not None and fail_when(values):
            raise ValueError(f"cannot draw {values}")
        calls.append(values)
        return plt.figure(figsize=(1, 1))
    return draw


def output_of(box):
    outputs = [child for child in box.children if isinstance(child, widgets.Output)]
    assert len(outputs) == 1
    return outputs[0]


def test_figure_widget_is_a_tagged_box_of_the_controls_then_the_figure():
    calls = []
    size = widgets.IntSlider(value=3, min=1, max=9, description="size")
    colour = widgets.Dropdown(options=("red", "blue"), value="red", description="colour")
    open_before = set(plt.get_fignums())
    box = figure_widget("demo", {"size": size, "colour": colour}, recording_draw(calls))
    assert isinstance(box, widgets.VBox)
    assert {"ar-widget", "ar-widget-demo"} <= set(box._dom_classes)
    assert list(box.children[:2]) == [size, colour] and len(box.children) == 3
    assert isinstance(box.children[2], widgets.Output)
    assert calls == [{"size": 3, "colour": "red"}]                   # drawn once when built
    size.value = 5
    colour.value = "blue"
    assert calls[1:] == [{"size": 5, "colour": "red"}, {"size": 5, "colour": "blue"}]
    assert set(plt.get_fignums()) == open_before, "the widget must close its figures"


def test_a_button_counts_its_presses():
    calls = []
    button = widgets.Button(description="again")
    box = figure_widget("demo", {"presses": button}, recording_draw(calls))
    button.click()
    button.click()
    assert [call["presses"] for call in calls] == [0, 1, 2]
    assert find_control(box, "again") is button


def test_no_redraw_when_a_linked_control_already_drew_the_new_values():
    calls = []
    length = widgets.IntSlider(value=6, min=2, max=10, description="length")
    position = widgets.IntSlider(value=5, min=0, max=5, description="position")
    widgets.dlink((length, "value"), (position, "max"), lambda n: n - 1)
    figure_widget("demo", {"length": length, "position": position}, recording_draw(calls))
    length.value = 3                                                 # moves position to 2 as well
    assert calls[1:] == [{"length": 3, "position": 2}]
    length.value = 8                                                 # position stays
    assert calls[2:] == [{"length": 8, "position": 2}]


def test_errors_are_shown_and_the_last_good_figure_stays():
    calls = []
    text = widgets.Text(value="1", description="number")
    box = figure_widget("demo", {"text": text}, recording_draw(calls, lambda v: not v["text"].isdigit()),
                        show_errors=True)
    message = find_message(box)
    assert list(box.children[1:]) == [message, output_of(box)]       # under the controls, above the figure
    text.value = "one"
    assert "cannot draw" in message.value and len(calls) == 1
    text.value = "2"
    assert message.value == "" and len(calls) == 2


def test_without_show_errors_an_error_is_raised_and_there_is_no_message_line():
    with pytest.raises(ValueError, match="cannot draw"):
        figure_widget("demo", {"text": widgets.Text(value="x", description="number")},
                      recording_draw([], lambda v: True))
    box = figure_widget("demo", {"text": widgets.Text(value="x", description="number")}, recording_draw([]))
    with pytest.raises(LookupError, match="0 message lines"):
        find_message(box)


def test_find_control_looks_inside_nested_boxes_and_wants_exactly_one_match():
    inner = widgets.IntSlider(description="deep")
    box = widgets.VBox([widgets.HBox([inner, widgets.IntSlider(description="twin")]),
                        widgets.IntSlider(description="twin")])
    assert find_control(box, "deep") is inner
    with pytest.raises(LookupError, match="0 controls are described 'missing'"):
        find_control(box, "missing")
    with pytest.raises(LookupError, match="2 controls are described 'twin'"):
        find_control(box, "twin")
