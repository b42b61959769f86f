"""Test tiers for the whole suite (tests/, course/ and solutions/).

Every notebook cell that nbval collects is marked `notebook`, so that `make check` can leave the
slow tiers out: `pytest -m "not browser and not grading and not notebook and not slow"`.
"""
import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if item.nodeid.split("::")[0].endswith(".ipynb"):
            item.add_marker(pytest.mark.notebook)
