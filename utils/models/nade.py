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

from ..checks import generation_rank
from ..sampling import categorical_log_prob, sample_categorical
from ..validation import check_discrete, check_positive_int, check_same_device


class NADE(nn.Module):
    """Neural autoregressive distribution estimator with shared input weights.

    num_inputs: D.  hidden_size: H.  num_values: K >= 2.
    ordering:   the positions in the order they are generated; None means 0, 1, ..., D-1.
    Parameters: W (H, D, P), c (H,), V (D, P, H), b (D, P) with P = 1 for K = 2 and P = K otherwise.
    forward: x (N, D) long -> logits (N, D, K).  log_prob: x (N, D) -> (N,) nats.
    sample:  n -> (n, D) long, one position at a time with an updated hidden vector.
    """

    def __init__(self, num_inputs: int, hidden_size: int, num_values: int = 2, ordering=None):
        super().__init__()
        self.num_inputs = check_positive_int(num_inputs, "num_inputs")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.num_values = check_positive_int(num_values, "num_values")
        if num_values < 2:
            raise ValueError(f"num_values must be at least 2, got {num_values}")
        per_position = 1 if num_values == 2 else num_values
        in_bound, out_bound = 1 / math.sqrt(num_inputs), 1 / math.sqrt(hidden_size)
        self.W = nn.Parameter(torch.empty(hidden_size, num_inputs, per_position).uniform_(-in_bound, in_bound))
        self.c = nn.Parameter(torch.zeros(hidden_size))
        self.V = nn.Parameter(torch.empty(num_inputs, per_position, hidden_size).uniform_(-out_bound, out_bound))
        self.b = nn.Parameter(torch.zeros(num_inputs, per_position))
        rank = generation_rank((num_inputs,), ordering)
        self.register_buffer("ordering", torch.argsort(rank))     # positions in generation order
        self.register_buffer("rank", rank)                        # step at which each position is drawn

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, D) long -> (N, D, P): the value itself for K = 2, a one-hot vector for K > 2."""
        if self.num_values == 2:
            return x.float().unsqueeze(-1)
        return F.one_hot(x, self.num_values).float()

    def output_logits(self, out: torch.Tensor) -> torch.Tensor:
        """(..., P) output numbers -> (..., K) logits (for K = 2: [0, a], so p(1) = sigmoid(a))."""
        if self.num_values == 2:
            return torch.cat([torch.zeros_like(out), out], dim=-1)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_discrete(x, self.num_values, shape=(self.num_inputs,))
        check_same_device(self, x)
        # work in generation order: column t is the position drawn at step t
        step_inputs = self.encode(x[:, self.ordering])                              # (N, D, P)
        step_weights = self.W[:, self.ordering]                                     # (H, D, P)
        adds = torch.einsum("ndp,hdp->ndh", step_inputs, step_weights)              # step t adds W[:, j] x_j
        before = F.pad(torch.cumsum(adds, dim=1)[:, :-1], (0, 0, 1, 0))             # sum over steps < t
        h = torch.sigmoid(self.c + before)                                          # (N, D, H)
        out = torch.einsum("ndh,dph->ndp", h, self.V[self.ordering]) + self.b[self.ordering]
        return self.output_logits(out[:, self.rank])                                # back to position layout

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return categorical_log_prob(self(x), x)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        check_positive_int(n, "n")
        x = torch.zeros(n, self.num_inputs, dtype=torch.long, device=self.W.device)
        a = self.c.expand(n, -1).clone()                                     # (n, H), nothing seen yet
        for position in self.ordering.tolist():
            out = torch.sigmoid(a) @ self.V[position].T + self.b[position]   # (n, P)
            value = sample_categorical(self.output_logits(out), generator)
            x[:, position] = value
            a += self.encode(value[:, None])[:, 0] @ self.W[:, position].T   # add W[:, position] x_position
        return x
