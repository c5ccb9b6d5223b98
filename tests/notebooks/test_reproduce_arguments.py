"""reproduce: arguments that cannot work are refused before any notebook runs, with a message that names the
argument, the problem and what to do (issue 24: no error that only shows up inside a notebook cell).

No kernel is started here: every refused call returns (or raises) before papermill is reached, which the tests
check by replacing ``papermill.execute_notebook`` with a function that records being called.
"""

from __future__ import annotations

import os
import re
import stat

import nbformat
import pytest

from hidden_monotonicity import reproduce
from hidden_monotonicity.__main__ import main as cli_main


@pytest.fixture
def notebooks(tmp_path):
    """A folder with one tiny numbered notebook (a parameters cell and one cell)."""
    folder = tmp_path / "nb"
    folder.mkdir()
    cells = [nbformat.v4.new_code_cell('profile = "default"\noutput_dir = "figures"'), nbformat.v4.new_code_cell("pass")]
    cells[0].metadata["tags"] = ["parameters"]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, folder / "01_a.ipynb")
    return folder


@pytest.fixture
def no_papermill(monkeypatch):
    """Calls of ``papermill.execute_notebook`` (a refused run must not make any)."""
    import papermill

    calls = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda *args, **kwargs: calls.append(kwargs))
    return calls


def _smoke(notebooks, tmp_path, *extra):
    return ["reproduce", "--profile", "smoke", "--notebook-dir", str(notebooks), "--timings", str(tmp_path / "t.json"),
            "--kernel", "no-such-kernel", *extra]


# ----------------------------------------------------------------------------------------- --figures-dir
def test_a_figures_dir_that_is_a_file_is_refused_up_front(notebooks, tmp_path, no_papermill, capsys):
    existing_file = tmp_path / "figures.png"
    existing_file.write_bytes(b"not a folder")
    status = cli_main(_smoke(notebooks, tmp_path, "--figures-dir", str(existing_file)))
    err = capsys.readouterr().err
    assert status == 2 and not no_papermill
    assert f"--figures-dir {existing_file} is a file; choose a folder" in err
    assert existing_file.read_bytes() == b"not a folder"
    # the same for --dry-run (the plan names the problem the run would have) and for --output-dir
    assert cli_main(_smoke(notebooks, tmp_path, "--figures-dir", str(existing_file), "--dry-run")) == 2
    assert "is a file; choose a folder" in capsys.readouterr().err
    assert cli_main(_smoke(notebooks, tmp_path, "--output-dir", str(existing_file))) == 2
    assert f"--output-dir {existing_file} is a file; choose a folder" in capsys.readouterr().err
    # a folder below a file cannot be created either
    assert cli_main(_smoke(notebooks, tmp_path, "--figures-dir", str(existing_file / "sub"))) == 2
    assert f"cannot be created: {existing_file} is a file" in capsys.readouterr().err
    assert not no_papermill


def test_a_figures_dir_that_cannot_be_written_is_refused_up_front(notebooks, tmp_path, no_papermill, capsys,
                                                                   monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(locked, os.W_OK):  # root writes anywhere: report the folder as not writable, as a user sees it
            real_access = os.access
            monkeypatch.setattr(reproduce.os, "access", lambda path, mode, **kw: (
                False if os.path.abspath(path) == str(locked) else real_access(path, mode, **kw)))
        status = cli_main(_smoke(notebooks, tmp_path, "--figures-dir", str(locked)))
        err = capsys.readouterr().err
        assert status == 2 and not no_papermill
        assert f"--figures-dir {locked} is not writable; choose a folder you can write to" in err
        assert cli_main(_smoke(notebooks, tmp_path, "--figures-dir", str(locked / "new" / "figures"))) == 2
        assert f"cannot be created: {locked} is not writable" in capsys.readouterr().err
    finally:
        locked.chmod(stat.S_IRWXU)


def test_a_usable_figures_dir_passes_the_check(tmp_path):
    (tmp_path / "existing").mkdir()
    assert reproduce.folder_problem(tmp_path / "existing", "--figures-dir x") is None
    assert reproduce.folder_problem(tmp_path / "new" / "deeper", "--figures-dir x") is None  # created by the run
    assert not (tmp_path / "new").exists()  # the check creates nothing


# ----------------------------------------------------------------------------------------- --cell-timeout, --retries
@pytest.mark.parametrize("option, value, message", [
    ("--cell-timeout", "-5", "argument --cell-timeout: a cell timeout must be positive seconds (e.g. 3600), or 0 "
                             "for no limit; got -5"),
    ("--cell-timeout", "soon", "argument --cell-timeout: expected whole seconds"),
    ("--retries", "-1", "argument --retries: retries must be 0 (run each notebook once) or more, got -1"),
    ("--retries", "1.5", "argument --retries: expected a whole number of retries"),
])
def test_bad_timeouts_and_retries_are_refused_at_argument_parsing(notebooks, tmp_path, no_papermill, capsys,
                                                                  option, value, message):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(_smoke(notebooks, tmp_path, option, value))
    assert exit_info.value.code == 2 and not no_papermill
    assert message in capsys.readouterr().err


def test_zero_timeout_and_zero_retries_stay_accepted(notebooks, tmp_path, no_papermill, capsys):
    status = cli_main(_smoke(notebooks, tmp_path, "--cell-timeout", "0", "--retries", "0", "--dry-run"))
    assert status == 0 and "01_a.ipynb" in capsys.readouterr().out


@pytest.mark.parametrize("keywords, message", [
    ({"cell_timeout": -5}, "cell_timeout must be positive seconds (e.g. 3600) or None for no limit, got -5"),
    ({"cell_timeout": 0}, "cell_timeout must be positive seconds"),
    ({"cell_timeout": float("nan")}, "cell_timeout must be positive seconds"),
    ({"retries": -1}, "retries must be a whole number >= 0 (0: run each notebook once), got -1"),
    ({"retries": 1.5}, "retries must be a whole number >= 0"),
])
def test_the_python_api_refuses_bad_timeouts_and_retries(notebooks, tmp_path, no_papermill, keywords, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        reproduce.execute_notebook(notebooks / "01_a.ipynb", tmp_path / "out.ipynb", {}, kernel_name="k", **keywords)
    assert not no_papermill
    run = reproduce.execute_notebook(notebooks / "01_a.ipynb", tmp_path / "out.ipynb", {}, kernel_name="k",
                                     cell_timeout=None, retries=0)  # the limits' own edges are fine
    assert run.ok and len(no_papermill) == 1
