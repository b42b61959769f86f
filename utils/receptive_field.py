"""Which earlier pixels can reach a chosen output of a PixelCNN? (the blind-spot widget's engine)

The answer is measured on a real, randomly initialised model with `utils.checks.dependency_report`:
change one input pixel at a time and see which outputs move. No formula is assumed, so the map
shows exactly what the architecture does, blind spot included.

    >>> field = receptive_field_map("pixelcnn", num_layers=4, kernel_size=3, image_size=8, pixel=(5, 4))
    >>> field.num_seen, field.num_unseen     # earlier pixels that do / do not reach pixel (5, 4)
"""
import math
from dataclasses import dataclass

import torch
from torch import nn

from .checks import dependency_report
from .validation import check_positive_int

MODEL_KINDS = ("pixelcnn", "gated")


@dataclass
class ReceptiveField:
    """The receptive field of one output pixel, as (H, W) maps over the image.

    earlier: pixels generated before `pixel` (what an ideal model would see).
    seen:    pixels whose value changes the output at `pixel`.
    unseen_counts: for every pixel of the image, how many earlier pixels it cannot see (long).
    """
    pixel: tuple
    earlier: torch.Tensor
    seen: torch.Tensor
    unseen_counts: torch.Tensor

    @property
    def unseen(self) -> torch.Tensor:
        """(H, W) bool: earlier pixels that do not reach `pixel`, its blind spot."""
        return self.earlier & ~self.seen

    @property
    def num_seen(self) -> int:
        return int((self.earlier & self.seen).sum())

    @property
    def num_unseen(self) -> int:
        return int(self.unseen.sum())


def build_model(model_kind: str, num_layers: int, kernel_size: int, image_size: int,
                hidden_channels: int = 8) -> nn.Module:
    """A small binary single-channel model: num_layers masked k x k layers, the first one type A."""
    from .models.gated_pixelcnn import GatedPixelCNN   # imported here: graded homework may not see the models
    from .models.pixelcnn import PixelCNN
    if model_kind == "pixelcnn":
        return PixelCNN((1, image_size, image_size), 2, hidden_channels, num_layers=num_layers,
                        first_kernel_size=kernel_size, kernel_size=kernel_size)
    if model_kind == "gated":
        return GatedPixelCNN((1, image_size, image_size), 2, hidden_channels, num_layers=num_layers,
                             kernel_size=kernel_size)
    raise ValueError(f"model_kind must be one of {MODEL_KINDS}, got {model_kind!r}")


@torch.no_grad()
def redraw_weights(model: nn.Module, gain: float, generator: torch.Generator) -> None:
    """Draw every convolution weight from N(0, gain^2 / fan_in), fan_in counting unmasked inputs only.

    PyTorch's default initialisation shrinks a change by several times per layer, so the influence
    of a pixel many layers away falls below what floating point can show, although it is there.
    Larger weights keep it measurable.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            mask = getattr(module, "mask", torch.ones_like(module.weight))
            fan_in = max(float(mask.sum(dim=(1, 2, 3)).mean()), 1.0)
            module.weight.normal_(0.0, gain / math.sqrt(fan_in), generator=generator)


def receptive_field_map(model_kind: str, num_layers: int, kernel_size: int, image_size: int, pixel,
                        *, seed: int = 0, weight_gain: float | None = 2.0) -> ReceptiveField:
    """Measure which earlier pixels reach output `pixel` = (row, col) of a random model.

    model_kind: "pixelcnn" (plain masked convolutions, has a blind spot) or "gated" (vertical and
    horizontal stacks, none). weight_gain: see `redraw_weights`; None keeps PyTorch's initialisation.
    The model runs in float64; a pixel counts as seen when changing it moves the output at all for
    at least one of three random images (one image could hide a path behind a ReLU that is off).
    The whole dependency matrix is measured, so `unseen_counts` covers every pixel at no extra cost.
    """
    for name, value in (("num_layers", num_layers), ("kernel_size", kernel_size), ("image_size", image_size)):
        check_positive_int(value, name)
    if not (isinstance(pixel, (tuple, list)) and len(pixel) == 2
            and all(isinstance(p, int) and 0 <= p < image_size for p in pixel)):
        raise ValueError(f"pixel must be (row, col) with both in [0, {image_size - 1}], got {pixel!r}")
    if weight_gain is not None and not weight_gain > 0:
        raise ValueError(f"weight_gain must be positive or None, got {weight_gain!r}")
    with torch.random.fork_rng():          # seeds the initialisation without touching the caller's RNG
        torch.manual_seed(seed)
        model = build_model(model_kind, num_layers, kernel_size, image_size).double()
    if weight_gain is not None:
        redraw_weights(model, weight_gain, torch.Generator().manual_seed(seed))
    report = dependency_report(model, (1, image_size, image_size), 2, trials=3, seed=seed, atol=1e-12)
    row, col = pixel
    output = row * image_size + col
    earlier = torch.arange(image_size * image_size) < output
    return ReceptiveField(
        pixel=(row, col),
        earlier=earlier.reshape(image_size, image_size),
        seen=report.dep[output].reshape(image_size, image_size),
        unseen_counts=report.unseen_counts().reshape(image_size, image_size))
