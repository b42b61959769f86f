"""PixelSNAIL (Chen et al., 2018): gated causal convolutions for the neighbourhood, causal attention
for everything earlier.

    image x (N, C, H, W) long -> floats in [-1, 1]
    -> num_blocks blocks, each:
         layers_per_block gated layers of the Gated PixelCNN (vertical and horizontal stacks, the
         very first layer type A)                              -> h (N, F, H, W)
         h + attention: every pixel attends to ALL earlier pixels (raster order)
    -> ReLU, masked 1x1, ReLU, masked 1x1 -> logits (N, C, H, W, K)

The convolutions see a neighbourhood that grows with depth; the attention sees every earlier pixel
at once, so a single block already covers the whole past (the tests compare its receptive field
with the Gated PixelCNN's, measured by utils.checks.dependency_report).

Why the attention is causal, at pixel i:
- keys and values are computed from the features h, the image and the (row, column) of pixel i - 1
  (the pixels shifted by one in raster order, zeros before pixel 0), and the causal mask lets
  pixel i read keys 0, ..., i: whole pixels before i, every colour of them;
- queries read the (row, column) of pixel i and the first colour group of h (the red features),
  which have seen earlier pixels only. So the result can go to every colour group; inside a pixel,
  the masked convolutions keep R before G before B.
Sampling runs the full forward pass at every position (utils.sampling.sample; no cached step).
"""
import torch
import torch.nn.functional as F
from torch import nn

from ..attention_masks import attention_mask
from ..sampling import categorical_log_prob
from ..sequences import raster_positions
from ..validation import check_discrete, check_positive_int, check_same_device
from .attention import MultiHeadAttention
from .conditioning import one_hot_condition
from .gated_pixelcnn import GatedLayer
from .image_layers import MaskedConv2d, check_image_shape, scale_input, to_channels_last


def as_tokens(features: torch.Tensor) -> torch.Tensor:
    """(N, F, H, W) -> (N, H*W, F): one token per pixel, in raster order."""
    return features.flatten(2).transpose(1, 2)


class PixelSNAILBlock(nn.Module):
    """Gated layers, then causal attention over the earlier pixels added to the horizontal stack.

    forward: v, h (N, in_channels, H, W), image (N, C, H, W) floats, positions (H*W, 2),
    mask (H*W, H*W) causal -> v, h (N, channels, H, W).
    """

    def __init__(self, in_channels: int, channels: int, kernel_size: int, num_layers: int, first_mask_type: str,
                 color_groups: int, num_classes: int | None, num_heads: int, fused: bool):
        super().__init__()
        self.layers = nn.ModuleList(
            GatedLayer(in_channels if i == 0 else channels, channels, kernel_size,
                       first_mask_type if i == 0 else "B", color_groups, num_classes)
            for i in range(check_positive_int(num_layers, "layers_per_block")))
        self.red_channels = channels // color_groups              # the first colour group of h
        self.attention = MultiHeadAttention(channels, num_heads, query_input_size=self.red_channels + 2,
                                            key_input_size=channels + color_groups + 2, fused=fused)

    def forward(self, v, h, image, positions, mask, one_hot=None):
        for layer in self.layers:
            v, h = layer(v, h, one_hot)
        where = positions.expand(len(h), -1, -1)                                  # (N, H*W, 2)
        queries_from = torch.cat([as_tokens(h[:, :self.red_channels]), where], dim=-1)
        pixels = torch.cat([as_tokens(h), as_tokens(image), where], dim=-1)      # (N, H*W, F + C + 2)
        keys_from = F.pad(pixels, (0, 0, 1, 0))[:, :-1]                          # token j: pixel j - 1
        attended = self.attention(queries_from, mask, keys_from)                 # (N, H*W, F)
        return v, h + attended.transpose(1, 2).reshape(h.shape)


class PixelSNAIL(nn.Module):
    """Blocks of gated convolutions and causal attention over all earlier pixels.

    image_shape: (C, H, W), the event shape; num_values: K.
    hidden_channels: F (a multiple of C and of num_heads); num_blocks blocks of layers_per_block
    gated layers with kernel_size k, then attention with num_heads heads (fused: see MultiHeadAttention).
    num_classes: class-conditional; each gated layer adds a bias computed from the one-hot label.
    forward: x (N, C, H, W) long [, condition (N,)] -> logits (N, C, H, W, K).
    log_prob: x [, condition] -> (N,) nats.  Sample with utils.sampling.sample(model, n).
    input_features / forward_features: the seam for gradient pictures (as in GatedPixelCNN).
    """

    def __init__(self, image_shape, num_values: int, hidden_channels: int = 64, num_blocks: int = 2,
                 layers_per_block: int = 2, kernel_size: int = 3, num_heads: int = 4,
                 num_classes: int | None = None, fused: bool = False):
        super().__init__()
        self.image_shape = self.event_shape = check_image_shape(image_shape)
        self.num_values = check_positive_int(num_values, "num_values")
        self.num_classes = None if num_classes is None else check_positive_int(num_classes, "num_classes")
        channels, height, width = self.image_shape
        self.blocks = nn.ModuleList(
            PixelSNAILBlock(channels if b == 0 else hidden_channels, hidden_channels, kernel_size, layers_per_block,
                            "A" if b == 0 else "B", channels, num_classes, num_heads, fused)
            for b in range(check_positive_int(num_blocks, "num_blocks")))
        self.register_buffer("mask", attention_mask("causal", height * width), persistent=False)
        self.register_buffer("positions", raster_positions(height, width), persistent=False)
        self.output = nn.Sequential(
            nn.ReLU(), MaskedConv2d(hidden_channels, hidden_channels, 1, "B", channels),
            nn.ReLU(), MaskedConv2d(hidden_channels, channels * num_values, 1, "B", channels))

    def input_features(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W) long -> the float image the network reads, values scaled to [-1, 1]."""
        check_discrete(x, self.num_values, shape=self.image_shape)
        check_same_device(self, x)
        return scale_input(x, self.num_values, self.positions.dtype)

    def forward_features(self, features: torch.Tensor, condition=None) -> torch.Tensor:
        """Logits (N, C, H, W, K) as a differentiable function of the float input (N, C, H, W)."""
        one_hot = one_hot_condition(condition, self.num_classes, len(features), features.dtype, features.device)
        v = h = features
        for block in self.blocks:
            v, h = block(v, h, features, self.positions, self.mask, one_hot)
        return to_channels_last(self.output(h), self.image_shape[0])

    def forward(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        return self.forward_features(self.input_features(x), condition)

    def log_prob(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        return categorical_log_prob(self(x, condition), x)
