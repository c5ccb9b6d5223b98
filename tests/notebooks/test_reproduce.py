"""reproduce: notebook discovery and selection, the kernel fallback, and `main` end to end on tiny notebooks."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest

from hidden_monotonicity import reproduce


def _write_notebook(path: Path, body: str, parameters: str = 'profile = "default"\noutput_dir = "figures"') -> None:
    cells = [nbformat.v4.new_code_cell(parameters), nbformat.v4.new_code_cell(body)]
    cells[0].metadata["tags"] = ["parameters"]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


def test_discovery_orders_by_number_and_ignores_unnumbered(tmp_path):
    for name in ("10_last.ipynb", "2_second.ipynb", "01_first.ipynb", "scratch.ipynb", "03_notes.md"):
        (tmp_path / name).write_text("{}")
    found = reproduce.discover_notebooks(tmp_path)
    assert [path.name for path in found] == ["01_first.ipynb", "2_second.ipynb", "10_last.ipynb"]
    assert [p.name for p in reproduce.select_notebooks(found, ["10", "01_first", "2_second.ipynb"])] == [
        "01_first.ipynb", "2_second.ipynb", "10_last.ipynb"]
    assert reproduce.select_notebooks(found, None) == found
    with pytest.raises(ValueError, match="01_first, 2_second, 10_last"):
        reproduce.select_notebooks(found, ["07"])
    with pytest.raises(FileNotFoundError):
        reproduce.discover_notebooks(tmp_path / "missing")


def test_ensure_kernel_uses_a_matching_spec_and_replaces_a_stale_one(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share"))
    good = tmp_path / "share" / "kernels" / "hm-test-good"
    stale = tmp_path / "share" / "kernels" / "hm-test-stale"
    for folder, python in ((good, sys.executable), (stale, "/nonexistent/bin/python")):
        folder.mkdir(parents=True)
        (folder / "kernel.json").write_text(json.dumps(
            {"argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "x", "language": "python"}))
    assert reproduce.ensure_kernel("hm-test-good", scratch=tmp_path / "scratch") == "hm-test-good"
    for preferred in ("hm-test-stale", "hm-test-missing"):
        name = reproduce.ensure_kernel(preferred, scratch=tmp_path / "scratch")
        assert name.startswith(preferred + "-") and name != preferred
        spec = json.loads((tmp_path / "scratch" / "kernels" / name / "kernel.json").read_text())
        assert spec["argv"][0] == sys.executable
        assert os.environ["JUPYTER_PATH"].split(os.pathsep)[0] == str(tmp_path / "scratch")


@pytest.mark.notebooks
def test_main_runs_in_order_reports_failures_and_replaces_only_successful_notebooks(tmp_path, kernel_name, capsys):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    log = tmp_path / "order.txt"
    _write_notebook(folder / "01_ok.ipynb",
                    f"open({str(log)!r}, 'a').write(profile + ':01\\n')\nprint('ran with profile', profile)")
    _write_notebook(folder / "02_fails.ipynb", "raise RuntimeError('deliberate failure')")
    _write_notebook(folder / "03_ok.ipynb", f"open({str(log)!r}, 'a').write(profile + ':03\\n')")
    original_failing = (folder / "02_fails.ipynb").read_text()

    status = reproduce.main(["--profile", "default", "--notebook-dir", str(folder), "--kernel", kernel_name])
    output = capsys.readouterr()
    assert status == 1
    assert log.read_text().splitlines() == ["default:01", "default:03"]  # numbered order, the failure did not stop it
    assert "02_fails.ipynb" in output.err and "deliberate failure" in output.out
    executed = nbformat.read(folder / "01_ok.ipynb", as_version=4)  # replaced in place, with its output
    assert any("ran with profile default" in "".join(o.get("text", "")) for c in executed.cells for o in c.get("outputs", []))
    assert (folder / "02_fails.ipynb").read_text() == original_failing  # a failed run never replaces the notebook
    assert executed.metadata["papermill"]["input_path"] == "notebooks/01_ok.ipynb"  # no machine-specific paths

    log.unlink()
    out_dir = tmp_path / "executed"
    status = reproduce.main(["--profile", "smoke", "--notebook-dir", str(folder), "--notebooks", "03",
                             "--output-dir", str(out_dir), "--kernel", kernel_name])
    assert status == 0 and log.read_text().splitlines() == ["smoke:03"]
    timings = json.loads((out_dir / "reproduce-timings.json").read_text())
    assert timings["profile"] == "smoke" and [n["notebook"] for n in timings["notebooks"]] == ["03_ok.ipynb"]
    assert (out_dir / "03_ok.ipynb").is_file()


def test_main_argument_errors(tmp_path, capsys):
    assert reproduce.main(["--notebook-dir", str(tmp_path / "missing")]) == 2
    (tmp_path / "nb").mkdir()
    assert reproduce.main(["--notebook-dir", str(tmp_path / "nb")]) == 2
    _write_notebook(tmp_path / "nb" / "01_a.ipynb", "pass")
    assert reproduce.main(["--notebook-dir", str(tmp_path / "nb"), "--notebooks", "05"]) == 2
    assert reproduce.main(["--notebook-dir", str(tmp_path / "nb"), "--list"]) == 0
    assert "01_a.ipynb: profile, output_dir" in capsys.readouterr().out


def test_a_notebook_without_parameters_cell_is_refused(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(notebook, tmp_path / "01_plain.ipynb")
    with pytest.raises(ValueError, match="parameters"):
        reproduce.execute_notebook(tmp_path / "01_plain.ipynb", tmp_path / "out.ipynb", {}, kernel_name="python3")


def test_the_cli_dispatches_to_reproduce(tmp_path):
    from hidden_monotonicity.__main__ import main

    assert main(["reproduce", "--notebook-dir", str(tmp_path / "missing")]) == 2


def test_a_hung_run_is_retried_but_a_failing_cell_is_not(tmp_path, monkeypatch):
    import nbclient.exceptions
    import papermill

    _write_notebook(tmp_path / "01_a.ipynb", "pass")
    calls = []

    def flaky(*args, **kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise nbclient.exceptions.CellTimeoutError("A cell timed out while it was being executed, after 5 seconds.")

    monkeypatch.setattr(papermill, "execute_notebook", flaky)
    run = reproduce.execute_notebook(tmp_path / "01_a.ipynb", tmp_path / "out.ipynb", {"profile": "smoke", "other": 1},
                                     kernel_name="k", cell_timeout=5, retries=1)
    assert run.ok and run.attempts == 2
    assert calls[0]["parameters"] == {"profile": "smoke"}  # undeclared parameters are not passed
    assert calls[0]["execution_timeout"] == 5 and calls[0]["extra_arguments"] == list(reproduce.KERNEL_ARGUMENTS)

    def failing_cell(*args, **kwargs):
        calls.append(kwargs)
        raise papermill.PapermillExecutionError(0, 1, "boom", "ValueError", "bad value", [])

    calls.clear()
    monkeypatch.setattr(papermill, "execute_notebook", failing_cell)
    run = reproduce.execute_notebook(tmp_path / "01_a.ipynb", tmp_path / "out.ipynb", {}, kernel_name="k", retries=3)
    assert not run.ok and run.attempts == 1 and len(calls) == 1 and "PapermillExecutionError" in run.error


@pytest.mark.notebooks
def test_a_cell_timeout_ends_a_hanging_notebook(tmp_path, kernel_name):
    _write_notebook(tmp_path / "01_sleeps.ipynb", "import time\ntime.sleep(120)")
    run = reproduce.execute_notebook(tmp_path / "01_sleeps.ipynb", tmp_path / "out.ipynb", {}, kernel_name=kernel_name,
                                     cell_timeout=3)
    assert not run.ok and "Timeout" in run.error and run.seconds < 60
