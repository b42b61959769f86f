"""PixelCNN: an image model built from masked 2D convolutions, generated pixel by pixel.

Order of generation: raster order over pixels (row by row, left to right) and, inside one pixel,
the channels in turn (R, then G, then B). A masked convolution zeroes the kernel weights that would
let an output see its own or a later sub-pixel:

    type A (first layer)       type B (every later layer)
        1 1 1 1 1                  1 1 1 1 1
        1 1 1 1 1                  1 1 1 1 1
        1 1 0 0 0                  1 1 1 0 0     <- the centre: A hides it, B shows it
        0 0 0 0 0                  0 0 0 0 0
        0 0 0 0 0                  0 0 0 0 0

With several colour channels the centre entry is refined per channel group: the channels of every
layer are split into C consecutive groups (R, G, B), and at the centre pixel output group g sees
input groups < g (type A) or <= g (type B). So the red logits of a pixel never see its red value,
the green logits see its red value, and so on.

Stacking type-B layers grows the receptive field as a triangle that leaves out pixels above and to
the right: the "blind spot". `GatedPixelCNN` (gated_pixelcnn.py) removes it.

Input: long tensor (N, C, H, W) with values in [0, K). Output of forward: logits (N, C, H, W, K).
"""
import torch
import torch.nn.functional as F
from torch import nn

from ..sampling import categorical_log_prob, sample_categorical
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


# ----------------------------------------------------------------------------------------------
# small pieces shared by the image models (PixelCNN, GatedPixelCNN)


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


def one_hot_labels(labels, num_classes: int | None, batch_size: int,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor | None:
    """Check the labels against the model and return them one-hot (N, num_classes) of `dtype`, or None."""
    if num_classes is None:
        if labels is not None:
            raise ValueError("this model is not class-conditional: build it with num_classes=... to pass labels")
        return None
    if labels is None:
        raise ValueError(f"this model is class-conditional: pass labels, a long tensor (N,) in [0, {num_classes})")
    check_discrete(labels, num_classes, name="labels", ndim=1)
    if len(labels) != batch_size:
        raise ValueError(f"labels must have one entry per image: got {len(labels)} labels for {batch_size} images")
    return F.one_hot(labels, num_classes).to(dtype)


@torch.no_grad()
def sample_in_raster_order(model: nn.Module, n: int, draw, labels=None, given=None) -> torch.Tensor:
    """Generate n images (n, C, H, W) one sub-pixel at a time: rows, then columns, then channels.

    draw(out) -> (n,) long: picks values from the model's outputs at one sub-pixel, out (n, P).
    given: optional long tensor (n, C, R, W), the top R rows of every image; they are kept as they
    are and only the rows below are sampled (image completion).
    Every step runs the whole network again (simple and slow: H*W*C forward passes).
    """
    check_positive_int(n, "n")
    channels, height, width = model.image_shape
    device = next(model.parameters()).device
    x = torch.zeros(n, channels, height, width, dtype=torch.long, device=device)
    first_row = 0
    if given is not None:
        check_discrete(given, model.num_values, name="given", ndim=4)
        if given.shape[0] != n or given.shape[1] != channels or given.shape[3] != width or given.shape[2] > height:
            raise ValueError(f"given must hold the top rows of {n} images, shape ({n}, {channels}, R, {width}) "
                             f"with R <= {height}, got {tuple(given.shape)}")
        first_row = given.shape[2]
        x[:, :, :first_row] = given.to(device)
    for row in range(first_row, height):
        for col in range(width):
            for channel in range(channels):
                out = model(x, labels)[:, channel, row, col]
                x[:, channel, row, col] = draw(out)
    return x


# ----------------------------------------------------------------------------------------------
# the model


class ResidualBlock(nn.Module):
    """h + conv1x1(relu(conv_kxk(relu(h)) + label bias)), both convolutions type B."""

    def __init__(self, channels: int, kernel_size: int, color_groups: int, num_classes: int | None):
        super().__init__()
        self.conv = MaskedConv2d(channels, channels, kernel_size, "B", color_groups)
        self.mix = MaskedConv2d(channels, channels, 1, "B", color_groups)
        self.label_bias = nn.Linear(num_classes, channels, bias=False) if num_classes else None

    def forward(self, h: torch.Tensor, label_one_hot: torch.Tensor | None = None) -> torch.Tensor:
        a = self.conv(F.relu(h))
        if self.label_bias is not None:
            a = a + self.label_bias(label_one_hot)[:, :, None, None]
        return h + self.mix(F.relu(a))


class PixelCNN(nn.Module):
    """A type-A masked convolution, residual blocks of type-B convolutions, a 1x1 output head.

    image_shape: (C, H, W); num_values: K.
    forward: x (N, C, H, W) long [, labels (N,)] -> logits (N, C, H, W, K).
    log_prob: x [, labels] -> (N,) nats.  sample: n -> (n, C, H, W) long.
    channel_masks: split the channels into C colour groups so that, inside a pixel, R is generated
    before G before B (C > 1). With False, the C values of a pixel are predicted from earlier pixels
    only (still a valid model, just a weaker one).
    num_classes: make the model class-conditional; every layer adds a bias computed from the
    one-hot label, and forward / log_prob / sample then need `labels`.
    """

    def __init__(self, image_shape, num_values: int, hidden_channels: int = 64, num_blocks: int = 5,
                 first_kernel_size: int = 7, kernel_size: int = 3, channel_masks: bool = True,
                 num_classes: int | None = None):
        super().__init__()
        self.image_shape = check_image_shape(image_shape)
        self.num_values = check_positive_int(num_values, "num_values")
        self.num_classes = None if num_classes is None else check_positive_int(num_classes, "num_classes")
        if isinstance(num_blocks, bool) or not isinstance(num_blocks, int) or num_blocks < 0:
            raise ValueError(f"num_blocks must be a non-negative int, got {num_blocks!r}")
        channels = self.image_shape[0]
        groups = channels if channel_masks else 1
        self.input_conv = MaskedConv2d(channels, hidden_channels, first_kernel_size, "A", groups)
        self.input_label_bias = nn.Linear(num_classes, hidden_channels, bias=False) if num_classes else None
        self.blocks = nn.ModuleList(ResidualBlock(hidden_channels, kernel_size, groups, num_classes)
                                    for _ in range(num_blocks))
        self.output = nn.Sequential(
            nn.ReLU(), MaskedConv2d(hidden_channels, hidden_channels, 1, "B", groups),
            nn.ReLU(), MaskedConv2d(hidden_channels, channels * num_values, 1, "B", groups))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_discrete(x, self.num_values, shape=self.image_shape)
        check_same_device(self, x)
        dtype = self.input_conv.weight.dtype
        label_one_hot = one_hot_labels(labels, self.num_classes, len(x), dtype)
        h = self.input_conv(scale_input(x, self.num_values, dtype))
        if self.input_label_bias is not None:
            h = h + self.input_label_bias(label_one_hot)[:, :, None, None]
        for block in self.blocks:
            h = block(h, label_one_hot)
        return to_channels_last(self.output(h), self.image_shape[0])

    def log_prob(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return categorical_log_prob(self(x, labels), x)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None,
               given: torch.Tensor | None = None, temperature: float = 1.0) -> torch.Tensor:
        """n images (n, C, H, W); `given` (n, C, R, W) fixes the top R rows (completion)."""
        draw = lambda logits: sample_categorical(logits, generator, temperature)
        return sample_in_raster_order(self, n, draw, labels, given)
