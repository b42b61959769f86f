"""NADE: one hidden layer whose input weights are shared by all D conditionals.

    a_i = c + sum_{j<i} W[:, j] x_j        (H,)   hidden pre-activation for position i
    h_i = sigmoid(a_i)
    p(x_i = 1 | x_<i) = sigmoid(b_i + V_i . h_i)

"j < i" means "j comes earlier in the generation order". Because every conditional uses the same W,
a_i is a running sum: a_{next} = a_i + W[:, i] x_i. So all D hidden vectors come from one cumulative
sum (O(D H) per example instead of O(D^2 H)), and sampling updates a single hidden vector.

K > 2 values: x_j enters as a one-hot vector, so "W[:, j] x_j" picks the column W[:, j, x_j], and
each conditional is a softmax over K logits b_i + V_i h_i with V_i of shape (K, H).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..ordering import generation_order, generation_rank
from .conditioning import no_condition
from ..validation import check_discrete, check_positive_int, check_same_device
from .outputs import encode_values, numbers_per_position, output_log_prob, output_logits


class NADE(nn.Module):
    """Neural autoregressive distribution estimator with shared input weights.

    num_inputs: D.  hidden_size: H.  num_values: K >= 2.
    ordering:   the positions in the order they are generated; None means 0, 1, ..., D-1.
    Parameters: W (H, D, P), c (H,), V (D, P, H), b (D, P) with P = 1 for K = 2 and P = K otherwise.
    forward: x (N, D) long -> logits (N, D, K).  log_prob: x (N, D) -> (N,) nats.
    cached_step: one position at a time, updating the hidden pre-activation a += W[:, j] x_j (what
    utils.sampling.sample uses: O(H) per position instead of a whole forward pass).
    """

    def __init__(self, num_inputs: int, hidden_size: int, num_values: int = 2, ordering=None):
        super().__init__()
        self.num_inputs = check_positive_int(num_inputs, "num_inputs")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.num_values = check_positive_int(num_values, "num_values")
        if num_values < 2:
            raise ValueError(f"num_values must be at least 2, got {num_values}")
        self.event_shape = (num_inputs,)
        per_position = numbers_per_position(num_values)
        in_bound, out_bound = 1 / math.sqrt(num_inputs), 1 / math.sqrt(hidden_size)
        self.W = nn.Parameter(torch.empty(hidden_size, num_inputs, per_position).uniform_(-in_bound, in_bound))
        self.c = nn.Parameter(torch.zeros(hidden_size))
        self.V = nn.Parameter(torch.empty(num_inputs, per_position, hidden_size).uniform_(-out_bound, out_bound))
        self.b = nn.Parameter(torch.zeros(num_inputs, per_position))
        self.register_buffer("ordering", generation_order(self.event_shape, ordering))   # positions in generation order
        self.register_buffer("rank", generation_rank(self.event_shape, ordering))        # step of each position

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, D) long -> (N, D, P) numbers per position (see module docs)."""
        check_discrete(x, self.num_values, shape=self.event_shape)
        check_same_device(self, x)
        # work in generation order: column t is the position drawn at step t
        step_inputs = encode_values(x[:, self.ordering], self.num_values, self.W.dtype)   # (N, D, P)
        step_weights = self.W[:, self.ordering]                                         # (H, D, P)
        adds = torch.einsum("ndp,hdp->ndh", step_inputs, step_weights)                  # step t adds W[:, j] x_j
        before = F.pad(torch.cumsum(adds, dim=1)[:, :-1], (0, 0, 1, 0))                 # sum over steps < t
        h = torch.sigmoid(self.c + before)                                              # (N, D, H)
        out = torch.einsum("ndh,dph->ndp", h, self.V[self.ordering]) + self.b[self.ordering]
        return out[:, self.rank]                                                        # back to position layout

    def forward(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        no_condition(condition)
        return output_logits(self.outputs(x), self.num_values)

    def log_prob(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        no_condition(condition)
        return output_log_prob(self.outputs(x), x, self.num_values)

    def start_cache(self, n: int, condition=None) -> dict:
        """The hidden pre-activation before anything is seen: c, for each of n examples."""
        return {"a": self.c.expand(n, -1).clone()}

    def cached_step(self, x: torch.Tensor, step: int, cache: dict, condition=None) -> torch.Tensor:
        """Logits (n, K) of position ordering[step], adding the value drawn at the previous step first."""
        if step > 0:
            previous = int(self.ordering[step - 1])
            cache["a"] += encode_values(x[:, previous:previous + 1], self.num_values, self.W.dtype)[:, 0] \
                @ self.W[:, previous].T
        position = int(self.ordering[step])
        out = torch.sigmoid(cache["a"]) @ self.V[position].T + self.b[position]            # (n, P)
        return output_logits(out, self.num_values)
