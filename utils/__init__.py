"""Reference code for the course "Deep autoregressive models, hands-on".

Modules: data (offline datasets), metrics (nats/bits per dim), train (fit loop), plotting,
checks (autoregressive and coverage checks, friendly notebook checks), sampling, runtime
(seeding, device), models (reference models), grading (instructor tools).
"""
from .runtime import get_device, is_autograding, seed_everything

__version__ = "0.1.0"
__all__ = ["get_device", "is_autograding", "seed_everything"]
