"""Input checks that turn silent garbage into clear errors (shape, dtype, value range, device)."""
import torch


def check_discrete(x, num_values: int, *, name: str = "x", shape: tuple | None = None,
                   ndim: int | None = None) -> torch.Tensor:
    """Check that `x` is an integer tensor with values in [0, num_values).

    shape: the expected shape after the batch dimension, e.g. (D,) or (C, H, W); None skips it.
    ndim:  the expected number of dimensions including the batch dimension; None skips it.
    Returns `x` unchanged so the call can be inlined.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of integers, got {type(x).__name__}")
    if x.dtype.is_floating_point or x.dtype == torch.bool or x.dtype.is_complex:
        raise TypeError(f"{name} must hold integers (torch.long), got dtype {x.dtype}; "
                        f"convert with {name}.long() if the values are whole numbers")
    if ndim is not None and x.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    if shape is not None and tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(f"{name} must have shape (N, {', '.join(map(str, shape))}), got {tuple(x.shape)}")
    if x.numel() > 0:
        low, high = (int(v) for v in torch.aminmax(x))          # one pass over the data
        if low < 0 or high >= num_values:
            raise ValueError(f"{name} values must lie in [0, {num_values - 1}], found min {low} and max {high}")
    return x


def check_same_device(module: torch.nn.Module, x: torch.Tensor, name: str = "x") -> None:
    """Raise if `x` is not on the device of the module's parameters (models never move themselves)."""
    param = next(module.parameters(), None)
    if param is not None and param.device != x.device:
        raise RuntimeError(f"{name} is on {x.device} but the model is on {param.device}; "
                           f"move one of them, e.g. {name} = {name}.to({str(param.device)!r})")


def check_positive_int(value, name: str) -> int:
    """Raise unless `value` is a positive int; return it."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value
