"""Pieces shared by the image models (PixelCNN, Gated PixelCNN): the masked convolution and its mask.

Order of generation: raster order over pixels (row by row, left to right) and, inside one pixel,
the channels in turn (R, then G, then B). A masked convolution zeroes the kernel weights that would
let an output see its own or a later sub-pixel (see pixelcnn.py for the pictures).

Also here: a masked convolution evaluated at one pixel only (`conv_at_pixel`, for the cached
sampling step), and `with_image_shape`, which uses a fully convolutional model at another image size.
"""
import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import check_discrete, check_positive_int, check_same_device


def pixelcnn_mask(kernel_size: int, mask_type: str, in_channels: int = 1, out_channels: int = 1,
                  color_groups: int = 1) -> torch.Tensor:
    """The 0/1 mask of a masked convolution, a float tensor (out_channels, in_channels, k, k).

    All rows above the centre and the pixels left of the centre on its row are visible. At the
    centre pixel, channel i of a layer with n channels belongs to group i // (n // color_groups);
    output group g sees input group h when h < g (type "A") or h <= g (type "B").
    """
    check_positive_int(kernel_size, "kernel_size")
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd so that the kernel has a centre, got {kernel_size}")
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' (first layer) or 'B' (later layers), got {mask_type!r}")
    check_positive_int(color_groups, "color_groups")
    for name, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
        check_positive_int(channels, name)
        if channels % color_groups:
            raise ValueError(f"{name}={channels} must be a multiple of color_groups={color_groups} "
                             "so that every colour gets the same number of channels")
    centre = kernel_size // 2
    mask = torch.zeros(out_channels, in_channels, kernel_size, kernel_size)
    mask[:, :, :centre, :] = 1                      # every row above
    mask[:, :, centre, :centre] = 1                 # left of the centre on its own row
    out_group = torch.arange(out_channels) // (out_channels // color_groups)
    in_group = torch.arange(in_channels) // (in_channels // color_groups)
    if mask_type == "A":
        centre_visible = out_group[:, None] > in_group[None, :]
    else:
        centre_visible = out_group[:, None] >= in_group[None, :]
    mask[:, :, centre, centre] = centre_visible.float()
    return mask


class MaskedConv2d(nn.Conv2d):
    """A k x k convolution ("same" padding) whose weights are multiplied by `pixelcnn_mask`.

    (N, in_channels, H, W) -> (N, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str,
                 color_groups: int = 1):
        mask = pixelcnn_mask(kernel_size, mask_type, in_channels, out_channels, color_groups)
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.mask_type = mask_type
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.mask * self.weight, self.bias, padding=self.padding)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", mask_type={self.mask_type}"


def check_image_shape(image_shape) -> tuple:
    """(C, H, W) as a tuple of positive ints, or a clear error."""
    if not isinstance(image_shape, (tuple, list)) or len(image_shape) != 3:
        raise ValueError(f"image_shape must be (channels, height, width), got {image_shape!r}")
    for name, size in zip(("channels", "height", "width"), image_shape):
        check_positive_int(size, f"image_shape {name}")
    return tuple(image_shape)


def scale_input(x: torch.Tensor, num_values: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Values {0, ..., K-1} -> floats in [-1, 1] of `dtype`, one input channel per colour channel."""
    return 2 * x.to(dtype) / max(num_values - 1, 1) - 1


def to_channels_last(out: torch.Tensor, channels: int) -> torch.Tensor:
    """(N, C*P, H, W) -> (N, C, H, W, P): the P numbers of colour c are channels c*P ... c*P + P-1."""
    n, _, height, width = out.shape
    return out.reshape(n, channels, -1, height, width).permute(0, 1, 3, 4, 2)


def start_cached_step(model: nn.Module, x: torch.Tensor, step: int, cache: dict) -> None:
    """What every cached step of an image model begins with: the steps must come 0, 1, 2, ... in order
    (the cache holds what the earlier steps wrote), and step 0 makes the checks forward makes."""
    if step != cache["next_step"]:
        raise ValueError(f"cached_step takes the steps 0, 1, 2, ... in order: expected step {cache['next_step']}, "
                         f"got {step} (start a new cache with start_cache to begin again)")
    cache["next_step"] += 1
    if step == 0:
        check_discrete(x, model.num_values, shape=model.image_shape)
        check_same_device(model, x)


def write_previous_value(image_map: torch.Tensor, x: torch.Tensor, step: int, num_values: int, pad: int) -> None:
    """Put the value drawn at step - 1 (raster order, colours in turn) into a zero-padded input map.

    image_map: (n, C, H + 2 pad, W + 2 pad), the scaled image a first layer reads; x: (n, C, H, W).
    """
    if step == 0:
        return
    channels, width = x.shape[1], x.shape[3]
    pixel, colour = divmod(step - 1, channels)
    row, col = divmod(pixel, width)
    image_map[:, colour, row + pad, col + pad] = scale_input(x[:, colour, row, col], num_values, image_map.dtype)


def kernel_matrix(conv: nn.Conv2d) -> torch.Tensor:
    """A convolution's (masked) kernel as the matrix it applies to one flattened window: (out, in * k * k)."""
    weight = conv.mask * conv.weight if hasattr(conv, "mask") else conv.weight        # (out, in, k, k)
    return weight.flatten(1)


def conv_at_pixel(conv: nn.Conv2d, padded: torch.Tensor, row: int, col: int,
                  matrix: torch.Tensor | None = None) -> torch.Tensor:
    """The output (n, out_channels) of a k x k convolution ("same" padding) at pixel (row, col) only.

    padded: its input map, already zero-padded by k // 2 on every side, (n, in_channels, H + k - 1, W + k - 1).
    The pixel reads the k x k window whose top-left corner is padded[:, :, row, col]: the same
    (masked) weights on the same numbers as the full convolution, one matrix product, O(k^2 in out).
    matrix: kernel_matrix(conv), when the caller computed it once for many calls.
    """
    k = conv.kernel_size[0]
    window = padded[:, :, row:row + k, col:col + k]                                    # (n, in, k, k)
    matrix = kernel_matrix(conv) if matrix is None else matrix
    return F.linear(window.reshape(window.shape[0], -1), matrix, conv.bias)


def pointwise(conv: nn.Conv2d, h: torch.Tensor, matrix: torch.Tensor | None = None) -> torch.Tensor:
    """A 1 x 1 convolution (masked or not) on the features (n, in_channels) of one pixel -> (n, out_channels)."""
    return F.linear(h, kernel_matrix(conv) if matrix is None else matrix, conv.bias)


def with_image_shape(model: nn.Module, image_shape) -> nn.Module:
    """The same fully convolutional image model, for images of shape (C, H', W') instead of (C, H, W).

    A convolution's weights do not depend on the image size: the kernels slide over any height and
    width. So a PixelCNN trained on 14 x 14 images is also a model of 28 x 28 (or 14 x 42) images,
    autoregressive in the same raster order, and can be sampled at that size:

        big = with_image_shape(model, (1, 28, 28))
        x = sample(big, 8)                          # (8, 1, 28, 28)

    The returned model is a second module object that holds the *same* layers: the weights are
    shared, not copied (training or editing one changes the other). Only image_shape/event_shape
    differ. The number of channels C is fixed by the weights and must stay.
    Models with parts sized to their event shape (position inputs or tables, attention masks over
    all positions, weights per position) raise a ValueError: they cannot be used at another size.
    """
    if not getattr(model, "fully_convolutional", False):
        raise ValueError(
            f"{type(model).__name__} generates examples of one fixed shape {tuple(model.event_shape)} and cannot "
            "be used at another size: part of it is sized to that shape (positions, a mask or weights over all "
            "positions). Only fully convolutional image models (PixelCNN, GatedPixelCNN) can.")
    image_shape = check_image_shape(image_shape)
    if image_shape[0] != model.image_shape[0]:
        raise ValueError(f"the number of channels is fixed by the weights: {model.image_shape[0]}, "
                         f"got image_shape {image_shape}; only the height and width can change")
    resized = copy.copy(model)              # a new module object (shallow copy: no weight is copied) ...
    for registry in ("_parameters", "_buffers", "_modules"):
        setattr(resized, registry, dict(getattr(model, registry)))   # ... with its own lists of the same layers
    resized.image_shape = resized.event_shape = image_shape
    return resized
