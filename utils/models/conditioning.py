"""Class conditioning shared by the conditional models: a label becomes a one-hot vector."""
import torch
import torch.nn.functional as F

from ..validation import check_discrete


def one_hot_condition(condition, num_classes: int | None, n: int, dtype: torch.dtype = torch.float32,
                      device=None) -> torch.Tensor | None:
    """Check `condition` (class labels (n,), or one int for all) against the model; return (n, num_classes) one-hot.

    Unconditional models (num_classes None) take no condition and get None.
    """
    if num_classes is None:
        if condition is not None:
            raise ValueError("this model is not class-conditional: build it with num_classes=... to pass a condition")
        return None
    if condition is None:
        raise ValueError(f"this model is class-conditional: pass condition=, class labels (n,) in [0, {num_classes})")
    if isinstance(condition, int) and not isinstance(condition, bool):
        condition = torch.full((n,), condition, dtype=torch.long, device=device)
    check_discrete(condition, num_classes, name="condition", ndim=1)
    if len(condition) != n:
        raise ValueError(f"condition must hold one class per example: got {len(condition)} labels for {n} examples")
    return F.one_hot(condition, num_classes).to(dtype)


def no_condition(condition) -> None:
    """For unconditional models: a condition passed by mistake is an error, not silently ignored."""
    if condition is not None:
        raise ValueError("this model is not class-conditional: call it without a condition")
