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

from ..sampling import categorical_log_prob
from ..validation import check_discrete, check_positive_int, check_same_device
from .conditioning import one_hot_condition
from .image_layers import MaskedConv2d, check_image_shape, pixelcnn_mask, scale_input, to_channels_last


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

    image_shape: (C, H, W), the event shape; num_values: K.
    num_layers: masked k x k layers: the type-A input layer and num_layers - 1 residual blocks.
    forward: x (N, C, H, W) long [, condition (N,)] -> logits (N, C, H, W, K).
    log_prob: x [, condition] -> (N,) nats.  Sample with utils.sampling.sample(model, n).
    channel_masks: split the channels into C colour groups so that, inside a pixel, R is generated
    before G before B (C > 1). With False, the C values of a pixel are predicted from earlier pixels
    only (still a valid model, just a weaker one).
    num_classes: make the model class-conditional; every layer adds a bias computed from the
    one-hot label, and every call then needs `condition` (class labels (N,)).
    input_features / forward_features: the seam for gradient pictures (see forward_features).
    """

    def __init__(self, image_shape, num_values: int, hidden_channels: int = 64, num_layers: int = 6,
                 first_kernel_size: int = 7, kernel_size: int = 3, channel_masks: bool = True,
                 num_classes: int | None = None):
        super().__init__()
        self.image_shape = self.event_shape = check_image_shape(image_shape)
        self.num_values = check_positive_int(num_values, "num_values")
        self.num_classes = None if num_classes is None else check_positive_int(num_classes, "num_classes")
        num_blocks = check_positive_int(num_layers, "num_layers") - 1
        channels = self.image_shape[0]
        groups = channels if channel_masks else 1
        self.input_conv = MaskedConv2d(channels, hidden_channels, first_kernel_size, "A", groups)
        self.input_label_bias = nn.Linear(num_classes, hidden_channels, bias=False) if num_classes else None
        self.blocks = nn.ModuleList(ResidualBlock(hidden_channels, kernel_size, groups, num_classes)
                                    for _ in range(num_blocks))
        self.output = nn.Sequential(
            nn.ReLU(), MaskedConv2d(hidden_channels, hidden_channels, 1, "B", groups),
            nn.ReLU(), MaskedConv2d(hidden_channels, channels * num_values, 1, "B", groups))

    def input_features(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W) long -> the float image the first layer reads, values scaled to [-1, 1]."""
        check_discrete(x, self.num_values, shape=self.image_shape)
        check_same_device(self, x)
        return scale_input(x, self.num_values, self.input_conv.weight.dtype)

    def forward_features(self, features: torch.Tensor, condition=None) -> torch.Tensor:
        """Logits (N, C, H, W, K) as a differentiable function of the float input (N, C, H, W).

        forward(x) is forward_features(input_features(x)); gradient pictures differentiate this.
        """
        label_one_hot = one_hot_condition(condition, self.num_classes, len(features), features.dtype, features.device)
        h = self.input_conv(features)
        if self.input_label_bias is not None:
            h = h + self.input_label_bias(label_one_hot)[:, :, None, None]
        for block in self.blocks:
            h = block(h, label_one_hot)
        return to_channels_last(self.output(h), self.image_shape[0])

    def forward(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        return self.forward_features(self.input_features(x), condition)

    def log_prob(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        return categorical_log_prob(self(x, condition), x)
