"""Test tiers for the whole suite (tests/, course/ and solutions/), and one nbval setting.

Every notebook cell that nbval collects is marked `notebook`, so that `make check` can leave the
slow tiers out: `pytest -m "not browser and not grading and not notebook and not slow"`.
"""
import pytest

# nbval (0.11) waits at most 5 seconds, a constant with no option, for a cell's outputs after the
# kernel has replied that the cell finished. Under the full suite on 2 cores (two test files at a
# time, each with its kernel) the kernel's output thread has lagged longer than that after a long
# cell, and nbval then failed a cell that had run correctly ("Timeout of 5 seconds exceeded waiting
# for output"). The cells' own time limit stays --nbval-cell-timeout (pyproject.toml).
NBVAL_OUTPUT_TIMEOUT = 60


def pytest_collection_modifyitems(items):
    for item in items:
        if item.nodeid.split("::")[0].endswith(".ipynb"):
            item.add_marker(pytest.mark.notebook)
            item.output_timeout = NBVAL_OUTPUT_TIMEOUT
