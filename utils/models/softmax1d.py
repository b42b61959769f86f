"""A distribution over one discrete variable with K free logits, fitted by gradient descent."""
import torch
from torch import nn

from ..sampling import categorical_log_prob
from .conditioning import no_condition
from ..validation import check_discrete, check_positive_int


class SoftmaxDistribution(nn.Module):
    """p(x = k) = softmax(theta)_k, for one variable x in [0, K) (event shape ()).

    forward: x (N,) long -> logits (N, K), the same row for every x.
    log_prob: x (N,) -> (N,) nats.  probs() -> (K,).
    """
    event_shape = ()

    def __init__(self, num_values: int):
        super().__init__()
        self.num_values = check_positive_int(num_values, "num_values")
        self.logits = nn.Parameter(torch.zeros(num_values))

    def probs(self) -> torch.Tensor:
        """(K,) the probability of every value."""
        return torch.softmax(self.logits, dim=0)

    def forward(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        no_condition(condition)
        check_discrete(x, self.num_values, ndim=1)
        return self.logits.expand(len(x), -1)

    def log_prob(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        no_condition(condition)
        return categorical_log_prob(self(x), x)
