"""A discretised logistic mixture output head for image models (the PixelCNN++ output).

A categorical output needs K logits per sub-pixel and treats the values 0..K-1 as unrelated labels.
A mixture of M discretised logistics needs 3*M numbers whatever K is, and knows that neighbouring
values are alike (value v owns the interval (v - 0.5, v + 0.5]; see logistic_mixture.py).

The network's last layer gives 3*M raw numbers per sub-pixel; `mixture_params` turns them into the
parameters, laid out along the last axis as

    [ logit_weights (M) | means (M) | log_scales (M) ]     means and scales in value units,

and `mixture_value_log_probs` into the log-probabilities of the K values: the model's logits, so that
log_prob and sampling work exactly as for a categorical output.

Channels: each colour channel has its own mixture, computed by the masked network from everything
generated before it, including the earlier channels of the same pixel (R before G before B). This
is simpler than PixelCNN++, which also shifts the G and B means linearly by the R (and G) values.
"""
import torch

from .logistic_mixture import discretized_logistic_mixture_log_prob

MIN_LOG_SCALE = -7.0   # keeps every logistic from collapsing to a spike


def mixture_params(raw: torch.Tensor, num_values: int) -> torch.Tensor:
    """Raw outputs (..., 3M) -> mixture parameters (..., 3M) in the layout above.

    A raw mean of 0 sits in the middle of the value range, -1 and +1 at its ends.
    """
    logit_weights, raw_means, raw_log_scales = raw.chunk(3, dim=-1)
    means = (num_values - 1) * (raw_means + 1) / 2
    log_scales = raw_log_scales.clamp(min=MIN_LOG_SCALE)
    return torch.cat([logit_weights, means, log_scales], dim=-1)


def split_mixture_params(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(..., 3M) -> logit_weights, means, log_scales, each (..., M)."""
    if params.shape[-1] % 3:
        raise ValueError(f"mixture parameters need 3*M numbers on the last axis, got {params.shape[-1]}")
    return params.chunk(3, dim=-1)


def mixture_value_log_probs(params: torch.Tensor, num_values: int) -> torch.Tensor:
    """log P(v) of every value v: params (..., 3M) -> (..., K), normalised over the K values."""
    logit_weights, means, log_scales = (p.unsqueeze(-2) for p in split_mixture_params(params))   # (..., 1, M)
    values = torch.arange(num_values, device=params.device).expand(*params.shape[:-1], num_values)   # (..., K)
    return discretized_logistic_mixture_log_prob(values, logit_weights, means, log_scales, num_values)
