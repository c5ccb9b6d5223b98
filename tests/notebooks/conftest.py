"""Shared fixtures of the notebook tests: the repository paths and a kernel for the current interpreter."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

# tests/declared_outputs.py (which files a notebook declares) is shared with tests/test_figures_declared.py
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.fixture(scope="session")
def kernel_name(tmp_path_factory) -> str:
    """A kernelspec that starts ``sys.executable`` (the Makefile's one when present, else a temporary one)."""
    from hidden_monotonicity.reproduce import ensure_kernel

    previous = os.environ.get("JUPYTER_PATH")
    name = ensure_kernel(scratch=tmp_path_factory.mktemp("jupyter"))
    yield name
    if previous is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = previous


@pytest.fixture
def keep_torch_threads():
    """Restore torch's thread count after a test that calls ``notebook_params.configure``."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
