"""A recurrent autoregressive model of characters or raster-scanned pixels.

The RNN reads a sequence one value at a time and predicts the next one:

    input at step i:   the previous value x_{i-1} (a START token at i = 0)
                       [+ the (row, column) of pixel i, for images]
    output at step i:  logits of p(x_i | x_<i)

Shifting the input right by one is what makes it autoregressive: output i never sees x_i.
`forward` is literally a loop of `step`s (one GRU/LSTM cell update per position). Sampling carries
the recurrent state from step to step (the cache), so each new value costs one step; with
`sample(..., cached=False)` every step recomputes the whole prefix with `forward` instead. Both run
the same operations on the same numbers, so they give identical samples for the same generator.

    >>> model = AutoregressiveRNN(num_values=27, hidden_size=128)
    >>> model.log_prob(x)                      # x (N, D) long -> (N,) nats
    >>> model.sample(5, length=12, generator=torch.Generator().manual_seed(0), temperature=0.8)
"""
import torch
from torch import nn

from ..sampling import categorical_log_prob, sample_categorical
from ..validation import check_discrete, check_positive_int

CELLS = {"gru": nn.GRUCell, "lstm": nn.LSTMCell}


def shift_right(x: torch.Tensor, start_value: int) -> torch.Tensor:
    """(N, D) -> (N, D): [start, x_0, ..., x_{D-2}], so that position i holds the value before x_i."""
    start = torch.full_like(x[:, :1], start_value)
    return torch.cat([start, x[:, :-1]], dim=1)


def raster_positions(height: int, width: int) -> torch.Tensor:
    """(H*W, 2) the (row, column) of every pixel in raster order, each scaled to [-1, 1]."""
    rows = torch.arange(height).repeat_interleave(width).float()
    cols = torch.arange(width).repeat(height).float()
    return torch.stack([2 * rows / max(height - 1, 1) - 1, 2 * cols / max(width - 1, 1) - 1], dim=1)


def choose_next(logits: torch.Tensor, generator: torch.Generator | None = None, temperature: float = 1.0,
                top_k: int | None = None, greedy: bool = False) -> torch.Tensor:
    """Pick the next value from logits (n, K) -> (n,) long.

    greedy: take the most likely value (argmax; no randomness is drawn).
    top_k:  sample among the k most likely values only.
    temperature: < 1 sharpens, > 1 flattens the distribution before sampling.
    """
    if greedy:
        return logits.argmax(dim=-1)
    if top_k is not None:
        if not 1 <= top_k <= logits.shape[-1]:
            raise ValueError(f"top_k must be between 1 and {logits.shape[-1]} (the number of values), got {top_k!r}")
        kth_largest = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth_largest, float("-inf"))
    return sample_categorical(logits, generator, temperature)


class AutoregressiveRNN(nn.Module):
    """p(x) = prod_i p(x_i | x_<i), with a GRU or LSTM summarising x_<i in its hidden state.

    num_values:  K, the number of values (characters, grey levels); index K is the START token.
    image_shape: (H, W) for raster-scanned single-channel images: adds the normalised (row, column)
                 of the pixel being predicted to every input, and lets forward/log_prob take images
                 (N, 1, H, W) as well as flat sequences (N, D) with D <= H*W.
    forward: x (N, D) -> logits (N, D, K);  x (N, 1, H, W) -> logits (N, 1, H, W, K).
    step: one position at a time, carrying the recurrent state (what forward loops over).
    log_prob: x -> (N,) nats.  sample: n -> (n, length), or (n, 1, H, W) for images.
    """

    def __init__(self, num_values: int, hidden_size: int = 128, *, num_layers: int = 1, cell: str = "gru",
                 embedding_size: int = 32, image_shape: tuple[int, int] | None = None):
        super().__init__()
        self.num_values = check_positive_int(num_values, "num_values")
        self.start_token = num_values
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        self.image_shape = _check_image_shape(image_shape)
        self.embedding = nn.Embedding(num_values + 1, check_positive_int(embedding_size, "embedding_size"))
        check_positive_int(hidden_size, "hidden_size")
        check_positive_int(num_layers, "num_layers")
        first_input_size = embedding_size + (2 if image_shape else 0)
        self.cells = nn.ModuleList(CELLS[cell](first_input_size if layer == 0 else hidden_size, hidden_size)
                                   for layer in range(num_layers))
        self.head = nn.Linear(hidden_size, num_values)
        if image_shape:
            self.register_buffer("positions", raster_positions(*image_shape), persistent=False)

    def _inputs(self, previous: torch.Tensor, position: int) -> torch.Tensor:
        """previous values (N,) -> cell inputs (N, E [+2]) for predicting position `position`."""
        features = self.embedding(previous)
        if self.image_shape:
            features = torch.cat([features, self.positions[position].expand(len(previous), -1)], dim=-1)
        return features

    def step(self, previous: torch.Tensor, position: int, state: list | None = None):
        """One position: previous (N,) values x_{i-1}, i = position -> (logits (N, K), new state).

        state: one entry per layer, the hidden vector h (N, hidden) for a GRU, the pair (h, c) for
        an LSTM; None at the start (zeros).
        """
        inputs = self._inputs(previous, position)                     # (N, E [+2])
        new_state = []
        for layer, cell in enumerate(self.cells):
            layer_state = cell(inputs, None if state is None else state[layer])
            new_state.append(layer_state)
            inputs = layer_state[0] if isinstance(layer_state, tuple) else layer_state
        return self.head(inputs), new_state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sequence = _as_sequence(x, self.num_values, self.image_shape)
        previous = shift_right(sequence, self.start_token)            # (N, D)
        state, logits = None, []
        for i in range(sequence.shape[1]):
            step_logits, state = self.step(previous[:, i], i, state)
            logits.append(step_logits)
        return torch.stack(logits, dim=1).reshape(*x.shape, self.num_values)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return categorical_log_prob(self(x), x)

    @torch.no_grad()
    def sample(self, n: int, length: int | None = None, *, generator: torch.Generator | None = None,
               temperature: float = 1.0, top_k: int | None = None, greedy: bool = False,
               prefix: torch.Tensor | None = None, cached: bool = True) -> torch.Tensor:
        """Draw n sequences of `length` values (images: length defaults to H*W, result (n, 1, H, W)).

        prefix: (n, P) or (P,) values to start every sequence with (completion); only the rest is drawn.
        cached: carry the recurrent state (one step per value); False recomputes the prefix x_<i
                with `forward` at every step. Both draw the same numbers in the same order.
        """
        length = _check_sample_args(n, length, self.image_shape)
        device = self.head.weight.device
        x = torch.zeros(n, length, dtype=torch.long, device=device)
        given = _place_prefix(x, prefix, self.num_values)
        previous, state = torch.full((n,), self.start_token, dtype=torch.long, device=device), None
        for i in range(length):
            if cached:
                logits, state = self.step(previous, i, state)
            else:  # x_i is still a placeholder here: output i never looks at it
                logits = self(x[:, :i + 1])[:, i]
            if i >= given:
                x[:, i] = choose_next(logits, generator, temperature, top_k, greedy)
            previous = x[:, i]
        return x.reshape(n, 1, *self.image_shape) if self.image_shape else x


# ----------------------------------------------------------------------------------------------
# input checks, shared with the WaveNet in wavenet.py


def _check_image_shape(image_shape):
    if image_shape is None:
        return None
    if len(image_shape) != 2:
        raise ValueError(f"image_shape must be (height, width), got {image_shape!r}")
    return tuple(check_positive_int(size, "image_shape entries") for size in image_shape)


def _as_sequence(x: torch.Tensor, num_values: int, image_shape) -> torch.Tensor:
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


def _check_sample_args(n, length, image_shape) -> int:
    check_positive_int(n, "n")
    if image_shape:
        pixels = image_shape[0] * image_shape[1]
        if length not in (None, pixels):
            raise ValueError(f"an image model samples whole images of {pixels} pixels; leave length out")
        return pixels
    if length is None:
        raise ValueError("pass length=, the number of values to sample per sequence")
    return check_positive_int(length, "length")


def _place_prefix(x: torch.Tensor, prefix, num_values: int) -> int:
    """Copy the completion prefix (n, P) or (P,) into x (n, D) in place; return P."""
    if prefix is None:
        return 0
    prefix = torch.as_tensor(prefix, device=x.device)
    prefix = prefix.expand(len(x), -1) if prefix.dim() == 1 else prefix
    check_discrete(prefix, num_values, name="prefix", ndim=2)
    if len(prefix) != len(x) or prefix.shape[1] > x.shape[1]:
        raise ValueError(f"prefix must have shape (n, P) or (P,) with n = {len(x)} and P <= {x.shape[1]}, "
                         f"got {tuple(prefix.shape)}")
    x[:, :prefix.shape[1]] = prefix
    return prefix.shape[1]
