"""Self-attention models: attention from primitives, sparse masks, the transformer and its KV cache, PixelSNAIL.

The KV cache is proven, not assumed: its logits equal the full forward pass (float64, 1e-10) for
every mask pattern and every prefix length, and the same checks are shown to CATCH two classic
cache bugs (a forgotten position offset, a prefill mask aligned to the top-left instead of the end
of the keys). Every other property test is likewise paired with a broken variant it must catch.
"""
import itertools

import pytest
import torch
import torch.nn.functional as F

from utils.attention_masks import PATTERNS, attention_mask, head_masks, pattern_parts, reachable
from utils.checks import dependency_matrix, dependency_report
from utils.models import GatedPixelCNN, PixelSNAIL, Transformer
from utils.models.attention import KeyValueCache, MultiHeadAttention, attention, softmax
from utils.models.transformer import sinusoidal_positions
from utils.sampling import sample

TIGHT = 1e-10          # float64: cached and full logits differ by rounding only (~1e-15)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def transformer(cls=Transformer, seed=0, double=True, **options) -> Transformer:
    """A small random transformer (sequences of 10 values in [0, 5) unless options say otherwise)."""
    options = {"d_model": 16, "num_heads": 2, **options}
    if "image_shape" not in options:
        options.setdefault("length", 10)
    torch.manual_seed(seed)
    model = cls(options.pop("num_values", 5), **options).eval()
    return model.double() if double else model


# ----------------------------------------------------------------------------------------------
# attention from primitives


def test_softmax_subtracts_the_maximum_and_matches_torch():
    scores = torch.tensor([[1000.0, 999.0, -1000.0], [0.5, float("-inf"), 0.0], [-1e4, -1e4 - 1, -1e4 - 2]])
    weights = softmax(scores)
    assert bool(torch.isfinite(weights).all()), "exp(1000) overflows: the maximum must be subtracted first"
    torch.testing.assert_close(weights, torch.softmax(scores, dim=-1))
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))
    assert float(weights[1, 1]) == 0.0                                  # a masked (-inf) score gets no weight
    naive = scores.exp() / scores.exp().sum(-1, keepdim=True)
    assert not bool(torch.isfinite(naive).all()), "the check above would not notice a missing max subtraction"


def test_attention_is_the_scaled_masked_softmax_of_query_key_scores():
    q, k, v = (torch.randn(2, 5, 8, generator=generator(i), dtype=torch.float64) for i in range(3))
    mask = attention_mask("causal", 5)
    out = attention(q, k, v, mask)
    for b, i in itertools.product(range(2), range(5)):                 # query by query, from the definition
        scores = torch.stack([q[b, i] @ k[b, j] for j in range(i + 1)]) / 8 ** 0.5     # keys j <= i only
        expected = sum(weight * v[b, j] for j, weight in enumerate(torch.softmax(scores, 0)))
        torch.testing.assert_close(out[b, i], expected, atol=1e-12, rtol=0)


def test_the_mask_says_true_for_may_attend():
    q, k, v = (torch.randn(1, 4, 6, generator=generator(i), dtype=torch.float64) for i in range(3))
    mask = attention_mask("causal", 4)
    changed = v.clone()
    changed[:, 2] += 1                                                  # the value of key 2
    moved = (attention(q, k, changed, mask) - attention(q, k, v, mask)).abs().amax(-1)[0] > 1e-12
    assert moved.tolist() == [False, False, True, True]                 # only queries 2 and 3 may attend to key 2


@pytest.mark.parametrize("mask", [None, attention_mask("causal", 7), head_masks("strided", 7, 4, stride=3),
                                  head_masks("fixed", 7, 4, stride=2)], ids=["none", "causal", "strided", "fixed"])
def test_fused_attention_equals_the_primitives(mask):
    q, k, v = (torch.randn(3, 4, 7, 5, generator=generator(i), dtype=torch.float64) for i in range(3))
    fused = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(fused, attention(q, k, v, mask), atol=1e-12, rtol=0)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_fused_transformer_equals_the_hand_written_one(pattern):
    x = torch.randint(0, 5, (4, 10), generator=generator(0))
    slow = transformer(attention=pattern, num_heads=4, stride=3)
    fast = transformer(attention=pattern, num_heads=4, stride=3, fused=True)
    fast.load_state_dict(slow.state_dict())
    torch.testing.assert_close(fast(x), slow(x), atol=1e-12, rtol=0)


def test_multi_head_attention_checks_its_sizes():
    with pytest.raises(ValueError, match="multiple of num_heads"):
        MultiHeadAttention(10, 3)
    layer = MultiHeadAttention(8, 2, query_input_size=3, key_input_size=5)
    assert layer(torch.randn(2, 4, 3), keys_from=torch.randn(2, 6, 5)).shape == (2, 4, 8)


# ----------------------------------------------------------------------------------------------
# causal and sparse masks


def as_rows(mask: torch.Tensor) -> list[str]:
    return ["".join("x" if allowed else "." for allowed in row) for row in mask.tolist()]


def test_the_patterns_on_a_small_example():
    assert as_rows(attention_mask("local", 6, stride=3)) == [
        "x.....", "xx....", "xxx...", ".xxx..", "..xxx.", "...xxx"]
    assert as_rows(attention_mask("strided", 7, stride=3)) == [     # local, or a multiple of 3 back
        "x......", "xx.....", "xxx....", "xxxx...", ".xxxx..", "..xxxx.", "x..xxxx"]
    assert as_rows(attention_mask("fixed", 7, stride=3)) == [       # own block, or the end of a block
        "x......", "xx.....", "xxx....", "..xx...", "..xxx..", "..xxxx.", "..x..xx"]
    assert as_rows(pattern_parts("fixed", 7, stride=3)[1]) == [     # the summary part alone (+ itself)
        "x......", ".x.....", "..x....", "..xx...", "..x.x..", "..x..x.", "..x..xx"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_part_of_every_pattern_is_causal_and_sees_itself(pattern):
    for length, stride in [(1, 1), (5, 2), (16, 4), (17, 5), (30, 1), (9, 20)]:
        parts = pattern_parts(pattern, length, stride)
        assert not bool((parts & ~torch.ones(length, length, dtype=torch.bool).tril()).any()), "a part sees the future"
        assert bool(parts.diagonal(dim1=1, dim2=2).all()), "a query with nothing to attend to"


def test_head_masks_give_each_head_one_part_and_the_union_is_the_layer_mask():
    heads = head_masks("strided", 9, 4, stride=3)
    local, strided = pattern_parts("strided", 9, stride=3)
    assert heads.shape == (4, 9, 9)
    for h, part in enumerate([local, strided, local, strided]):
        assert torch.equal(heads[h], part)
    assert torch.equal(heads.any(0), attention_mask("strided", 9, stride=3))
    assert head_masks("causal", 5, 3).shape == (3, 5, 5)
    with pytest.raises(ValueError, match="multiple of 2"):
        head_masks("fixed", 9, 3)
    with pytest.raises(ValueError, match="pattern must be one of"):
        attention_mask("dilated", 9)


@pytest.mark.parametrize("pattern", ["strided", "fixed"])
def test_strided_and_fixed_reach_every_earlier_position_within_two_layers(pattern):
    for length, stride in [(16, 4), (49, 7), (50, 7), (30, 3), (28, 28), (12, 5)]:
        everything_earlier = torch.ones(length, length, dtype=torch.bool).tril()
        mask = attention_mask(pattern, length, stride)
        assert torch.equal(reachable(mask, 2), everything_earlier), (length, stride)
        assert torch.equal(reachable(mask, 1), everything_earlier) == (stride >= length), (length, stride)


def test_local_attention_reaches_layers_times_stride_minus_one_back():
    length, stride = 30, 4
    i, j = torch.arange(length)[:, None], torch.arange(length)[None, :]
    for num_layers in (1, 2, 3):
        expected = (j <= i) & (i - j <= num_layers * (stride - 1))
        assert torch.equal(reachable(attention_mask("local", length, stride), num_layers), expected)


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("num_layers", [1, 2])
def test_reachable_is_what_a_sparse_transformer_actually_depends_on(pattern, num_layers):
    # token t holds x_{t-1}: output i depends on value j exactly when token j + 1 reaches position i
    model = transformer(num_values=2, length=12, attention=pattern, stride=3, num_layers=num_layers)
    measured = dependency_matrix(model, (12,), 2, atol=1e-12)
    reach = reachable(attention_mask(pattern, 12, stride=3), num_layers)
    expected = torch.zeros(12, 12, dtype=torch.bool)
    expected[:, :-1] = reach[:, 1:]
    assert torch.equal(measured, expected)


# ----------------------------------------------------------------------------------------------
# the transformer: autoregressive, positions


IMAGE_MODELS = {
    "transformer-causal-learned": lambda: transformer(num_values=2, image_shape=(3, 3, 3), num_layers=1),
    "transformer-strided-row-column": lambda: transformer(num_values=2, image_shape=(3, 3, 3), attention="strided",
                                                          positions="row_column"),
    "transformer-fixed-sinusoidal": lambda: transformer(num_values=2, image_shape=(3, 3, 3), attention="fixed",
                                                        positions="sinusoidal", num_classes=2),
    "transformer-local": lambda: transformer(num_values=2, image_shape=(3, 3, 3), attention="local"),
    "pixelsnail-rgb": lambda: PixelSNAIL((3, 3, 3), 2, hidden_channels=24, num_blocks=1, layers_per_block=1,
                                         num_heads=2).double(),
}


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_every_attention_model_is_autoregressive_in_raster_and_colour_order(name):
    torch.manual_seed(0)
    model = IMAGE_MODELS[name]()
    condition = torch.zeros(1, dtype=torch.long) if getattr(model, "num_classes", None) else None
    outputs = lambda x: model(x, None if condition is None else condition.expand(len(x))).reshape(len(x), 27, -1)
    report = dependency_report(model, (3, 3, 3), 2, output_fn=outputs, atol=1e-12)
    report.assert_autoregressive()              # raster order over pixels, R before G before B inside a pixel
    if "local" not in name:
        report.assert_full_coverage()
    else:       # 2 layers of a window of 9 tokens (one row): tokens 10..26, the values 9..25 of 26 earlier ones
        assert int(report.unseen_counts()[-1]) == 26 - 17


def test_a_mask_that_shows_the_next_token_is_caught():
    model = transformer(num_values=2, image_shape=(3, 2, 2))
    model.mask = torch.ones_like(model.mask)     # every token may attend to every other one
    with pytest.raises(AssertionError, match="not autoregressive"):
        dependency_report(model, (3, 2, 2), 2).assert_autoregressive()


def run_blocks(model: Transformer, h: torch.Tensor, mask=None) -> torch.Tensor:
    for block in model.blocks:
        h = block(h, mask)
    return h


def test_without_positions_attention_is_permutation_equivariant():
    """Without positions or a mask, shuffling the tokens just shuffles the outputs: attention sees a
    set, not a sequence. Position encodings are what tell it the order."""
    x = torch.randint(0, 5, (3, 10), generator=generator(0))
    shuffle = torch.randperm(10, generator=generator(1))
    plain = transformer(positions=None)
    h = plain.input_features(x)
    torch.testing.assert_close(run_blocks(plain, h)[:, shuffle], run_blocks(plain, h[:, shuffle]), atol=1e-12, rtol=0)
    positioned = transformer(positions="learned")
    h, where = positioned.input_features(x), positioned.position_features(0, 10)
    gap = (run_blocks(positioned, h + where)[:, shuffle] - run_blocks(positioned, h[:, shuffle] + where)).abs().max()
    assert float(gap.detach()) > 1e-3, "with positions, shuffling the tokens must change more than their order"


def test_without_positions_a_one_layer_model_cannot_tell_the_order_of_the_past():
    """The next-value logits after 'a b c d' and 'c a b d' are the same without positions (one layer)."""
    x = torch.randint(0, 5, (4, 10), generator=generator(2))
    shuffled = x.clone()
    shuffled[:, :8] = x[:, torch.randperm(8, generator=generator(3))]      # x_0 .. x_7 reordered, x_8 kept
    for positions, same in ((None, True), ("learned", False), ("sinusoidal", False)):
        model = transformer(positions=positions, num_layers=1)
        last, last_shuffled = model(x)[:, -1], model(shuffled)[:, -1]       # p(x_9 | x_0 .. x_8)
        assert torch.allclose(last, last_shuffled, atol=1e-12) == same, positions


def test_sinusoidal_and_row_column_positions():
    table = sinusoidal_positions(50, 8)
    t, i = 13, 2
    assert abs(float(table[t, 2 * i]) - torch.sin(torch.tensor(t / 10000 ** (2 * i / 8))).item()) < 1e-6
    assert abs(float(table[t, 2 * i + 1]) - torch.cos(torch.tensor(t / 10000 ** (2 * i / 8))).item()) < 1e-6
    model = transformer(num_values=2, image_shape=(3, 2, 2), positions="row_column")
    where = model.position_features(0, 12)                                  # tokens: pixel by pixel, R G B
    red = model.channel_embedding.weight[0]
    torch.testing.assert_close(where[0] - red, where[1] - model.channel_embedding.weight[1])   # same pixel
    torch.testing.assert_close(where[3] - where[0], model.column_embedding.weight[1] - model.column_embedding.weight[0])
    torch.testing.assert_close(where[6] - where[0], model.row_embedding.weight[1] - model.row_embedding.weight[0])


def test_transformer_rejects_bad_options_with_clear_errors():
    with pytest.raises(ValueError, match="exactly one of length"):
        Transformer(5)
    with pytest.raises(ValueError, match="exactly one of length"):
        Transformer(5, length=4, image_shape=(1, 2, 2))
    with pytest.raises(ValueError, match="row_column' is for images"):
        Transformer(5, length=4, positions="row_column")
    with pytest.raises(ValueError, match="positions must be one of"):
        Transformer(5, length=4, positions="rotary")
    with pytest.raises(ValueError, match="must be even"):
        Transformer(5, length=4, d_model=9, num_heads=1, positions="sinusoidal")
    with pytest.raises(ValueError, match="image_shape must be"):
        Transformer(2, image_shape=(28, 28))
    with pytest.raises(ValueError, match="this model is class-conditional"):
        transformer(num_classes=3)(torch.zeros(2, 10, dtype=torch.long))


# ----------------------------------------------------------------------------------------------
# the KV cache: proven equal to the full forward pass


CACHE_CASES = {
    "causal-learned": dict(),
    "local": dict(attention="local", stride=3),
    "strided": dict(attention="strided", stride=3, num_heads=4),
    "fixed": dict(attention="fixed", stride=3),
    "no-positions": dict(positions=None),
    "sinusoidal-conditional": dict(positions="sinusoidal", num_classes=3),
    "rgb-image-strided-row-column": dict(num_values=4, image_shape=(3, 2, 2), attention="strided",
                                         positions="row_column"),
    "fused-fixed": dict(attention="fixed", stride=4, fused=True),
}


def case_inputs(model: Transformer, n: int = 3, seed: int = 0):
    x = torch.randint(0, model.num_values, (n, *model.event_shape), generator=generator(seed))
    return x, (torch.arange(n) % model.num_classes if model.num_classes else None)


def cached_logits(model: Transformer, x, condition, prefix_length: int, chunk: int = 1) -> torch.Tensor:
    """(n, T, K) in generation order from the KV cache: prefill the first prefix_length positions in
    one pass, then the rest `chunk` positions at a time (chunk=1: cached_step, what sample does)."""
    cache = model.start_cache(len(x), condition)
    pieces = [model.prefill(x, prefix_length, cache)] if prefix_length else []
    while cache["length"] < model.context_length:
        count = min(chunk, model.context_length - cache["length"])
        if count == 1:
            pieces.append(model.cached_step(x, cache["length"], cache)[:, None])
        else:
            pieces.append(model.prefill(x, count, cache))
    return torch.cat(pieces, dim=1)


def cache_errors(model: Transformer, seed: int = 0) -> dict:
    """The largest |cached - full| logit for every (prefix length, chunk): chunk 1 (then one step at
    a time) and chunk T (then the rest in one pass, the queries in the middle of the keys)."""
    x, condition = case_inputs(model, seed=seed)
    with torch.no_grad():
        full = model(x, condition).reshape(len(x), -1, model.num_values)[:, model.order]
        return {(prefix_length, chunk): float((cached_logits(model, x, condition, prefix_length, chunk) - full).abs().max())
                for prefix_length in range(model.context_length) for chunk in (1, model.context_length)}


@pytest.mark.parametrize("name", CACHE_CASES)
def test_cached_logits_equal_the_full_forward_for_every_prefix_length(name):
    model = transformer(**CACHE_CASES[name])
    errors = cache_errors(model)
    assert len(errors) == 2 * model.context_length
    worst = max(errors, key=errors.get)
    assert errors[worst] < TIGHT, f"prefix length {worst[0]}, chunk {worst[1]}: {errors[worst]:.2g}"


def sharpened(model: Transformer, factor: float = 5.0) -> Transformer:
    """Sharper logits, so that a wrong cache changes the draws (near-uniform ones would hide it)."""
    with torch.no_grad():
        model.head.weight.mul_(factor)
    return model


@pytest.mark.parametrize("name", CACHE_CASES)
def test_cached_and_naive_samples_are_identical(name):
    model = sharpened(transformer(double=False, **CACHE_CASES[name]))      # float32, as models are used
    length = model.context_length
    prefix = torch.randint(0, model.num_values, (4, length), generator=generator(9))
    for seed, given in enumerate([0, 1, length // 2, length - 1]):
        condition = 1 if model.num_classes else None
        options = dict(condition=condition, prefix=prefix[:, :given] if given else None)
        cached = sample(model, 4, generator=generator(seed), **options)
        assert torch.equal(cached, sample(model, 4, generator=generator(seed), cached=False, **options)), seed
        assert torch.equal(cached, sample(model, 4, generator=generator(seed), **options)), "a stale cache"


class PositionOffsetBug(Transformer):
    """A cache bug: every step embeds its token as if at position 0 of what it computes (the offset
    `first` is forgotten). forward (first = 0) is unaffected."""

    def position_features(self, first, count):
        return super().position_features(0, count)


class TopLeftPrefillMask(Transformer):
    """A cache bug: a prefill of several positions takes the first rows of the mask (aligned to the
    top-left) instead of the last rows (aligned to the end of the keys). Single steps are right."""

    def query_mask(self, first, count):
        return super().query_mask(first, count) if count == 1 else self.mask[:, :count, :first + count]


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_a_position_offset_bug_is_caught(positions):
    buggy = transformer(cls=PositionOffsetBug, positions=positions)
    errors = cache_errors(buggy)
    caught = {key for key, error in errors.items() if error > 1e-3}
    # everything but one pass over the whole sequence from position 0 (which is forward) shows the bug
    assert caught == set(errors) - {(0, buggy.context_length)}, "the check misses the offset bug"
    assert max(cache_errors(transformer(positions=positions)).values()) < TIGHT   # the same weights, right code
    buggy = sharpened(transformer(cls=PositionOffsetBug, positions=positions, double=False))
    assert any(not torch.equal(sample(buggy, 8, generator=generator(s)), sample(buggy, 8, generator=generator(s), cached=False))
               for s in range(3)), "the sample check misses the offset bug"


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_top_left_prefill_mask_is_caught(pattern):
    # sample() steps through a prefix one position at a time, so only a prefill that starts after
    # cached positions (chunk T, prefix length >= 1) sees the bug, and the check must catch it there
    buggy = transformer(cls=TopLeftPrefillMask, attention=pattern, stride=3)
    errors = cache_errors(buggy)
    caught = {prefix_length for (prefix_length, chunk), error in errors.items() if error > 1e-3}
    assert caught == set(range(1, buggy.context_length - 1)), "the check misses the top-left prefill mask"
    assert max(cache_errors(transformer(attention=pattern, stride=3)).values()) < TIGHT


def test_a_cache_is_used_once_and_holds_the_context_at_most():
    model = transformer(double=False)
    x, _ = case_inputs(model)
    cache = model.start_cache(3)
    for step in range(4):
        model.cached_step(x, step, cache)
    with pytest.raises(ValueError, match="fresh cache"):
        model.cached_step(x, 0, cache)                       # a cache left over from an earlier run
    with pytest.raises(ValueError, match="do not fit"):
        model.prefill(x, 7, cache)                           # 4 + 7 > 10 positions
    layer = KeyValueCache(1, 2, 3, 4, torch.zeros(1))
    layer.append(torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 4))
    with pytest.raises(ValueError, match="at most 3 positions"):
        layer.append(torch.zeros(1, 2, 1, 4), torch.zeros(1, 2, 1, 4))


def test_the_context_limit():
    """A sequence model knows `length` positions: it generates up to that many and refuses more."""
    model = transformer(double=False)
    full = sample(model, 3, generator=generator(0))
    first = sample(model, 3, length=6, generator=generator(0))
    assert full.shape == (3, 10) and torch.equal(first, full[:, :6])            # fewer positions: the same draws
    torch.testing.assert_close(model(full[:, :6]), model(full)[:, :6])          # forward takes D <= length
    for cached in (True, False):
        with pytest.raises(ValueError, match="context is length=10"):
            sample(model, 3, length=11, cached=cached)
    with pytest.raises(ValueError, match="context is length=10"):
        model(torch.zeros(2, 11, dtype=torch.long))


# ----------------------------------------------------------------------------------------------
# PixelSNAIL: convolutions + attention over all earlier pixels


def test_pixelsnail_sees_every_earlier_pixel_where_the_gated_pixelcnn_does_not():
    torch.manual_seed(0)
    snail = PixelSNAIL((1, 8, 8), 2, hidden_channels=16, num_blocks=1, layers_per_block=2, num_heads=2).double()
    gated = GatedPixelCNN((1, 8, 8), 2, 16, num_layers=2, kernel_size=3).double()
    snail_report = dependency_report(snail, (1, 8, 8), 2, atol=1e-12)
    gated_report = dependency_report(gated, (1, 8, 8), 2, atol=1e-12)
    for report in (snail_report, gated_report):
        report.assert_autoregressive()
    snail_report.assert_full_coverage()
    # two gated layers with 3x3 kernels see two rows up and a few pixels to the left, no more
    assert int(gated_report.unseen_counts()[-1]) > 40 and int(gated_report.unseen_counts().sum()) > 1000
    without_attention = PixelSNAIL((1, 8, 8), 2, hidden_channels=16, num_blocks=1, layers_per_block=2,
                                   num_heads=2).double()
    without_attention.load_state_dict(snail.state_dict())
    without_attention.mask = torch.zeros_like(snail.mask)
    without_attention.mask[:, 0] = True                      # every pixel attends to the zero key only
    blind = dependency_report(without_attention, (1, 8, 8), 2, atol=1e-12)
    assert torch.equal(blind.dep, gated_report.dep), "without attention, PixelSNAIL sees what its convolutions see"


def test_a_pixelsnail_attending_to_its_own_pixel_is_caught():
    torch.manual_seed(0)
    model = PixelSNAIL((3, 2, 2), 2, hidden_channels=24, num_blocks=1, layers_per_block=1, num_heads=2).double()
    dependency_report(model, (3, 2, 2), 2, atol=1e-12).assert_autoregressive()
    model.mask = torch.ones_like(model.mask)                 # the shifted keys of pixel i + 1 hold pixel i
    with pytest.raises(AssertionError, match="not autoregressive"):
        dependency_report(model, (3, 2, 2), 2, atol=1e-12).assert_autoregressive()


def test_pixelsnail_seam_and_probabilities():
    torch.manual_seed(0)
    model = PixelSNAIL((1, 2, 2), 3, hidden_channels=8, num_blocks=2, layers_per_block=1, num_heads=2, num_classes=2)
    x = torch.tensor(list(itertools.product(range(3), repeat=4))).reshape(-1, 1, 2, 2)
    condition = torch.ones(len(x), dtype=torch.long)
    torch.testing.assert_close(model.forward_features(model.input_features(x), condition), model(x, condition))
    with torch.no_grad():
        assert abs(float(model.log_prob(x, condition).double().exp().sum()) - 1) < 1e-5
