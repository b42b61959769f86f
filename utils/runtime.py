"""Seeding and device helpers shared by every notebook and script."""
import os
import random

import numpy as np
import torch


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and CUDA); return a CPU generator with that seed."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def get_device(prefer: str | None = None) -> torch.device:
    """The device to train on: `prefer` if given ("cpu", "cuda"), else CUDA when available.

    The environment variable COURSE_DEVICE overrides the automatic choice (CI sets it to "cpu").
    """
    choice = prefer or os.environ.get("COURSE_DEVICE")
    if choice is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(choice)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {choice!r} was asked for but CUDA is not available here; use 'cpu'")
    return device


def is_autograding() -> bool:
    """True while nbgrader executes a notebook (it sets NBGRADER_EXECUTION)."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


SCALES = ("cpu", "gpu")


def check_scale(scale: str) -> str:
    """Check a notebook's SCALE knob and return it.

    "cpu" (the default) sizes every experiment for about a minute on a laptop CPU; "gpu" switches to
    full-size settings, which only make sense with a CUDA GPU: on a machine without one this says so
    instead of silently running the big settings on the CPU for hours.
    """
    if scale not in SCALES:
        raise ValueError(f"SCALE must be one of {SCALES}, got {scale!r}")
    if scale == "gpu" and not torch.cuda.is_available():
        raise RuntimeError('SCALE = "gpu" runs the full-size settings, which need a CUDA GPU, and none is available '
                           'here. Use SCALE = "cpu", or pick a GPU runtime (on Colab: Runtime > Change runtime type).')
    return scale
