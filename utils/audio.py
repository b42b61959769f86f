"""Raw audio for WaveNet: μ-law companding to 256 values, generated instrument notes, pictures and players.

A waveform is a float tensor of samples in [-1, 1], shape (T,) for one clip or (N, T) for several.
WaveNet models the samples one at a time as categorical values, so they are quantised first:

    values = mu_law_encode(waveform)        # float (..., T) in [-1, 1] -> long (..., T) in [0, 256)
    waveform = mu_law_decode(values)        # and back (within half a quantisation step)

`load_notes()` generates short clips of four synthetic instruments (seeded, offline, the same every
call) as a `utils.data.Dataset` of μ-law values with the instrument as class label;
`cut_windows` cuts clips into training chunks; `spectrogram` and `plot_clips` draw clips, `play`
returns an IPython audio player.
"""
import math

import numpy as np
import torch

from .data import SPLIT_SEED, Dataset
from .validation import check_discrete, check_positive_int

SAMPLE_RATE = 4000          # samples per second of the generated clips (a 2 kHz band: telephone-like)
INSTRUMENTS = ("plucked", "organ", "chirp", "chord")
# the pitches: a pentatonic scale over one octave and a bit, A3 (220 Hz) to C5 (523 Hz)
NOTE_NAMES = ("A3", "C4", "D4", "E4", "G4", "A4", "C5")
NOTE_HZ = tuple(440.0 * 2 ** (semitones / 12) for semitones in (-12, -9, -7, -5, -2, 0, 3))


# ----------------------------------------------------------------------------------------------
# μ-law companding


def _check_num_values(num_values: int) -> int:
    if isinstance(num_values, bool) or not isinstance(num_values, int) or num_values < 2:
        raise ValueError(f"num_values must be an int >= 2 (e.g. 256 for 8-bit audio), got {num_values!r}")
    return num_values


def mu_law_compress(waveform: torch.Tensor, mu: float = 255.0) -> torch.Tensor:
    """The companding curve F(x) = sign(x) ln(1 + mu |x|) / ln(1 + mu): [-1, 1] -> [-1, 1], same shape.

    Steep near 0, flat near ±1: equal steps of F(x) are small steps of x for quiet sounds and large
    ones for loud sounds. (No input checks: mu_law_encode makes them.)
    """
    return torch.sign(waveform) * torch.log1p(mu * waveform.abs()) / math.log1p(mu)


def mu_law_expand(companded: torch.Tensor, mu: float = 255.0) -> torch.Tensor:
    """The inverse curve F^-1(y) = sign(y) ((1 + mu)^|y| - 1) / mu: [-1, 1] -> [-1, 1], same shape."""
    return torch.sign(companded) * torch.expm1(companded.abs() * math.log1p(mu)) / mu


def mu_law_encode(waveform: torch.Tensor, num_values: int = 256) -> torch.Tensor:
    """Quantise audio to num_values levels, finely near 0 and coarsely near ±1.

    waveform: float tensor (any shape, e.g. (T,) or (N, T)) with every value in [-1, 1].
    Returns a long tensor of the same shape with values in [0, num_values): compress with
    mu = num_values - 1, then round (F(x) + 1) / 2 * mu to the nearest integer (halves up).
    -1 -> 0, 0 -> num_values // 2 (the middle), 1 -> num_values - 1; the encoding never decreases
    as x grows.
    """
    num_values = _check_num_values(num_values)
    if not isinstance(waveform, torch.Tensor):
        raise TypeError(f"waveform must be a torch.Tensor of floats in [-1, 1], got {type(waveform).__name__}")
    if not waveform.dtype.is_floating_point:
        raise TypeError(f"waveform must hold floats in [-1, 1], got dtype {waveform.dtype}; integer audio "
                        f"(e.g. 16-bit PCM) must be scaled first, e.g. waveform / 32768")
    if waveform.numel() > 0:
        if bool(torch.isnan(waveform).any()):
            raise ValueError("waveform contains NaN")
        low, high = float(waveform.min()), float(waveform.max())
        if low < -1 or high > 1:
            raise ValueError(f"waveform values must lie in [-1, 1], found min {low:.4g} and max {high:.4g}; "
                             f"scale it (e.g. waveform / waveform.abs().max()) or clip it first")
    mu = num_values - 1
    companded = mu_law_compress(waveform.double(), mu)
    return torch.floor((companded + 1) / 2 * mu + 0.5).long()          # round half up: 0 -> the middle


def mu_law_decode(values: torch.Tensor, num_values: int = 256) -> torch.Tensor:
    """The waveform a μ-law code stands for: long (any shape) in [0, num_values) -> float32, same shape.

    Value v is the centre of its companded bin, y = 2 v / mu - 1, expanded by F^-1 (mu = num_values - 1),
    so decode(encode(x)) is within half a bin of x: about 1e-4 near 0, about 0.02 near ±1 (256 values).
    """
    num_values = _check_num_values(num_values)
    check_discrete(values, num_values, name="values")
    mu = num_values - 1
    companded = 2 * values.double() / mu - 1
    return mu_law_expand(companded, mu).float()


def linear_encode(waveform: torch.Tensor, num_values: int = 256) -> torch.Tensor:
    """Plain uniform quantisation, for comparison: [-1, 1] -> nearest of num_values equally spaced levels."""
    mu = _check_num_values(num_values) - 1
    return torch.round((waveform.double().clamp(-1, 1) + 1) / 2 * mu).long()


def linear_decode(values: torch.Tensor, num_values: int = 256) -> torch.Tensor:
    """Inverse of linear_encode: level v -> 2 v / (num_values - 1) - 1 (float32)."""
    mu = _check_num_values(num_values) - 1
    return (2 * values.double() / mu - 1).float()


# ----------------------------------------------------------------------------------------------
# generated instrument notes


def _harmonics(frequency: float, times: np.ndarray, partials, sample_rate: int, phase: float) -> np.ndarray:
    """Sum of sines at frequency * k with the given amplitudes {k: a}, skipping any above Nyquist."""
    wave = np.zeros_like(times)
    for k, amplitude in partials.items():
        if frequency * k < sample_rate / 2:
            wave += amplitude * np.sin(2 * np.pi * frequency * k * times + k * phase)
    return wave


def synthesize_note(instrument: int, frequency: float, sample_rate: int = SAMPLE_RATE, length: int = 1000,
                    rng: np.random.Generator | None = None) -> np.ndarray:
    """One clip (length,) float64 in [-1, 1] of an instrument (an index into INSTRUMENTS) at `frequency` Hz.

    plucked: harmonics 1/k, the higher ones dying faster, a sharp attack and an exponential decay;
    organ:   odd harmonics 1/k (a softened square wave), a short attack, then steady;
    chirp:   a pure tone sliding up a fifth over the clip;
    chord:   a major triad (root, major third, fifth) of soft tones, steady.
    rng gives the random phase, loudness and a little background hiss (None: fixed phase 0, loudness 0.7,
    no hiss).
    """
    times = np.arange(length) / sample_rate
    phase = 0.0 if rng is None else rng.uniform(0, 2 * np.pi)
    loudness = 0.7 if rng is None else rng.uniform(0.4, 0.85)
    attack = np.minimum(1.0, times / 0.005)                       # 5 ms fade-in: no click
    if instrument == 0:      # plucked string
        wave = sum(np.sin(2 * np.pi * frequency * k * times + k * phase) / k * np.exp(-times * (4 + 3 * k))
                   for k in range(1, 7) if frequency * k < sample_rate / 2)
    elif instrument == 1:    # organ
        wave = _harmonics(frequency, times, {1: 1.0, 3: 1 / 3, 5: 1 / 5, 7: 1 / 7}, sample_rate, phase)
    elif instrument == 2:    # chirp: the frequency rises from f to 1.5 f; the phase is its running integral
        duration = length / sample_rate
        instantaneous = frequency * (1 + 0.5 * times / duration)
        wave = np.sin(2 * np.pi * np.cumsum(instantaneous) / sample_rate + phase)
    elif instrument == 3:    # chord
        wave = sum(_harmonics(frequency * ratio, times, {1: 1.0, 2: 0.3}, sample_rate, phase * (i + 1))
                   for i, ratio in enumerate((1.0, 2 ** (4 / 12), 2 ** (7 / 12))))
    else:
        raise ValueError(f"instrument must be an index into {INSTRUMENTS}, got {instrument!r}")
    wave = attack * wave
    wave = loudness * wave / np.abs(wave).max()
    if rng is not None:
        wave = wave + rng.normal(0, 0.002, size=length)           # a faint hiss, as every recording has
    return np.clip(wave, -1, 1)


def load_notes(n_train: int = 800, n_validation: int = 200, n_test: int = 200, *, seconds: float = 0.25,
               sample_rate: int = SAMPLE_RATE) -> Dataset:
    """Short notes of four generated instruments, μ-law encoded: the same clips every call, offline.

    Each clip: one instrument (the label, an index into INSTRUMENTS) playing one pitch of NOTE_HZ,
    with a random phase, loudness and a faint hiss; `seconds` long at `sample_rate`, so of
    D = round(seconds * sample_rate) samples. Instruments and pitches are drawn uniformly.
    Returns a Dataset: train, validation, test (N, D) long in [0, 256); labels (N,) in [0, 4);
    extra: sample_rate, instruments (names), note_hz (the pitches), and the pitch index of every clip
    of each split (train_notes, validation_notes, test_notes).
    """
    for n, name in [(n_train, "n_train"), (n_validation, "n_validation"), (n_test, "n_test")]:
        check_positive_int(n, name)
    check_positive_int(sample_rate, "sample_rate")
    length = round(seconds * sample_rate)
    if not length >= 2:
        raise ValueError(f"seconds * sample_rate must give at least 2 samples, got {seconds!r} * {sample_rate}")
    rng = np.random.default_rng(SPLIT_SEED + 20)
    total = n_train + n_validation + n_test
    instruments = rng.integers(0, len(INSTRUMENTS), size=total)
    notes = rng.integers(0, len(NOTE_HZ), size=total)
    clips = np.stack([synthesize_note(int(i), NOTE_HZ[k], sample_rate, length, rng)
                      for i, k in zip(instruments, notes)])
    values = mu_law_encode(torch.from_numpy(clips))
    labels, notes = torch.from_numpy(instruments), torch.from_numpy(notes)
    cut = np.cumsum([0, n_train, n_validation, n_test])
    splits = [slice(cut[i], cut[i + 1]) for i in range(3)]
    extra = {"sample_rate": sample_rate, "instruments": INSTRUMENTS, "note_hz": NOTE_HZ}
    extra.update({f"{split}_notes": notes[where] for split, where in zip(("train", "validation", "test"), splits)})
    return Dataset(name="notes", train=values[splits[0]], validation=values[splits[1]], test=values[splits[2]],
                   num_values=256,
                   description=f"{seconds:g} s clips at {sample_rate} Hz of {len(INSTRUMENTS)} generated "
                               f"instruments ({', '.join(INSTRUMENTS)}) at {len(NOTE_HZ)} pitches, 8-bit μ-law",
                   train_labels=labels[splits[0]], validation_labels=labels[splits[1]],
                   test_labels=labels[splits[2]], extra=extra)


def cut_windows(clips: torch.Tensor, labels: torch.Tensor, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut every clip into consecutive windows of `window` samples, for training on short chunks.

    clips (N, T) long, labels (N,) -> windows (N * (T // window), window) and their labels (the label
    of the clip each came from); the last T % window samples of each clip are dropped. WaveNet was
    trained the same way, on chunks cut from long recordings: a chunk costs less than a clip, and a
    convolutional model can still generate (and score) sequences of any length.
    """
    check_positive_int(window, "window")
    if clips.dim() != 2 or len(labels) != len(clips):
        raise ValueError(f"clips must be (N, T) with one label each, got clips {tuple(clips.shape)} "
                         f"and labels {tuple(labels.shape)}")
    per_clip = clips.shape[1] // window
    if per_clip == 0:
        raise ValueError(f"window {window} is longer than the clips ({clips.shape[1]} samples)")
    windows = clips[:, :per_clip * window].reshape(len(clips) * per_clip, window)
    return windows, labels.repeat_interleave(per_clip)


# ----------------------------------------------------------------------------------------------
# pictures and sound


def _as_waveform(waveform, name: str = "waveform") -> torch.Tensor:
    waveform = torch.as_tensor(waveform)
    if not waveform.dtype.is_floating_point:
        raise TypeError(f"{name} must hold floats in [-1, 1] (decode μ-law values first with mu_law_decode), "
                        f"got dtype {waveform.dtype}")
    if waveform.dim() != 1:
        raise ValueError(f"{name} must be one clip of shape (T,), got shape {tuple(waveform.shape)}")
    return waveform.float()


def spectrogram(waveform: torch.Tensor, sample_rate: int, window_seconds: float = 0.016,
                hop_seconds: float = 0.004) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """How loud each frequency is over time: the magnitude of a short-time Fourier transform, in dB.

    waveform: float (T,). Hann windows of window_seconds, moved by hop_seconds (torch.stft).
    Returns (decibels (F, frames), frequencies (F,) in Hz, times (frames,) in s); decibels are
    20 log10 |STFT|, floored at 80 dB below the loudest bin.
    """
    waveform = _as_waveform(waveform)
    window = max(2, round(window_seconds * sample_rate))
    hop = max(1, round(hop_seconds * sample_rate))
    stft = torch.stft(waveform, n_fft=window, hop_length=hop, window=torch.hann_window(window),
                      center=True, return_complex=True)                          # (window // 2 + 1, frames)
    decibels = 20 * torch.log10(stft.abs() + 1e-8)
    decibels = decibels.clamp(min=float(decibels.max()) - 80)
    frequencies = torch.arange(stft.shape[0]) * sample_rate / window
    times = torch.arange(stft.shape[1]) * hop / sample_rate
    return decibels, frequencies, times


def plot_clips(waveforms, sample_rate: int, titles=None, zoom_seconds: float = 0.05):
    """Two rows of pictures for a few clips: the start of each waveform, and its spectrogram.

    waveforms: float (N, T) or a list of (T,) clips; titles: N strings. zoom_seconds: how much of
    the start of the waveform to show (a whole clip is too many periods to see). Returns the figure.
    """
    import matplotlib.pyplot as plt

    waveforms = [_as_waveform(w) for w in waveforms]
    titles = titles or [""] * len(waveforms)
    fig, axes = plt.subplots(2, len(waveforms), figsize=(2.6 * len(waveforms), 4.2), squeeze=False)
    for column, (waveform, title) in enumerate(zip(waveforms, titles)):
        shown = waveform[:max(2, round(zoom_seconds * sample_rate))]
        top, bottom = axes[0, column], axes[1, column]
        top.plot(1000 * torch.arange(len(shown)) / sample_rate, shown, lw=0.8)
        top.set_ylim(-1, 1)
        top.set_title(title, fontsize=9)
        top.set_xlabel("ms", fontsize=8)
        decibels, frequencies, times = spectrogram(waveform, sample_rate)
        bottom.pcolormesh(times, frequencies, decibels, shading="auto", cmap="magma")
        bottom.set_xlabel("s", fontsize=8)
        if column == 0:
            top.set_ylabel("amplitude", fontsize=8)
            bottom.set_ylabel("Hz", fontsize=8)
        for ax in (top, bottom):
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def play(waveform, sample_rate: int, min_rate: int = 8000):
    """An audio player for one clip (float (T,) in [-1, 1]): IPython.display.Audio, which works offline,
    in JupyterLab and on Colab (the sound is embedded in the notebook as a small WAV file).

    Browsers do not all play very low sample rates, so a clip below min_rate Hz is upsampled by linear
    interpolation (an integer factor) first; that adds nothing audible. The loudness is kept as it
    is (no normalisation), so quiet clips sound quiet.
    """
    from IPython.display import Audio

    waveform = _as_waveform(waveform)
    check_positive_int(sample_rate, "sample_rate")
    factor = max(1, math.ceil(min_rate / sample_rate))
    if factor > 1:
        waveform = torch.nn.functional.interpolate(waveform[None, None], scale_factor=factor, mode="linear",
                                                   align_corners=False)[0, 0]
    return Audio(waveform.clamp(-1, 1).numpy(), rate=sample_rate * factor, normalize=False)
