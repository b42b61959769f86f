"""utils.audio: μ-law companding (round trip, monotone, endpoints, errors) and the generated notes dataset."""
import math
import struct

import pytest
import torch

from utils import audio
from utils.audio import load_notes, mu_law_decode, mu_law_encode


def bin_half_width(x: torch.Tensor, num_values: int = 256) -> torch.Tensor:
    """How far from x a decoded value may lie: half a bin of the companded grid, mapped back to x."""
    mu = num_values - 1
    y = audio.mu_law_compress(x.double(), mu)
    above = audio.mu_law_expand((y + 1 / mu).clamp(max=1), mu)
    below = audio.mu_law_expand((y - 1 / mu).clamp(min=-1), mu)
    return torch.maximum(above - x, x - below)


@pytest.mark.parametrize("num_values", [256, 16])
def test_round_trip_within_half_a_bin(num_values):
    x = torch.cat([torch.linspace(-1, 1, 20001, dtype=torch.float64),
                   torch.rand(5000, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1])
    error = (mu_law_decode(mu_law_encode(x, num_values), num_values).double() - x).abs()
    assert bool((error <= bin_half_width(x, num_values) + 1e-6).all())


def test_quantisation_error_is_smallest_near_zero_and_beats_linear_there():
    x = torch.linspace(-1, 1, 40001, dtype=torch.float64)
    error = (mu_law_decode(mu_law_encode(x)).double() - x).abs()
    quiet, loud = error[x.abs() < 0.001].max(), error[x.abs() > 0.9].max()
    assert quiet < 1.5e-4                      # half the finest step: (1 + mu * 0.001) ln(256) / 255 / 255
    assert loud > 0.01                         # near ±1 the steps are about 0.04 wide
    linear = (audio.linear_decode(audio.linear_encode(x)).double() - x).abs()
    assert linear.max() == pytest.approx(1 / 255, rel=1e-3)      # linear 8 bits err up to 1/255 everywhere
    assert quiet < 0.05 * linear[x.abs() < 0.001].max()
    assert loud > 2 * linear[x.abs() > 0.9].max()                # and μ-law pays for it on loud sounds


def test_encoding_is_monotone_and_uses_every_value():
    x = torch.linspace(-1, 1, 100001)
    values = mu_law_encode(x)
    assert values.dtype == torch.long
    assert bool((values[1:] >= values[:-1]).all())
    assert values.unique().tolist() == list(range(256))
    decoded = mu_law_decode(torch.arange(256))
    assert bool((decoded[1:] > decoded[:-1]).all())


def test_zero_maps_to_the_middle_and_endpoints_to_the_ends():
    assert mu_law_encode(torch.tensor([-1.0, 0.0, 1.0])).tolist() == [0, 128, 255]
    assert mu_law_encode(torch.tensor([-1.0, 0.0, 1.0]), num_values=16).tolist() == [0, 8, 15]
    ends = mu_law_decode(torch.tensor([0, 255]))
    assert ends.tolist() == pytest.approx([-1.0, 1.0], abs=1e-6)
    assert abs(float(mu_law_decode(torch.tensor(128)))) < 1e-4
    # symmetric: -x lands on the mirrored value (except exactly on a bin boundary)
    x = torch.tensor([0.001, 0.02, 0.3, 0.77])
    assert (mu_law_encode(-x) + mu_law_encode(x)).tolist() == [255] * 4


def test_shapes_are_kept():
    x = torch.rand(3, 5, 7) * 2 - 1
    assert mu_law_encode(x).shape == (3, 5, 7)
    assert mu_law_decode(mu_law_encode(x)).shape == (3, 5, 7)
    assert mu_law_decode(mu_law_encode(x)).dtype == torch.float32


@pytest.mark.parametrize("bad, error, words", [
    (torch.tensor([0.5, 1.01]), ValueError, "[-1, 1]"),
    (torch.tensor([-1.5, 0.0]), ValueError, "[-1, 1]"),
    (torch.tensor([0.0, float("nan")]), ValueError, "NaN"),
    (torch.tensor([0, 1]), TypeError, "floats"),
    ([0.1, 0.2], TypeError, "torch.Tensor"),
])
def test_encode_rejects_bad_input(bad, error, words):
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        mu_law_encode(bad)


def test_decode_and_num_values_reject_bad_input():
    with pytest.raises(TypeError, match="integers"):
        mu_law_decode(torch.tensor([0.5]))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        mu_law_decode(torch.tensor([0, 256]))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        mu_law_decode(torch.tensor([-1]))
    with pytest.raises(ValueError, match="num_values"):
        mu_law_encode(torch.zeros(3), num_values=1)


# ----------------------------------------------------------------------------------------------
# the dataset


@pytest.fixture(scope="module")
def notes():
    return load_notes(n_train=40, n_validation=12, n_test=16, seconds=0.05)


def test_notes_are_the_same_every_call(notes):
    again = load_notes(n_train=40, n_validation=12, n_test=16, seconds=0.05)
    for split in ("train", "validation", "test", "train_labels", "validation_labels", "test_labels"):
        assert torch.equal(getattr(notes, split), getattr(again, split)), split


def test_notes_shapes_values_and_labels(notes):
    length = round(0.05 * audio.SAMPLE_RATE)
    assert notes.train.shape == (40, length) and notes.validation.shape == (12, length)
    assert notes.test.shape == (16, length)
    assert notes.num_values == 256
    for split in ("train", "validation", "test"):
        x, labels = getattr(notes, split), getattr(notes, f"{split}_labels")
        assert x.dtype == torch.long and 0 <= int(x.min()) and int(x.max()) < 256
        assert labels.dtype == torch.long and labels.shape == (len(x),)
        assert 0 <= int(labels.min()) and int(labels.max()) < len(audio.INSTRUMENTS)
        assert x.float().std() > 10                    # real sound, not silence
    assert notes.extra["sample_rate"] == audio.SAMPLE_RATE
    assert set(torch.cat([notes.train_labels, notes.test_labels]).tolist()) == set(range(len(audio.INSTRUMENTS)))


def test_notes_splits_are_disjoint(notes):
    clips = {tuple(clip.tolist()) for split in ("train", "validation", "test") for clip in getattr(notes, split)}
    assert len(clips) == 40 + 12 + 16


def test_each_instrument_sounds_at_its_pitch():
    """The loudest frequency of a clean note is its pitch (the chord: its root; the chirp: within its slide)."""
    for instrument in range(len(audio.INSTRUMENTS)):
        for hz in (audio.NOTE_HZ[0], audio.NOTE_HZ[-1]):
            wave = torch.from_numpy(audio.synthesize_note(instrument, hz, length=2000)).float()
            assert float(wave.abs().max()) <= 1
            spectrum = torch.fft.rfft(wave * torch.hann_window(len(wave))).abs()
            peak = float(spectrum.argmax()) * audio.SAMPLE_RATE / len(wave)
            # chirp: somewhere on its slide up a fifth; chord: one of its root, third, fifth (equally loud)
            spread = audio.INSTRUMENTS[instrument] in ("chirp", "chord")
            low, high = (hz - 10, hz * 1.5 + 10) if spread else (hz - 10, hz + 10)
            assert low <= peak <= high, (audio.INSTRUMENTS[instrument], hz, peak)


def test_notes_reject_bad_arguments():
    with pytest.raises(ValueError, match="n_train"):
        load_notes(n_train=0)
    with pytest.raises(ValueError, match="at least 2 samples"):
        load_notes(seconds=0.0001)


def test_cut_windows_keeps_order_and_labels():
    clips = torch.arange(2 * 10).reshape(2, 10)
    windows, labels = audio.cut_windows(clips, torch.tensor([3, 1]), 4)
    assert windows.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [10, 11, 12, 13], [14, 15, 16, 17]]
    assert labels.tolist() == [3, 3, 1, 1]
    with pytest.raises(ValueError, match="longer than the clips"):
        audio.cut_windows(clips, torch.tensor([3, 1]), 11)


# ----------------------------------------------------------------------------------------------
# pictures and sound


def test_spectrogram_finds_a_tone():
    sample_rate = 4000
    tone = torch.sin(2 * math.pi * 500 * torch.arange(1000) / sample_rate)
    decibels, frequencies, times = audio.spectrogram(tone, sample_rate)
    assert decibels.shape == (len(frequencies), len(times))
    loudest = frequencies[decibels.mean(1).argmax()]
    assert abs(float(loudest) - 500) <= sample_rate / 64 + 1     # within one frequency bin (window 64)
    with pytest.raises(TypeError, match="mu_law_decode"):
        audio.spectrogram(mu_law_encode(tone), sample_rate)


def test_play_gives_an_embedded_player():
    player = audio.play(torch.zeros(400), 4000)
    assert player.data[:4] == b"RIFF"           # a WAV file inside the notebook: works offline
    rate = struct.unpack("<I", player.data[24:28])[0]
    assert rate == 8000                         # upsampled for browsers that refuse low rates
    with pytest.raises(ValueError, match=r"\(T,\)"):
        audio.play(torch.zeros(2, 400), 4000)
