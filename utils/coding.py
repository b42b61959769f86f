"""Negative log-likelihood is code length: compress data with any course model and a real entropy coder.

    words = encode(model, x)                      # x (N, *event_shape) long -> compressed 32-bit words
    x_again = decode(model, words, len(x))        # the same model, position by position
    assert torch.equal(x_again, x)
    32 * len(words)                               # ≈ -log2 p(x) summed over the N examples, plus a few bits

The coder is constriction's range coder (a queue: first in, first out). Values are coded in the
model's generation order, position by position, all N examples at each position. An arithmetic or
range coder spends -log2 q bits on a value it is told has probability q, up to a small overhead
from representing q with finite precision and from the last partly used word.

Decoding works only if the decoder is given *exactly* the probabilities the encoder used: a
difference in the last bit can send it off the rails. Both directions therefore compute every
probability by the same function on the same input (the values known so far, later positions 0),
in the same batch, in the same order; `probabilities_at` is that function.
"""
import math

import numpy as np
import torch

from .ordering import model_order
from .sampling import model_device
from .validation import check_discrete


class DecodingError(ValueError):
    """The words cannot be decoded with the given probabilities (they differ from the encoder's)."""


def _categorical():
    import constriction
    return constriction.stream.model.Categorical(perfect=False)


@torch.no_grad()
def probabilities_at(model, known: torch.Tensor, position: int, condition=None) -> np.ndarray:
    """p(x_position | the values known so far): (N, K) float64, computed identically when encoding and decoding."""
    logits = model(known, condition).reshape(len(known), -1, model.num_values)[:, position]
    return torch.softmax(logits.double(), dim=-1).cpu().numpy()


def encode(model, x: torch.Tensor, condition=None) -> np.ndarray:
    """Compress x (N, *event_shape) with the model's conditionals; returns the code as uint32 words."""
    import constriction
    check_discrete(x, model.num_values, shape=tuple(model.event_shape))
    model.eval()
    encoder = constriction.stream.queue.RangeEncoder()
    known = torch.zeros_like(x)
    for position in model_order(model).tolist():
        probs = probabilities_at(model, known, position, condition)
        values = x.reshape(len(x), -1)[:, position]
        encoder.encode(values.cpu().numpy().astype(np.int32), _categorical(), probs)
        known.view(len(x), -1)[:, position] = values
    return encoder.get_compressed()


def decode(model, words: np.ndarray, n: int, condition=None, *, noise: float = 0.0,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """The n examples (n, *event_shape) long coded in `words` by `encode` with the same model.

    noise: for the demonstration only: multiply every probability the decoder uses by
    (1 + noise * a standard normal draw) to see what a decoder whose numbers differ does.
    """
    import constriction
    model.eval()
    decoder = constriction.stream.queue.RangeDecoder(np.asarray(words, dtype=np.uint32))
    device = model_device(model)
    known = torch.zeros(n, *model.event_shape, dtype=torch.long, device=device)
    for position in model_order(model).tolist():
        probs = probabilities_at(model, known, position, condition)
        if noise:
            draws = torch.randn(probs.shape, generator=generator, dtype=torch.float64).numpy()
            probs = probs * (1 + noise * draws)
        try:
            values = decoder.decode(_categorical(), probs)
        except AssertionError as error:       # constriction found a state no encoder could have produced
            raise DecodingError(f"the code cannot be decoded at position {position}: the decoder's probabilities "
                                f"must be exactly the encoder's (same model, inputs, batch and order)") from error
        known.view(n, -1)[:, position] = torch.from_numpy(values.astype(np.int64)).to(device)
    return known


def code_length_bits(words: np.ndarray) -> int:
    """The size of a code in bits (32 per word)."""
    return 32 * len(words)


@torch.no_grad()
def information_content_bits(model, x: torch.Tensor, condition=None) -> float:
    """-log2 p(x) summed over the examples: what an ideal coder would spend on x, in bits."""
    model.eval()
    return float(-model.log_prob(x, condition).double().sum()) / math.log(2)
