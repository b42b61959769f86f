"""FVSBN, the fully visible sigmoid belief net: one linear model per conditional.

    p(x) = prod_i p(x_i | x_<i),    p(x_i = 1 | x_<i) = sigmoid(b_i + sum_{j<i} W_ij x_j)

"j < i" means "j comes earlier in the generation order". All D conditionals are computed at once by
one linear map whose weight matrix is masked to be strictly lower-triangular in that order.

K > 2 values: each input x_j enters as a one-hot vector of length K and each conditional is a
softmax over K logits, so W_ij becomes a K x K block and the mask is the same pattern, one block per
pair of positions. For K = 2 the plain value x_j in {0, 1} goes in and one logit comes out.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..ordering import generation_order, generation_rank
from .conditioning import no_condition
from ..validation import check_discrete, check_positive_int, check_same_device
from .outputs import encode_values, numbers_per_position, output_log_prob, output_logits


def order_mask(rank: torch.Tensor) -> torch.Tensor:
    """(D, D) float mask, 1 where output i may see input j, i.e. rank[j] < rank[i].

    In the natural order (rank = 0, 1, ..., D-1) this is the strictly lower-triangular matrix.
    """
    return (rank[None, :] < rank[:, None]).float()


class FVSBN(nn.Module):
    """Logistic (K = 2) or softmax (K > 2) conditionals from a masked linear map.

    num_inputs: D, the number of positions.  num_values: K >= 2.
    ordering:   the positions in the order they are generated (a permutation of range(D));
                None means 0, 1, ..., D-1.
    forward: x (N, D) long -> logits (N, D, K).  log_prob: x (N, D) -> (N,) nats.
    Sample with utils.sampling.sample(model, n), one position at a time in the generation order.
    """

    def __init__(self, num_inputs: int, num_values: int = 2, ordering=None):
        super().__init__()
        self.num_inputs = check_positive_int(num_inputs, "num_inputs")
        self.num_values = check_positive_int(num_values, "num_values")
        if num_values < 2:
            raise ValueError(f"num_values must be at least 2, got {num_values}")
        self.event_shape = (num_inputs,)
        per_position = numbers_per_position(num_values)
        size = num_inputs * per_position
        bound = 1 / math.sqrt(size)
        self.weight = nn.Parameter(torch.empty(size, size).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(size))
        self.register_buffer("ordering", generation_order(self.event_shape, ordering))   # positions in generation order
        block = torch.ones(per_position, per_position)
        self.register_buffer("mask", torch.kron(order_mask(generation_rank(self.event_shape, ordering)), block))

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, D) long -> (N, D, P) numbers: one logit per position for K = 2, K logits otherwise."""
        check_discrete(x, self.num_values, shape=self.event_shape)
        check_same_device(self, x)
        h = encode_values(x, self.num_values, self.weight.dtype).flatten(1)
        return F.linear(h, self.mask * self.weight, self.bias).reshape(len(x), self.num_inputs, -1)

    def forward(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        no_condition(condition)
        return output_logits(self.outputs(x), self.num_values)

    def log_prob(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        no_condition(condition)
        return output_log_prob(self.outputs(x), x, self.num_values)
