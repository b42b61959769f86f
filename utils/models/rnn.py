"""A recurrent autoregressive model of characters or raster-scanned pixels.

The RNN reads a sequence one value at a time and predicts the next one:

    input at step i:   the previous value x_{i-1} (a START token at i = 0)
                       [+ the (row, column) of pixel i, for images]
    output at step i:  logits of p(x_i | x_<i)

Shifting the input right by one is what makes it autoregressive: output i never sees x_i.
`forward` is literally a loop of `step`s (one GRU/LSTM cell update per position). Sampling
(utils.sampling.sample) carries the recurrent state from step to step through `cached_step`, so
each new value costs one step; with `cached=False` every step reruns `forward` instead. Both run
the same operations on the same numbers, so they give identical samples for the same generator.

    >>> model = AutoregressiveRNN(num_values=27, hidden_size=128, length=12)
    >>> model.log_prob(x)                      # x (N, D) long -> (N,) nats
    >>> sample(model, 5, generator=torch.Generator().manual_seed(0), temperature=0.8)
"""
import torch
from torch import nn

from ..sampling import categorical_log_prob
from ..sequences import as_sequence, check_image_shape, previous_values, raster_positions, sequence_event_shape, shift_right
from .conditioning import no_condition
from ..validation import check_positive_int

CELLS = {"gru": nn.GRUCell, "lstm": nn.LSTMCell}


class AutoregressiveRNN(nn.Module):
    """p(x) = prod_i p(x_i | x_<i), with a GRU or LSTM summarising x_<i in its hidden state.

    num_values:  K, the number of values (characters, grey levels); index K is the START token.
    length:      the length of the sequences it generates (event shape (length,)); forward and
                 log_prob take sequences of any length.
    image_shape: (H, W) for raster-scanned single-channel images (event shape (1, H, W)): adds the
                 normalised (row, column) of the pixel being predicted to every input, and lets
                 forward/log_prob take images (N, 1, H, W) as well as flat sequences (N, D), D <= H*W.
    forward: x (N, D) -> logits (N, D, K);  x (N, 1, H, W) -> logits (N, 1, H, W, K).
    step: one position at a time, carrying the recurrent state (what forward loops over).
    log_prob: x -> (N,) nats.  cached_step: the step that utils.sampling.sample uses.
    """

    def __init__(self, num_values: int, hidden_size: int = 128, *, num_layers: int = 1, cell: str = "gru",
                 embedding_size: int = 32, image_shape: tuple[int, int] | None = None, length: int | None = None):
        super().__init__()
        self.num_values = check_positive_int(num_values, "num_values")
        self.start_token = num_values
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        self.image_shape = check_image_shape(image_shape)
        self.length = None if length is None else check_positive_int(length, "length")
        self.embedding = nn.Embedding(num_values + 1, check_positive_int(embedding_size, "embedding_size"))
        check_positive_int(hidden_size, "hidden_size")
        check_positive_int(num_layers, "num_layers")
        first_input_size = embedding_size + (2 if image_shape else 0)
        self.cells = nn.ModuleList(CELLS[cell](first_input_size if layer == 0 else hidden_size, hidden_size)
                                   for layer in range(num_layers))
        self.head = nn.Linear(hidden_size, num_values)
        if image_shape:
            self.register_buffer("positions", raster_positions(*image_shape), persistent=False)

    @property
    def event_shape(self) -> tuple:
        return sequence_event_shape(self.length, self.image_shape)

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

    def forward(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        no_condition(condition)
        sequence = as_sequence(x, self.num_values, self.image_shape)
        previous = shift_right(sequence, self.start_token)            # (N, D)
        state, logits = None, []
        for i in range(sequence.shape[1]):
            step_logits, state = self.step(previous[:, i], i, state)
            logits.append(step_logits)
        return torch.stack(logits, dim=1).reshape(*x.shape, self.num_values)

    def log_prob(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        no_condition(condition)
        return categorical_log_prob(self(x), x)

    def start_cache(self, n: int, condition=None) -> dict:
        return {"state": None}

    def cached_step(self, x: torch.Tensor, step: int, cache: dict, condition=None) -> torch.Tensor:
        """Logits (n, K) of position `step`, carrying the recurrent state in `cache`."""
        if step == 0:
            as_sequence(x, self.num_values, self.image_shape)             # the checks forward makes
        logits, cache["state"] = self.step(previous_values(x, step, self.start_token), step, cache["state"])
        return logits
