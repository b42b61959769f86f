"""WaveNet: a stack of dilated causal convolutions with gated units, residual and skip connections.

    values x (N, D) --shift right, START first--> embedding (N, C, D) [+ 2 position channels]
        -> GatedResidualBlock(dilation d_1) -> ... -> GatedResidualBlock(dilation d_L)
        -> sum of the blocks' skip outputs -> ReLU -> 1x1 conv -> ReLU -> 1x1 conv -> logits (N, D, K)

A causal convolution only looks left: its output at t reads its input at t, t-d, ..., t-(k-1)d.
Because the values are shifted right by one before the first layer, output i reads x_{i-1} and
earlier, never x_i. Stacking layers widens the view to R = `receptive_field(kernel_size, dilations)`
values: output i depends on x_{i-R}, ..., x_{i-1} (fewer near the start), on every one of them when
the dilations leave no holes (see `reachable_offsets`; 1, 2, 4, 8, ... with kernel 2 leaves none).

Sampling (utils.sampling.sample) needs D sequential steps. The naive way reruns the whole network
over the sequence at every step (cost grows with the length). The cached way (fast WaveNet,
`cached_step`) keeps, for every layer, a queue of its last (k-1)*d + 1 inputs: a new step only pushes
one activation per layer and convolves the k taps it needs, so each step costs O(layers). Both draw
the same random numbers in the same order.
The step computes forward's sums for one position as small matrix products, so its logits equal
forward's up to float rounding (~1e-7); the samples come out identical (checked over many seeds in
the tests and by `python -m utils.bench.wavenet_cache`).
"""
from collections import deque

import torch
import torch.nn.functional as F
from torch import nn

from ..sampling import categorical_log_prob
from ..sequences import as_sequence, check_image_shape, previous_values, raster_positions, sequence_event_shape, shift_right
from ..validation import check_positive_int
from .conditioning import one_hot_condition


def receptive_field(kernel_size: int, dilations) -> int:
    """How far one output of a stack of causal convolutions can see: the span from the oldest input
    that reaches it to its own position.

    Layer l adds (kernel_size - 1) * dilations[l] inputs to the left: R = 1 + (k - 1) * sum(d).
    e.g. kernel 2, dilations 1, 2, 4, 8 -> 16.
    """
    check_positive_int(kernel_size, "kernel_size")
    dilations = _check_dilations(dilations)
    return 1 + (kernel_size - 1) * sum(dilations)


def reachable_offsets(kernel_size: int, dilations) -> list[int]:
    """How far back (0 = the same position) lie the inputs that reach one output of the stack.

    Each layer adds one of 0, d, ..., (k-1)*d to the offset. The largest offset is
    receptive_field - 1; a gap in the list is a hole in the view (e.g. kernel 2, dilations 2, 2).
    """
    check_positive_int(kernel_size, "kernel_size")
    offsets = {0}
    for d in _check_dilations(dilations):
        offsets = {offset + j * d for offset in offsets for j in range(kernel_size)}
    return sorted(offsets)


def pointwise(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution at a single position: x (N, C_in) -> (N, C_out), as one matrix product."""
    return F.linear(x, conv.weight[:, :, 0], conv.bias)


class CausalConv1d(nn.Module):
    """A 1D convolution padded on the left only: out[:, :, t] reads in[:, :, t - j*d] for j < k.

    forward: (N, C_in, L) -> (N, C_out, L).
    step: the k inputs one output needs, taps (N, C_in, k) ordered oldest first
          [in[t-(k-1)d], ..., in[t-d], in[t]] -> (N, C_out), the output at t.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1):
        super().__init__()
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        self.dilation = check_positive_int(dilation, "dilation")
        self.left_padding = (kernel_size - 1) * dilation
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (self.left_padding, 0)))

    def step(self, taps: torch.Tensor) -> torch.Tensor:
        # the convolution's sum at one position, as one matrix product (a convolution call on such a
        # tiny input costs far more)
        return F.linear(taps.flatten(1), self.conv.weight.flatten(1), self.conv.bias)


class GatedResidualBlock(nn.Module):
    """z = tanh(W_f * x + V_f c) . sigmoid(W_g * x + V_g c); residual x + 1x1(z); skip 1x1(z).

    * is the dilated causal convolution; c is an optional one-hot class label (N, num_classes) that
    adds a learned per-layer bias V c to the filter and gate.
    forward: x (N, C, L) -> (residual (N, C, L), skip (N, S, L)).
    step: the same at one position: taps (N, C, k) (see CausalConv1d.step) -> ((N, C), (N, S)).
    """

    def __init__(self, channels: int, skip_channels: int, kernel_size: int, dilation: int,
                 num_classes: int | None = None):
        super().__init__()
        self.conv = CausalConv1d(channels, 2 * channels, kernel_size, dilation)
        self.condition = nn.Linear(num_classes, 2 * channels, bias=False) if num_classes else None
        self.residual = nn.Conv1d(channels, channels, 1)
        self.skip = nn.Conv1d(channels, skip_channels, 1)

    def _gated_unit(self, filter_and_gate: torch.Tensor, one_hot: torch.Tensor | None) -> torch.Tensor:
        """(N, 2C, L) -> z (N, C, L)."""
        if self.condition is not None:
            filter_and_gate = filter_and_gate + self.condition(one_hot)[:, :, None]
        filter_part, gate_part = filter_and_gate.chunk(2, dim=1)
        return torch.tanh(filter_part) * torch.sigmoid(gate_part)

    def forward(self, x: torch.Tensor, one_hot: torch.Tensor | None = None):
        z = self._gated_unit(self.conv(x), one_hot)
        return x + self.residual(z), self.skip(z)

    def step(self, taps: torch.Tensor, one_hot: torch.Tensor | None = None):
        z = self._gated_unit(self.conv.step(taps)[:, :, None], one_hot)[:, :, 0]     # (N, C)
        return taps[:, :, -1] + pointwise(self.residual, z), pointwise(self.skip, z)


class WaveNet(nn.Module):
    """An autoregressive model of sequences (or raster-scanned images) of values in [0, K).

    dilations:   one gated residual block per entry, e.g. (1, 2, 4, 8) or (1, 2, 4, 8) * 2.
    channels:    width of the residual stream; skip_channels: width of the skip outputs (default
                 channels).
    length:      the length of the sequences it generates (event shape (length,)); forward and
                 log_prob take sequences of any length.
    image_shape: (H, W) for raster-scanned single-channel images (event shape (1, H, W)): two extra
                 input channels hold the normalised (row, column) of the pixel being predicted, and
                 forward/log_prob accept images (N, 1, H, W) as well as flat sequences (N, D), D <= H*W.
    num_classes: make the model class-conditional: every call then needs `condition`, class labels
                 (N,) (each block adds a learned bias computed from the one-hot label).
    forward: x (N, D) -> logits (N, D, K);  x (N, 1, H, W) -> logits (N, 1, H, W, K).
    log_prob: x -> (N,) nats.  start_cache / cached_step: fast generation (utils.sampling.sample).
    """

    def __init__(self, num_values: int, dilations=(1, 2, 4, 8), *, kernel_size: int = 2, channels: int = 32,
                 skip_channels: int | None = None, image_shape: tuple[int, int] | None = None,
                 num_classes: int | None = None, length: int | None = None):
        super().__init__()
        self.num_values = check_positive_int(num_values, "num_values")
        self.start_token = num_values
        self.dilations = _check_dilations(dilations)
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        self.receptive_field = receptive_field(kernel_size, self.dilations)
        self.channels = check_positive_int(channels, "channels")
        skip_channels = check_positive_int(skip_channels or channels, "skip_channels")
        self.image_shape = check_image_shape(image_shape)
        self.length = None if length is None else check_positive_int(length, "length")
        self.num_classes = None if num_classes is None else check_positive_int(num_classes, "num_classes")
        position_channels = 2 if image_shape else 0
        if channels <= position_channels:
            raise ValueError(f"channels must exceed the {position_channels} position channels, got {channels}")
        self.embedding = nn.Embedding(num_values + 1, channels - position_channels)
        if image_shape:
            self.register_buffer("positions", raster_positions(*image_shape).T.contiguous(), persistent=False)
        self.blocks = nn.ModuleList(GatedResidualBlock(channels, skip_channels, kernel_size, d, num_classes)
                                    for d in self.dilations)
        self.head_hidden = nn.Conv1d(skip_channels, skip_channels, 1)
        self.head_output = nn.Conv1d(skip_channels, num_values, 1)

    @property
    def event_shape(self) -> tuple:
        return sequence_event_shape(self.length, self.image_shape)

    def _inputs(self, previous: torch.Tensor, first_position: int = 0) -> torch.Tensor:
        """previous values (N, L) -> first-layer input (N, C, L) for positions first_position, ..."""
        features = self.embedding(previous).transpose(1, 2)            # (N, C [-2], L)
        if self.image_shape:
            where = self.positions[:, first_position:first_position + previous.shape[1]]
            features = torch.cat([features, where.expand(len(previous), -1, -1)], dim=1)
        return features

    def forward(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        sequence = as_sequence(x, self.num_values, self.image_shape)
        one_hot = one_hot_condition(condition, self.num_classes, len(x), device=x.device)
        h = self._inputs(shift_right(sequence, self.start_token))     # (N, C, D)
        skips = 0
        for block in self.blocks:
            h, skip = block(h, one_hot)
            skips = skips + skip
        logits = self.head_output(F.relu(self.head_hidden(F.relu(skips))))   # (N, K, D)
        logits = logits.transpose(1, 2)
        return logits.reshape(*x.shape, self.num_values)

    def log_prob(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        return categorical_log_prob(self(x, condition), x)

    # ------------------------------------------------------------------------------------------
    # fast generation

    def start_cache(self, n: int, condition=None) -> dict:
        """One queue per block holding its last (k-1)*d + 1 inputs (n, C), oldest first, and the label.

        The queues start full of zeros: exactly the left padding the convolution sees at the start.
        """
        zeros = torch.zeros(n, self.channels, device=self.embedding.weight.device)
        queues = [deque([zeros] * (block.conv.left_padding + 1), maxlen=block.conv.left_padding + 1)
                  for block in self.blocks]
        return {"queues": queues, "one_hot": one_hot_condition(condition, self.num_classes, n, device=zeros.device)}

    def cached_step(self, x: torch.Tensor, step: int, cache: dict, condition=None) -> torch.Tensor:
        """Logits (n, K) of position `step` from the value before it and the queues of `cache`.

        Pushes one activation into every queue and reads the k taps each dilated convolution needs,
        so the cost does not grow with the position.
        """
        if step == 0:
            as_sequence(x, self.num_values, self.image_shape)             # the checks forward makes
        previous = previous_values(x, step, self.start_token)
        h = self._inputs(previous[:, None], step)[:, :, 0]            # (n, C)
        skips = 0
        for block, queue in zip(self.blocks, cache["queues"]):
            queue.append(h)
            taps = torch.stack([queue[j * block.conv.dilation] for j in range(self.kernel_size)], dim=2)
            h, skip = block.step(taps, cache["one_hot"])                # (n, C), (n, S)
            skips = skips + skip
        return pointwise(self.head_output, F.relu(pointwise(self.head_hidden, F.relu(skips))))


# ----------------------------------------------------------------------------------------------


def _check_dilations(dilations) -> tuple:
    dilations = tuple(dilations)
    if not dilations:
        raise ValueError("dilations must list at least one layer, e.g. (1, 2, 4, 8)")
    for d in dilations:
        check_positive_int(d, "every dilation")
    return dilations
