"""Homework 2 through real nbgrader: release, and a class of submissions graded once.

Students: the reference solution, the untouched release, two correct homeworks written differently
(ranks by argsort and other hidden degrees; steps numbered from 1, boolean masks and other code everywhere) and three wrong ones (an output
mask that lets each output see its own input; degrees that ignore the ordering; hidden degrees drawn
with the global random generator instead of the one passed in). Each wrong one must lose exactly the
marks of the cells that its mistake breaks, and its feedback must say what is wrong.
"""
import re

import pytest

import submissions as subs

pytestmark = pytest.mark.grading

POINTS = {  # every graded cell and its points (the written answer is graded by hand)
    "test_fvsbn_logits": 2, "test_fvsbn_log_prob": 2, "test_fvsbn_sample": 2,
    "test_made_masks": 2, "test_made_masks_orderings": 2,
    "test_masked_linear": 1, "test_made_model": 2, "test_made_training": 2,
    "test_ensemble_log_prob": 2, "test_order_agnostic": 1,
}
AUTO_POINTS, MANUAL_POINTS = sum(POINTS.values()), 2

# -------------------------------------------------------------------------------------------------
# correct homework, written differently from the reference

ARGSORT_DEGREES = {
    # ranks by argsort, hidden degrees uniform in [0, D-2] in every layer (not from the lowest below), output mask ">"
    "masks_solution": '''
def made_degrees(ordering, hidden_sizes, generator=None):
    num_inputs = len(ordering)
    rank = torch.argsort(torch.as_tensor(ordering))          # rank[j]: the step at which x_j is generated
    degrees = [rank]
    for size in hidden_sizes:
        degrees.append(torch.randint(0, num_inputs - 1, (size,), generator=generator))
    return degrees


def made_masks(degrees):
    masks = []
    for below, above in zip(degrees[:-1], degrees[1:]):
        masks.append((above.unsqueeze(1) >= below.unsqueeze(0)).float())
    masks.append((degrees[0].unsqueeze(1) > degrees[-1].unsqueeze(0)).float())
    return masks
''',
    "training_solution": '''
def train_made(train, test):
    torch.manual_seed(1)
    model = MADE(train.shape[1], [300])
    fit(model, train, test, epochs=5, batch_size=50, lr=3e-3, progress=False)
    return model
''',
}

BOOLEAN_MASKS = {
    # steps numbered from 1 (the same connections as from 0), bool masks in a bool buffer, deterministic hidden
    # degrees, loops, other formulas, own training loop
    "fvsbn_solution": '''
def fvsbn_logits(x, weight, bias):
    x = x.float()
    columns = [bias[i] + x[:, :i] @ weight[i, :i] for i in range(len(bias))]
    return torch.stack(columns, dim=1)


def fvsbn_log_prob(x, weight, bias):
    a = fvsbn_logits(x, weight, bias)
    return -F.binary_cross_entropy_with_logits(a, x.float(), reduction="none").sum(1)


@torch.no_grad()
def fvsbn_sample(weight, bias, n, *, generator=None):
    x = torch.zeros(n, len(bias))
    for i in range(len(bias)):
        p = torch.sigmoid(bias[i] + x[:, :i] @ weight[i, :i])
        x[:, i] = torch.bernoulli(p, generator=generator)
    return x.long()
''',
    "masks_solution": '''
def made_degrees(ordering, hidden_sizes, generator=None):
    num_inputs = len(ordering)
    step = {int(position): t + 1 for t, position in enumerate(ordering)}
    degrees = [torch.tensor([step[j] for j in range(num_inputs)])]
    for size in hidden_sizes:
        degrees.append(torch.arange(size) % max(num_inputs - 1, 1) + 1)      # 1, 2, ..., D-1, 1, 2, ...
    return degrees


def made_masks(degrees):
    masks = [degrees[k + 1][:, None] >= degrees[k][None, :] for k in range(len(degrees) - 1)]
    masks.append(degrees[0][:, None] > degrees[-1][None, :])
    return masks
''',
    "training_solution": '''
def train_made(train, test):
    torch.manual_seed(2)
    model = MADE(train.shape[1], [400])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    shuffle = torch.Generator().manual_seed(0)
    for _ in range(4):
        for index in torch.randperm(len(train), generator=shuffle).split(64):
            loss = -model.log_prob(train[index]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model
''',
    "ensemble_solution": '''
def ensemble_log_prob(model, x, num_masks):
    members = []
    for k in range(num_masks):
        model.set_mask(k)
        members.append(model.log_prob(x))
    members = torch.stack(members, dim=1)                       # (N, k)
    top = members.max(dim=1, keepdim=True).values
    return (top + torch.log(torch.exp(members - top).mean(dim=1, keepdim=True))).squeeze(1)
''',
}

# the MADE cell of the boolean-masks student: (reference text, replacement) pairs
BOOLEAN_MADE_EDITS = [
    ('self.register_buffer("mask", torch.ones(out_features, in_features))',
     'self.register_buffer("mask", torch.ones(out_features, in_features, dtype=torch.bool))'),
    ("self.mask.copy_(torch.as_tensor(mask))", "self.mask = torch.as_tensor(mask).bool().clone()"),
    ("return F.linear(x, self.mask * self.weight, self.bias)",
     "return F.linear(x, torch.where(self.mask, self.weight, torch.zeros_like(self.weight)), self.bias)"),
    ("""        h = x.float()
        for layer in self.layers[:-1]:
            h = torch.relu(layer(h))
        a = self.layers[-1](h)
        return torch.stack([torch.zeros_like(a), a], dim=-1)""",
     """        *hidden_layers, last = self.layers
        h = x.float()
        for layer in hidden_layers:
            h = F.relu(layer(h))
        a = last(h)
        return torch.stack([-a / 2, a / 2], dim=-1)      # softmax([-a/2, a/2]) = [1 - sigmoid(a), sigmoid(a)]"""),
    ("""        log_probs = torch.log_softmax(self(x), dim=-1)                       # (N, D, 2)
        return log_probs.gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(dim=1)""",
     """        logits = self(x)
        a = logits[..., 1] - logits[..., 0]
        return -F.binary_cross_entropy_with_logits(a, x.float(), reduction="none").sum(-1)"""),
]

# -------------------------------------------------------------------------------------------------
# wrong homework: what it breaks

LEAK = ("degrees[-1][None, :] < degrees[0][:, None]", "degrees[-1][None, :] <= degrees[0][:, None]")
IGNORED_ORDERING = ("input_degrees[ordering] = torch.arange", "input_degrees[:] = torch.arange")
IGNORED_GENERATOR = ("torch.randint(low, num_inputs - 1, (size,), generator=generator)", "torch.randint(low, num_inputs - 1, (size,))")
# an output that sees its own input: every mask check fails, and so do the two trained MADEs
LEAK_LOSES = ["test_made_masks", "test_made_masks_orderings", "test_made_training", "test_order_agnostic"]
# natural order everywhere: the orderings check fails, and the order-agnostic MADE's mask sets leak
IGNORED_ORDERING_LOSES = ["test_made_masks_orderings", "test_order_agnostic"]
# still autoregressive in every ordering, and the trained MADEs still reach the target: only the degree cell is lost
IGNORED_GENERATOR_LOSES = ["test_made_masks"]


def cells_except(lost: list[str]) -> dict:
    return subs.points_except(POINTS, lost)


def build_class() -> dict:
    """One submission per student: student -> (notebook, expected points of every graded cell)."""
    good = subs.filled("hw2")
    boolean = subs.with_sources(good, BOOLEAN_MASKS)
    for old, new in BOOLEAN_MADE_EDITS:
        boolean = subs.edit_source(boolean, "made_solution", old, new)
    return {
        "alice_solution": (good, cells_except([])),
        "bob_untouched": (subs.release_notebook("hw2"), cells_except(list(POINTS))),
        "carol_argsort_degrees": (subs.with_sources(good, ARGSORT_DEGREES), cells_except([])),
        "dan_boolean_masks": (boolean, cells_except([])),
        "erin_output_sees_itself": (subs.edit_source(good, "masks_solution", *LEAK), cells_except(LEAK_LOSES)),
        "frank_ignores_ordering": (subs.edit_source(good, "masks_solution", *IGNORED_ORDERING),
                                   cells_except(IGNORED_ORDERING_LOSES)),
        "grace_ignores_generator": (subs.edit_source(good, "masks_solution", *IGNORED_GENERATOR),
                                    cells_except(IGNORED_GENERATOR_LOSES)),
    }


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    return subs.grade_class("hw2", tmp_path_factory.mktemp("hw2_class"), build_class())


# -------------------------------------------------------------------------------------------------
# the graded class


@pytest.mark.parametrize("student", ["alice_solution", "bob_untouched", "carol_argsort_degrees",
                                     "dan_boolean_masks", "erin_output_sees_itself", "frank_ignores_ordering",
                                     "grace_ignores_generator"])
def test_each_student_gets_the_expected_points_in_every_cell(graded_class, student):
    graded_class.check_points(student, AUTO_POINTS + MANUAL_POINTS)


def test_the_solution_leaves_only_the_written_answer_to_grade_by_hand(graded_class):
    assert float(graded_class.rows["alice_solution"]["manual_pending"]) == MANUAL_POINTS


def test_feedback_says_what_is_wrong(graded_class):
    itself = graded_class.feedback("erin_output_sees_itself")
    assert re.search(r"output x\[(\d+)\] depends on input x\[\1\] \(itself\)", itself), itself[-3000:]
    later = graded_class.feedback("frank_ignores_ordering")
    assert re.search(r"output x\[\d+\] depends on input x\[\d+\] \(comes later\)", later), later[-3000:]
    generator = graded_class.feedback("grace_ignores_generator")
    assert "same state gave different hidden degrees" in generator and "pass generator= to every random call" in generator, \
        generator[-3000:]


def test_feedback_hides_hidden_tests(graded_class):
    graded_class.check_feedback_hides_hidden_tests()
    assert "NotImplementedError" in graded_class.feedback("bob_untouched")
