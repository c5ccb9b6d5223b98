"""``python -m hidden_monotonicity reproduce``: execute every notebook with papermill, in numbered order.

    python -m hidden_monotonicity reproduce --profile default            # what `make reproduce` runs
    python -m hidden_monotonicity reproduce --profile classroom          # the lessons at laptop speed, into results/classroom/
    python -m hidden_monotonicity reproduce --profile smoke              # seconds per notebook, nothing committed changes
    python -m hidden_monotonicity reproduce --notebooks 01 03 --profile default
    python -m hidden_monotonicity reproduce --dry-run                    # the plan and its expected time; runs nothing

* The notebooks ``notebooks/NN_*.ipynb`` run in the order of their number, each in a fresh kernel whose
  interpreter is the current one (``sys.executable``): the kernelspec ``hidden-monotonicity`` (installed by the
  Makefile) is used when it points to this interpreter, otherwise an equivalent kernelspec is written to a
  temporary ``JUPYTER_PATH`` folder, so a missing or stale kernel never runs the notebooks in another environment.
* papermill injects ``profile`` (and ``data_dir``, ``device``, ``seed``, the figure folder when given) into each
  notebook's ``parameters`` cell; only parameters a notebook declares are passed to it.
* ``--profile default``: the executed notebooks replace the committed ones (with their outputs, so readers on
  GitHub see the results) and the figures go to ``figures/``. A notebook is replaced only when it ran through;
  a failed run is kept in a temporary folder and its path printed.
* ``--profile classroom``: executed notebooks, figures and intermediate results go to ``results/classroom/``
  (:data:`CLASSROOM_FOLDER`; git-ignored, kept for the class: ``notebooks/``, ``figures/``, ``results/``), so a
  classroom run never touches committed files.
* ``--profile smoke``: executed notebooks, figures and intermediate results go to a temporary folder (printed),
  so a smoke run never touches committed files. A run that succeeds and keeps every output elsewhere (default,
  classroom, or ``--output-dir`` with ``--figures-dir``) removes its temporary folder; a failed run keeps it (the
  executed notebook with the error and the kernel's log are there).
* While a notebook runs, a status line shows the notebook, the cell (of its code cells), the elapsed time and,
  for the evaluation (notebook 04), the work units done (of the last run's total) and an estimate of the time
  left, read from the evaluation runner's progress records (:mod:`hidden_monotonicity.progress`). Known-harmless
  kernel messages are left out; real warnings and errors are printed with the notebook and cell
  (:mod:`hidden_monotonicity.notebook_execution`). ``--progress``: ``auto`` (the live line on a terminal, else
  ``quiet``: one line per notebook, for CI logs), ``live``, ``lines`` (each status on its own line), ``quiet``.
* Before anything runs, the folders the run writes (figures, executed notebooks, the timings record) are checked:
  a path that is a file or a folder that cannot be written is refused with its option named (exit status 2), as
  are a negative ``--cell-timeout`` or ``--retries`` (:func:`folder_problem`, the argparse types).
* At the end: which files of the figure folder were created or changed (a table that changed says how many of
  its lines differ), the total time and where the executed notebooks went; the exit status is 1 if any notebook
  failed.
* Timings: every run records each notebook's wall time (and the evaluation's work units) per profile in
  ``results/reproduce-timings.json`` (next to the notebook folder; git-ignored, it describes this machine;
  ``--timings`` to choose another file). ``--dry-run`` reads it for the expected times. Runs that write to an
  output folder also leave that run's ``reproduce-timings.json`` there.
* A run of the default profile into the repository's ``figures/`` re-renders the README's tables from the new
  outputs (:func:`refresh_readme`; the notebook times change at every run) and ends with the claims check
  (:func:`report_claims`): the sentences of the prose whose numbers the new outputs contradict are its last lines,
  and the exit status is 1 when there is one.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .notebook_execution import (
    KERNEL_ARGUMENTS,
    KERNEL_NAME,
    Console,
    NotebookRun,
    NotebookWatch,
    declared_parameters,
    ensure_kernel,
    execute_notebook,
    format_seconds,
)
from .notebook_params import PROFILES
from .outputs import display_path, repository_root

__all__ = [
    "KERNEL_ARGUMENTS",
    "KERNEL_NAME",
    "NotebookRun",
    "declared_parameters",
    "discover_notebooks",
    "ensure_kernel",
    "execute_notebook",
    "figure_changes",
    "folder_problem",
    "main",
    "select_notebooks",
    "snapshot_folder",
]

_NUMBERED = re.compile(r"^(\d+)_.+\.ipynb$")
#: Default ``--cell-timeout``: generous for the default profile's evaluation cell on a 2-core CPU (about 20 min);
#: pass ``--cell-timeout 0`` for long runs such as the paper profile. The timeout also bounds a stall seen with
#: nbclient 0.11 / ipykernel 7.4: when nbclient itself sends a message on the shell channel while a cell runs (it
#: does so to mimic an ``ipywidgets.Output`` capture, ``with output: display(...)``), the cell's ``execute_reply``
#: can arrive without waking nbclient's wait (the kernel is idle, the reply sits unread), and the run waits until
#: the timeout makes nbclient look at the socket again. The explorer of notebook 06 therefore never uses
#: ``with output:`` (it sets the Output widget's ``outputs`` directly), which removed the stall in our runs.
DEFAULT_CELL_TIMEOUT = 3600
#: Files read as tables in the change summary (the rest are compared as bytes).
_TABLE_SUFFIXES = (".csv", ".md", ".tex", ".json")
_TIMINGS_FORMAT = 2
#: Where ``--profile classroom`` writes (relative to the repository root) unless ``--output-dir`` / ``--figures-dir``.
CLASSROOM_FOLDER = Path("results") / "classroom"


def discover_notebooks(folder: str | os.PathLike) -> list[Path]:
    """The numbered notebooks ``NN_name.ipynb`` of ``folder``, sorted by number (then name)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"notebook folder {folder} does not exist")
    found = [path for path in folder.iterdir() if _NUMBERED.match(path.name)]
    return sorted(found, key=lambda path: (int(_NUMBERED.match(path.name).group(1)), path.name))


def select_notebooks(notebooks: Sequence[Path], wanted: Sequence[str] | None) -> list[Path]:
    """Filter by number (``"01"``/``"1"``), stem (``"01_dc_decomposition_toys"``) or file name; keeps the order."""
    if not wanted:
        return list(notebooks)
    chosen: list[Path] = []
    for item in wanted:
        key = Path(item).name
        matches = [
            path for path in notebooks
            if key in (path.name, path.stem) or (key.isdigit() and int(key) == int(_NUMBERED.match(path.name).group(1)))
        ]
        if not matches:
            listing = ", ".join(path.stem for path in notebooks)
            raise ValueError(f"no notebook matches {item!r}; the notebooks are: {listing}")
        chosen += [path for path in matches if path not in chosen]
    return [path for path in notebooks if path in chosen]


def _write_committed_copy(executed: Path, destination: Path) -> None:
    """Copy an executed notebook over its source, with papermill's machine-specific paths made relative."""
    notebook = json.loads(executed.read_text(encoding="utf-8"))
    record = notebook.get("metadata", {}).get("papermill")
    if isinstance(record, dict):
        for key in ("input_path", "output_path"):
            if key in record:
                record[key] = f"{destination.parent.name}/{destination.name}"
    text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
    temporary = destination.with_name(f".{destination.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(destination)


# ----------------------------------------------------------------------------------------- timings
def _machine() -> dict[str, Any]:
    return {"host": platform.node(), "cpus": os.cpu_count(), "platform": platform.platform(terse=True)}


def read_timings(path: str | os.PathLike) -> dict[str, Any]:
    """The timings record (``{"machine", "profiles": {profile: {notebook: entry}}, "last_run"}``); an absent,
    unreadable or older-format file gives what can be recovered from it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"format": _TIMINGS_FORMAT, "profiles": {}}
    if not isinstance(data, dict):
        return {"format": _TIMINGS_FORMAT, "profiles": {}}
    if "profiles" not in data and "notebooks" in data:  # the one-run file written before the record existed
        entries = {n["notebook"]: {"seconds": n["seconds"], "ok": n.get("ok", True)} for n in data.get("notebooks", [])
                   if isinstance(n, dict) and "notebook" in n and "seconds" in n}
        return {"format": _TIMINGS_FORMAT, "profiles": {data.get("profile", "default"): entries}}
    data.setdefault("profiles", {})
    return data


def record_timings(path: str | os.PathLike, profile: str, runs: Sequence[NotebookRun], last_run: Mapping[str, Any]) -> None:
    """Add this run's successful notebooks to the record (a failed run keeps the notebook's earlier entry)."""
    data = read_timings(path)
    entries = data["profiles"].setdefault(profile, {})
    finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for run in runs:
        if not run.ok:
            continue
        entry = {"seconds": round(run.seconds, 1), "finished": finished}
        if run.units:
            entry["units"] = run.units
        entries[run.notebook] = entry
    data.update({"format": _TIMINGS_FORMAT, "machine": _machine(), "last_run": dict(last_run)})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    temporary.replace(path)


def _committed_run(path: Path, profile: str) -> dict[str, Any] | None:
    """The wall time papermill recorded in a committed notebook (``metadata.papermill``) for ``profile``."""
    try:
        record = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("papermill", {})
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("duration") is None:
        return None
    if (record.get("parameters") or {}).get("profile", "default") != profile:
        return None
    return {"seconds": float(record["duration"]), "finished": str(record.get("end_time") or "?")}


def _dry_run(notebooks: Sequence[Path], profile: str, timings_path: Path, destinations: Sequence[str]) -> int:
    record = read_timings(timings_path)
    entries = record["profiles"].get(profile, {})
    print(f"reproduce --dry-run: profile {profile!r}, {len(notebooks)} notebook(s); nothing is run")
    width = max(len(path.name) for path in notebooks)
    total, unknown, committed = 0.0, [], 0
    for path in notebooks:
        entry, source = entries.get(path.name), "last run"
        if entry is None:
            entry, source = _committed_run(path, profile), "committed notebook's run"
            committed += entry is not None
        if entry is None:
            unknown.append(path.name)
            expected = "no timing recorded yet"
        else:
            total += float(entry["seconds"])
            units = f", {entry['units']} work units" if entry.get("units") else ""
            expected = f"{format_seconds(entry['seconds']):>7}  ({source} {entry.get('finished', '?')[:10]}{units})"
        print(f"  {path.name:<{width}s}  {profile:<8s} {expected}")
    known = len(notebooks) - len(unknown)
    print(f"  expected total: {format_seconds(total)} for the {known} notebook(s) with a recorded time"
          + (f"; {len(unknown)} never ran with this profile here" if unknown else ""))
    if committed:
        print(f"  ({committed} time(s) from the committed notebooks: another machine, and an evaluation whose results "
              "were already on disk runs much faster; after one run here the times are this machine's)")
    machine = record.get("machine")
    source = f" (recorded on {machine.get('host')}, {machine.get('cpus')} CPUs)" if isinstance(machine, dict) else ""
    print(f"  timings: {display_path(timings_path)}{source}")
    for line in destinations:
        print(line)
    return 0


# ----------------------------------------------------------------------------------------- change summary
def snapshot_folder(folder: str | os.PathLike) -> dict[str, tuple[str, int]]:
    """``{file name: (sha256, mtime_ns)}`` of the files directly in ``folder`` (empty if it does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    return {path.name: (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
            for path in sorted(folder.iterdir()) if path.is_file() and not path.name.startswith(".")}


def _changed_lines(old: str, new: str) -> int:
    matcher = difflib.SequenceMatcher(a=old.splitlines(), b=new.splitlines(), autojunk=False)
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal")


def figure_changes(before: Mapping[str, tuple[str, int]], folder: str | os.PathLike,
                   old_tables: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """Compare the figure folder with a :func:`snapshot_folder` taken before the run: ``created``, ``changed``
    (tables: with how many lines differ, from ``old_tables`` = their text before), ``unchanged`` (rewritten with
    the same bytes) and ``untouched`` (not written by this run)."""
    after = snapshot_folder(folder)
    result: dict[str, list[str]] = {"created": [], "changed": [], "unchanged": [], "untouched": []}
    for name, (digest, mtime) in after.items():
        if name not in before:
            result["created"].append(name)
        elif digest != before[name][0]:
            note = name
            if Path(name).suffix in _TABLE_SUFFIXES and old_tables and name in old_tables:
                new = (Path(folder) / name).read_text(encoding="utf-8", errors="replace")
                lines = len(new.splitlines())
                note = f"{name}  (table changed: {_changed_lines(old_tables[name], new)} of {lines} lines differ)"
            result["changed"].append(note)
        elif mtime != before[name][1]:
            result["unchanged"].append(name)
        else:
            result["untouched"].append(name)
    return result


def _read_tables(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    return {path.name: path.read_text(encoding="utf-8", errors="replace") for path in folder.iterdir()
            if path.is_file() and path.suffix in _TABLE_SUFFIXES}


def _print_changes(changes: Mapping[str, list[str]], folder: Path) -> None:
    counts = ", ".join(f"{len(changes[key])} {key}" for key in ("created", "changed", "unchanged", "untouched"))
    print(f"  {display_path(folder)}/: {counts}")
    for key in ("created", "changed"):
        for name in changes[key]:
            print(f"    {key:<8s} {name}")


# ----------------------------------------------------------------------------------------- command line
def _cell_timeout(text: str) -> int:
    """``--cell-timeout``: whole seconds > 0, or 0 for no limit (argparse reports the message with the option)."""
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole seconds (e.g. 3600, or 0 for no limit), got {text!r}") from None
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"a cell timeout must be positive seconds (e.g. 3600), or 0 for no limit; "
                                         f"got {seconds}")
    return seconds


def _retries(text: str) -> int:
    """``--retries``: how often a hung or dead run is started again, 0 or more."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of retries (0 or more), got {text!r}") from None
    if count < 0:
        raise argparse.ArgumentTypeError(f"retries must be 0 (run each notebook once) or more, got {count}")
    return count


def folder_problem(folder: str | os.PathLike, what: str) -> str | None:
    """Why the run could not write into ``folder`` (``None``: it can), as one line naming ``what`` (e.g.
    ``"--figures-dir figures"``) and what to do. A folder that does not exist yet is fine when it can be created:
    its nearest existing parent must be a writable folder. Checked before any notebook runs, so a bad folder is
    reported up front instead of failing inside a notebook's cell."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        return f"{what} is a file; choose a folder (an existing one, or a new path: it is created)"
    if folder.is_dir():
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"{what} is not writable; choose a folder you can write to, or change its permissions"
        return None
    parent = folder.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{what} cannot be created: {parent} is a file; choose a folder elsewhere"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{what} cannot be created: {parent} is not writable; choose a folder you can write to"
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hidden_monotonicity reproduce",
        description="Execute the notebooks in numbered order with papermill (see the module docstring).",
    )
    parser.add_argument("--profile", choices=PROFILES, default="default",
                        help="notebook profile: default (committed figures, executed notebooks saved in place), classroom "
                             "(the lessons at laptop speed, into results/classroom/) or smoke (seconds, a temporary folder)")
    parser.add_argument("--notebooks", nargs="+", default=None, metavar="NB",
                        help="run only these notebooks (number, stem or file name), e.g. --notebooks 01 03")
    parser.add_argument("--notebook-dir", type=Path, default=repository_root() / "notebooks",
                        help="folder of the numbered notebooks (default: <repository>/notebooks)")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="where executed notebooks go (default: in place for 'default', results/classroom/notebooks "
                             "for 'classroom', a temporary folder for 'smoke')")
    parser.add_argument("--figures-dir", type=Path, default=None,
                        help="figure folder passed to the notebooks (default: figures/ for 'default', "
                             "results/classroom/figures for 'classroom', a temporary folder for 'smoke')")
    parser.add_argument("--data-dir", default=None, help="dataset folder passed to the notebooks (ImageNet-S)")
    parser.add_argument("--device", default=None, help="device passed to the notebooks (cpu, cuda, auto)")
    parser.add_argument("--seed", type=int, default=None, help="seed passed to the notebooks")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads passed to the notebooks (default: the profile's; 1 is fastest on a busy machine)")
    parser.add_argument("--kernel", default=KERNEL_NAME, help=f"preferred kernelspec name (default {KERNEL_NAME})")
    parser.add_argument("--cell-timeout", type=_cell_timeout, default=DEFAULT_CELL_TIMEOUT,
                        help=f"seconds one cell may run, 0 for no limit (default {DEFAULT_CELL_TIMEOUT})")
    parser.add_argument("--retries", type=_retries, default=1,
                        help="how often a notebook whose kernel hung (cell timeout) or died is run again (default 1)")
    parser.add_argument("--stop-on-failure", action="store_true", help="stop at the first failing notebook")
    parser.add_argument("--progress", choices=("auto", "live", "lines", "quiet"), default="auto",
                        help="auto: a live status line on a terminal, else quiet (one line per notebook); "
                             "lines: each status on its own line")
    parser.add_argument("--timings", type=Path, default=None,
                        help="timings record (default: results/reproduce-timings.json next to the notebook folder)")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the notebooks, their profile and the expected time from the recorded timings; run nothing")
    parser.add_argument("--list", action="store_true", help="list the notebooks and their parameters, run nothing")
    return parser


def _ticker(watch: NotebookWatch, console: Console, stop: threading.Event, period: float) -> None:
    while not stop.wait(period):
        watch.poll()
        console.status(watch.status())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m hidden_monotonicity reproduce``; returns the exit status."""
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        notebooks = select_notebooks(discover_notebooks(args.notebook_dir), args.notebooks)
    except (FileNotFoundError, ValueError) as error:
        print(f"reproduce: {error}", file=sys.stderr)
        return 2
    if not notebooks:
        print(f"reproduce: no numbered notebooks (NN_name.ipynb) in {args.notebook_dir}", file=sys.stderr)
        return 2
    if args.list:
        for path in notebooks:
            print(f"{path.name}: {', '.join(declared_parameters(path))}")
        return 0
    timings_path = args.timings or Path(args.notebook_dir).resolve().parent / "results" / "reproduce-timings.json"
    in_place = args.profile == "default" and args.output_dir is None
    kept = repository_root() / CLASSROOM_FOLDER if args.profile == "classroom" else None
    if kept is not None:  # a classroom run keeps its outputs under results/classroom/
        args.output_dir = args.output_dir or kept / "notebooks"
        args.figures_dir = args.figures_dir or kept / "figures"
    folders = [(args.figures_dir, f"--figures-dir {args.figures_dir}", ""),
               (args.output_dir, f"--output-dir {args.output_dir}", "")]
    if args.figures_dir is None and args.profile == "default":
        folders.append((repository_root() / "figures", "the figure folder figures/", " (or pass --figures-dir DIR)"))
    if in_place:
        folders.append((args.notebook_dir, f"the notebook folder {args.notebook_dir}",
                        " (the default profile saves the executed notebooks in place; or pass --output-dir DIR)"))
    problems = [problem + hint for folder, what, hint in folders
                if folder is not None and (problem := folder_problem(folder, what))]
    if timings_path.is_dir():
        problems.append(f"--timings {timings_path} is a folder; give the path of a JSON file (it is created)")
    elif problem := folder_problem(timings_path.parent, f"the folder of the timings record {timings_path}"):
        problems.append(problem + " (or pass --timings FILE elsewhere)")
    if problems:
        for problem in problems:
            print(f"reproduce: error: {problem}", file=sys.stderr)
        return 2
    if args.dry_run:
        notebooks_to = "in place (" + display_path(args.notebook_dir) + ")" if in_place else (
            str(args.output_dir) if args.output_dir else "a temporary folder")
        figures_to = display_path(args.figures_dir) if args.figures_dir else (
            "figures/" if args.profile == "default" else "a temporary folder")
        return _dry_run(notebooks, args.profile, timings_path,
                        [f"  executed notebooks -> {notebooks_to}", f"  figures            -> {figures_to}"])

    scratch = Path(tempfile.mkdtemp(prefix=f"hm-reproduce-{args.profile}-"))
    output_dir = args.output_dir or (scratch / "executed" if not in_place else args.notebook_dir)
    parameters: dict[str, Any] = {"profile": args.profile, "data_dir": args.data_dir, "device": args.device, "seed": args.seed,
                                  "threads": args.threads}
    if args.figures_dir is not None:
        parameters["output_dir"] = str(args.figures_dir.resolve())
    elif args.profile == "smoke":
        parameters["output_dir"] = str(scratch / "figures")
    if args.profile == "smoke":
        parameters["results_dir"] = str(scratch / "results")
    elif kept is not None:
        parameters["results_dir"] = str(kept / "results")
    figures_dir = Path(parameters.get("output_dir", repository_root() / "figures"))
    mode = args.progress if args.progress != "auto" else ("live" if sys.stdout.isatty() else "quiet")
    console = Console(mode, sys.stdout)
    expected = read_timings(timings_path)["profiles"].get(args.profile, {})

    kernel = ensure_kernel(args.kernel, scratch=scratch / "jupyter")
    print(f"reproduce: profile {args.profile!r}, {len(notebooks)} notebook(s), kernel {kernel!r} ({sys.executable})")
    print(f"  executed notebooks -> {'in place (' + display_path(args.notebook_dir) + ')' if in_place else output_dir}")
    print(f"  figures            -> {display_path(figures_dir)}")
    sys.stdout.flush()
    before, old_tables = snapshot_folder(figures_dir), _read_tables(figures_dir)

    runs: list[NotebookRun] = []
    started = time.perf_counter()
    for position, path in enumerate(notebooks, start=1):
        target = (scratch / "executed" / path.name) if in_place else Path(output_dir) / path.name
        last = expected.get(path.name, {})
        watch = NotebookWatch(path.name, position, len(notebooks), console, scratch / "watch",
                              expected_seconds=last.get("seconds"), expected_units=last.get("units"))
        stop = threading.Event()
        ticker = threading.Thread(target=_ticker, args=(watch, console, stop, 1.0 if mode == "live" else 5.0), daemon=True)
        if mode != "quiet":
            console.status(watch.status(), force=True)
            ticker.start()
        try:
            run = execute_notebook(path, target, parameters, kernel_name=kernel, cwd=args.notebook_dir,
                                   cell_timeout=args.cell_timeout or None, retries=args.retries, watch=watch,
                                   on_retry=lambda text: console.line("  " + text, error=True))
        except ValueError as error:  # the notebook cannot be run at all (no parameters cell, no kernelspec)
            run = NotebookRun(path.name, path, 0.0, False, str(error))
        finally:
            stop.set()
            if ticker.is_alive():
                ticker.join()
            console.clear()
        if run.ok and in_place:
            _write_committed_copy(target, path)
            run.output = path
        runs.append(run)
        status = "ok" if run.ok else f"FAILED - {run.error}\n    executed notebook with the error: {run.output}"
        if run.attempts > 1:
            status += f" (after {run.attempts} attempts)"
        units = f"  ({run.units} work units)" if run.units else ""
        console.line(f"  {path.name:<40s} {run.seconds:8.1f} s  {status}{units}")
        if not run.ok and args.stop_on_failure:
            break

    total = time.perf_counter() - started
    failed = [run for run in runs if not run.ok]
    print(f"reproduce: {len(runs) - len(failed)}/{len(notebooks)} notebook(s) ran through in {format_seconds(total)} "
          f"({total:.1f} s)")
    _print_changes(figure_changes(before, figures_dir, old_tables), figures_dir)
    where = f"in place ({display_path(args.notebook_dir)})" if in_place else str(output_dir)
    print(f"  executed notebooks -> {where}")
    last_run = {
        "profile": args.profile,
        "kernel": kernel,
        "total_seconds": round(total, 1),
        "notebooks": [{"notebook": r.notebook, "seconds": round(r.seconds, 1), "ok": r.ok, "error": r.error,
                       "attempts": r.attempts, "units": r.units} for r in runs],
    }
    record_timings(timings_path, args.profile, runs, last_run)
    if not in_place:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        (Path(output_dir) / "reproduce-timings.json").write_text(json.dumps(last_run, indent=1) + "\n", encoding="utf-8")
    print(f"  timings            -> {display_path(timings_path)}")
    if failed or len(runs) < len(notebooks):
        print(f"reproduce: FAILED: {', '.join(r.notebook for r in failed)}", file=sys.stderr)
        return 1
    outputs = (output_dir, figures_dir, parameters.get("results_dir"))
    if not any(Path(folder).resolve().is_relative_to(scratch.resolve()) for folder in outputs if folder):
        shutil.rmtree(scratch, ignore_errors=True)  # every output is elsewhere: the scratch folder held only the run's logs
    refresh_readme(args.profile, figures_dir)
    return report_claims(args.profile, figures_dir)


def _states_the_repository(profile: str, figures_dir: Path) -> bool:
    """Whether a run wrote the outputs the prose quotes: the default profile into the repository's ``figures/``."""
    return profile == "default" and Path(figures_dir).resolve() == (repository_root() / "figures").resolve()


def refresh_readme(profile: str, figures_dir: Path, readme: Path | None = None) -> list[str]:
    """After a run of the default profile into the repository's ``figures/``: re-render the README's digest blocks
    (its tables, the notebook times among them) from the new outputs and print which changed
    (:func:`hidden_monotonicity.evaluation.digest.write_readme`); other runs leave the README alone."""
    from .evaluation.digest import write_readme

    if not _states_the_repository(profile, figures_dir):
        return []
    readme = readme or repository_root() / "README.md"
    changed = write_readme(readme, figures_dir)
    print(f"README tables re-rendered from the new outputs: {', '.join(changed)}" if changed
          else "README tables: every one already equals the new outputs")
    return changed


def report_claims(profile: str, figures_dir: Path) -> int:
    """After a run of the default profile into the repository's ``figures/``: check every claim of the prose against
    the new outputs (:mod:`hidden_monotonicity.claims`) and print those that do not hold as the last lines; 1 when one
    fails (the notebooks ran, but a sentence of the README, a notebook or COURSE.md now contradicts its output)."""
    from .claims import CLAIMS, HOLDS, check_claims, format_report

    root = repository_root()
    if not _states_the_repository(profile, figures_dir):
        print(f"claims: not checked (they are stated for the default profile's figures/; this run: profile {profile!r}, "
              f"figures in {display_path(figures_dir)})")
        return 0
    table = check_claims(CLAIMS, root)
    print(format_report(table))
    failed = int((table["verdict"] != HOLDS).sum())
    if failed:
        print(f"reproduce: {failed} claim(s) of the prose do not hold for these outputs (listed above): update the "
              "sentence and its claim in lib/hidden_monotonicity/claims/registry.py, or find what moved",
              file=sys.stderr)
        return 1
    return 0
