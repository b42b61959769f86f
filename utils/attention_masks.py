"""Which earlier positions a query may attend to: causal and sparse attention masks, and how far
information travels through a stack of masked attention layers.

Convention: a mask is a bool tensor (T_queries, T_keys) with mask[i, j] True when query i MAY
attend to key j. Every pattern here is causal (j <= i) and lets a position attend to itself, so no
query is left with nothing to attend to.

The patterns of the Sparse Transformer (Child et al., 2019), with a stride l (about sqrt(T), or one
row of an image):

    causal   every earlier position                                  j <= i
    local    the last l positions                                    i - l < j <= i
    strided  head part 1: local; head part 2: every l-th position back   (i - j) % l == 0
    fixed    head part 1: the same block of l; head part 2: the last position of every block
             ("summary" positions, j % l == l - 1) and itself

A sparse pattern gives each attention head one part (`head_masks`); a layer's connectivity is the
union over its heads (`attention_mask`). `reachable(mask, L)` says which positions can reach which
after L layers: strided and fixed reach every earlier position within two layers, local reaches
L * (l - 1) positions back.

    >>> attention_mask("strided", 9, stride=3).int()   # (9, 9) 0/1
    >>> reachable(attention_mask("fixed", 16, stride=4), 2).tril().all()   # tensor(True)
"""
import math

import torch

from .validation import check_positive_int

PATTERNS = ("causal", "local", "strided", "fixed")


def default_stride(length: int) -> int:
    """ceil(sqrt(T)): the stride for which strided and fixed attention cost O(T sqrt(T))."""
    return math.isqrt(check_positive_int(length, "length") - 1) + 1


def pattern_parts(pattern: str, length: int, stride: int | None = None) -> torch.Tensor:
    """The parts of a pattern, (parts, T, T) bool: one part for causal and local, two for strided and fixed.

    stride: l (default ceil(sqrt(T))); ignored by "causal".
    """
    if pattern not in PATTERNS:
        raise ValueError(f"pattern must be one of {PATTERNS}, got {pattern!r}")
    check_positive_int(length, "length")
    stride = default_stride(length) if stride is None else check_positive_int(stride, "stride")
    i = torch.arange(length)[:, None]                  # query positions, as a column
    j = torch.arange(length)[None, :]                  # key positions, as a row
    causal = j <= i
    local = causal & (i - j < stride)
    parts = {
        "causal": [causal],
        "local": [local],
        "strided": [local, causal & ((i - j) % stride == 0)],
        "fixed": [causal & (j // stride == i // stride), causal & ((j % stride == stride - 1) | (j == i))],
    }[pattern]
    return torch.stack(parts)


def attention_mask(pattern: str, length: int, stride: int | None = None) -> torch.Tensor:
    """(T, T) bool, True = may attend: the union of the pattern's parts (what one layer connects)."""
    return pattern_parts(pattern, length, stride).any(0)


def head_masks(pattern: str, length: int, num_heads: int, stride: int | None = None) -> torch.Tensor:
    """(num_heads, T, T) bool: head h gets part h % parts of the pattern (heads 0, 2, ... local and
    1, 3, ... strided, for example). num_heads must be a multiple of the number of parts."""
    parts = pattern_parts(pattern, length, stride)
    check_positive_int(num_heads, "num_heads")
    if num_heads % len(parts):
        raise ValueError(f"the {pattern!r} pattern has {len(parts)} parts, one per head: num_heads must be a "
                         f"multiple of {len(parts)}, got {num_heads}")
    return parts.repeat(num_heads // len(parts), 1, 1)


def reachable(mask: torch.Tensor, num_layers: int) -> torch.Tensor:
    """(T, T) bool: reach[i, j] True when position j can influence position i through num_layers
    attention layers with this mask ((T, T), or (heads, T, T): the union over heads is used).

    One layer moves information along one edge of the mask; the residual connections keep what a
    position already had, so reach_L = mask o reach_(L-1) (o: boolean matrix product), reach_0 = I.
    """
    check_positive_int(num_layers, "num_layers")
    edges = (mask.any(0) if mask.dim() == 3 else mask).float()
    reach = torch.eye(len(edges))
    for _ in range(num_layers):
        reach = ((edges + torch.eye(len(edges))).clamp(max=1) @ reach > 0).float()
    return reach.bool()
