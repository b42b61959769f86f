"""The skeleton every lecture widget shares: controls above a matplotlib figure that follows them.

A widget is written as its controls and one function that draws a figure from their values:

    controls = {"num_bins": widgets.IntSlider(value=20, min=1, max=100, description="number of bins"),
                "pseudocount": widgets.FloatSlider(value=0.0, max=2.0, description="pseudo-count")}
    figure_widget("histogram", controls, lambda num_bins, pseudocount: plot_histogram_fit(1000, num_bins, pseudocount))

`figure_widget` puts the controls in an ipywidgets.VBox above an ipywidgets.Output, draws the figure
once, and draws it again whenever a control changes. `find_control` finds a control of a built widget
by its description, as a user would, and `find_message` its message line (the tests use both).
"""
import matplotlib.pyplot as plt


def figure_widget(name: str, controls: dict, draw, show_errors: bool = False):
    """An ipywidgets.VBox: the `controls`, then the figure `draw` makes from their values.

    controls: {argument name: control}, in the order they appear. draw(**values) gets the value of
        every control under its argument name (for a Button, how many times it was pressed) and
        returns a matplotlib Figure; the figure is shown in an ipywidgets.Output, then closed.
    show_errors: a line under the controls shows the message of a ValueError raised by `draw`, and
        the last good figure stays; without it the error is raised.
    The figure is redrawn whenever a value changes (unless the values are those of the last drawing:
    moving one control can move another). CSS classes: `ar-widget` and `ar-widget-<name>`.
    """
    import ipywidgets as widgets
    from IPython.display import display

    presses = {key: 0 for key, control in controls.items() if isinstance(control, widgets.Button)}
    message = widgets.HTML(value="")
    message.add_class("ar-widget-message")
    out = widgets.Output()
    last_values = None

    def redraw(change=None):
        nonlocal last_values
        values = {key: presses[key] if key in presses else control.value for key, control in controls.items()}
        if values == last_values:
            return
        last_values = values
        try:
            fig = draw(**values)
        except ValueError as error:
            if not show_errors:
                raise
            message.value = f"<span style='color:#b00'>⚠ {error}</span>"
            return
        message.value = ""
        with out:
            out.clear_output(wait=True)
            display(fig)
        plt.close(fig)

    def press(key):
        presses[key] += 1
        redraw()

    for key, control in controls.items():
        if key in presses:
            control.on_click(lambda button, key=key: press(key))
        else:
            control.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([*controls.values(), *([message] if show_errors else []), out])
    box.add_class("ar-widget")
    box.add_class(f"ar-widget-{name}")
    return box


def find_control(box, description: str):
    """The one control inside `box` (at any depth) whose description is `description`."""
    matches = [control for control in _descendants(box) if getattr(control, "description", None) == description]
    if len(matches) != 1:
        raise LookupError(f"{len(matches)} controls are described {description!r}, expected exactly one")
    return matches[0]


def find_message(box):
    """The message line of a widget built with show_errors=True (an ipywidgets.HTML)."""
    matches = [child for child in _descendants(box) if "ar-widget-message" in child._dom_classes]
    if len(matches) != 1:
        raise LookupError(f"{len(matches)} message lines, expected exactly one")
    return matches[0]


def _descendants(box):
    for child in getattr(box, "children", ()):
        yield child
        yield from _descendants(child)
