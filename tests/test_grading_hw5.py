"""Homework 5 through real nbgrader: a class of submissions graded once by the instructor's command.

Students: the reference solution, the untouched release, a correct homework written differently
(a mask from index comparisons, attention by einsum and torch.where, interleaved sin/cos, heads by
reshaping, its own training loop, a cache that keeps lists of keys and builds its mask from key and
query positions) and five wrong ones: a causal mask off by one (output t sees the token after it,
x_t itself), attention without 1/sqrt(d), a softmax over the queries instead of the keys, a cache
that forgets the position offset, and a prefill whose mask is aligned to the start of the keys
instead of their end. A sixth wrong one skips the mask in the cache: single steps are right (one
query may see every stored key), only the prefill is wrong. Each wrong one must lose exactly the
marks of the cells its mistake breaks (the hidden tests install the reference mask, attention and
positions around the part they grade; the training test trains the student's own model, so a mask
or softmax that leaks later values costs its points too), and its feedback must say what is wrong.
(That assignments/hw5 is current and holds no solution or hidden test is checked in test_releases.py.)
"""
import pytest

import submissions as subs

pytestmark = pytest.mark.grading

POINTS = {  # every graded cell and its points (the written answer is graded by hand)
    "test_causal_mask": 2, "test_masked_attention": 3, "test_sinusoidal_positions": 2,
    "test_attention_layer": 2, "test_training": 2, "test_kv_cache": 3, "test_prefill": 2,
}
AUTO_POINTS, MANUAL_POINTS = sum(POINTS.values()), 2

# -------------------------------------------------------------------------------------------------
# correct homework, written differently from the reference

WRITTEN_DIFFERENTLY = {
    "mask_solution": '''
def causal_mask(T):
    query = torch.arange(T).unsqueeze(1)
    key = torch.arange(T).unsqueeze(0)
    return key <= query


def masked_attention(q, k, v, mask):
    d = q.size(-1)
    scores = torch.einsum("...pd,...sd->...ps", q, k) * d ** -0.5
    scores = torch.where(mask, scores, torch.full_like(scores, -float("inf")))
    largest = scores.max(dim=-1, keepdim=True).values
    unnormalised = torch.exp(scores - largest)
    return torch.einsum("...ps,...sd->...pd", unnormalised / unnormalised.sum(-1, keepdim=True), v)
''',
    "positions_solution": '''
def sinusoidal_positions(T, d):
    t = torch.arange(T, dtype=torch.float64).unsqueeze(1)
    i = torch.arange(d // 2, dtype=torch.float64).unsqueeze(0)
    angle = t / 10000 ** (2 * i / d)
    return torch.stack([torch.sin(angle), torch.cos(angle)], dim=2).reshape(T, d).to(torch.float32)
''',
    "attention_layer_solution": '''
class CausalSelfAttention(nn.Module):
    def __init__(self, d_model, num_heads):
        super().__init__()
        self.num_heads, self.head_size = num_heads, d_model // num_heads
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.output = nn.Linear(d_model, d_model)

    def split_heads(self, h):
        return h.unflatten(-1, (self.num_heads, self.head_size)).transpose(1, 2)

    def merge_heads(self, h):
        return h.transpose(1, 2).flatten(2)

    def forward(self, h):
        n, T, width = h.shape
        heads = lambda t: t.reshape(n, T, self.num_heads, width // self.num_heads).permute(0, 2, 1, 3)
        out = masked_attention(heads(self.query(h)), heads(self.key(h)), heads(self.value(h)), causal_mask(T))
        return self.output(out.permute(0, 2, 1, 3).reshape(n, T, width))
''',
    "training_solution": '''
def train_transformer(train, test):
    torch.manual_seed(7)
    model = TinyTransformer(K, train.shape[1], d_model=48, num_heads=4, num_layers=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    shuffle = torch.Generator().manual_seed(1)
    for _ in range(3):
        for index in torch.randperm(len(train), generator=shuffle).split(50):
            loss = -model.log_prob(train[index]).mean() / train.shape[1]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model
''',
    # keys and values kept as lists of chunks, the mask from the positions of the keys and queries
    "cache_solution": '''
def cached_forward(model, new_tokens, cache):
    done, count = cache["length"], new_tokens.size(1)
    query_positions = torch.arange(done, done + count)
    h = model.token_embedding(new_tokens) + model.positions[query_positions]
    key_positions = torch.arange(done + count)
    may_attend = key_positions[None, :] <= query_positions[:, None]
    for block, stored in zip(model.blocks, cache["layers"]):
        attention = block.attention
        x = block.attention_norm(h)
        stored.setdefault("key_chunks", [stored["keys"]]).append(attention.split_heads(attention.key(x)))
        stored.setdefault("value_chunks", [stored["values"]]).append(attention.split_heads(attention.value(x)))
        keys, values = torch.cat(stored["key_chunks"], 2), torch.cat(stored["value_chunks"], 2)
        out = masked_attention(attention.split_heads(attention.query(x)), keys, values, may_attend)
        h = h + attention.output(attention.merge_heads(out))
        h = h + block.mlp(block.mlp_norm(h))
    cache["length"] = done + count
    return model.head(model.final_norm(h))
''',
}

# -------------------------------------------------------------------------------------------------
# wrong homework: what it breaks

MASK_OFF_BY_ONE = ("return torch.ones(T, T, dtype=torch.bool).tril()", "return torch.ones(T, T, dtype=torch.bool).tril(1)")
NO_SQRT = ("scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])        # (..., P, S)",
           "scores = q @ k.transpose(-2, -1)")
SOFTMAX_OVER_QUERIES = ("scores = scores - scores.amax(dim=-1, keepdim=True)              # the largest score of each row becomes 0\n"
                        "    weights = scores.exp()\n"
                        "    weights = weights / weights.sum(dim=-1, keepdim=True)",
                        "scores = scores - scores.amax(dim=-2, keepdim=True)\n"
                        "    weights = scores.exp()\n"
                        "    weights = weights / weights.sum(dim=-2, keepdim=True)")
NO_OFFSET = ("model.positions[first:stop]", "model.positions[:stop - first]")
TOP_LEFT_MASK = ("mask = causal_mask(stop)[first:]", "mask = causal_mask(stop)[:stop - first]")
NO_MASK_IN_CACHE = ("mask = causal_mask(stop)[first:]", "mask = torch.ones(stop - first, stop, dtype=torch.bool)")
# Parts 1 and 2 are graded on their own (the later hidden tests install reference parts), except in the
# training test, which trains the student's own model: a mask or a softmax that lets an output see later
# values makes the trained model non-autoregressive, and that costs the training points too
MASK_OFF_BY_ONE_LOSES = ["test_causal_mask", "test_training"]
NO_SQRT_LOSES = ["test_masked_attention"]
SOFTMAX_OVER_QUERIES_LOSES = ["test_masked_attention", "test_training"]
# a wrong offset or a wrong alignment is wrong from the first step on: both cache cells are lost
NO_OFFSET_LOSES = ["test_kv_cache", "test_prefill"]
TOP_LEFT_MASK_LOSES = ["test_kv_cache", "test_prefill"]
# one query may see every stored key: only several new tokens at once (the prefill) need the mask
NO_MASK_IN_CACHE_LOSES = ["test_prefill"]
STUDENTS = ["alice_solution", "bob_untouched", "carol_written_differently", "dave_mask_off_by_one", "erin_no_sqrt",
            "frank_softmax_over_queries", "grace_cache_without_offset", "heidi_prefill_mask_top_left",
            "ivan_no_mask_in_cache"]


def cells_except(lost: list[str]) -> dict:
    return subs.points_except(POINTS, lost)


def build_class() -> dict:
    """One submission per student: student -> (notebook, expected points of every graded cell)."""
    good = subs.filled("hw5")
    wrong = {  # student -> (cell, (old, new)), the cells it loses
        "dave_mask_off_by_one": ("mask_solution", MASK_OFF_BY_ONE, MASK_OFF_BY_ONE_LOSES),
        "erin_no_sqrt": ("mask_solution", NO_SQRT, NO_SQRT_LOSES),
        "frank_softmax_over_queries": ("mask_solution", SOFTMAX_OVER_QUERIES, SOFTMAX_OVER_QUERIES_LOSES),
        "grace_cache_without_offset": ("cache_solution", NO_OFFSET, NO_OFFSET_LOSES),
        "heidi_prefill_mask_top_left": ("cache_solution", TOP_LEFT_MASK, TOP_LEFT_MASK_LOSES),
        "ivan_no_mask_in_cache": ("cache_solution", NO_MASK_IN_CACHE, NO_MASK_IN_CACHE_LOSES),
    }
    students = {
        "alice_solution": (good, cells_except([])),
        "bob_untouched": (subs.release_notebook("hw5"), cells_except(list(POINTS))),
        "carol_written_differently": (subs.with_sources(good, WRITTEN_DIFFERENTLY), cells_except([])),
    }
    for student, (cell, edit, lost) in wrong.items():
        students[student] = (subs.edit_source(good, cell, *edit), cells_except(lost))
    return students


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    return subs.grade_class("hw5", tmp_path_factory.mktemp("hw5_class"), build_class())


# -------------------------------------------------------------------------------------------------
# the graded class


@pytest.mark.parametrize("student", STUDENTS)
def test_each_student_gets_the_expected_points_in_every_cell(graded_class, student):
    graded_class.check_points(student, AUTO_POINTS + MANUAL_POINTS)


def test_the_solution_leaves_only_the_written_answer_to_grade_by_hand(graded_class):
    assert float(graded_class.rows["alice_solution"]["manual_pending"]) == MANUAL_POINTS


@pytest.mark.parametrize("student, says", [
    ("dave_mask_off_by_one", "lets query 0 attend to the later key 1"),
    ("dave_mask_off_by_one", "the trained model is not autoregressive"),
    ("frank_softmax_over_queries", "the trained model is not autoregressive"),
    ("erin_no_sqrt", "compared with softmax(q k^T / sqrt(d)) v"),
    ("frank_softmax_over_queries", "is the softmax taken over the keys (the last axis)?"),
    ("grace_cache_without_offset", "the cached logits of step 1"),
    ("heidi_prefill_mask_top_left", "the cached logits of step 1"),
    ("ivan_no_mask_in_cache", "the logits of a prefill of positions 0..11"),
])
def test_feedback_says_what_is_wrong(graded_class, student, says):
    feedback = graded_class.feedback(student)
    assert says in feedback, feedback[-3000:]


def test_feedback_hides_hidden_tests(graded_class):
    graded_class.check_feedback_hides_hidden_tests()
    assert "NotImplementedError" in graded_class.feedback("bob_untouched")
