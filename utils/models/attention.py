"""Self-attention from its primitives, and the key/value cache that makes generation fast.

    scores  = q k^T / sqrt(d)                   how well each query matches each key, (..., P, S)
    scores  = -inf where the mask is False      mask (P, S) bool, True = may attend (utils.attention_masks)
    weights = softmax(scores) over the keys     each row sums to 1 (max subtracted first: no overflow)
    output  = weights v                         a weighted average of the values, (..., P, d_v)

Dividing by sqrt(d) keeps the scores of random d-dimensional vectors at unit scale, so the softmax
does not saturate as d grows. `MultiHeadAttention` runs h such attentions side by side on d/h
dimensions each ("heads"), each head with its own mask if one is given per head. With fused=True it
calls torch.nn.functional.scaled_dot_product_attention instead (same mask convention, same numbers
up to rounding; faster and lighter on memory).

Generation with a KV cache: the keys and values of position j never change once x_j is known, so
a transformer keeps them (`KeyValueCache`) and each new position computes only its own query, key
and value and attends to everything stored so far. The queries of the new positions are the LAST
rows of the square mask, aligned to the end of the keys (see Transformer.query_mask).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import check_positive_int


def softmax(scores: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """exp(s - max s) / sum exp(s - max s): the softmax, without overflow for large scores.

    Subtracting the row maximum changes nothing mathematically (it cancels) but keeps exp <= 1.
    Entries of -inf (masked) get weight 0; every row needs at least one finite entry.
    """
    shifted = scores - scores.amax(dim, keepdim=True)
    weights = shifted.exp()
    return weights / weights.sum(dim, keepdim=True)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Scaled dot-product attention: q (..., P, d), k (..., S, d), v (..., S, d_v) -> (..., P, d_v).

    mask: bool, broadcastable to (..., P, S), True = query i may attend to key j; None = every key.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return softmax(scores) @ v


class KeyValueCache:
    """One attention layer's keys and values of the positions seen so far, for fast generation.

    keys, values: (n, heads, capacity, head_size), the first `length` positions filled. The capacity
    is the model's context: appending beyond it is an error, not a silent overwrite.
    """

    def __init__(self, n: int, num_heads: int, capacity: int, head_size: int, like: torch.Tensor):
        self.keys = like.new_zeros(n, num_heads, capacity, head_size)
        self.values = like.new_zeros(n, num_heads, capacity, head_size)
        self.length = 0

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v (n, heads, P, head_size) after the stored ones; return all keys and values so
        far, (n, heads, length + P, head_size) each."""
        stop = self.length + k.shape[2]
        if stop > self.keys.shape[2]:
            raise ValueError(f"the cache holds at most {self.keys.shape[2]} positions (the model's context); "
                             f"{self.length} are stored and {k.shape[2]} more do not fit")
        self.keys[:, :, self.length:stop] = k
        self.values[:, :, self.length:stop] = v
        self.length = stop
        return self.keys[:, :, :stop], self.values[:, :, :stop]


class MultiHeadAttention(nn.Module):
    """Multi-head attention: queries from one sequence, keys and values from another (by default
    the same one: self-attention).

    d_model: the width of the output and of the queries, keys and values (split over num_heads).
    query_input_size, key_input_size: the widths of what queries and keys/values are computed
        from (default d_model).
    fused: use F.scaled_dot_product_attention instead of `attention` (the same numbers up to rounding).
    forward: queries_from (N, P, query_input_size) -> (N, P, d_model).
    """

    def __init__(self, d_model: int, num_heads: int, *, query_input_size: int | None = None,
                 key_input_size: int | None = None, fused: bool = False):
        super().__init__()
        check_positive_int(d_model, "d_model")
        if d_model % check_positive_int(num_heads, "num_heads"):
            raise ValueError(f"d_model={d_model} must be a multiple of num_heads={num_heads}")
        self.num_heads, self.head_size, self.fused = num_heads, d_model // num_heads, fused
        self.query = nn.Linear(query_input_size or d_model, d_model)
        self.key_value = nn.Linear(key_input_size or d_model, 2 * d_model)
        self.output = nn.Linear(d_model, d_model)

    def split_heads(self, h: torch.Tensor) -> torch.Tensor:
        """(N, P, d_model) -> (N, heads, P, head_size)."""
        return h.unflatten(-1, (self.num_heads, self.head_size)).transpose(1, 2)

    def forward(self, queries_from: torch.Tensor, mask: torch.Tensor | None = None,
                keys_from: torch.Tensor | None = None, cache: KeyValueCache | None = None) -> torch.Tensor:
        """queries_from (N, P, .) -> (N, P, d_model).

        mask: (P, S) or (heads, P, S) bool, True = may attend; None = every key. S counts the keys:
              those of keys_from, plus the cached ones.
        keys_from: (N, S, key_input_size), what keys and values are computed from (default queries_from).
        cache: a KeyValueCache: the new keys and values are appended to it and the queries attend
               to every position stored so far.
        """
        q = self.split_heads(self.query(queries_from))
        k, v = map(self.split_heads, self.key_value(queries_from if keys_from is None else keys_from).chunk(2, -1))
        if cache is not None:
            k, v = cache.append(k, v)
        if self.fused:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            out = attention(q, k, v, mask)
        return self.output(out.transpose(1, 2).flatten(2))         # (N, P, d_model)
