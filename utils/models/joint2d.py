"""An autoregressive model of a pair: p(x1, x2) = p(x1) p(x2 | x1), both tables of logits."""
import torch
from torch import nn

from ..sampling import categorical_log_prob
from .conditioning import no_condition
from ..validation import check_discrete, check_positive_int


class Joint2D(nn.Module):
    """Two discrete variables with K values each (event shape (2,)); K + K*K logits.

    forward: x (N, 2) -> logits (N, 2, K): row 0 for p(x1), row 1 for p(x2 | x1).
    log_prob: x (N, 2) -> (N,).  joint_probs() -> (K, K).
    """
    event_shape = (2,)

    def __init__(self, num_values: int):
        super().__init__()
        self.num_values = check_positive_int(num_values, "num_values")
        self.first_logits = nn.Parameter(torch.zeros(num_values))
        self.second_logits = nn.Parameter(torch.zeros(num_values, num_values))  # row = value of x1

    def forward(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        no_condition(condition)
        check_discrete(x, self.num_values, shape=(2,))
        first = self.first_logits.expand(len(x), -1)
        second = self.second_logits[x[:, 0]]
        return torch.stack([first, second], dim=1)

    def log_prob(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        no_condition(condition)
        return categorical_log_prob(self(x), x)

    def joint_probs(self) -> torch.Tensor:
        """(K, K) table P[x1, x2]."""
        return (torch.log_softmax(self.first_logits, 0)[:, None] + torch.log_softmax(self.second_logits, 1)).exp()
