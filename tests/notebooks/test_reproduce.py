"""reproduce: notebook discovery and selection, the kernel fallback, and `main` end to end on tiny notebooks."""

from __future__ import annotations

import json
import os
import re
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


def test_a_notebook_that_cannot_be_run_is_a_failure_not_a_traceback(tmp_path, capsys):
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), tmp_path / "01_plain.ipynb")
    timings = tmp_path / "t.json"
    assert reproduce.main(["--notebook-dir", str(tmp_path), "--profile", "smoke", "--timings", str(timings)]) == 1
    output = capsys.readouterr()
    assert "01_plain.ipynb" in output.out and "FAILED - 01_plain.ipynb has no cell tagged 'parameters'" in output.out
    assert "FAILED: 01_plain.ipynb" in output.err


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


def test_a_kernel_that_dies_while_starting_is_started_again(tmp_path, monkeypatch):
    """A kernel process that exits before it answers (seen once with two kernels starting at the same moment) is a
    dead kernel, not a failing notebook: with ``retries`` the run starts again; without, the error says what died."""
    marker = tmp_path / "first-launch-done"
    launcher = tmp_path / "dies_once.py"
    launcher.write_text(
        "import os, pathlib, runpy, sys\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if not marker.exists():\n"
        "    marker.touch()\n"
        "    sys.exit(3)  # the first launch dies before the kernel starts\n"
        "sys.argv = ['ipykernel_launcher', *sys.argv[1:]]\n"
        "runpy.run_module('ipykernel_launcher', run_name='__main__')\n", encoding="utf-8")
    spec = tmp_path / "share" / "kernels" / "hm-test-dies-once"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": [sys.executable, str(launcher), "-f", "{connection_file}"],
                                                  "display_name": "dies once", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share"))
    _write_notebook(tmp_path / "01_ok.ipynb", "print('ran')")
    notes = []
    run = reproduce.execute_notebook(tmp_path / "01_ok.ipynb", tmp_path / "out.ipynb", {}, kernel_name="hm-test-dies-once",
                                     cell_timeout=60, retries=1, on_retry=notes.append)
    assert run.ok and run.attempts == 2, run.error
    assert len(notes) == 1 and "Kernel died before replying to kernel_info" in notes[0]
    marker.unlink()
    run = reproduce.execute_notebook(tmp_path / "01_ok.ipynb", tmp_path / "out.ipynb", {}, kernel_name="hm-test-dies-once",
                                     cell_timeout=60, retries=0)
    assert not run.ok and "Kernel died before replying to kernel_info" in run.error and run.attempts == 1


# ------------------------------------------------------------------------------------------- what the user sees
def test_known_harmless_kernel_messages_and_only_those_are_silenced():
    from hidden_monotonicity.notebook_execution import is_harmless_kernel_message

    tcp = "[IPKernelApp] WARNING | Kernel is running over TCP without encryption. All communication ..."
    interrupt = "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel"
    assert is_harmless_kernel_message(tcp, after_last_cell=False, ok=True)
    assert is_harmless_kernel_message(interrupt, after_last_cell=True, ok=True)
    assert not is_harmless_kernel_message(interrupt, after_last_cell=False, ok=True)  # a cell was interrupted
    assert not is_harmless_kernel_message(interrupt, after_last_cell=True, ok=False)  # the run failed: show it
    assert not is_harmless_kernel_message("Segmentation fault in libtorch", after_last_cell=True, ok=True)


def _watch(tmp_path, console, **kwargs):
    from hidden_monotonicity.notebook_execution import NotebookWatch

    return NotebookWatch("04_eval.ipynb", 2, 3, console, tmp_path / "watch", **kwargs)


def test_the_status_follows_cells_and_the_runners_progress_records(tmp_path, capsys):
    import io

    from hidden_monotonicity.notebook_execution import Console

    stream = io.StringIO()
    watch = _watch(tmp_path, Console("lines", stream), expected_seconds=50.0, expected_units=10)
    assert "starting the kernel" in watch.status()
    cells = [{"cell_type": "code"}, {"cell_type": "markdown"}, {"cell_type": "code"}]
    watch.begin(cells)
    watch.cell_started(0, cells[0])
    watch.cell_finished(0, {"cell_type": "code", "outputs": [
        {"output_type": "stream", "name": "stderr", "text": "/x/y.py:3: UserWarning: weights missing\n  warn(...)\n"},
        {"output_type": "stream", "name": "stderr", "text": "100%|####| 4/4 [00:01<00:00]\n"}]})
    watch.cell_started(2, cells[2])
    watch._cell_started -= 40.0  # the evaluation cell started 40 s ago
    with open(watch.progress_file, "a") as stream_:
        for done in (1, 2, 3, 4):
            stream_.write(json.dumps({"time": 0, "task": "vgg | test | splitcam", "task_done": done, "task_total": 8,
                                      "units_computed": done}) + "\n")
        stream_.write('{"half a line')  # being written: read next time
    with open(watch.kernel_log, "a") as log:
        log.write("[IPKernelApp] WARNING | Kernel is running over TCP without encryption.\nreal kernel trouble\n")
    watch.poll()
    status = watch.status()
    assert status.startswith("[2/3] 04_eval.ipynb  cell 2/2  ")
    assert "units 4/10 (vgg | test | splitcam 4/8)" in status
    assert re.search(r"~1m0\ds left", status), status  # 40 s for 4 units: 6 more take about 60 s (> 50 s - elapsed)
    watch.expected_seconds = 100.0
    assert re.search(r"~1m[34]\ds left", watch.status())  # the last run's time says more: the larger estimate
    with open(watch.progress_file, "a") as stream_:  # a second evaluation of the notebook (its own folder) counts on
        stream_.write("\n")
        for done in (1, 2):
            stream_.write(json.dumps({"run": "/r/ablation", "task": "a", "task_done": done, "task_total": 2,
                                      "units_computed": done}) + "\n")
    watch.poll()
    assert watch.units == 6 and "units 6/10" in watch.status()
    watch.cell_finished(2, {"cell_type": "code", "outputs": []})
    with open(watch.kernel_log, "a") as log:
        log.write("[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel\n")  # the interrupt before shutdown
    watch.finish(ok=True)
    err = capsys.readouterr().err
    assert "04_eval.ipynb cell 1: UserWarning: weights missing" in err
    assert "04_eval.ipynb (kernel, cell 2): real kernel trouble" in err
    assert "TCP" not in err and "KeyboardInterrupt" not in err and "100%" not in err
    assert stream.getvalue().splitlines()[0].startswith("[2/3] 04_eval.ipynb  cell 1/2")


def test_time_left_falls_back_to_the_last_runs_time(tmp_path):
    from hidden_monotonicity.notebook_execution import Console

    watch = _watch(tmp_path, Console("quiet"), expected_seconds=100.0)
    watch.started -= 30
    assert 69 <= watch.seconds_left() <= 70.5
    watch.started -= 100
    assert "longer than the last run (1m40s)" in watch.status()
    assert _watch(tmp_path, Console("quiet")).seconds_left() is None


def test_format_seconds():
    from hidden_monotonicity.notebook_execution import format_seconds

    assert [format_seconds(s) for s in (0, 42.4, 187, 3720)] == ["0 s", "42 s", "3m07s", "1h02m"]


def test_figure_changes_name_created_changed_rewritten_and_untouched_files(tmp_path):
    folder = tmp_path / "figures"
    folder.mkdir()
    (folder / "table.csv").write_text("a,b\n1,2\n3,4\n5,6\n")
    (folder / "same.png").write_bytes(b"png")
    (folder / "old.png").write_bytes(b"old")
    (folder / "plot.png").write_bytes(b"one")
    before, tables = reproduce.snapshot_folder(folder), {"table.csv": (folder / "table.csv").read_text()}
    os.utime(folder / "same.png", ns=(1, 1))
    (folder / "table.csv").write_text("a,b\n1,2\n3,9\n5,6\n7,8\n")
    (folder / "same.png").write_bytes(b"png")
    (folder / "plot.png").write_bytes(b"two")
    (folder / "new.md").write_text("| x |\n")
    changes = reproduce.figure_changes(before, folder, tables)
    assert changes == {"created": ["new.md"], "changed": ["plot.png", "table.csv  (table changed: 2 of 5 lines differ)"],
                       "unchanged": ["same.png"], "untouched": ["old.png"]}
    assert reproduce.snapshot_folder(tmp_path / "missing") == {}


def test_timings_record_keeps_earlier_entries_and_reads_the_old_format(tmp_path):
    path = tmp_path / "results" / "reproduce-timings.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"profile": "default", "notebooks": [{"notebook": "04_e.ipynb", "seconds": 515.0, "ok": True}]}))
    assert reproduce.read_timings(path)["profiles"] == {"default": {"04_e.ipynb": {"seconds": 515.0, "ok": True}}}
    runs = [reproduce.NotebookRun("04_e.ipynb", path, 20.0, False, "boom"),
            reproduce.NotebookRun("01_t.ipynb", path, 3.04, True, units=0),
            reproduce.NotebookRun("05_u.ipynb", path, 9.0, True, units=12)]
    reproduce.record_timings(path, "default", runs, {"profile": "default"})
    entries = reproduce.read_timings(path)["profiles"]["default"]
    assert entries["04_e.ipynb"]["seconds"] == 515.0  # a failed run keeps the earlier time
    assert entries["01_t.ipynb"]["seconds"] == 3.0 and "units" not in entries["01_t.ipynb"]
    assert entries["05_u.ipynb"]["units"] == 12
    path.write_text("not json")
    assert reproduce.read_timings(path)["profiles"] == {}


def test_dry_run_lists_the_expected_times_and_runs_nothing(tmp_path, capsys):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    marker = tmp_path / "ran.txt"
    for name in ("00_a.ipynb", "01_b.ipynb", "02_c.ipynb"):
        _write_notebook(folder / name, f"open({str(marker)!r}, 'w').write('ran')")
    committed = nbformat.read(folder / "02_c.ipynb", as_version=4)  # executed and committed by an earlier run
    committed.metadata["papermill"] = {"duration": 14.9, "end_time": "2026-11-28T23:53:18+00:00",
                                       "parameters": {"profile": "default"}}
    nbformat.write(committed, folder / "02_c.ipynb")
    timings = tmp_path / "t.json"
    timings.write_text(json.dumps({"format": 2, "machine": {"host": "box", "cpus": 2},
                                   "profiles": {"default": {"01_b.ipynb": {"seconds": 515.0, "units": 240,
                                                                           "finished": "2026-12-01T20:00:00+00:00"}}}}))
    assert reproduce.main(["--notebook-dir", str(folder), "--dry-run", "--timings", str(timings)]) == 0
    out = capsys.readouterr().out
    assert not marker.exists()
    assert re.search(r"00_a\.ipynb\s+default\s+no timing recorded yet", out)
    assert re.search(r"01_b\.ipynb\s+default\s+8m35s\s+\(last run 2026-12-01, 240 work units\)", out)
    assert re.search(r"02_c\.ipynb\s+default\s+15 s\s+\(committed notebook's run 2026-11-28\)", out)
    assert "expected total: 8m50s for the 2 notebook(s) with a recorded time; 1 never ran" in out
    assert "1 time(s) from the committed notebooks: another machine" in out
    assert reproduce.main(["--notebook-dir", str(folder), "--dry-run", "--timings", str(timings), "--profile", "smoke"]) == 0
    assert "expected total: 0 s for the 0 notebook(s)" in capsys.readouterr().out  # the committed run was 'default'
    assert "recorded on box, 2 CPUs" in out and "executed notebooks -> in place" in out


@pytest.mark.notebooks
def test_progress_warnings_failures_and_the_change_summary_on_tiny_notebooks(tmp_path, kernel_name, capfd):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    figures = tmp_path / "figures"
    figures.mkdir()
    (figures / "t.csv").write_text("a,b\n1,2\n3,5\n")
    (figures / "old.png").write_bytes(b"old")
    emit = ("import time\nfrom hidden_monotonicity.progress import report_progress\nfor i in range(6):\n"
            "    report_progress(task='vgg | test | splitcam', task_done=i + 1, task_total=6, units_computed=i + 1)")
    write = ("from pathlib import Path\n(Path(output_dir) / 't.csv').write_text('a,b\\n1,2\\n3,4\\n')\n"
             "(Path(output_dir) / 'p.png').write_bytes(b'png')")
    cells = [nbformat.v4.new_code_cell('profile = "default"\noutput_dir = "figures"'), nbformat.v4.new_markdown_cell("text"),
             nbformat.v4.new_code_cell(emit), nbformat.v4.new_code_cell("import warnings\nwarnings.warn('a real warning')"),
             nbformat.v4.new_code_cell(write)]
    cells[0].metadata["tags"] = ["parameters"]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, folder / "01_units.ipynb")
    _write_notebook(folder / "02_fails.ipynb", "raise RuntimeError('deliberate failure')")
    timings = tmp_path / "timings.json"
    timings.write_text(json.dumps({"format": 2, "profiles": {"smoke": {"01_units.ipynb": {"seconds": 600.0, "units": 6}}}}))

    status = reproduce.main(["--profile", "smoke", "--notebook-dir", str(folder), "--figures-dir", str(figures),
                             "--progress", "lines", "--timings", str(timings), "--kernel", kernel_name])
    out, err = capfd.readouterr()
    assert status == 1
    code_cells = 5  # parameters, papermill's injected parameters, three cells
    assert "[1/2] 01_units.ipynb  starting the kernel" in out
    for cell in range(1, code_cells + 1):
        assert f"[1/2] 01_units.ipynb  cell {cell}/{code_cells}  " in out
    assert re.search(r"\[1/2\] 01_units\.ipynb  cell 4/5  \S+ s  units 6/6 \(vgg \| test \| splitcam 6/6\)  ~\S+ left", out)
    assert re.search(r"01_units\.ipynb\s+[\d.]+ s  ok  \(6 work units\)", out)
    assert "01_units.ipynb cell 4: UserWarning: a real warning" in err
    assert re.search(r"02_fails\.ipynb\s+[\d.]+ s  FAILED - cell 3: PapermillExecutionError: RuntimeError: deliberate failure", out)
    assert "1 created, 1 changed, 0 unchanged, 1 untouched" in out
    assert "    created  p.png" in out and "    changed  t.csv  (table changed: 1 of 3 lines differ)" in out
    assert "executed notebooks -> " in out and "reproduce: 1/2 notebook(s) ran through" in out
    assert "without encryption" not in out + err and "KeyboardInterrupt" not in out + err
    recorded = reproduce.read_timings(timings)["profiles"]["smoke"]
    assert recorded["01_units.ipynb"]["units"] == 6 and recorded["01_units.ipynb"]["seconds"] < 600
    assert "02_fails.ipynb" not in recorded


@pytest.mark.slow
@pytest.mark.notebooks
def test_reproduce_runs_the_first_notebooks_on_the_smoke_profile(tmp_path, kernel_name, capfd):
    """`reproduce` on notebooks 00 and 01 as a user runs it: progress per cell, the files created, the timings
    (then the dry run expects those times)."""
    from declared_outputs import declared_outputs

    timings = tmp_path / "timings.json"
    arguments = ["--profile", "smoke", "--notebooks", "00", "01", "--timings", str(timings), "--kernel", kernel_name]
    status = reproduce.main([*arguments, "--progress", "lines", "--threads", "1"])
    out, err = capfd.readouterr()
    assert status == 0, out + err
    for position, stem in ((1, "00_environment"), (2, "01_dc_decomposition_toys")):
        # every code cell in order (a long cell is shown again by the periodic status line)
        cells = list(dict.fromkeys(int(n) for n, _ in re.findall(rf"\[{position}/2\] {stem}\.ipynb  cell (\d+)/(\d+)", out)))
        total = int(re.search(rf"\[{position}/2\] {stem}\.ipynb  cell \d+/(\d+)", out).group(1))
        assert cells == list(range(1, total + 1)), f"{stem}: cells shown {cells}"
        assert re.search(rf"  {stem}\.ipynb\s+[\d.]+ s  ok", out)
    created = set(re.findall(r"    created  (\S+)", out))
    required = {name for path in reproduce.select_notebooks(reproduce.discover_notebooks(
        reproduce.repository_root() / "notebooks"), ["00", "01"]) for name, needed in declared_outputs(path).items() if needed}
    assert required and required <= created, f"declared {required}, created {created}"
    assert re.search(r"reproduce: 2/2 notebook\(s\) ran through in ", out) and "executed notebooks -> " in out
    assert "without encryption" not in out + err and "KeyboardInterrupt" not in out + err

    assert reproduce.main([*arguments, "--dry-run"]) == 0
    dry = capfd.readouterr().out
    recorded = reproduce.read_timings(timings)["profiles"]["smoke"]
    for stem in ("00_environment", "01_dc_decomposition_toys"):
        expected = reproduce.format_seconds(recorded[f"{stem}.ipynb"]["seconds"])
        assert re.search(rf"{stem}\.ipynb\s+smoke\s+{re.escape(expected)}", dry), dry


@pytest.mark.notebooks
def test_a_default_run_refreshes_the_readme_tables_then_checks_the_claims(tmp_path, kernel_name, monkeypatch, capsys):
    """The README quotes the notebooks' times and the figures' tables: a default run re-renders them before the
    claims check (stop 36's CI failed on a README whose notebook times lagged one `make reproduce` behind)."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _write_notebook(folder / "01_ok.ipynb", "print('ok')")
    calls = []
    monkeypatch.setattr(reproduce, "refresh_readme", lambda profile, figures: calls.append(("readme", profile)) or [])
    monkeypatch.setattr(reproduce, "report_claims", lambda profile, figures: calls.append(("claims", profile)) or 0)
    assert reproduce.main(["--profile", "default", "--notebook-dir", str(folder), "--kernel", kernel_name]) == 0
    assert calls == [("readme", "default"), ("claims", "default")]
