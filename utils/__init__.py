"""Reference code for the course "Deep autoregressive models, hands-on".

Modules: data (offline datasets), metrics (nats/bits per dim), train (fit loop), plotting,
checks (autoregressive and coverage checks, friendly notebook checks), sampling, runtime
(seeding, device), models (reference models), widgets, grading (instructor tools), colab.

`import utils` is light: the names below load utils.runtime (and PyTorch) on first use, so that the
instructor tools in utils.grading can be imported without PyTorch.
"""
__version__ = "0.1.0"
__all__ = ["get_device", "is_autograding", "seed_everything", "check_scale"]


def __getattr__(name: str):
    if name in __all__:
        from . import runtime
        return getattr(runtime, name)
    raise AttributeError(f"module 'utils' has no attribute {name!r}")
