"""Drawing discrete values from logits, reproducibly with a torch.Generator."""
import torch


def sample_categorical(logits: torch.Tensor, generator: torch.Generator | None = None,
                       temperature: float = 1.0) -> torch.Tensor:
    """One draw per row: logits (..., K) -> long tensor (...) with values in [0, K).

    generator: must live on the same device as `logits` (None uses PyTorch's global generator).
    temperature: divides the logits; < 1 sharpens the distribution, > 1 flattens it.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    if generator is not None and generator.device.type != logits.device.type:
        raise RuntimeError(f"the generator is on {generator.device} but the logits are on {logits.device}; "
                           f"create it with torch.Generator(device={str(logits.device)!r})")
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])


def categorical_log_prob(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x) summed over every position: logits (N, ..., K) and x (N, ...) long -> (N,) nats."""
    log_probs = torch.log_softmax(logits, dim=-1).gather(-1, x.unsqueeze(-1)).squeeze(-1)
    return log_probs.flatten(1).sum(1)
