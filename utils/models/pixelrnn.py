"""PixelRNN (van den Oord et al. 2016): LSTMs that run over an image, as Row LSTM and Diagonal BiLSTM.

Order of generation: raster order over the pixels of a single-channel image (row by row, left to
right). Both models start like a PixelCNN, with a type-A masked k x k convolution, so the features
at pixel (r, c) only know pixels before (r, c). Then come LSTM layers, each with a residual
connection, and a 1x1 output head. What differs is the path the LSTM state takes over the image.

Row LSTM: the state moves down, one whole row per step. Row r's gates come from

    input-to-state:  a 1 x k convolution along row r, masked to columns <= c   (all rows at once)
    state-to-state:  a 1D convolution, kernel 3, over row r-1's hidden state    (row by row)

so h(r, c) reads h(r-1, c-1 .. c+1), which read row r-2 one column wider, and so on: a triangle
opening upwards. Pixels far to the right in the rows above lie outside it, at any depth.

        t t t t t t t t        t: inside the triangle above o
        t t t t t t t .        .: earlier, never seen
        t t t t t t . .        o: the pixel predicted
        t t t t t . . .        (one Row LSTM layer, 3x3 input convolution,
        . t t o                 1x3 input-to-state, measured in the tests)

Diagonal BiLSTM: the state moves along a diagonal. Skewing shifts row r right by r pixels,
(N, C, H, W) -> (N, C, H, H + W - 1), so that a diagonal of the image becomes a column:

        a b c d            a b c d . .
        e f g h    skew    . e f g h .
        i j k l   ---->    . . i j k l

An LSTM then runs over the columns, left to right. Its state-to-state convolution is 2 x 1 over the
previous column: skewed (r, j) reads (r - 1, j - 1) and (r, j - 1), which are the pixels above and to
the left of (r, c) in the image. Unskewing puts every output back at its pixel. Step by step the
state reaches the whole quadrant above-left of the pixel. A second LSTM runs right to left (the
same on the mirrored image) and reaches the quadrant above-right, but that one includes the pixels
to the right on the pixel's own row: its output is shifted down by one row before it is added, so
pixel (r, c) gets the right-to-left state of (r - 1, c), which holds rows above only.

One detail the paper leaves implicit: because of that shift, the right-to-left LSTM of the first
layer may read each pixel itself, and it has to. Fed the type-A features, which never contain
their own pixel, nothing it sees contains the last pixel of the row above, (r - 1, W - 1), and
neither does anything the left-to-right LSTM sees unless c is within k//2 of the right edge. So the
first layer's right-to-left LSTM reads a type-B convolution of the input (centre pixel included).
With that, every output sees every earlier pixel after one layer (tests/test_models_pixelrnn.py).

Input: long tensor (N, 1, H, W) with values in [0, K). Output of forward: logits (N, 1, H, W, K).
input_features / forward_features: the seam for gradient pictures, as in PixelCNN.
"""
import torch
import torch.nn.functional as F
from torch import nn

from ..sampling import categorical_log_prob
from ..validation import check_discrete, check_positive_int, check_same_device
from .conditioning import no_condition
from .image_layers import MaskedConv2d, check_image_shape, pixelcnn_mask, scale_input, to_channels_last


# ----------------------------------------------------------------------------------------------
# pieces


def lstm_update(gates: torch.Tensor, cell: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step: gates (N, 4h, ...) and cell (N, h, ...) -> new hidden (N, h, ...), new cell.

    The 4h gate channels are, in order: input gate, forget gate, output gate, candidate.
    """
    h = cell.shape[1]
    input_gate, forget_gate, output_gate = torch.sigmoid(gates[:, :3 * h]).chunk(3, dim=1)   # one call for three
    cell = forget_gate * cell + input_gate * torch.tanh(gates[:, 3 * h:])
    return output_gate * torch.tanh(cell), cell


def skew(x: torch.Tensor) -> torch.Tensor:
    """Shift row r right by r: (N, C, H, W) -> (N, C, H, H + W - 1), zeros where no pixel lands."""
    height = x.shape[2]
    return torch.stack([F.pad(x[:, :, r], (r, height - 1 - r)) for r in range(height)], dim=2)


def unskew(s: torch.Tensor, width: int) -> torch.Tensor:
    """Undo `skew`: (N, C, H, H + W - 1) -> (N, C, H, W)."""
    return torch.stack([s[:, :, r, r:r + width] for r in range(s.shape[2])], dim=2)


def shift_down(v: torch.Tensor) -> torch.Tensor:
    """Move features one row down (a zero row enters at the top): (N, C, H, W) -> (N, C, H, W)."""
    return F.pad(v, (0, 0, 1, 0))[:, :, :-1, :]


def check_single_channel(image_shape) -> tuple:
    """(1, H, W) as a tuple, or a clear error (PixelRNN here models one-channel images)."""
    image_shape = check_image_shape(image_shape)
    if image_shape[0] != 1:
        raise ValueError(f"PixelRNN models single-channel images, image_shape (1, H, W); got {image_shape}")
    return image_shape


class RowLSTMLayer(nn.Module):
    """An LSTM whose state moves down the image one row per step: (N, c, H, W) -> (N, h, H, W).

    input_to_state: 1 x k convolution along each row, masked so that column c reads columns <= c.
    state_to_state: 1D convolution (kernel 3) over the previous row's hidden state (N, h, W).
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int):
        super().__init__()
        self.input_to_state = nn.Conv2d(in_channels, 4 * hidden_channels, (1, kernel_size),
                                        padding=(0, kernel_size // 2))
        centre_row = pixelcnn_mask(kernel_size, "B", in_channels, 4 * hidden_channels)[:, :, kernel_size // 2]
        self.register_buffer("mask", centre_row[:, :, None, :])          # (4h, c, 1, k): columns <= centre
        self.state_to_state = nn.Conv1d(hidden_channels, 4 * hidden_channels, 3, padding=1)
        self.hidden_channels = hidden_channels

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        n, _, height, width = features.shape
        gates_from_input = F.conv2d(features, self.mask * self.input_to_state.weight, self.input_to_state.bias,
                                    padding=self.input_to_state.padding)          # (N, 4h, H, W), every row at once
        hidden = features.new_zeros(n, self.hidden_channels, width)
        cell = torch.zeros_like(hidden)
        rows = []
        for r in range(height):                                                   # the recurrence: row by row
            hidden, cell = lstm_update(gates_from_input[:, :, r] + self.state_to_state(hidden), cell)
            rows.append(hidden)
        return torch.stack(rows, dim=2)


class DiagonalLSTM(nn.Module):
    """An LSTM along the diagonals, left to right: (N, c, H, W) -> (N, h, H, W).

    Skew, then per column j of the skewed map: gates = input_to_state (1x1) + state_to_state
    (2 x 1 over column j - 1: rows r - 1 and r); unskew. h(r, c) sees the quadrant above-left of (r, c).
    """

    def __init__(self, in_channels: int, hidden_channels: int):
        super().__init__()
        self.input_to_state = nn.Conv2d(in_channels, 4 * hidden_channels, 1)
        self.state_to_state = nn.Conv1d(hidden_channels, 4 * hidden_channels, 2)
        self.hidden_channels = hidden_channels

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        n, _, height, width = features.shape
        gates_from_input = self.input_to_state(skew(features))                   # (N, 4h, H, H + W - 1)
        hidden = features.new_zeros(n, self.hidden_channels, height)
        cell = torch.zeros_like(hidden)
        columns = []
        for j in range(gates_from_input.shape[3]):                                # the recurrence: column by column
            from_state = self.state_to_state(F.pad(hidden, (1, 0)))               # row r reads rows r - 1 and r
            hidden, cell = lstm_update(gates_from_input[:, :, :, j] + from_state, cell)
            columns.append(hidden)
        return unskew(torch.stack(columns, dim=3), width)


class DiagonalBiLSTMLayer(nn.Module):
    """Left-to-right plus right-to-left diagonal LSTMs, the second shifted down one row: (N, c, H, W) -> (N, h, H, W).

    right_features: what the right-to-left LSTM reads (default: `features`); after the shift, it may
    contain each pixel itself (see the module docstring).
    """

    def __init__(self, in_channels: int, hidden_channels: int):
        super().__init__()
        self.left_to_right = DiagonalLSTM(in_channels, hidden_channels)
        self.right_to_left = DiagonalLSTM(in_channels, hidden_channels)

    def forward(self, features: torch.Tensor, right_features: torch.Tensor | None = None) -> torch.Tensor:
        right_features = features if right_features is None else right_features
        right = self.right_to_left(right_features.flip(3)).flip(3)               # mirror, run, mirror back
        return self.left_to_right(features) + shift_down(right)


# ----------------------------------------------------------------------------------------------
# the models


class _PixelRNN(nn.Module):
    """What both models share: type-A input convolution, residual LSTM layers, 1x1 output head."""

    def __init__(self, image_shape, num_values: int, hidden_channels: int, num_layers: int, first_kernel_size: int):
        super().__init__()
        self.image_shape = self.event_shape = check_single_channel(image_shape)
        self.num_values = check_positive_int(num_values, "num_values")
        check_positive_int(hidden_channels, "hidden_channels")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        self.input_conv = MaskedConv2d(1, hidden_channels, first_kernel_size, "A")
        self.residual = nn.ModuleList(nn.Conv2d(hidden_channels, hidden_channels, 1) for _ in range(num_layers))
        self.output = nn.Sequential(nn.ReLU(), nn.Conv2d(hidden_channels, hidden_channels, 1),
                                    nn.ReLU(), nn.Conv2d(hidden_channels, num_values, 1))

    def input_features(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, 1, H, W) long -> the float image the first layer reads, values scaled to [-1, 1]."""
        check_discrete(x, self.num_values, shape=self.image_shape)
        check_same_device(self, x)
        return scale_input(x, self.num_values, self.input_conv.weight.dtype)

    def forward(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        """x (N, 1, H, W) long -> logits (N, 1, H, W, K)."""
        return self.forward_features(self.input_features(x), condition)

    def log_prob(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        """x (N, 1, H, W) long -> (N,) log p(x) in nats."""
        return categorical_log_prob(self(x, condition), x)


class RowLSTM(_PixelRNN):
    """PixelRNN's Row LSTM: a type-A k x k convolution, Row LSTM layers (residual), a 1x1 head.

    image_shape: (1, H, W); num_values: K. row_kernel_size: width of the masked input-to-state
    convolution along a row. Its context is a triangle above the pixel (module docstring).
    forward: x (N, 1, H, W) long -> logits (N, 1, H, W, K); log_prob -> (N,) nats.
    forward_features: logits as a differentiable function of the float input (gradient pictures).
    """

    def __init__(self, image_shape, num_values: int, hidden_channels: int = 16, num_layers: int = 2,
                 first_kernel_size: int = 7, row_kernel_size: int = 3):
        super().__init__(image_shape, num_values, hidden_channels, num_layers, first_kernel_size)
        check_positive_int(row_kernel_size, "row_kernel_size")
        self.layers = nn.ModuleList(RowLSTMLayer(hidden_channels, hidden_channels, row_kernel_size)
                                    for _ in range(num_layers))

    def forward_features(self, features: torch.Tensor, condition=None) -> torch.Tensor:
        """Logits (N, 1, H, W, K) from the float input (N, 1, H, W), differentiably.

        forward(x) is forward_features(input_features(x)); gradient pictures differentiate this.
        """
        no_condition(condition)
        h = self.input_conv(features)
        for layer, residual in zip(self.layers, self.residual):
            h = h + residual(layer(h))
        return to_channels_last(self.output(h), 1)


class DiagonalBiLSTM(_PixelRNN):
    """PixelRNN's Diagonal BiLSTM: a type-A k x k convolution, Diagonal BiLSTM layers (residual), a 1x1 head.

    image_shape: (1, H, W); num_values: K. Every output sees every earlier pixel (module docstring).
    forward: x (N, 1, H, W) long -> logits (N, 1, H, W, K); log_prob -> (N,) nats.
    forward_features: logits as a differentiable function of the float input (gradient pictures).
    """

    def __init__(self, image_shape, num_values: int, hidden_channels: int = 16, num_layers: int = 1,
                 first_kernel_size: int = 7):
        super().__init__(image_shape, num_values, hidden_channels, num_layers, first_kernel_size)
        # the shifted right-to-left LSTM of the first layer reads the pixel itself too: type B
        self.input_conv_right = MaskedConv2d(1, hidden_channels, first_kernel_size, "B")
        self.layers = nn.ModuleList(DiagonalBiLSTMLayer(hidden_channels, hidden_channels) for _ in range(num_layers))

    def forward_features(self, features: torch.Tensor, condition=None) -> torch.Tensor:
        """Logits (N, 1, H, W, K) from the float input (N, 1, H, W), differentiably.

        forward(x) is forward_features(input_features(x)); gradient pictures differentiate this.
        """
        no_condition(condition)
        h, right = self.input_conv(features), self.input_conv_right(features)
        for layer, residual in zip(self.layers, self.residual):
            h = h + residual(layer(h, right))
            right = h                                   # later layers: both directions read the same features
        return to_channels_last(self.output(h), 1)
