"""Seeded real-valued data for density models of continuous data (RNADE in lecture 02).

The datasets in utils.data are discrete (integers in [0, K)); the ones here are float tensors.

    >>> moons = continuous_2d()
    >>> moons.train.shape, moons.train.dtype
    (torch.Size([2000, 2]), torch.float32)
"""
import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class ContinuousDataset:
    """Train / validation / test splits of real vectors, each a float32 tensor (N, D)."""
    name: str
    train: torch.Tensor
    validation: torch.Tensor
    test: torch.Tensor
    description: str = ""

    def __repr__(self) -> str:
        sizes = ", ".join(f"{split} {len(getattr(self, split))}" for split in ("train", "validation", "test"))
        return f"ContinuousDataset({self.name!r}: {sizes}; D = {self.train.shape[1]}, float) {self.description}"


def two_moons(n: int, rng: np.random.Generator, noise: float = 0.1) -> np.ndarray:
    """n points (n, 2) on two interleaved half circles, with Gaussian noise of standard deviation `noise`.

    The upper moon is the half circle of radius 1 around (0, 0); the lower one is the same half circle
    turned upside down around (1, 0.5). Coordinates are shifted and scaled to lie roughly in [-2, 2].
    """
    moon = rng.integers(0, 2, n)
    angle = rng.uniform(0, math.pi, n)
    x1 = np.where(moon == 0, np.cos(angle), 1 - np.cos(angle))
    x2 = np.where(moon == 0, np.sin(angle), 0.5 - np.sin(angle))
    points = np.stack([x1, x2], axis=1) + noise * rng.standard_normal((n, 2))
    return (points - np.array([0.5, 0.25])) * np.array([1.5, 2.0])


def continuous_2d(n_train: int = 2000, n_valid: int = 1000, n_test: int = 1000, seed: int = 0,
                  noise: float = 0.1) -> ContinuousDataset:
    """Two moons in 2-D, float32: the same train / validation / test split for the same arguments.

    The two coordinates depend on each other in a curved way: given x1, x2 lies on one or two thin
    arcs, which a single Gaussian cannot describe and a mixture can.
    """
    for value, name in [(n_train, "n_train"), (n_valid, "n_valid"), (n_test, "n_test")]:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not noise > 0:
        raise ValueError(f"noise must be positive, got {noise!r}")
    points = torch.from_numpy(two_moons(n_train + n_valid + n_test, np.random.default_rng(seed), noise)).float()
    train, validation, test = points.split([n_train, n_valid, n_test])
    return ContinuousDataset("two_moons", train, validation, test,
                             description=f"two moons with noise {noise}, seed {seed}")
