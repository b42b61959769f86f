"""Interactive widgets for the lecture notebooks.

Each widget is a thin ipywidgets front end over pure functions in the same module: the functions
compute numbers or return a matplotlib Figure (and are unit-tested); the widget only lists its
controls and hands them, with a function drawing the figure from their values, to
`skeleton.figure_widget`, which redraws the figure in an `ipywidgets.Output` whenever a control
changes. Every widget is an `ipywidgets.VBox` with the CSS class `ar-widget` plus one class naming
it (e.g. `ar-widget-histogram`), so that a browser test can find it on the page, and every control
has a `description` by which tests find it (`skeleton.find_control`).

Modules:
    skeleton            what every widget shares: `figure_widget(name, controls, draw)` and
                        `find_control(box, description)`.
    histogram           over-fitting of histograms on `mixture1d` (lecture 01):
                        `histogram_overfitting_widget()`, backed by `overfitting_curves` and
                        `plot_histogram_fit`.
    made_masks          MADE mask explorer (lecture 03): `made_mask_widget()`, backed by
                        `reachable_units` and `draw_made_network`.
    receptive_field_1d  causal dilated convolutions (lecture 05): `receptive_field_widget()`,
                        backed by `dilation_schedule`, `reaching_units` and `draw_receptive_field`.
    blind_spot          PixelCNN blind spot, plain vs gated (lecture 06), backed by
                        `utils.receptive_field.receptive_field_map`.
    attention_masks     attention masks (lecture 07): `attention_mask_widget()`, backed by
                        `mask_summary` (reach after L layers via `utils.attention_masks.reachable`,
                        attended pairs per layer) and `plot_attention_masks`.

Import a widget from its module, e.g. `from utils.widgets.histogram import histogram_overfitting_widget`.
"""
