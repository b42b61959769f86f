"""utils.anomaly: AUROC convention, the complexity correction's arithmetic and units, compressor code
lengths, the out-of-distribution image sets, and the lecture's finding with the pretrained MADE."""
import math

import numpy as np
import pytest
import torch

from utils import anomaly, pretrained


# ----------------------------------------------------------------------------------------------
# AUROC: higher score = more anomalous

def test_auroc_perfect_reversed_and_ties():
    assert anomaly.auroc([0.1, 0.2, 0.3], [1.0, 2.0]) == 1.0          # every outlier scores higher
    assert anomaly.auroc([1.0, 2.0], [0.1, 0.2, 0.3]) == 0.0          # backwards
    assert anomaly.auroc([5.0, 5.0], [5.0, 5.0, 5.0]) == 0.5          # all tied: chance
    assert anomaly.auroc(torch.tensor([0.0, 2.0]), np.array([1.0])) == 0.5   # tensors and arrays alike


def test_auroc_is_the_probability_that_an_outlier_scores_higher():
    rng = np.random.default_rng(0)
    inside, outside = rng.normal(size=40), rng.normal(0.7, size=30)
    pairs = (outside[:, None] > inside[None, :]).mean() + 0.5 * (outside[:, None] == inside[None, :]).mean()
    assert anomaly.auroc(inside, outside) == pytest.approx(pairs)


def test_auroc_needs_both_sets():
    with pytest.raises(ValueError, match="at least one"):
        anomaly.auroc([], [1.0])


# ----------------------------------------------------------------------------------------------
# the complexity correction

def test_corrected_score_is_model_bits_minus_compressor_bits():
    log_prob_nats = torch.tensor([-math.log(2) * 100, -math.log(2) * 30])    # 100 and 30 bits
    score = anomaly.complexity_corrected_score(log_prob_nats, np.array([400, 10]))
    assert torch.allclose(score, torch.tensor([-300.0, 20.0], dtype=torch.float64))
    assert torch.allclose(anomaly.nll_bits(log_prob_nats), torch.tensor([100.0, 30.0], dtype=torch.float64))


def test_corrected_score_ignores_a_constant_overhead_in_auroc():
    rng = np.random.default_rng(1)
    lp_in, lp_out = -rng.uniform(50, 150, 20), -rng.uniform(20, 80, 15)
    l_in, l_out = rng.integers(300, 900, 20), rng.integers(100, 600, 15)
    first = anomaly.auroc(anomaly.complexity_corrected_score(lp_in, l_in), anomaly.complexity_corrected_score(lp_out, l_out))
    shifted = anomaly.auroc(anomaly.complexity_corrected_score(lp_in, l_in + 456),
                            anomaly.complexity_corrected_score(lp_out, l_out + 456))
    assert first == shifted


def test_corrected_score_wants_one_value_per_image():
    with pytest.raises(ValueError, match="one value per image"):
        anomaly.complexity_corrected_score(torch.zeros(3), np.zeros(2))


# ----------------------------------------------------------------------------------------------
# compressor code lengths

@pytest.mark.parametrize("method", list(anomaly.COMPRESSORS))
def test_compressor_bits_positive_and_noise_costs_more_than_blank(method):
    blank, noise = anomaly.blank_images(4, max_on=0), anomaly.noise_images(4)
    blank_bits, noise_bits = anomaly.compressor_bits(blank, method), anomaly.compressor_bits(noise, method)
    assert blank_bits.shape == noise_bits.shape == (4,) and blank_bits.dtype == np.int64
    assert (blank_bits > 0).all() and (blank_bits % 8 == 0).all()          # whole bytes, in bits
    assert noise_bits.min() > blank_bits.max() + 8 * 50                    # 784 coin flips need ~98 bytes


def test_compressor_bits_one_image_at_a_time():
    images = anomaly.noise_images(3, density=0.2)
    per_image = anomaly.compressor_bits(images, "png")
    assert per_image.tolist() == [anomaly.code_length_bits(image[0].numpy(), "png") for image in images]
    assert anomaly.compressor_bits(images[:, 0].numpy(), "png").tolist() == per_image.tolist()


def test_compressor_rejects_unknown_methods_and_non_binary_images():
    with pytest.raises(ValueError, match="unknown compressor"):
        anomaly.compressor_bits(anomaly.blank_images(1), "zip")
    with pytest.raises(ValueError, match="binary"):
        anomaly.compressor_bits(2 * anomaly.noise_images(1), "png")


# ----------------------------------------------------------------------------------------------
# the image sets

@pytest.mark.parametrize("size", [28, 14])
@pytest.mark.parametrize("build", [anomaly.shape_images, anomaly.blank_images, anomaly.noise_images])
def test_generated_sets_deterministic_binary_right_shape(build, size):
    images = build(6, size)
    assert images.shape == (6, 1, size, size) and images.dtype == torch.int64
    assert set(images.unique().tolist()) <= {0, 1}
    assert torch.equal(images, build(6, size))


def test_sets_look_like_what_they_say():
    blank = anomaly.blank_images(50, max_on=8)
    assert blank[0].sum() == 0 and blank.flatten(1).sum(1).max() <= 8
    assert abs(anomaly.noise_images(50).float().mean() - 0.5) < 0.02
    shapes = anomaly.shape_images(50)
    assert shapes[..., :4, :].sum() == 0 and shapes[..., -4:].sum() == 0     # 20 x 20 centred on 28 x 28
    assert (shapes.flatten(1).sum(1) > 0).all()
    with pytest.raises(ValueError, match="28 or 14"):
        anomaly.noise_images(2, 20)


def test_fashion_is_optional_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setattr(anomaly, "DEBIAN_FASHION_MNIST", tmp_path)           # as on a machine without it
    assert not anomaly.fashion_mnist_available()
    with pytest.raises(FileNotFoundError, match="optional"):
        anomaly.fashion_images(3)


# ----------------------------------------------------------------------------------------------
# the finding, with the pretrained MADE on 100 images per set

@pytest.fixture(scope="module")
def scored():
    torch.set_num_threads(1)
    model = pretrained.load("made_mnist")
    sets = anomaly.image_sets(100, 28, fashion=False)
    return {name: (anomaly.log_prob(model, images), anomaly.compressor_bits(images, "png")) for name, images in sets.items()}


def test_digit_set_is_mnist_test_as_the_model_saw_it(scored):
    bits_per_dim = float(anomaly.nll_bits(scored["MNIST test"][0]).mean()) / 784
    assert 0.12 < bits_per_dim < 0.22          # the card: 0.116 nats/dim = 0.167 bits/dim on the whole test split


def test_simple_images_get_higher_likelihood_than_digits_and_the_correction_fixes_it(scored):
    digits_lp, digits_png = scored["MNIST test"]
    blank_lp, blank_png = scored["blank"]
    shapes_lp, shapes_png = scored["shapes"]
    assert blank_lp.mean() > digits_lp.mean() + 40 * math.log(2)          # blank: > 40 bits more likely, on average
    raw = {name: anomaly.auroc(-digits_lp, -lp) for name, (lp, _) in scored.items() if name != "MNIST test"}
    corrected = {name: anomaly.auroc(anomaly.complexity_corrected_score(digits_lp, digits_png),
                                     anomaly.complexity_corrected_score(lp, png))
                 for name, (lp, png) in scored.items() if name != "MNIST test"}
    assert raw["blank"] < 0.2 and raw["shapes"] < 0.5                      # worse than chance
    assert corrected["blank"] > 0.9 and corrected["shapes"] > 0.85
    assert corrected["blank"] > raw["blank"] + 0.5 and corrected["shapes"] > raw["shapes"] + 0.3
    assert raw["noise"] > 0.95 and corrected["noise"] > 0.95                # noise: easy either way
