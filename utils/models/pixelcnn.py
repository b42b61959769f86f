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

Fast generation (Ramachandran et al., 2017, `start_cache` / `cached_step`, used by
utils.sampling.sample): a sampling step needs the logits of one sub-pixel, and a new value can only
change the layers' outputs at later pixels. So the cache keeps the (zero-padded) input map of every k x k layer,
and a step computes every layer at the current pixel only: a k x k window of the map below it, all of
whose visible pixels are earlier and already final, then the 1x1 convolutions. A step costs
O(layers k^2 channels^2) instead of a full forward pass over H x W pixels; it computes forward's
sums at one pixel, so its logits equal forward's up to float rounding (~1e-7) and the samples come
out identical (the tests; `python -m utils.bench.fast_pixelcnn` times both).

Another image size: every layer is a convolution, so the same weights make a model of any height
and width (`with_image_shape(model, (C, H2, W2))` in image_layers.py).
"""
import torch
import torch.nn.functional as F
from torch import nn

from ..sampling import categorical_log_prob
from ..validation import check_discrete, check_positive_int, check_same_device
from .conditioning import one_hot_condition
from .image_layers import (MaskedConv2d, check_image_shape, conv_at_pixel, kernel_matrix, pixelcnn_mask, pointwise,
                           scale_input, start_cached_step, to_channels_last, write_previous_value)


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
    start_cache / cached_step: fast generation, one pixel's worth of work per step (module docstring).
    Another image size: image_layers.with_image_shape(model, (C, H2, W2)) (the same layers).
    """

    fully_convolutional = True      # no weight depends on H or W: see image_layers.with_image_shape

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

    # ------------------------------------------------------------------------------------------
    # fast generation: compute only what the new value can change, where it is needed next

    def start_cache(self, n: int, condition=None) -> dict:
        """What the cached steps keep: the input map of every k x k convolution, and constants.

        maps: maps[0] is the scaled image the type-A layer reads, maps[b + 1] is relu(h), the input of
            residual block b's k x k convolution; each zero-padded, (n, channels, H + k - 1, W + k - 1).
            They start as zeros: outside the image that is exactly forward's padding; inside, a
            cached step writes each pixel before a later pixel reads it.
        matrices: every convolution's masked kernel as a matrix (kernel_matrix), computed once here.
        label_biases: what each layer adds for the label (n, hidden), or None (unconditional).
        """
        channels, height, width = self.image_shape
        weight = self.input_conv.weight
        padded_convs = [self.input_conv] + [block.conv for block in self.blocks]
        maps = [torch.zeros(n, conv.in_channels, height + 2 * conv.padding[0], width + 2 * conv.padding[1],
                            dtype=weight.dtype, device=weight.device) for conv in padded_convs]
        convs = [module for module in self.modules() if isinstance(module, MaskedConv2d)]
        one_hot = one_hot_condition(condition, self.num_classes, n, weight.dtype, weight.device)
        label_biases = None
        if one_hot is not None:
            label_biases = [self.input_label_bias(one_hot)] + [block.label_bias(one_hot) for block in self.blocks]
        return {"maps": maps, "matrices": {conv: kernel_matrix(conv) for conv in convs},
                "label_biases": label_biases, "next_step": 0}

    def cached_step(self, x: torch.Tensor, step: int, cache: dict, condition=None) -> torch.Tensor:
        """Logits (n, K) of sub-pixel `step` in generation order: colour step % C of pixel step // C (raster order).

        x (n, C, H, W) holds the values drawn so far. Since the last step one value changed, the one
        drawn at step - 1: it is written into the input map of the first layer. Then every layer is
        computed at the current pixel only, each from the window its masked kernel reads.
        """
        channels, height, width = self.image_shape
        start_cached_step(self, x, step, cache)
        maps, matrices, label_biases = cache["maps"], cache["matrices"], cache["label_biases"]
        write_previous_value(maps[0], x, step, self.num_values, self.input_conv.padding[0])
        pixel, colour = divmod(step, channels)
        row, col = divmod(pixel, width)
        h = conv_at_pixel(self.input_conv, maps[0], row, col, matrices[self.input_conv])     # (n, hidden)
        if label_biases is not None:
            h = h + label_biases[0]
        for b, (block, padded) in enumerate(zip(self.blocks, maps[1:])):
            pad = block.conv.padding[0]
            padded[:, :, row + pad, col + pad] = F.relu(h)        # this pixel's input to the block's k x k conv
            a = conv_at_pixel(block.conv, padded, row, col, matrices[block.conv])
            if label_biases is not None:
                a = a + label_biases[b + 1]
            h = h + pointwise(block.mix, F.relu(a), matrices[block.mix])
        _, hidden_1x1, _, logits_1x1 = self.output
        h = pointwise(hidden_1x1, F.relu(h), matrices[hidden_1x1])
        out = pointwise(logits_1x1, F.relu(h), matrices[logits_1x1])                         # (n, C * K)
        return out.reshape(out.shape[0], channels, self.num_values)[:, colour]
