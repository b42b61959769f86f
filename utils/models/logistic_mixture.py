"""Discretised mixture of logistics (the PixelCNN++ output distribution), in value units.

Value v in {0, ..., K-1} owns the interval (v - 0.5, v + 0.5] of the real line, except the edge
bins, which own the tails: 0 gets (-inf, 0.5] and K-1 gets (K-1.5, +inf). So the probabilities of
all K values sum to exactly one, however far a component's mean strays.
"""
import torch
import torch.nn.functional as F
from torch import nn

from .conditioning import no_condition
from ..validation import check_discrete, check_positive_int


def _check_params(logit_weights, means, log_scales):
    if not (logit_weights.shape == means.shape == log_scales.shape):
        raise ValueError("logit_weights, means and log_scales must have the same shape (..., M), got "
                         f"{tuple(logit_weights.shape)}, {tuple(means.shape)}, {tuple(log_scales.shape)}")


def discretized_logistic_mixture_log_prob(x: torch.Tensor, logit_weights: torch.Tensor, means: torch.Tensor,
                                          log_scales: torch.Tensor, num_values: int) -> torch.Tensor:
    """log P(x) in nats for x (...) long and mixture parameters (..., M) that broadcast with it.

    Each component m is a logistic with location means[..., m] and scale exp(log_scales[..., m]);
    the mixture weights are softmax(logit_weights).
    """
    check_positive_int(num_values, "num_values")
    check_discrete(x, num_values)
    _check_params(logit_weights, means, log_scales)
    value = x.unsqueeze(-1).to(means.dtype)
    inv_scale = torch.exp(-log_scales)
    upper = (value + 0.5 - means) * inv_scale          # standardised bin edges
    lower = (value - 0.5 - means) * inv_scale
    log_cdf_upper = F.logsigmoid(upper)                # log P(X <= v + 0.5), used by the first bin
    log_survival_lower = F.logsigmoid(-lower)          # log P(X > v - 0.5), used by the last bin
    # interior bins: sigmoid(a) - sigmoid(b) = sigmoid(a) * sigmoid(-b) * (1 - exp(b - a)), exact and
    # stable in float32 even far out in the tails, where a plain difference would round to zero
    log_mass = log_cdf_upper + log_survival_lower + torch.log(-torch.expm1(lower - upper))
    log_component = torch.where(value <= 0, log_cdf_upper,
                                torch.where(value >= num_values - 1, log_survival_lower, log_mass))
    return torch.logsumexp(torch.log_softmax(logit_weights, dim=-1) + log_component, dim=-1)


def sample_discretized_logistic_mixture(logit_weights: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor,
                                        num_values: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """One value per leading index: parameters (..., M) -> long tensor (...) in [0, K)."""
    check_positive_int(num_values, "num_values")
    _check_params(logit_weights, means, log_scales)
    weights = torch.softmax(logit_weights, dim=-1).reshape(-1, logit_weights.shape[-1])
    component = torch.multinomial(weights, 1, generator=generator).reshape(logit_weights.shape[:-1])
    mean = means.gather(-1, component.unsqueeze(-1)).squeeze(-1)
    scale = log_scales.gather(-1, component.unsqueeze(-1)).squeeze(-1).exp()
    u = torch.rand(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device).clamp(1e-6, 1 - 1e-6)
    continuous = mean + scale * (torch.log(u) - torch.log1p(-u))   # inverse CDF of the logistic
    return torch.round(continuous).clamp(0, num_values - 1).long()


class DiscretizedLogisticMixture(nn.Module):
    """A mixture of M discretised logistics over one variable with K values (event shape ()).

    forward: x (N,) long -> logits (N, K): log P(k) of every value k, the same row for every x.
    log_prob: x (N,) -> (N,) nats.  probs() -> (K,).
    """
    event_shape = ()

    def __init__(self, num_values: int, num_components: int = 4):
        super().__init__()
        self.num_values = check_positive_int(num_values, "num_values")
        check_positive_int(num_components, "num_components")
        self.logit_weights = nn.Parameter(torch.zeros(num_components))
        self.means = nn.Parameter(torch.linspace(0, num_values - 1, num_components + 2)[1:-1].clone())
        self.log_scales = nn.Parameter(torch.full((num_components,), float(num_values) / (4 * num_components)).log())

    def value_log_probs(self) -> torch.Tensor:
        """(K,) log P(k) of every value."""
        values = torch.arange(self.num_values, device=self.means.device)
        return discretized_logistic_mixture_log_prob(values, self.logit_weights, self.means, self.log_scales,
                                                     self.num_values)

    def forward(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        no_condition(condition)
        check_discrete(x, self.num_values, ndim=1)
        return self.value_log_probs().expand(len(x), -1)

    def log_prob(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        no_condition(condition)
        check_discrete(x, self.num_values, ndim=1)
        return discretized_logistic_mixture_log_prob(x, self.logit_weights, self.means, self.log_scales, self.num_values)

    def probs(self) -> torch.Tensor:
        return self.value_log_probs().exp()
