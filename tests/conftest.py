"""Shared test setup: the test models are tiny, so PyTorch runs on one thread (more
threads only add overhead, and oversubscribe a busy machine)."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
