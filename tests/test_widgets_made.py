"""The MADE mask explorer: parsing the controls, the paths to an output, the picture, the widget."""
import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.collections import LineCollection

from utils.models.made import made_connectivity, made_degrees, made_masks
from utils.widgets import made_masks as explorer
from utils.widgets.made_masks import (choose_ordering, draw_made_network, made_mask_widget, parse_hidden_sizes,
                                      parse_ordering, reachable_units)
from utils.widgets.skeleton import find_control as control
from utils.widgets.skeleton import find_message


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def random_network(seed: int):
    """Degrees of a random MADE: 2-9 inputs, 0-3 hidden layers of 1-12 units, random order."""
    generator = torch.Generator().manual_seed(seed)
    num_inputs = int(torch.randint(2, 10, (1,), generator=generator))
    hidden = torch.randint(1, 13, (int(torch.randint(0, 4, (1,), generator=generator)),), generator=generator)
    return made_degrees(num_inputs, hidden.tolist(), "random", generator=generator)


def reaches_by_search(masks, layer: int, unit: int, output: int) -> bool:
    """Depth-first search over the allowed weights: is there a path from `unit` of `layer` to `output`?"""
    mask = masks[layer]
    if layer == len(masks) - 1:
        return bool(mask[output, unit])
    return any(reaches_by_search(masks, layer + 1, above, output)
               for above in range(mask.shape[0]) if mask[above, unit])


# ----------------------------------------------------------------------------------------------
# reading the controls


def test_parse_hidden_sizes_reads_commas_and_spaces():
    assert parse_hidden_sizes("8, 8") == [8, 8]
    assert parse_hidden_sizes(" 3 12,5 ") == [3, 12, 5]
    assert parse_hidden_sizes("") == []


@pytest.mark.parametrize("text,message", [("8, x", "whole numbers"), ("8, 0", "between 1 and"),
                                          ("500", "between 1 and"), ("2, 2, 2, 2, 2", "at most 4 hidden layers")])
def test_parse_hidden_sizes_explains_bad_input(text, message):
    with pytest.raises(ValueError, match=message):
        parse_hidden_sizes(text)


def test_parse_ordering_needs_every_position_once():
    assert parse_ordering("2, 0, 3 1", 4) == [2, 0, 3, 1]
    for bad in ["0, 0, 1, 2", "0, 1, 2", "0, 1, 2, 4", ""]:
        with pytest.raises(ValueError, match="exactly once"):
            parse_ordering(bad, 4)


def test_choose_ordering_gives_the_ranks_it_promises():
    def rank(choice, custom=""):
        generator = torch.Generator().manual_seed(0)
        return made_degrees(5, [4], choose_ordering(choice, 5, custom), generator=generator)[0].tolist()

    assert rank("natural") == [0, 1, 2, 3, 4]
    assert rank("reversed") == [4, 3, 2, 1, 0]
    assert rank("custom", "3, 4, 0, 2, 1") == [2, 4, 3, 0, 1]          # x3 first, then x4, ...
    assert sorted(rank("random")) == [0, 1, 2, 3, 4]
    assert choose_ordering("random", 5) == "random"
    with pytest.raises(ValueError, match="ordering must be one of"):
        choose_ordering("diagonal", 5)


# ----------------------------------------------------------------------------------------------
# which units reach an output


def test_reachable_inputs_are_the_connectivity_row():
    for seed in range(40):
        masks = made_masks(random_network(seed))
        sees = made_connectivity(masks) > 0
        for output in range(masks[-1].shape[0]):
            assert torch.equal(reachable_units(masks, output)[0], sees[output])


def test_reachable_units_match_a_search_over_paths():
    for seed in range(15):
        masks = made_masks(random_network(seed))
        for output in range(masks[-1].shape[0]):
            reach = reachable_units(masks, output)
            assert [len(r) for r in reach] == [m.shape[1] for m in masks]
            for layer, units in enumerate(reach):
                expected = [reaches_by_search(masks, layer, unit, output) for unit in range(len(units))]
                assert units.tolist() == expected, (seed, output, layer)


def test_no_output_reaches_itself_or_a_later_input():
    for seed in range(40):
        degrees = random_network(seed)
        rank, masks = degrees[0], made_masks(degrees)
        for output in range(len(rank)):
            seen = reachable_units(masks, output)[0]
            assert not bool(seen[rank >= rank[output]].any())


def test_a_leaky_mask_is_visible_in_the_reachable_inputs():
    # With <= instead of < in the output mask, an output sees hidden units of its own degree,
    # which see the input at that step: the leak must show up as the output reaching itself.
    degrees = made_degrees(5, [12, 12], hidden_degrees="spread")
    masks = made_masks(degrees)
    masks[-1] = (degrees[0][:, None] >= degrees[-1][None, :]).float()
    assert bool(reachable_units(masks, 2)[0][2])
    assert not bool(reachable_units(made_masks(degrees), 2)[0][2])


def test_reachable_units_rejects_a_missing_output():
    with pytest.raises(ValueError, match=r"output must lie in \[0, 3\]"):
        reachable_units(made_masks(made_degrees(4, [3])), 4)


# ----------------------------------------------------------------------------------------------
# the picture


def line_collections(fig):
    return [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]


def test_drawing_shows_every_allowed_weight_and_lights_the_paths():
    degrees = made_degrees(6, [8, 8], "random", generator=torch.Generator().manual_seed(0))
    masks = made_masks(degrees)
    allowed = int(sum(m.sum() for m in masks))

    plain = draw_made_network(degrees)
    assert [len(c.get_segments()) for c in line_collections(plain)] == [allowed]

    output = int(torch.argmax(degrees[0]))                              # the last one: it sees the most
    fig = draw_made_network(degrees, highlight_output=output)
    grey, lit = line_collections(fig)
    reach = reachable_units(masks, output) + [torch.arange(6) == output]
    on_paths = sum(int((m.bool() & reach[l + 1][:, None] & reach[l][None, :]).sum()) for l, m in enumerate(masks))
    assert len(grey.get_segments()) == allowed and len(lit.get_segments()) == on_paths > 0
    title = fig.axes[0].get_title()
    seen = ", ".join(f"x{j}" for j in reach[0].nonzero().flatten().tolist())
    assert f"output x{output} (step 5) sees {seen}" in title


def test_drawing_a_network_without_hidden_layers():
    fig = draw_made_network(made_degrees(3, []), highlight_output=0)
    assert "output x0 (step 0) sees nothing" in fig.axes[0].get_title()


# ----------------------------------------------------------------------------------------------
# the widget (drawing calls recorded; the browser test checks the real rendering)


@pytest.fixture
def drawn(monkeypatch):
    """Record every (degrees, highlight_output) the widget draws."""
    calls = []
    real = explorer.draw_made_network

    def record(degrees, highlight_output=None, title=""):
        calls.append(([d.clone() for d in degrees], highlight_output))
        return real(degrees, highlight_output, title)

    monkeypatch.setattr(explorer, "draw_made_network", record)
    return calls


def test_widget_is_a_tagged_box_with_labelled_controls(drawn):
    box = made_mask_widget()
    assert {"ar-widget", "ar-widget-made"} <= set(box._dom_classes)
    for description in ["inputs D", "hidden sizes", "ordering", "custom order", "hidden degrees",
                        "resample degrees", "output"]:
        control(box, description)
    degrees, highlight = drawn[-1]
    assert [len(d) for d in degrees] == [6, 8, 8] and highlight == 5


def test_widget_redraws_for_every_control(drawn):
    box = made_mask_widget(num_inputs=5, hidden_sizes="6, 6", seed=3)
    control(box, "ordering").value = "reversed"
    assert drawn[-1][0][0].tolist() == [4, 3, 2, 1, 0]

    before = drawn[-1][0]
    control(box, "output").value = 2                    # another output: same network, new highlight
    degrees, highlight = drawn[-1]
    assert highlight == 2 and all(torch.equal(a, b) for a, b in zip(degrees, before))

    control(box, "resample degrees").click()            # new hidden degrees, same order
    assert drawn[-1][0][0].tolist() == [4, 3, 2, 1, 0]
    assert any(not torch.equal(a, b) for a, b in zip(drawn[-1][0][1:], before[1:]))

    control(box, "hidden sizes").value = "3"
    assert [len(d) for d in drawn[-1][0]] == [5, 3]
    control(box, "hidden degrees").value = "spread"
    assert drawn[-1][0][1].tolist() == [0, 2, 3]

    count = len(drawn)
    control(box, "inputs D").value = 3                  # the output slider follows D, drawn once
    assert control(box, "output").max == 2 and drawn[-1][1] == 2 and len(drawn[-1][0][0]) == 3
    assert len(drawn) == count + 1


def test_widget_custom_order_and_messages(drawn):
    box = made_mask_widget(num_inputs=4)
    count = len(drawn)
    control(box, "ordering").value = "custom"
    assert len(drawn) == count and "type the custom order" in find_message(box).value
    control(box, "custom order").value = "3, 1, 0, 2"
    assert drawn[-1][0][0].tolist() == [2, 1, 3, 0] and find_message(box).value == ""

    count = len(drawn)
    control(box, "hidden sizes").value = "8, lots"
    assert len(drawn) == count and "whole numbers" in find_message(box).value
    control(box, "hidden sizes").value = "8"
    assert len(drawn) == count + 1 and find_message(box).value == ""


def test_widget_degrees_are_reproducible_from_the_seed(drawn):
    made_mask_widget(ordering="random", seed=5)
    made_mask_widget(ordering="random", seed=5)
    made_mask_widget(ordering="random", seed=6)
    first, again, other = (call[0] for call in drawn[-3:])
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert any(not torch.equal(a, b) for a, b in zip(first, other))
