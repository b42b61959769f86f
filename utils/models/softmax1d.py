"""A distribution over one discrete variable with K free logits, fitted by gradient descent."""
import torch
from torch import nn

from ..sampling import sample_categorical
from ..validation import check_discrete, check_positive_int


class SoftmaxDistribution(nn.Module):
    """p(x = k) = softmax(theta)_k, for x in [0, K).

    log_prob: x (N,) long -> (N,) nats.  sample: n -> (n,) long.
    """

    def __init__(self, num_values: int):
        super().__init__()
        self.num_values = check_positive_int(num_values, "num_values")
        self.logits = nn.Parameter(torch.zeros(num_values))

    def probs(self) -> torch.Tensor:
        """(K,) the probability of every value."""
        return torch.softmax(self.logits, dim=0)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        check_discrete(x, self.num_values, ndim=1)
        return torch.log_softmax(self.logits, dim=0)[x]

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        check_positive_int(n, "n")
        return sample_categorical(self.logits.expand(n, -1), generator)
