"""FVSBN, NADE and MADE: autoregressive, normalised, sampled correctly, and loud about bad input."""
import copy
import itertools

import pytest
import torch
from scipy.stats import chisquare

from utils.checks import dependency_report, made_connectivity
from utils.models.fvsbn import FVSBN
from utils.models.made import MADE, dead_units, made_degrees, made_masks
from utils.models.nade import NADE
from utils.sampling import sample
from utils.train import fit


def all_inputs(num_inputs: int, num_values: int) -> torch.Tensor:
    """Every one of the K^D possible inputs, (K^D, D) long, in lexicographic order."""
    return torch.tensor(list(itertools.product(range(num_values), repeat=num_inputs)))


def random_ordering(num_inputs: int, seed: int) -> list[int]:
    return torch.randperm(num_inputs, generator=torch.Generator().manual_seed(seed)).tolist()


def randomize(model: torch.nn.Module, seed: int, scale: float = 1.0) -> torch.nn.Module:
    """Draw every parameter from N(0, scale^2), so that the distribution is far from uniform."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * scale)
    return model


def all_paths_active(model: torch.nn.Module, seed: int = 0) -> torch.Tensor:
    """Make every weight and bias positive: then each ReLU is on for every input, and every path
    that the masks allow really carries a change from an input to an output."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(0.1 + torch.rand(param.shape, generator=generator))
    return model


def chi_square_pvalue(counts: torch.Tensor, probs: torch.Tensor) -> float:
    """p-value of observed counts against probabilities; cells expected < 5 times are pooled."""
    expected = probs.double() / probs.sum() * counts.sum()
    rare = expected < 5
    observed = torch.cat([counts[~rare].double(), counts[rare].double().sum().reshape(1)])
    expected = torch.cat([expected[~rare], expected[rare].sum().reshape(1)])
    if not bool(rare.any()):
        observed, expected = observed[:-1], expected[:-1]
    return float(chisquare(observed.numpy(), expected.numpy()).pvalue)


def check_against_own_order(model, num_inputs, num_values, **kwargs):
    return dependency_report(model, (num_inputs,), num_values, ordering=model.ordering.tolist(), **kwargs)


# ----------------------------------------------------------------------------------------------
# the models we test: (name, constructor(D, K, ordering))

MODELS = {
    "fvsbn": lambda D, K, order: FVSBN(D, K, ordering=order),
    "nade": lambda D, K, order: NADE(D, 5, K, ordering=order),                # hidden narrower than D
    "made-1-narrow": lambda D, K, order: MADE(D, [4], K, ordering=order),      # hidden narrower than D
    "made-3-layers": lambda D, K, order: MADE(D, [12, 3, 9], K, ordering=order),
    "made-no-hidden": lambda D, K, order: MADE(D, [], K, ordering=order),
    "made-spread": lambda D, K, order: MADE(D, [6, 6], K, ordering=order, hidden_degrees="spread"),
    "made-ensemble": lambda D, K, order: MADE(D, [10, 10], K, ordering="random", num_masks=3, seed=7),
}


@pytest.mark.parametrize("num_values", [2, 3])
@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_is_autoregressive_in_its_own_order(name, num_values):
    for seed in range(3):
        num_inputs = 9
        model = all_paths_active(MODELS[name](num_inputs, num_values, random_ordering(num_inputs, seed)), seed)
        mask_sets = range(model.num_masks) if isinstance(model, MADE) else [None]
        for index in mask_sets:
            if index is not None:
                model.set_mask(index)
            check_against_own_order(model, num_inputs, num_values).assert_autoregressive()


def test_model_keeps_the_ordering_it_was_given():
    order = random_ordering(6, seed=3)
    for name in ["fvsbn", "nade", "made-1-narrow", "made-3-layers"]:
        assert MODELS[name](6, 2, order).ordering.tolist() == order, name


@pytest.mark.parametrize("num_values", [2, 3])
@pytest.mark.parametrize("name", ["fvsbn", "nade"])
def test_fvsbn_and_nade_see_every_earlier_input(name, num_values):
    model = randomize(MODELS[name](8, num_values, random_ordering(8, seed=1)), seed=1)
    check_against_own_order(model, 8, num_values).assert_full_coverage()


def test_made_with_spread_degrees_and_wide_layers_sees_every_earlier_input():
    # Promise: with hidden_degrees="spread" and every hidden layer at least D-1 wide, every degree
    # 0..D-2 occurs in every layer, so the masks leave a path from each input to each later output.
    num_inputs = 8
    for seed, hidden in enumerate([[7], [7, 7], [20, 9, 30]]):
        order = random_ordering(num_inputs, seed)
        degrees = made_degrees(num_inputs, hidden, order, hidden_degrees="spread")
        rank = degrees[0]
        assert torch.equal(made_connectivity(made_masks(degrees)) > 0, rank[None, :] < rank[:, None])
        for num_values in [2, 3]:     # measured on the network itself, with every ReLU switched on
            model = all_paths_active(MADE(num_inputs, hidden, num_values, ordering=order, hidden_degrees="spread"))
            check_against_own_order(model, num_inputs, num_values).assert_full_coverage()


def test_made_narrower_than_the_input_cannot_see_everything():
    # No promise without enough width: 2 hidden units carry at most 2 distinct degrees.
    model = all_paths_active(MADE(8, [2], ordering=random_ordering(8, 0), hidden_degrees="spread"))
    report = check_against_own_order(model, 8, 2)
    report.assert_autoregressive()
    assert int(report.unseen_counts().sum()) > 0


def test_measured_dependencies_match_the_mask_paths():
    model = all_paths_active(MADE(7, [5, 9], 3, ordering=random_ordering(7, 4), seed=4))
    report = check_against_own_order(model, 7, 3)
    degrees = made_degrees(7, [5, 9], random_ordering(7, 4), generator=torch.Generator().manual_seed(4))
    assert torch.equal(report.dep, made_connectivity(made_masks(degrees)) > 0)


def test_leaky_made_is_caught_by_the_check():
    # Build the output mask with <= instead of <: output i now sees hidden units of degree rank[i],
    # which see input i itself. The dependency check must flag it.
    num_inputs = 6
    order = random_ordering(num_inputs, seed=2)
    model = all_paths_active(MADE(num_inputs, [15, 15], ordering=order, hidden_degrees="spread"))
    check_against_own_order(model, num_inputs, 2).assert_autoregressive()   # the honest model passes
    degrees = made_degrees(num_inputs, [15, 15], order, hidden_degrees="spread")
    leaky_output_mask = (degrees[0][:, None] >= degrees[-1][None, :]).float()
    model.layers[-1].set_mask(leaky_output_mask)
    report = check_against_own_order(model, num_inputs, 2)
    assert (order[-1], order[-1]) not in report.violations()   # the last position has degree D-1: no unit
    assert {(i, i) for i in order[:-1]} <= set(report.violations())
    with pytest.raises(AssertionError, match="not autoregressive"):
        report.assert_autoregressive()


# ----------------------------------------------------------------------------------------------
# degrees, masks, dead units


def test_made_degrees_follow_the_rules():
    generator = torch.Generator().manual_seed(0)
    order = random_ordering(10, seed=5)
    degrees = made_degrees(10, [4, 30, 2], order, hidden_degrees="random", generator=generator)
    assert [len(d) for d in degrees] == [10, 4, 30, 2]
    assert [degrees[0][p].item() for p in order] == list(range(10))       # input degree = generation step
    for below, layer in zip(degrees, degrees[1:]):
        assert int(layer.min()) >= int(below.min()) and int(layer.max()) == 10 - 2
    spread = made_degrees(10, [9, 3], hidden_degrees="spread")
    assert sorted(set(spread[1].tolist())) == list(range(9)) and spread[2].tolist() == [0, 4, 8]


def test_made_masks_shapes_and_meaning():
    degrees = [torch.tensor([0, 2, 1]), torch.tensor([0, 1, 1, 0])]
    input_mask, output_mask = made_masks(degrees)
    assert input_mask.shape == (4, 3) and output_mask.shape == (3, 4)
    assert input_mask.tolist() == [[1, 0, 0], [1, 0, 1], [1, 0, 1], [1, 0, 0]]
    assert output_mask.tolist() == [[0, 0, 0, 0], [1, 1, 1, 1], [1, 0, 0, 1]]


@pytest.mark.parametrize("rule", ["random", "spread"])
def test_made_degrees_leave_no_dead_units(rule):
    generator = torch.Generator().manual_seed(0)
    for _ in range(300):
        num_inputs = int(torch.randint(2, 30, (1,), generator=generator))
        depth = int(torch.randint(1, 5, (1,), generator=generator))
        hidden = torch.randint(1, 40, (depth,), generator=generator).tolist()   # often narrower than D
        degrees = made_degrees(num_inputs, hidden, "random", rule, generator)
        dead = dead_units(made_masks(degrees))
        assert not any(bool(layer.any()) for layer in dead), (num_inputs, hidden, degrees)


def test_dead_units_finds_a_unit_with_nowhere_to_go():
    # layer 1 has a unit of degree 3, but layer 2 only has degree 0: the degree-3 unit feeds nothing
    degrees = [torch.arange(5), torch.tensor([0, 3]), torch.tensor([0])]
    dead = dead_units(made_masks(degrees))
    assert dead[0].tolist() == [False, True] and dead[1].tolist() == [False]


# ----------------------------------------------------------------------------------------------
# the distribution


@pytest.mark.parametrize("num_inputs,num_values", [(10, 2), (5, 3)])
@pytest.mark.parametrize("name", list(MODELS))
def test_probabilities_of_all_inputs_sum_to_one(name, num_inputs, num_values):
    model = randomize(MODELS[name](num_inputs, num_values, random_ordering(num_inputs, 0)), seed=0).eval()
    everything = all_inputs(num_inputs, num_values)
    with torch.no_grad():
        totals = [model.log_prob(everything).double().exp().sum()]
        if isinstance(model, MADE) and model.num_masks > 1:
            totals.append(model.ensemble_log_prob(everything).double().exp().sum())   # a mixture sums to one too
            for index in range(1, model.num_masks):                                    # and so does every member
                model.set_mask(index)
                totals.append(model.log_prob(everything).double().exp().sum())
    assert all(abs(float(total) - 1) < 1e-4 for total in totals), totals


@pytest.mark.parametrize("name", list(MODELS))
def test_sample_frequencies_match_exact_probabilities(name):
    num_inputs, num_values, n = 3, 3, 30_000
    model = randomize(MODELS[name](num_inputs, num_values, random_ordering(num_inputs, 1)), seed=1).eval()
    if isinstance(model, MADE) and model.num_masks > 1:
        model.set_mask(1)                     # sample and score one mask set, in its own order
    everything = all_inputs(num_inputs, num_values)
    with torch.no_grad():
        probs = model.log_prob(everything).double().exp()
    samples = sample(model, n, generator=torch.Generator().manual_seed(0))
    codes = (samples * num_values ** torch.arange(num_inputs - 1, -1, -1)).sum(1)   # row index in `everything`
    counts = torch.bincount(codes, minlength=len(everything))
    assert chi_square_pvalue(counts, probs) > 1e-3


@pytest.mark.parametrize("name", list(MODELS))
def test_sampling_is_deterministic_for_a_generator(name):
    model = randomize(MODELS[name](6, 3, random_ordering(6, 2)), seed=2)
    first = sample(model, 50, generator=torch.Generator().manual_seed(11))
    again = sample(model, 50, generator=torch.Generator().manual_seed(11))
    other = sample(model, 50, generator=torch.Generator().manual_seed(12))
    assert first.shape == (50, 6) and first.dtype == torch.long and int(first.min()) >= 0 and int(first.max()) < 3
    assert torch.equal(first, again) and not torch.equal(first, other)
    # NADE's cached step (a running hidden pre-activation) gives the samples of the full forward pass
    naive = sample(model, 50, generator=torch.Generator().manual_seed(11), cached=False)
    assert torch.equal(first, naive)


@pytest.mark.parametrize("num_values", [2, 3])
def test_nade_cached_step_gives_the_forward_logits_in_any_order(num_values):
    for seed in range(3):
        model = randomize(NADE(7, 5, num_values, ordering=random_ordering(7, seed)), seed=seed)
        x = torch.randint(0, num_values, (4, 7), generator=torch.Generator().manual_seed(seed))
        x[:, model.ordering[0]] = 1            # the first value drawn adds a column of W (a 0 adds nothing for K = 2)
        logits = model(x)
        cache = model.start_cache(4)
        with torch.no_grad():
            for step, position in enumerate(model.ordering.tolist()):
                torch.testing.assert_close(model.cached_step(x, step, cache), logits[:, position], atol=1e-5, rtol=1e-5)
        # a cache that skips the update of one step is caught
        stale = model.start_cache(4)
        with torch.no_grad():
            stale_logits = [model.cached_step(x, step, stale) for step in (0, 2)]   # step 1's update never happens
        assert not torch.allclose(stale_logits[1], logits[:, int(model.ordering[2])], atol=1e-4)


# ----------------------------------------------------------------------------------------------
# order-agnostic training, ensembles, inpainting


def test_forward_and_log_prob_never_change_the_masks():
    model = MADE(6, [10], ordering="random", num_masks=3, seed=0)
    snapshots = []
    for index in range(3):
        model.set_mask(index)
        snapshots.append(([mask.clone() for mask in model.masks()], model.ordering.tolist()))
    assert len({tuple(ordering) for _, ordering in snapshots}) > 1
    model.set_mask(1)
    x = torch.randint(0, 2, (4, 6), generator=torch.Generator().manual_seed(0))
    for training in (True, False):
        model.train(training)
        first = model(x)
        for _ in range(3):
            assert torch.equal(model(x), first)
            model.log_prob(x)
        assert model.mask_index == 1 and model.ordering.tolist() == snapshots[1][1]
        assert all(torch.equal(a, b) for a, b in zip(model.masks(), snapshots[1][0]))
    model.set_mask(0)                          # mask sets are rebuilt from the seed: the same every time
    model.set_mask(1)
    assert all(torch.equal(a, b) for a, b in zip(model.masks(), snapshots[1][0]))


def test_fit_runs_the_mask_schedule_given_as_before_step():
    model = MADE(6, [10], ordering="random", num_masks=3, seed=0)
    orderings = []
    for index in range(3):
        model.set_mask(index)
        orderings.append(model.ordering.tolist())
    model.set_mask(0)
    x = torch.randint(0, 2, (40, 6), generator=torch.Generator().manual_seed(0))
    used, steps = [], []
    log_prob = model.log_prob

    def recording_log_prob(batch):
        if model.training:                     # training steps only, not the test-set evaluations
            used.append((model.mask_index, model.ordering.tolist()))
        return log_prob(batch)

    model.log_prob = recording_log_prob
    fit(model, x, x[:10], epochs=2, batch_size=10, progress=False,
        before_step=lambda step: (steps.append(step), model.set_mask(step % model.num_masks)))
    assert steps == list(range(8))
    assert used == [(step % 3, orderings[step % 3]) for step in range(8)]
    used.clear()
    fit(model, x, x[:10], epochs=1, batch_size=10, progress=False)          # no schedule: the masks stay
    assert used == [(1, orderings[1])] * 4


def test_ensemble_log_prob_is_the_log_mean_of_the_mask_probabilities():
    model = randomize(MADE(5, [8, 8], 3, ordering="random", num_masks=4, seed=3), seed=3).eval()
    x = all_inputs(5, 3)[::7]
    with torch.no_grad():
        per_mask = []
        for index in range(4):
            model.set_mask(index)
            per_mask.append(model.log_prob(x))
        model.set_mask(2)
        ensemble = model.ensemble_log_prob(x)
        current = model.log_prob(x)
    assert not torch.allclose(per_mask[0], per_mask[1], atol=1e-3), "the members should differ"
    expected = torch.logsumexp(torch.stack(per_mask), 0) - torch.log(torch.tensor(4.0))
    assert torch.allclose(ensemble, expected, atol=1e-5)
    assert torch.equal(current, per_mask[2])                     # log_prob: the current mask set only
    assert model.mask_index == 2


def test_ensemble_log_prob_leaves_the_current_masks_in_place():
    model = MADE(5, [8], ordering="random", num_masks=4, seed=1)
    model.set_mask(2)
    before = [mask.clone() for mask in model.masks()], model.ordering.clone()
    for training in (True, False):
        model.train(training)
        model.ensemble_log_prob(torch.zeros(3, 5, dtype=torch.long))
        assert model.mask_index == 2 and torch.equal(model.ordering, before[1])
        assert all(torch.equal(a, b) for a, b in zip(model.masks(), before[0]))


def test_observed_first_order_puts_the_observed_positions_first_in_the_current_order():
    model = MADE(6, [10], ordering=[4, 1, 5, 0, 3, 2])
    observed = torch.tensor([True, False, True, False, False, True])          # positions 0, 2, 5
    assert model.observed_first_order(observed).tolist() == [5, 0, 2, 4, 1, 3]
    assert model.observed_first_order(torch.zeros(6, dtype=torch.bool)).tolist() == [4, 1, 5, 0, 3, 2]
    assert model.observed_first_order(torch.ones(6, dtype=torch.bool)).tolist() == [4, 1, 5, 0, 3, 2]
    already_first = torch.tensor([False, True, False, False, True, False])   # 4 and 1 come first anyway
    assert model.observed_first_order(already_first).tolist() == [4, 1, 5, 0, 3, 2]
    assert model.ordering.tolist() == [4, 1, 5, 0, 3, 2]                       # it only computes an order


def conditional_frequencies_match(model, completed, observed_mask, observed_values):
    """Chi-square test of the completed unobserved positions against the model's exact conditional."""
    num_inputs, num_values = model.num_inputs, model.num_values
    everything = all_inputs(num_inputs, num_values)
    consistent = (everything[:, observed_mask] == observed_values).all(1)
    with torch.no_grad():
        probs = model.log_prob(everything[consistent]).double().exp()
    codes = {tuple(row.tolist()): i for i, row in enumerate(everything[consistent])}
    counts = torch.zeros(len(probs), dtype=torch.float64)
    for row in completed.tolist():
        counts[codes[tuple(row)]] += 1
    return chi_square_pvalue(counts, probs) > 1e-3


def test_inpaint_keeps_the_order_when_the_observed_positions_come_first():
    model = randomize(MADE(4, [9, 9], 2, seed=0), seed=0, scale=0.7).eval()    # natural order
    observed_mask = torch.tensor([True, True, False, False])
    x = torch.tensor([[1, 0, 1, 1]]).repeat(8000, 1)
    completed = model.inpaint(x, observed_mask, generator=torch.Generator().manual_seed(0))
    assert torch.equal(completed[:, :2], x[:, :2])
    # the values at unobserved positions are ignored: only the observed ones condition the draws
    other = x.clone()
    other[:, 2:] = 1 - other[:, 2:]
    assert torch.equal(model.inpaint(other, observed_mask, generator=torch.Generator().manual_seed(0)), completed)
    assert conditional_frequencies_match(model, completed, observed_mask, torch.tensor([1, 0]))


def test_inpaint_puts_the_observed_positions_first_and_restores_the_masks():
    model = randomize(MADE(4, [9, 9], 3, ordering="random", num_masks=3, seed=5), seed=5, scale=0.7).eval()
    model.set_mask(1)
    before = [mask.clone() for mask in model.masks()], model.ordering.clone()
    observed_mask = torch.tensor([False, True, False, True])
    x = torch.tensor([[2, 1, 0, 0]]).repeat(8000, 1)
    completed = model.inpaint(x, observed_mask, generator=torch.Generator().manual_seed(0))
    again = model.inpaint(x, observed_mask, generator=torch.Generator().manual_seed(0))
    assert torch.equal(completed, again)
    assert torch.equal(completed[:, observed_mask], x[:, observed_mask])
    assert model.mask_index == 1 and torch.equal(model.ordering, before[1])
    assert all(torch.equal(a, b) for a, b in zip(model.masks(), before[0]))
    # the completions follow the conditional of the model in the order "observed first"
    rank = torch.argsort(before[1])
    expected_order = sorted([1, 3], key=lambda p: rank[p]) + sorted([0, 2], key=lambda p: rank[p])
    assert expected_order != before[1].tolist(), "pick a case where inpaint has to change the order"
    assert model.observed_first_order(observed_mask).tolist() == expected_order
    reordered = copy.deepcopy(model)              # score with exactly the masks inpaint used
    reordered.set_ordering(expected_order, torch.Generator().manual_seed(model.seed))
    assert conditional_frequencies_match(reordered, completed, observed_mask, torch.tensor([1, 0]))


def test_masks_are_buffers_and_weights_are_never_edited():
    model = MADE(5, [7], 3)
    state = model.state_dict()
    assert "layers.0.mask" in state and "layers.1.mask" in state
    assert all(name.endswith("mask") or name.endswith("ordering") for name, _ in model.named_buffers())
    weights = [layer.weight.detach().clone() for layer in model.layers]
    model.log_prob(torch.zeros(2, 5, dtype=torch.long)).sum().backward()
    assert all(torch.equal(w, layer.weight) for w, layer in zip(weights, model.layers))
    assert bool((model.layers[0].weight[model.layers[0].mask == 0] != 0).any())
    assert float(model.layers[0].weight.grad[model.layers[0].mask == 0].abs().max()) == 0


# ----------------------------------------------------------------------------------------------
# clear errors


@pytest.mark.parametrize("name", list(MODELS))
def test_bad_inputs_raise_clear_errors(name):
    model = MODELS[name](4, 3, None)
    with pytest.raises(TypeError, match="must hold integers"):
        model.log_prob(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"must have shape \(N, 4\)"):
        model(torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"must have shape \(N, 4\)"):
        model(torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"values must lie in \[0, 2\]"):
        model.log_prob(torch.full((2, 4), 3))
    with pytest.raises(ValueError, match="n must be a positive int"):
        sample(model, 0)
    with pytest.raises(ValueError, match="temperature must be positive"):
        sample(model, 2, temperature=0)
    with pytest.raises(ValueError, match="top_k must be an int between 1 and 3"):
        sample(model, 2, top_k=4)
    with pytest.raises(ValueError, match=r"prefix values must lie in \[0, 2\]"):
        sample(model, 2, prefix=torch.tensor([0, 3]))


def test_bad_settings_raise_clear_errors():
    with pytest.raises(ValueError, match="at least 2"):
        FVSBN(4, num_values=1)
    with pytest.raises(ValueError, match="permutation"):
        NADE(4, 3, ordering=[0, 1, 1, 2])
    with pytest.raises(ValueError, match="hidden_degrees must be one of"):
        MADE(4, [5], hidden_degrees="even")
    with pytest.raises(ValueError, match="at least 2 inputs"):
        MADE(1, [5])
    with pytest.raises(ValueError, match="ordering must be None, 'random'"):
        MADE(4, [5], ordering="reversed")
    with pytest.raises(ValueError, match="mask index must lie in"):
        MADE(4, [5], num_masks=2).set_mask(2)
    with pytest.raises(ValueError, match="num_masks must be a positive int"):
        MADE(4, [5], num_masks=0)
    with pytest.raises(ValueError, match="observed_mask must be a bool tensor of shape"):
        MADE(4, [5]).inpaint(torch.zeros(1, 4, dtype=torch.long), torch.tensor([1, 0, 0, 0]))
