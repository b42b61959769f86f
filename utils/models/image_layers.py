"""Pieces shared by the image models (PixelCNN, Gated PixelCNN): the masked convolution and its mask.

Order of generation: raster order over pixels (row by row, left to right) and, inside one pixel,
the channels in turn (R, then G, then B). A masked convolution zeroes the kernel weights that would
let an output see its own or a later sub-pixel (see pixelcnn.py for the pictures).
"""
import torch
import torch.nn.functional as F
from torch import nn

from ..validation import check_positive_int


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
