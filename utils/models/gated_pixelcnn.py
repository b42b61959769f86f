"""Gated PixelCNN: two stacks of convolutions that together see every earlier pixel (no blind spot).

- The vertical stack looks at the rows above. Its convolution has a (k//2 + 1) x k kernel padded
  so that output row i covers input rows i - k//2 ... i, the full width of the kernel. Before its
  features are handed to the horizontal stack they are shifted down by one row (`shift_down`), so
  pixel (i, j) only receives information from rows strictly above i.
- The horizontal stack looks along the current row: a 1 x k convolution masked like the centre row
  of a PixelCNN kernel (pixels to the left; at the centre pixel, the earlier colour groups with a
  type A mask in the first layer and also its own group with type B after that).
- Each layer: both stacks go through a gated unit tanh(a) * sigmoid(b); the horizontal stack adds
  the shifted vertical features before its gate, and keeps a residual connection (type B layers).

Colour channels (C > 1): the horizontal stack's masks split the channels into C groups exactly as
PixelCNN does, in the first layer, in every later layer and in the 1x1 output head, so inside a
pixel R is generated before G before B. The vertical stack needs no colour mask: after the shift
it only carries information from whole pixels above.

Outputs: forward always gives logits (N, C, H, W, K). With output="categorical" the network's last
layer computes them directly; with output="logistic_mixture" it computes the parameters of a
discretised logistic mixture per sub-pixel (3M numbers, see logistic_mixture_head.py) and the logits
are the mixture's log-probabilities of the K values, so log_prob and sampling are the same for both.

Fast generation (`start_cache` / `cached_step`, used by utils.sampling.sample; the idea of
Ramachandran et al., 2017, as for PixelCNN): the horizontal stack is computed at the current pixel
only, from its 1 x k window of the row. The vertical stack of row r only feeds row r + 1 (shifted
down), and its kernel reaches to the right of the pixel, so it is computed once per row, for the
whole row, as soon as the row is complete: O(W) work every W pixels, constant per step. The logits
equal forward's up to float rounding, and the samples come out identical (the tests).
"""
import torch
import torch.nn.functional as F
from torch import nn

from ..sampling import categorical_log_prob
from ..validation import check_discrete, check_positive_int, check_same_device
from .conditioning import one_hot_condition
from .image_layers import (MaskedConv2d, check_image_shape, kernel_matrix, pixelcnn_mask, pointwise, scale_input,
                           start_cached_step, to_channels_last, write_previous_value)
from .logistic_mixture_head import mixture_params, mixture_value_log_probs


def shift_down(v: torch.Tensor) -> torch.Tensor:
    """Move features one row down (a zero row enters at the top): (N, C, H, W) -> (N, C, H, W)."""
    return F.pad(v, (0, 0, 1, 0))[:, :, :-1, :]


def gate(a: torch.Tensor) -> torch.Tensor:
    """The gated unit: channels (N, 2c, H, W) split into halves -> tanh(first) * sigmoid(second), (N, c, H, W)."""
    value, gate_logits = a.chunk(2, dim=1)
    return torch.tanh(value) * torch.sigmoid(gate_logits)


class VerticalConv(nn.Conv2d):
    """Output row i sees input rows i - k//2 ... i (and k columns): (N, in, H, W) -> (N, out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__(in_channels, out_channels, (kernel_size // 2 + 1, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = self.kernel_size[1] // 2
        return super().forward(F.pad(x, (pad, pad, pad, 0)))      # left, right, top, bottom


class HorizontalConv(nn.Conv2d):
    """A 1 x k convolution along the row, masked like the centre row of a PixelCNN kernel.

    The out_channels are the two halves of a gate; both halves get the same mask so that the tanh
    and sigmoid channels that are multiplied together belong to the same colour group.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str, color_groups: int):
        super().__init__(in_channels, out_channels, (1, kernel_size), padding=(0, kernel_size // 2))
        half = pixelcnn_mask(kernel_size, mask_type, in_channels, out_channels // 2, color_groups)
        centre_row = half[:, :, kernel_size // 2:kernel_size // 2 + 1, :]
        self.register_buffer("mask", torch.cat([centre_row, centre_row]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.mask * self.weight, self.bias, padding=self.padding)


class GatedLayer(nn.Module):
    """One layer of both stacks: (v, h) (N, in, H, W) each -> (v, h) (N, channels, H, W) each."""

    def __init__(self, in_channels: int, channels: int, kernel_size: int, mask_type: str, color_groups: int,
                 num_classes: int | None):
        super().__init__()
        self.vertical = VerticalConv(in_channels, 2 * channels, kernel_size)
        self.horizontal = HorizontalConv(in_channels, 2 * channels, kernel_size, mask_type, color_groups)
        self.vertical_to_horizontal = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.horizontal_out = MaskedConv2d(channels, channels, 1, "B", color_groups)
        self.label_bias = nn.Linear(num_classes, 2 * channels, bias=False) if num_classes else None
        self.residual = mask_type == "B"   # a type A layer must not pass its input (the pixel itself) on

    def forward(self, v: torch.Tensor, h: torch.Tensor, label_one_hot: torch.Tensor | None = None):
        v_features = self.vertical(v)                                    # rows <= i
        h_features = self.horizontal(h) + self.vertical_to_horizontal(shift_down(v_features))
        if self.label_bias is not None:
            bias = self.label_bias(label_one_hot)[:, :, None, None]
            v_features, h_features = v_features + bias, h_features + bias
        h_out = self.horizontal_out(gate(h_features))
        return gate(v_features), (h + h_out if self.residual else h_out)


class GatedPixelCNN(nn.Module):
    """A stack of gated layers (first one type A) and a 1x1 masked output head.

    image_shape: (C, H, W), the event shape; num_values: K; num_layers gated layers with kernel_size k.
    forward: x (N, C, H, W) long [, condition (N,)] -> logits (N, C, H, W, K) (for both outputs).
    log_prob: x [, condition] -> (N,) nats.  Sample with utils.sampling.sample(model, n).
    Every output sees every earlier sub-pixel once num_layers * (k // 2) >= max(W - 1, H - 2).
    num_classes: class-conditional; each layer adds a bias computed from the one-hot label.
    output: "categorical" (K logits per sub-pixel) or "logistic_mixture" (num_components logistics).
    input_features / forward_features: the seam for gradient pictures (see forward_features).
    start_cache / cached_step: fast generation (module docstring).
    Another image size: image_layers.with_image_shape(model, (C, H2, W2)) (the same layers).
    """

    fully_convolutional = True      # no weight depends on H or W: see image_layers.with_image_shape

    def __init__(self, image_shape, num_values: int, hidden_channels: int = 64, num_layers: int = 8,
                 kernel_size: int = 5, num_classes: int | None = None, output: str = "categorical",
                 num_components: int = 5):
        super().__init__()
        self.image_shape = self.event_shape = check_image_shape(image_shape)
        self.num_values = check_positive_int(num_values, "num_values")
        self.num_classes = None if num_classes is None else check_positive_int(num_classes, "num_classes")
        check_positive_int(num_layers, "num_layers")
        if output not in ("categorical", "logistic_mixture"):
            raise ValueError(f"output must be 'categorical' or 'logistic_mixture', got {output!r}")
        self.output_kind = output
        channels = self.image_shape[0]
        per_channel = num_values if output == "categorical" else 3 * check_positive_int(num_components, "num_components")
        self.layers = nn.ModuleList(
            GatedLayer(channels if i == 0 else hidden_channels, hidden_channels, kernel_size,
                       "A" if i == 0 else "B", channels, num_classes)
            for i in range(num_layers))
        self.output = nn.Sequential(
            nn.ReLU(), MaskedConv2d(hidden_channels, hidden_channels, 1, "B", channels),
            nn.ReLU(), MaskedConv2d(hidden_channels, channels * per_channel, 1, "B", channels))

    def input_features(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W) long -> the float image both stacks read, values scaled to [-1, 1]."""
        check_discrete(x, self.num_values, shape=self.image_shape)
        check_same_device(self, x)
        return scale_input(x, self.num_values, self.output[-1].weight.dtype)

    def forward_features(self, features: torch.Tensor, condition=None) -> torch.Tensor:
        """Logits (N, C, H, W, K) as a differentiable function of the float input (N, C, H, W).

        forward(x) is forward_features(input_features(x)); gradient pictures differentiate this.
        """
        label_one_hot = one_hot_condition(condition, self.num_classes, len(features), features.dtype, features.device)
        v = h = features
        for layer in self.layers:
            v, h = layer(v, h, label_one_hot)
        out = to_channels_last(self.output(h), self.image_shape[0])
        if self.output_kind == "logistic_mixture":
            return mixture_value_log_probs(mixture_params(out, self.num_values), self.num_values)
        return out

    def forward(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        return self.forward_features(self.input_features(x), condition)

    def log_prob(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        return categorical_log_prob(self(x, condition), x)

    # ------------------------------------------------------------------------------------------
    # fast generation: the horizontal stack one pixel at a time, the vertical stack one row at a time

    def start_cache(self, n: int, condition=None) -> dict:
        """What the cached steps keep, all zeros at first (outside the image, that is forward's padding).

        vertical_inputs[i]: the input of layer i's vertical convolution, (n, in, H + p, W + 2p) with
            p = k // 2 rows of padding on top and p columns on each side; [0] is the scaled image,
            which the horizontal stack of layer 0 reads too.
        horizontal_inputs[i]: the input of layer i's horizontal convolution for i >= 1, (n, c, H, W + 2p).
        above[i]: layer i's vertical features of the row above the current one, before the label bias
            (what shift_down hands to the horizontal stack), (n, 2c, W).
        """
        channels, height, width = self.image_shape
        weight = self.output[-1].weight
        pad = self.layers[0].vertical.kernel_size[1] // 2
        zeros = lambda *shape: torch.zeros(n, *shape, dtype=weight.dtype, device=weight.device)
        one_hot = one_hot_condition(condition, self.num_classes, n, weight.dtype, weight.device)
        return {"vertical_inputs": [zeros(layer.vertical.in_channels, height + pad, width + 2 * pad)
                                    for layer in self.layers],
                "horizontal_inputs": [None] + [zeros(layer.horizontal.in_channels, height, width + 2 * pad)
                                               for layer in self.layers[1:]],
                "above": [zeros(layer.vertical.out_channels, width) for layer in self.layers],
                "matrices": {conv: kernel_matrix(conv) for conv in self.modules() if isinstance(conv, nn.Conv2d)},
                "label_biases": None if one_hot is None else [layer.label_bias(one_hot) for layer in self.layers],
                "next_step": 0}

    def _vertical_row(self, cache: dict, row: int) -> None:
        """Run the vertical stack over the whole (complete) row `row`: fill `above` for the next row and
        write the gated features of the row into the next layer's vertical input."""
        pad = self.layers[0].vertical.kernel_size[1] // 2
        for i, layer in enumerate(self.layers):
            strip = cache["vertical_inputs"][i][:, :, row:row + pad + 1]              # input rows row - p ... row
            features = F.conv2d(strip, layer.vertical.weight, layer.vertical.bias)[:, :, 0]   # (n, 2c, W)
            cache["above"][i] = features
            if i + 1 < len(self.layers):
                if cache["label_biases"] is not None:
                    features = features + cache["label_biases"][i][:, :, None]
                cache["vertical_inputs"][i + 1][:, :, row + pad, pad:-pad or None] = gate(features)

    def cached_step(self, x: torch.Tensor, step: int, cache: dict, condition=None) -> torch.Tensor:
        """Logits (n, K) of sub-pixel `step` in generation order: colour step % C of pixel step // C (raster order).

        Writes the value drawn at the previous step into the image map; at the first step of a row,
        runs the vertical stack over the row above (now complete); then runs the horizontal stack
        and the output head at the current pixel only.
        """
        channels, height, width = self.image_shape
        start_cached_step(self, x, step, cache)
        pad = self.layers[0].vertical.kernel_size[1] // 2
        image, matrices, label_biases = cache["vertical_inputs"][0], cache["matrices"], cache["label_biases"]
        write_previous_value(image, x, step, self.num_values, pad)
        pixel, colour = divmod(step, channels)
        row, col = divmod(pixel, width)
        if col == 0 and colour == 0 and row > 0:
            self._vertical_row(cache, row - 1)
        h = None
        for i, layer in enumerate(self.layers):
            h_map = image[:, :, pad:] if i == 0 else cache["horizontal_inputs"][i]  # (n, in, H, W + 2p)
            window = h_map[:, :, row, col:col + 2 * pad + 1]                         # (n, in, k): this row's window
            h_features = F.linear(window.reshape(window.shape[0], -1), matrices[layer.horizontal],
                                  layer.horizontal.bias)
            h_features = h_features + pointwise(layer.vertical_to_horizontal, cache["above"][i][:, :, col],
                                                matrices[layer.vertical_to_horizontal])
            if label_biases is not None:
                h_features = h_features + label_biases[i]
            h_out = pointwise(layer.horizontal_out, gate(h_features), matrices[layer.horizontal_out])
            h = h_map[:, :, row, col + pad] + h_out if layer.residual else h_out
            if i + 1 < len(self.layers):
                cache["horizontal_inputs"][i + 1][:, :, row, col + pad] = h
        _, hidden_1x1, _, last_1x1 = self.output
        out = pointwise(last_1x1, F.relu(pointwise(hidden_1x1, F.relu(h), matrices[hidden_1x1])), matrices[last_1x1])
        out = out.reshape(out.shape[0], channels, -1)[:, colour]                    # (n, K) or (n, 3M)
        if self.output_kind == "logistic_mixture":
            return mixture_value_log_probs(mixture_params(out, self.num_values), self.num_values)
        return out
