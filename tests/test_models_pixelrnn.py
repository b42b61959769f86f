"""PixelRNN: Row LSTM and Diagonal BiLSTM (utils/models/pixelrnn.py).

Every dependency claim is measured on random models (change one input pixel, see which outputs
move), in float64 so that long recurrent paths stay visible.
"""
import pytest
import torch

from utils import data
from utils.checks import dependency_report
from utils.metrics import evaluate
from utils.models import DiagonalBiLSTM, RowLSTM
from utils.models.pixelrnn import skew, unskew
from utils.sampling import categorical_log_prob, sample
from utils.train import fit

SHAPES = [(1, 4, 4), (1, 5, 8), (1, 7, 3)]          # square, wide, tall


def random_model(model_class, shape, num_values=2, scale=0.5, seed=0, **kwargs):
    """A float64 model with every parameter drawn from N(0, scale^2)."""
    torch.manual_seed(seed)
    options = dict(hidden_channels=4, num_layers=2, first_kernel_size=3) | kwargs
    model = model_class(shape, num_values, **options).double()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator, dtype=torch.float64) * scale)
    return model.eval()


def report(model):
    return dependency_report(model, model.event_shape, model.num_values, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# dependencies


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("model_class", [RowLSTM, DiagonalBiLSTM])
def test_both_models_are_autoregressive_in_raster_order(model_class, shape):
    for num_layers in (1, 2):
        found = report(random_model(model_class, shape, num_layers=num_layers))
        found.assert_autoregressive()
        assert not bool(found.dep[0].any()), "the first pixel depends on nothing"
        assert bool(found.dep[1, 0]), "the second pixel sees the first"


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("num_layers", [1, 2])
def test_diagonal_bilstm_sees_every_earlier_pixel(shape, num_layers):
    report(random_model(DiagonalBiLSTM, shape, num_layers=num_layers)).assert_full_coverage()


def test_diagonal_bilstm_without_the_type_b_right_input_misses_the_end_of_the_row_above():
    """Why the first right-to-left LSTM reads each pixel itself: with type-A features only, pixel
    (r - 1, W - 1) reaches no output (r, c) more than k//2 columns from the right edge."""
    model = random_model(DiagonalBiLSTM, (1, 4, 6), num_layers=1)
    with torch.no_grad():
        model.input_conv_right.weight.copy_(model.input_conv.weight)
        model.input_conv_right.mask.copy_(model.input_conv.mask)
    found = report(model)
    found.assert_autoregressive()
    width = 6
    for row in (1, 2, 3):
        for col in range(width):
            output = row * width + col
            expected = [(row - 1) * width + width - 1] if col < width - 2 else []
            assert found.unseen(output) == expected, (row, col)


@pytest.mark.parametrize("num_layers, first_kernel_size", [(1, 3), (2, 3), (1, 5)])
def test_row_lstm_has_a_triangular_context(num_layers, first_kernel_size):
    """Pixel (5, 2) of a 6 x 8 image: D rows up, it sees columns up to 2 + D + k//2 - 1, nothing further right."""
    shape, (row, col) = (1, 6, 8), (5, 2)
    found = report(random_model(RowLSTM, shape, num_layers=num_layers, first_kernel_size=first_kernel_size,
                                row_kernel_size=3))
    found.assert_autoregressive()
    reach = first_kernel_size // 2 - 1
    expected = [(row - d) * 8 + j for d in range(row, 0, -1) for j in range(8) if j > col + d + reach]
    assert found.unseen(row * 8 + col) == expected
    if (num_layers, first_kernel_size) == (1, 3):     # the triangle of the module docstring, in numbers
        assert [(p // 8, p % 8) for p in expected] == [(1, 7), (2, 6), (2, 7), (3, 5), (3, 6), (3, 7),
                                                       (4, 4), (4, 5), (4, 6), (4, 7)]
    # deeper stacks do not close the gap: the far right of the rows above stays out of reach
    assert int(found.unseen_counts().sum()) > 0


def test_gradient_seam_gives_forward_and_zero_gradient_on_later_pixels():
    for model_class in (RowLSTM, DiagonalBiLSTM):
        model = random_model(model_class, (1, 5, 6))
        x = torch.randint(0, 2, (3, 1, 5, 6), generator=torch.Generator().manual_seed(1))
        torch.testing.assert_close(model.forward_features(model.input_features(x)), model(x))
        inputs = model.input_features(x).requires_grad_(True)
        model.forward_features(inputs)[:, 0, 2, 3].sum().backward()
        grad = inputs.grad.abs().sum(0)[0].flatten()
        assert float(grad[2 * 6 + 3:].sum()) == 0.0, f"{model_class.__name__}: the pixel or a later one has a gradient"
        assert float(grad[:2 * 6 + 3].sum()) > 0.0


def test_skew_puts_diagonals_in_columns_and_unskew_undoes_it():
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    s = skew(x)
    assert s.shape == (1, 1, 3, 6)
    assert s[0, 0].tolist() == [[0, 1, 2, 3, 0, 0], [0, 4, 5, 6, 7, 0], [0, 0, 8, 9, 10, 11]]
    assert torch.equal(unskew(s, 4), x)


# ----------------------------------------------------------------------------------------------
# the distribution and the protocol


@pytest.mark.parametrize("model_class", [RowLSTM, DiagonalBiLSTM])
def test_log_prob_is_the_categorical_log_prob_of_the_logits(model_class):
    model = random_model(model_class, (1, 4, 5), num_values=3)
    x = torch.randint(0, 3, (6, 1, 4, 5), generator=torch.Generator().manual_seed(2))
    logits = model(x)
    assert logits.shape == (6, 1, 4, 5, 3)
    expected = torch.log_softmax(logits, -1).gather(-1, x[..., None]).reshape(6, -1).sum(1)
    torch.testing.assert_close(model.log_prob(x), expected)
    torch.testing.assert_close(model.log_prob(x), categorical_log_prob(logits, x))
    assert model.event_shape == (1, 4, 5) and model.num_values == 3


@pytest.mark.parametrize("model_class", [RowLSTM, DiagonalBiLSTM])
def test_clear_errors_on_bad_input(model_class):
    model = model_class((1, 4, 4), 2, hidden_channels=4)
    good = torch.zeros(2, 1, 4, 4, dtype=torch.long)
    with pytest.raises(ValueError, match=r"shape \(N, 1, 4, 4\)"):
        model(torch.zeros(2, 1, 4, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"shape \(N, 1, 4, 4\)"):
        model(torch.zeros(2, 4, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="must hold integers"):
        model(good.float())
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\]"):
        model.log_prob(good + 2)
    with pytest.raises(ValueError, match="not class-conditional"):
        model(good, torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="single-channel"):
        model_class((3, 4, 4), 2)
    with pytest.raises(ValueError, match="hidden_channels must be a positive int"):
        model_class((1, 4, 4), 2, hidden_channels=0)


@pytest.mark.parametrize("model_class", [RowLSTM, DiagonalBiLSTM])
def test_forward_has_no_side_effects_and_sampling_is_reproducible(model_class):
    model = random_model(model_class, (1, 3, 4)).float()
    x = torch.randint(0, 2, (2, 1, 3, 4), generator=torch.Generator().manual_seed(3))
    state = {key: value.clone() for key, value in model.state_dict().items()}
    assert torch.equal(model(x), model(x))
    assert all(torch.equal(value, state[key]) for key, value in model.state_dict().items())
    first = sample(model, 3, generator=torch.Generator().manual_seed(4))
    again = sample(model, 3, generator=torch.Generator().manual_seed(4))
    assert first.shape == (3, 1, 3, 4) and torch.equal(first, again)


# ----------------------------------------------------------------------------------------------
# training


@pytest.mark.parametrize("model_class", [RowLSTM, DiagonalBiLSTM])
def test_a_short_training_run_lowers_the_validation_nll(model_class):
    digits = data.load("digits")                       # 8 x 8 binary digits
    torch.manual_seed(0)
    model = model_class(digits.shape, digits.num_values, hidden_channels=8, num_layers=1, first_kernel_size=3)
    history = fit(model, digits.train[:512], digits.validation, epochs=2, batch_size=32, lr=1e-2, progress=False)
    assert len(history.valid_losses) == 3
    assert history.valid_losses[-1] < 0.8 * history.valid_losses[0], history.valid_losses
    assert evaluate(model, digits.test) < 0.45           # uniform: ln 2 = 0.69 nats/dim
