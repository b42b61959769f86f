"""Pieces shared by the sequence models (recurrent, WaveNet, transformer): shifting and positions.

A sequence model predicts x_i from x_<i by reading the sequence shifted right by one, with a START
token first, so that position i holds x_{i-1}. Raster-scanned images are sequences of H*W pixels,
optionally with each pixel's (row, column) as extra inputs.
"""
import torch

from .validation import check_discrete, check_positive_int


def shift_right(x: torch.Tensor, start_value: int) -> torch.Tensor:
    """(N, D) -> (N, D): [start, x_0, ..., x_{D-2}], so that position i holds the value before x_i."""
    start = torch.full_like(x[:, :1], start_value)
    return torch.cat([start, x[:, :-1]], dim=1)


def raster_positions(height: int, width: int) -> torch.Tensor:
    """(H*W, 2) the (row, column) of every pixel in raster order, each scaled to [-1, 1]."""
    rows = torch.arange(height).repeat_interleave(width).float()
    cols = torch.arange(width).repeat(height).float()
    return torch.stack([2 * rows / max(height - 1, 1) - 1, 2 * cols / max(width - 1, 1) - 1], dim=1)


def check_image_shape(image_shape) -> tuple | None:
    """(H, W) of raster-scanned single-channel images as positive ints, or None for plain sequences."""
    if image_shape is None:
        return None
    if len(image_shape) != 2:
        raise ValueError(f"image_shape must be (height, width), got {image_shape!r}")
    return tuple(check_positive_int(size, "image_shape entries") for size in image_shape)


def as_sequence(x: torch.Tensor, num_values: int, image_shape) -> torch.Tensor:
    """Check x and return it as (N, D): images (N, 1, H, W) are flattened in raster order."""
    if image_shape and isinstance(x, torch.Tensor) and x.dim() == 4:
        return check_discrete(x, num_values, shape=(1, *image_shape)).flatten(1)
    if isinstance(x, torch.Tensor) and x.dim() != 2:
        wanted = f"(N, D) or (N, 1, {image_shape[0]}, {image_shape[1]})" if image_shape else "(N, D)"
        raise ValueError(f"x must have shape {wanted}, got {tuple(x.shape)}")
    check_discrete(x, num_values, ndim=2)
    if x.shape[1] == 0:
        raise ValueError("x must hold at least one position per sequence, got shape " + str(tuple(x.shape)))
    if image_shape and x.shape[1] > image_shape[0] * image_shape[1]:
        raise ValueError(f"x has {x.shape[1]} positions but an image_shape of {image_shape} has only "
                         f"{image_shape[0] * image_shape[1]}")
    return x


def sequence_event_shape(length, image_shape) -> tuple:
    """The event shape of a sequence model: (1, H, W) for images, (length,) for sequences."""
    if image_shape:
        return (1, *image_shape)
    if length is None:
        raise ValueError("this model reads sequences of any length: build it with length=..., or pass "
                         "length=... to utils.sampling.sample")
    return (length,)


def previous_values(x: torch.Tensor, step: int, start_value: int) -> torch.Tensor:
    """For a cached step: the value before position `step` of x (n, ...) in raster order, START at step 0."""
    flat = x.reshape(len(x), -1)
    if step == 0:
        return torch.full((len(x),), start_value, dtype=torch.long, device=x.device)
    return flat[:, step - 1]
