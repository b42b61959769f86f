"""Shared fixtures of the tests in tests/."""
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """The test models are tiny: with one thread, no time goes on syncing threads (slow on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
