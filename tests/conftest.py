"""Fixtures for the whole suite."""

from __future__ import annotations

import tempfile

import pytest


@pytest.fixture(scope="session", autouse=True)
def temporary_files_inside_pytest_basetemp(tmp_path_factory):
    """What the library writes with :mod:`tempfile` in this process (a smoke run's outputs and logs, an image uploaded to
    the explorer, a kernelspec) goes into pytest's temporary folder, which pytest prunes to its last three runs, instead
    of ``/tmp``, where every ``make test`` used to leave about ten folders."""
    previous = tempfile.tempdir
    tempfile.tempdir = str(tmp_path_factory.mktemp("tempfile"))
    yield
    tempfile.tempdir = previous
