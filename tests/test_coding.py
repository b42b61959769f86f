"""NLL is code length: a real range coder (constriction) driven by the course's models round-trips exactly."""
import math

import pytest
import torch

from utils import coding, data, pretrained
from utils.models import MADE, AutoregressiveRNN, PixelCNN, Transformer, WaveNet

TINY = {
    "made": lambda: MADE(6, [12], 3, ordering=[4, 1, 0, 5, 2, 3], seed=1),
    "rnn": lambda: AutoregressiveRNN(4, 8, length=5),
    "pixelcnn-rgb": lambda: PixelCNN((3, 2, 3), 4, hidden_channels=6, num_layers=2, first_kernel_size=3),
    "transformer": lambda: Transformer(5, length=6, d_model=8, num_heads=2),
    "wavenet-conditional": lambda: WaveNet(3, (1, 2), channels=6, length=5, num_classes=2),
}


@pytest.mark.parametrize("name", TINY)
def test_every_kind_of_model_round_trips_exactly(name):
    torch.manual_seed(0)
    model = TINY[name]()
    x = torch.randint(0, model.num_values, (7, *model.event_shape), generator=torch.Generator().manual_seed(1))
    condition = torch.arange(7) % 2 if name.endswith("conditional") else None
    words = coding.encode(model, x, condition)
    assert torch.equal(coding.decode(model, words, len(x), condition), x)
    # a short code can be no shorter than the information it carries (minus the rounding of the last word)
    assert coding.code_length_bits(words) >= coding.information_content_bits(model, x, condition) - 1


def test_the_code_is_as_long_as_the_nll_says():
    model = pretrained.load("made_mnist")
    x = data.load("mnist_binary").test[:40].flatten(1)
    words = coding.encode(model, x)
    ideal = coding.information_content_bits(model, x)
    assert ideal < coding.code_length_bits(words) <= 1.01 * ideal + 64, (coding.code_length_bits(words), ideal)
    assert torch.equal(coding.decode(model, words, len(x)), x)


def test_a_decoder_whose_probabilities_differ_by_one_part_in_a_million_decodes_garbage():
    model = pretrained.load("made_mnist")
    x = data.load("mnist_binary").test[:10].flatten(1)
    words = coding.encode(model, x)
    for seed in range(3):
        try:             # the decoder either notices that the code makes no sense, or returns other images
            wrong = coding.decode(model, words, len(x), noise=1e-6, generator=torch.Generator().manual_seed(seed))
        except coding.DecodingError as error:
            assert "must be exactly the encoder's" in str(error)
            continue
        differing = (wrong != x).float().mean().item()
        assert differing > 0.01, f"only {differing:.4f} of the pixels differ"


def test_bad_input_gets_a_clear_error():
    model = TINY["made"]()
    with pytest.raises(ValueError, match=r"values must lie in \[0, 2\]"):
        coding.encode(model, torch.full((2, 6), 3))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 6\)"):
        coding.encode(model, torch.zeros(2, 5, dtype=torch.long))
