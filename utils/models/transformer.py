"""A decoder-only transformer over sequences (characters) and raster-scanned images (sub-pixels).

    values in generation order x_0 ... x_{T-1} --shift right, START first--> tokens (N, T)
        -> token embedding + position encoding [+ class embedding]            (N, T, d)
        -> num_layers pre-norm blocks: h + attention(norm(h)); h + mlp(norm(h))
        -> norm -> linear -> logits (N, T, K)

Token t holds x_{t-1} and attention lets token t read tokens <= t only (the causal mask, or a
sparse pattern of utils.attention_masks), so output t never sees x_t: the model is autoregressive.
Images are sequences of sub-pixels in the course's generation order (utils.ordering): raster order
over pixels and R, G, B of a pixel in turn, so a 3 x 28 x 28 image is 2352 tokens.

Positions: attention ignores order (unmasked attention layers are permutation-equivariant), so
each token gets a position encoding added (the constructor's `positions`):
    "learned"     a trained vector per position (a table of T rows)
    "sinusoidal"  fixed sin/cos of the position at geometric frequencies (Vaswani et al., 2017)
    "row_column"  images only: learned vectors of the row, the column and the colour channel of
                  the sub-pixel, added together
    None          no positions (to see what goes wrong)
Class conditioning (num_classes): a learned class embedding, a linear map of the one-hot label,
added to every token.

Context limit: the model knows T positions, T = length (sequences) or C*H*W (images): its position
table and its mask have T rows. forward takes sequences of D <= length values; generating beyond
the context (sample(model, n, length=length + 1)) raises a ValueError.

KV cache (start_cache / cached_step, used by utils.sampling.sample; prefill for several positions
at once): every layer keeps the keys and values of the positions seen so far (KeyValueCache). A
step embeds one token at its own position (the offset = the step), computes its query, key and
value, and attends to the stored keys through its row of the mask. It gives forward's logits up to
rounding (the tests: float64, every pattern, every prefix length, tolerance 1e-10).
"""
import math

import torch
from torch import nn

from ..attention_masks import default_stride, head_masks
from ..ordering import generation_order, generation_rank
from ..sampling import categorical_log_prob
from ..validation import check_discrete, check_positive_int, check_same_device
from .attention import KeyValueCache, MultiHeadAttention
from .conditioning import one_hot_condition
from .image_layers import check_image_shape

POSITIONS = ("learned", "sinusoidal", "row_column", None)


def sinusoidal_positions(length: int, d_model: int) -> torch.Tensor:
    """(T, d) fixed encodings: PE[t, 2i] = sin(t w_i), PE[t, 2i+1] = cos(t w_i), w_i = 10000^(-2i/d)."""
    if d_model % 2:
        raise ValueError(f"sinusoidal positions pair a sin and a cos: d_model must be even, got {d_model}")
    angles = torch.arange(length, dtype=torch.float64)[:, None] * 10000.0 ** (-torch.arange(0, d_model, 2) / d_model)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1).float()


class TransformerBlock(nn.Module):
    """Pre-norm block: h + attention(norm(h)), then h + mlp(norm(h)); (N, P, d) -> (N, P, d)."""

    def __init__(self, d_model: int, num_heads: int, mlp_size: int, fused: bool = False):
        super().__init__()
        self.attention_norm = nn.LayerNorm(d_model)
        self.attention = MultiHeadAttention(d_model, num_heads, fused=fused)
        self.mlp_norm = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, mlp_size), nn.GELU(), nn.Linear(mlp_size, d_model))

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None, cache: KeyValueCache | None = None):
        h = h + self.attention(self.attention_norm(h), mask, cache=cache)
        return h + self.mlp(self.mlp_norm(h))


class Transformer(nn.Module):
    """p(x) = prod_t p(x_t | x_<t) with masked self-attention over the earlier values.

    num_values:  K; index K is the START token.
    length:      sequences: the event shape (length,) and the context (forward takes D <= length).
    image_shape: images (C, H, W) instead: the event shape; C*H*W sub-pixel tokens.
    d_model, num_heads, num_layers, mlp_size (default 4 d_model): the sizes of the blocks.
    positions:   "learned", "sinusoidal", "row_column" (images) or None (see the module docstring).
    attention:   "causal" (every earlier token) or a sparse pattern "local", "strided", "fixed", one
                 part per head (utils.attention_masks); stride: the pattern's l (default: one image
                 row of tokens, C*W, or ceil(sqrt(length)) for sequences).
    num_classes: class-conditional: a learned class embedding is added to every token, and every
                 call needs `condition` (class labels (N,)).
    fused:       attention by F.scaled_dot_product_attention (same numbers, faster).
    forward: x (N, D) or (N, C, H, W) long -> logits (N, D, K) or (N, C, H, W, K).
    log_prob: x -> (N,) nats.  start_cache / cached_step / prefill: generation with a KV cache.
    input_features / forward_features: logits as a function of the token embeddings (gradient pictures).
    """

    def __init__(self, num_values: int, *, length: int | None = None, image_shape=None, d_model: int = 64,
                 num_heads: int = 4, num_layers: int = 2, mlp_size: int | None = None,
                 positions: str | None = "learned", attention: str = "causal", stride: int | None = None,
                 num_classes: int | None = None, fused: bool = False):
        super().__init__()
        self.num_values = check_positive_int(num_values, "num_values")
        self.start_token = num_values
        if (length is None) == (image_shape is None):
            raise ValueError("build the transformer with exactly one of length=... (sequences) or "
                             "image_shape=(C, H, W) (images)")
        if image_shape is None:
            self.length = self.context_length = check_positive_int(length, "length")
            self.image_shape = None
        else:
            self.image_shape = check_image_shape(image_shape)
            self.context_length = math.prod(self.image_shape)
        if positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}, got {positions!r}")
        if positions == "row_column" and image_shape is None:
            raise ValueError("positions='row_column' is for images: build with image_shape=(C, H, W)")
        self.positions, self.attention_pattern = positions, attention
        self.d_model, self.num_heads = check_positive_int(d_model, "d_model"), num_heads
        self.num_classes = None if num_classes is None else check_positive_int(num_classes, "num_classes")
        check_positive_int(num_layers, "num_layers")
        mlp_size = check_positive_int(mlp_size or 4 * d_model, "mlp_size")
        context = self.context_length
        order = generation_order(self.event_shape)
        self.register_buffer("order", order, persistent=False)           # token t predicts flat position order[t]
        self.register_buffer("rank", generation_rank(self.event_shape), persistent=False)
        if stride is None:
            stride = self.image_shape[0] * self.image_shape[2] if image_shape else default_stride(context)
        self.stride = stride
        self.register_buffer("mask", head_masks(attention, context, num_heads, stride), persistent=False)

        self.token_embedding = nn.Embedding(num_values + 1, d_model)
        if positions == "learned":
            self.position_table = nn.Embedding(context, d_model)
        elif positions == "sinusoidal":
            self.register_buffer("sinusoids", sinusoidal_positions(context, d_model), persistent=False)
        elif positions == "row_column":
            channels, height, width = self.image_shape
            self.channel_embedding = nn.Embedding(channels, d_model)
            self.row_embedding = nn.Embedding(height, d_model)
            self.column_embedding = nn.Embedding(width, d_model)
            for name, index in (("token_channel", order // (height * width)), ("token_row", order // width % height),
                                ("token_column", order % width)):
                self.register_buffer(name, index, persistent=False)
        self.class_embedding = nn.Linear(num_classes, d_model, bias=False) if num_classes else None
        self.blocks = nn.ModuleList(TransformerBlock(d_model, num_heads, mlp_size, fused) for _ in range(num_layers))
        self.final_norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_values)

    @property
    def event_shape(self) -> tuple:
        return self.image_shape or (self.length,)

    # ------------------------------------------------------------------------------------------
    # the pieces that forward and the cached steps share

    def position_features(self, first: int, count: int):
        """(count, d) encodings of positions first, ..., first + count - 1 (0 without positions)."""
        steps = slice(first, first + count)
        if self.positions == "learned":
            return self.position_table.weight[steps]
        if self.positions == "sinusoidal":
            return self.sinusoids[steps]
        if self.positions == "row_column":
            return (self.channel_embedding(self.token_channel[steps]) + self.row_embedding(self.token_row[steps])
                    + self.column_embedding(self.token_column[steps]))
        return 0

    def query_mask(self, first: int, count: int) -> torch.Tensor:
        """(heads, count, first + count): the mask rows of positions first, ..., first + count - 1.

        The keys are positions 0, ..., first + count - 1 (the cached ones, then the new ones) and the
        queries are the LAST count of them: the rows are aligned to the end of the keys. (Rows
        0, ..., count - 1 would be the mask of the first positions: a classic prefill bug.)
        """
        return self.mask[:, first:first + count, :first + count]

    def previous_values(self, x: torch.Tensor, first: int, stop: int) -> torch.Tensor:
        """The tokens of positions first, ..., stop - 1: the value before each in generation order
        (START before position 0), (N, stop - first) long, from x (N, D) or (N, C, H, W)."""
        flat = x.reshape(len(x), -1)
        previous = flat[:, self.order[max(first - 1, 0):stop - 1]]
        if first == 0:
            previous = torch.cat([torch.full_like(flat[:, :1], self.start_token), previous], dim=1)
        return previous

    def logits_of_tokens(self, token_features: torch.Tensor, first: int, one_hot: torch.Tensor | None,
                         caches: list | None = None) -> torch.Tensor:
        """Token embeddings (N, P, d) of positions first, ..., first + P - 1 -> logits (N, P, K).

        caches: one KeyValueCache per block holding positions 0, ..., first - 1 (None: first = 0,
        every key is among these P tokens).
        """
        count = token_features.shape[1]
        h = token_features + self.position_features(first, count)
        if self.class_embedding is not None:
            h = h + self.class_embedding(one_hot)[:, None, :]
        mask = self.query_mask(first, count)
        for block, cache in zip(self.blocks, caches or [None] * len(self.blocks)):
            h = block(h, mask, cache)
        return self.head(self.final_norm(h))

    def _check_input(self, x: torch.Tensor) -> int:
        """Check x (N, D) or (N, C, H, W) against the model and its context; return D."""
        if self.image_shape:
            check_discrete(x, self.num_values, shape=self.image_shape)
        else:
            check_discrete(x, self.num_values, ndim=2)
            if not 0 < x.shape[1] <= self.context_length:
                raise ValueError(f"the transformer's context is length={self.context_length} positions (its "
                                 f"position table and mask), got sequences of {x.shape[1]}")
        check_same_device(self, x)
        return x[0].numel()

    # ------------------------------------------------------------------------------------------
    # the distribution

    def input_features(self, x: torch.Tensor) -> torch.Tensor:
        """x -> (N, D, d): the embeddings of the tokens START, x_0, ..., x_{D-2} (generation order)."""
        return self.token_embedding(self.previous_values(x, 0, self._check_input(x)))

    def forward_features(self, features: torch.Tensor, condition=None) -> torch.Tensor:
        """Logits in the layout of x, (N, D, K) or (N, C, H, W, K), as a differentiable function of
        the token embeddings (N, D, d). forward(x) is forward_features(input_features(x))."""
        one_hot = one_hot_condition(condition, self.num_classes, len(features), features.dtype, features.device)
        logits = self.logits_of_tokens(features, 0, one_hot)                # (N, D, K), generation order
        if self.image_shape:
            return logits[:, self.rank].reshape(len(features), *self.image_shape, self.num_values)
        return logits

    def forward(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        return self.forward_features(self.input_features(x), condition)

    def log_prob(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        return categorical_log_prob(self(x, condition), x)

    # ------------------------------------------------------------------------------------------
    # generation with a KV cache

    def start_cache(self, n: int, condition=None) -> dict:
        """An empty cache for n sequences: one KeyValueCache per block (capacity: the context), the
        number of positions done, and the one-hot condition."""
        like = self.head.weight
        return {"layers": [KeyValueCache(n, self.num_heads, self.context_length, self.d_model // self.num_heads, like)
                           for _ in self.blocks],
                "length": 0,
                "one_hot": one_hot_condition(condition, self.num_classes, n, like.dtype, like.device)}

    def prefill(self, x: torch.Tensor, count: int, cache: dict, condition=None) -> torch.Tensor:
        """Logits (n, count, K) of the next `count` positions in generation order, in one pass.

        x (n, ...) holds the values before them; the cache grows by `count` positions. The condition
        is the one given to start_cache (this argument is ignored).
        """
        first, stop = cache["length"], cache["length"] + check_positive_int(count, "count")
        available = self._check_input(x) if first == 0 else x[0].numel()
        if stop > min(available, self.context_length):
            raise ValueError(f"positions {first}..{stop - 1} do not fit: x holds {available} positions and the "
                             f"transformer's context is {self.context_length}")
        features = self.token_embedding(self.previous_values(x, first, stop))
        logits = self.logits_of_tokens(features, first, cache["one_hot"], cache["layers"])
        cache["length"] = stop
        return logits

    def cached_step(self, x: torch.Tensor, step: int, cache: dict, condition=None) -> torch.Tensor:
        """Logits (n, K) of position `step` (generation order), the keys and values before it cached."""
        if step != cache["length"]:
            raise ValueError(f"this cache holds {cache['length']} positions, so its next step is {cache['length']}, "
                             f"not {step}: every sampling run needs a fresh cache (start_cache)")
        return self.prefill(x, 1, cache)[:, 0]
