"""RNADE: NADE for real-valued data, with a mixture of Gaussians as each conditional.

Uria, Murray & Larochelle (2013), "RNADE: The real-valued neural autoregressive density-estimator".

    a_d = c + sum_{j<d} W[:, j] x_j                 (H,)  the hidden pre-activation of dimension d
    h_d = sigmoid(a_d)
    logits_d = V_logit[d] h_d + b_logit[d]          (M,)  mixture weights  pi_d = softmax(logits_d)
    means_d  = V_mean[d]  h_d + b_mean[d]           (M,)
    log_scales_d = V_scale[d] h_d + b_scale[d]      (M,)  standard deviations sigma_d = exp(log_scales_d)
    p(x_d | x_<d) = sum_m pi_dm N(x_d; means_dm, sigma_dm^2)

"j < d" means "j comes earlier in the generation order". The hidden state is NADE's (utils.models.nade):
every conditional shares W and c, so all D pre-activations come from one cumulative sum, and sampling
updates one hidden vector a += W[:, d] x_d. Only the output layer differs: instead of K logits per
dimension it gives the 3M numbers of a mixture of M Gaussians. (The paper also rescales a_d by a learned
factor per dimension before the sigmoid; we leave it out to keep the model on one screen.)

log_prob returns a log-DENSITY in nats, not the log of a probability: it can be positive, and it is
not comparable with the log-probabilities of discrete models (the density has units of 1 / volume).

An exception to the course's model protocol (utils.sampling): the protocol is for discrete data, and
RNADE's data are real numbers, so it has no forward(x) -> logits and is not driven by
utils.sampling.sample. It samples itself, dimension by dimension, with RNADE.sample(n, generator=...).
The documented seam for gradients is `conditionals(x)`: the mixture parameters of every dimension as a
differentiable function of the float input.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..ordering import generation_order, generation_rank
from ..validation import check_positive_int, check_same_device

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def check_continuous(x, *, name: str = "x", shape: tuple | None = None) -> torch.Tensor:
    """Check that `x` is a floating-point tensor (N, *shape) of finite numbers; return it unchanged."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of real numbers, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{name} must hold real numbers (a floating-point dtype) for a continuous model, got "
                        f"dtype {x.dtype}; RNADE models densities of real values, use {name}.float() if that "
                        f"is what you mean")
    if shape is not None and (x.dim() != 1 + len(shape) or tuple(x.shape[1:]) != tuple(shape)):
        raise ValueError(f"{name} must have shape (N, {', '.join(map(str, shape))}), got {tuple(x.shape)}")
    if x.numel() > 0 and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains {int((~torch.isfinite(x)).sum())} NaN or infinite value(s)")
    return x


def mixture_log_density(x: torch.Tensor, logits: torch.Tensor, means: torch.Tensor,
                        log_scales: torch.Tensor) -> torch.Tensor:
    """log sum_m softmax(logits)_m N(x; means_m, exp(log_scales_m)^2), elementwise.

    x (...,), logits / means / log_scales (..., M) -> (...,) log-densities in nats.
    """
    z = (x.unsqueeze(-1) - means) * torch.exp(-log_scales)
    log_normal = -0.5 * z ** 2 - log_scales - LOG_SQRT_2PI                     # (..., M)
    return torch.logsumexp(F.log_softmax(logits, dim=-1) + log_normal, dim=-1)


class RNADE(nn.Module):
    """Real-valued NADE: shared hidden units, a mixture of Gaussians per dimension.

    num_dims: D.  hidden_size: H.  num_components: M, Gaussians per conditional.
    ordering: the dimensions in the order they are generated; None means 0, 1, ..., D-1.
    Parameters: W (H, D), c (H,); V (D, 3, M, H) and b (D, 3, M) give per dimension the mixture's
    logits, means and log-scales (in that order along the axis of size 3).
    log_prob: x (N, D) float -> (N,) log-density in nats.  sample(n) -> (n, D) float.
    """

    def __init__(self, num_dims: int, hidden_size: int, num_components: int, ordering=None):
        super().__init__()
        self.num_dims = check_positive_int(num_dims, "num_dims")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.num_components = check_positive_int(num_components, "num_components")
        self.event_shape = (num_dims,)
        in_bound, out_bound = 1 / math.sqrt(num_dims), 1 / math.sqrt(hidden_size)
        self.W = nn.Parameter(torch.empty(hidden_size, num_dims).uniform_(-in_bound, in_bound))
        self.c = nn.Parameter(torch.zeros(hidden_size))
        self.V = nn.Parameter(torch.empty(num_dims, 3, num_components, hidden_size).uniform_(-out_bound, out_bound))
        # start with the components' means spread over [-1, 1] (standardised data lives there), so
        # they do not all begin at the same place
        start_means = torch.linspace(-1, 1, num_components) if num_components > 1 else torch.zeros(1)
        self.b = nn.Parameter(torch.stack([torch.zeros(num_dims, num_components),
                                           start_means.expand(num_dims, -1).clone(),
                                           torch.zeros(num_dims, num_components)], dim=1))
        self.register_buffer("ordering", generation_order(self.event_shape, ordering))   # dims in generation order
        self.register_buffer("rank", generation_rank(self.event_shape, ordering))        # step of each dim

    def conditionals(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mixture parameters of p(x_d | x_<d) for every dimension d, differentiable in x.

        x (N, D) float -> (logits, means, log_scales), each (N, D, M), in the layout of x (dimension d
        at index d, whatever the order). Those of dimension d depend only on the x_j generated before it.
        """
        check_continuous(x, shape=self.event_shape)
        check_same_device(self, x)
        steps = x[:, self.ordering].to(self.W.dtype)                   # (N, D): column t is drawn at step t
        adds = steps.unsqueeze(-1) * self.W[:, self.ordering].T        # (N, D, H): step t adds W[:, j] x_j
        before = F.pad(torch.cumsum(adds, dim=1)[:, :-1], (0, 0, 1, 0))   # sum over the steps before t
        h = torch.sigmoid(self.c + before)                              # (N, D, H)
        out = torch.einsum("ndh,dkmh->ndkm", h, self.V[self.ordering]) + self.b[self.ordering]   # (N, D, 3, M)
        out = out[:, self.rank]                                         # back to the layout of x
        return out[:, :, 0], out[:, :, 1], out[:, :, 2]

    def conditional_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x_d | x_<d) for every d: x (N, D) float -> (N, D) log-densities in nats."""
        logits, means, log_scales = self.conditionals(x)
        return mixture_log_density(x.to(self.W.dtype), logits, means, log_scales)

    def log_prob(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        """log p(x) = sum_d log p(x_d | x_<d): x (N, D) float -> (N,) log-DENSITY in nats (may be > 0)."""
        if condition is not None:
            raise ValueError("RNADE is unconditional: call log_prob(x) without a condition")
        return self.conditional_log_prob(x).sum(dim=1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws (n, D) float, one dimension at a time in the model's order.

        Step t: read the mixture of dimension d = ordering[t] off the hidden state, pick a component
        with its weight, draw x_d from that Gaussian, then add W[:, d] x_d to the hidden pre-activation.
        generator: a torch.Generator on the model's device; the same seed gives the same samples.
        """
        check_positive_int(n, "n")
        device = self.W.device
        if generator is not None and generator.device.type != device.type:
            raise RuntimeError(f"the generator is on {generator.device} but the model is on {device}; "
                               f"create it with torch.Generator(device={str(device)!r})")
        x = torch.zeros(n, self.num_dims, dtype=self.W.dtype, device=device)
        a = self.c.expand(n, -1).clone()                                # (n, H)
        for d in self.ordering.tolist():
            out = torch.sigmoid(a) @ self.V[d].transpose(-1, -2) + self.b[d].unsqueeze(1)   # (3, n, M)
            logits, means, log_scales = out[0], out[1], out[2]
            component = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)   # (n, 1)
            noise = torch.randn(n, generator=generator, dtype=x.dtype, device=device)
            x[:, d] = means.gather(1, component)[:, 0] + torch.exp(log_scales.gather(1, component)[:, 0]) * noise
            a += x[:, d:d + 1] * self.W[:, d]
        return x
