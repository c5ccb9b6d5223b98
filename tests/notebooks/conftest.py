"""Shared fixtures of the notebook tests: the repository paths and a kernel for the current interpreter."""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import torch

# tests/declared_outputs.py (which files a notebook declares) is shared with tests/test_figures_declared.py
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"


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


#: notebook runs at a time in the notebook tests (the development and CI machines have 2 cores)
PARALLEL_NOTEBOOKS = 2


class NotebookRuns:
    """Notebook executions two at a time, each in a spawned process of its own (a papermill run is in-process; its
    kernel is one more process). A module's notebook tests submit every selected run at once, longest first
    (:meth:`selected`), and each test waits for its own run: a notebook keeps about one core busy, so on 2 cores the
    runs overlap and the notebook tests take about half their serial time. What each test asserts is unchanged."""

    def __init__(self, pool: ProcessPoolExecutor, kernel_name: str):
        self.pool, self.kernel_name, self.futures = pool, kernel_name, {}

    def submit(self, key: str, path: Path, output: Path, parameters: dict, *, cell_timeout: int, retries: int = 1,
               cwd: Path = NOTEBOOK_DIR):
        """Start ``execute_notebook(path, output, parameters, ...)`` under ``key`` (once; a second call keeps the first)."""
        from hidden_monotonicity.notebook_execution import execute_notebook

        if key not in self.futures:
            self.futures[key] = self.pool.submit(execute_notebook, path, output, parameters, kernel_name=self.kernel_name,
                                                 cwd=cwd, cell_timeout=cell_timeout, retries=retries)
        return self.futures[key]

    def result(self, key: str):
        """The :class:`~hidden_monotonicity.notebook_execution.NotebookRun` of ``key`` (waits for it)."""
        return self.futures[key].result()

    @staticmethod
    def selected(request, test_name: str) -> list[dict]:
        """The parameters (``callspec.params``; ``{}`` for an unparametrised test) of each item of ``test_name`` in
        the requesting module that this session runs (after ``-k``, ``-m`` and deselection), in collection order."""
        return [item.callspec.params if hasattr(item, "callspec") else {} for item in request.session.items
                if getattr(item, "module", None) is request.module and getattr(item, "originalname", None) == test_name]


@pytest.fixture(scope="session")
def notebook_runs(kernel_name):
    """The session's :class:`NotebookRuns` (started after ``kernel_name``, so its processes inherit ``JUPYTER_PATH``)."""
    pool = ProcessPoolExecutor(max_workers=PARALLEL_NOTEBOOKS, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield NotebookRuns(pool, kernel_name)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
