"""``python -m hidden_monotonicity reproduce``: execute every notebook with papermill, in numbered order.

    python -m hidden_monotonicity reproduce --profile default            # what `make reproduce` runs
    python -m hidden_monotonicity reproduce --profile smoke              # seconds per notebook, nothing committed changes
    python -m hidden_monotonicity reproduce --notebooks 01 03 --profile default

* The notebooks ``notebooks/NN_*.ipynb`` run in the order of their number, each in a fresh kernel whose
  interpreter is the current one (``sys.executable``): the kernelspec ``hidden-monotonicity`` (installed by the
  Makefile) is used when it points to this interpreter, otherwise an equivalent kernelspec is written to a
  temporary ``JUPYTER_PATH`` folder, so a missing or stale kernel never runs the notebooks in another environment.
* papermill injects ``profile`` (and ``data_dir``, ``device``, ``seed``, the figure folder when given) into each
  notebook's ``parameters`` cell; only parameters a notebook declares are passed to it.
* ``--profile default``: the executed notebooks replace the committed ones (with their outputs, so readers on
  GitHub see the results) and the figures go to ``figures/``. A notebook is replaced only when it ran through;
  a failed run is kept in a temporary folder and its path printed.
* ``--profile smoke``: executed notebooks, figures and intermediate results go to a temporary folder (printed),
  so a smoke run never touches committed files.
* Per-notebook wall times are printed and written to ``reproduce-timings.json`` (in ``results/`` next to the
  notebook folder for in-place runs, else in the output folder); the exit status is 1 if any notebook failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .outputs import repository_root

__all__ = [
    "KERNEL_NAME",
    "NotebookRun",
    "discover_notebooks",
    "ensure_kernel",
    "execute_notebook",
    "main",
    "select_notebooks",
]

KERNEL_NAME = "hidden-monotonicity"
#: Extra kernel command-line arguments for every run (none by default; e.g.
#: ``("--IPKernelApp.capture_fd_output=False",)`` keeps C-level output out of the notebooks).
KERNEL_ARGUMENTS: tuple[str, ...] = ()
_NUMBERED = re.compile(r"^(\d+)_.+\.ipynb$")
#: Default ``--cell-timeout``: generous for the default profile's evaluation cell on a 2-core CPU (about 20 min);
#: pass ``--cell-timeout 0`` for long runs such as the paper profile. The timeout also bounds a stall seen with
#: nbclient 0.11 / ipykernel 7.4: when nbclient itself sends a message on the shell channel while a cell runs (it
#: does so to mimic an ``ipywidgets.Output`` capture, ``with output: display(...)``), the cell's ``execute_reply``
#: can arrive without waking nbclient's wait (the kernel is idle, the reply sits unread), and the run waits until
#: the timeout makes nbclient look at the socket again. The explorer of notebook 06 therefore never uses
#: ``with output:`` (it sets the Output widget's ``outputs`` directly), which removed the stall in our runs.
DEFAULT_CELL_TIMEOUT = 3600


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


# ----------------------------------------------------------------------------------------- kernel
def _same_interpreter(command: str, executable: str) -> bool:
    """True when the kernelspec's ``argv[0]`` is this interpreter (compared without resolving the venv symlink)."""
    candidate = shutil.which(command) if not os.path.isabs(command) else command
    if candidate is None:
        return False
    return os.path.normpath(os.path.abspath(candidate)) == os.path.normpath(os.path.abspath(executable))


def ensure_kernel(preferred: str = KERNEL_NAME, *, executable: str | None = None, scratch: str | os.PathLike | None = None) -> str:
    """Name of a kernelspec that starts ``executable`` (default ``sys.executable``).

    Uses ``preferred`` when it exists and points to this interpreter; otherwise writes a kernelspec named
    ``<preferred>-<hash>`` into ``scratch/kernels`` (default: a temporary folder) and prepends that folder to
    ``JUPYTER_PATH`` of this process, where papermill's kernel manager finds it.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    executable = executable or sys.executable
    try:
        spec = KernelSpecManager().get_kernel_spec(preferred)
        if spec.argv and _same_interpreter(spec.argv[0], executable):
            return preferred
    except NoSuchKernel:
        pass
    digest = hashlib.sha1(os.path.abspath(executable).encode()).hexdigest()[:8]
    name = f"{preferred}-{digest}"
    base = Path(scratch) if scratch is not None else Path(tempfile.mkdtemp(prefix="hm-kernel-"))
    folder = base / "kernels" / name
    folder.mkdir(parents=True, exist_ok=True)
    spec_json = {
        "argv": [executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"hidden-monotonicity ({executable})",
        "language": "python",
        "metadata": {"debugger": True},
    }
    (folder / "kernel.json").write_text(json.dumps(spec_json, indent=1), encoding="utf-8")
    paths = [str(base), *[p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]]
    os.environ["JUPYTER_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    KernelSpecManager().get_kernel_spec(name)  # fails loudly here rather than inside papermill
    return name


# ----------------------------------------------------------------------------------------- running
@dataclass
class NotebookRun:
    """The outcome of one notebook execution (``attempts`` > 1: it was retried after a timeout)."""

    notebook: str
    output: Path
    seconds: float
    ok: bool
    error: str = ""
    attempts: int = 1


#: Errors after which a run may be retried: the kernel hung (timeout) or died, not a failing cell.
_RETRYABLE = ("CellTimeoutError", "DeadKernelError")


def declared_parameters(path: str | os.PathLike) -> dict[str, Any]:
    """The parameters of a notebook's ``parameters`` cell (papermill's inference), ``{name: default text}``."""
    import papermill

    return {name: info.get("default") for name, info in papermill.inspect_notebook(str(path)).items()}


def execute_notebook(
    path: str | os.PathLike,
    output: str | os.PathLike,
    parameters: Mapping[str, Any],
    *,
    kernel_name: str,
    cwd: str | os.PathLike | None = None,
    cell_timeout: int | None = None,
    retries: int = 0,
    kernel_arguments: Sequence[str] = KERNEL_ARGUMENTS,
) -> NotebookRun:
    """Execute one notebook with papermill; parameters it does not declare are dropped. Never raises for a
    failing notebook: the error is in the returned :class:`NotebookRun`.

    ``cell_timeout``: seconds one cell may run (``None``: no limit). ``retries``: how often a run that timed out
    or whose kernel died is started again from scratch (a cell that raises is never retried).
    ``kernel_arguments``: extra command-line arguments of the kernel (see :data:`KERNEL_ARGUMENTS`).
    """
    import papermill

    path, output = Path(path), Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    declared = declared_parameters(path)
    if not declared:
        raise ValueError(f"{path.name} has no cell tagged 'parameters'; papermill cannot parameterise it")
    given = {key: value for key, value in parameters.items() if key in declared and value is not None}
    started = time.perf_counter()
    attempts = 0
    while True:
        attempts += 1
        try:
            papermill.execute_notebook(
                str(path),
                str(output),
                parameters=given,
                kernel_name=kernel_name,
                cwd=str(cwd if cwd is not None else path.parent),
                progress_bar=False,
                log_output=False,
                execution_timeout=cell_timeout,
                extra_arguments=list(kernel_arguments),
            )
            return NotebookRun(path.name, output, time.perf_counter() - started, True, attempts=attempts)
        except Exception as error:  # papermill.PapermillExecutionError, kernel death, timeouts
            message = str(error).strip().splitlines()
            summary = next((line for line in reversed(message) if line.strip()), type(error).__name__)
            retryable = type(error).__name__ in _RETRYABLE or isinstance(error, TimeoutError)
            if retryable and attempts <= retries:
                print(f"  {path.name}: {type(error).__name__} ({summary}); starting it again", file=sys.stderr)
                continue
            return NotebookRun(path.name, output, time.perf_counter() - started, False,
                               f"{type(error).__name__}: {summary}", attempts=attempts)


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hidden_monotonicity reproduce",
        description="Execute the notebooks in numbered order with papermill (see the module docstring).",
    )
    parser.add_argument("--profile", choices=("default", "smoke"), default="default",
                        help="notebook profile: default (committed figures, executed notebooks saved in place) or smoke")
    parser.add_argument("--notebooks", nargs="+", default=None, metavar="NB",
                        help="run only these notebooks (number, stem or file name), e.g. --notebooks 01 03")
    parser.add_argument("--notebook-dir", type=Path, default=repository_root() / "notebooks",
                        help="folder of the numbered notebooks (default: <repository>/notebooks)")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="where executed notebooks go (default: in place for 'default', a temporary folder for 'smoke')")
    parser.add_argument("--figures-dir", type=Path, default=None,
                        help="figure folder passed to the notebooks (default: figures/ for 'default', a temporary folder for 'smoke')")
    parser.add_argument("--data-dir", default=None, help="dataset folder passed to the notebooks (ImageNet-S)")
    parser.add_argument("--device", default=None, help="device passed to the notebooks (cpu, cuda, auto)")
    parser.add_argument("--seed", type=int, default=None, help="seed passed to the notebooks")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads passed to the notebooks (default: the profile's; 1 is fastest on a busy machine)")
    parser.add_argument("--kernel", default=KERNEL_NAME, help=f"preferred kernelspec name (default {KERNEL_NAME})")
    parser.add_argument("--cell-timeout", type=int, default=DEFAULT_CELL_TIMEOUT,
                        help=f"seconds one cell may run, 0 for no limit (default {DEFAULT_CELL_TIMEOUT})")
    parser.add_argument("--retries", type=int, default=1,
                        help="how often a notebook whose kernel hung (cell timeout) or died is run again (default 1)")
    parser.add_argument("--stop-on-failure", action="store_true", help="stop at the first failing notebook")
    parser.add_argument("--list", action="store_true", help="list the notebooks and their parameters, run nothing")
    return parser


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

    in_place = args.profile == "default" and args.output_dir is None
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

    kernel = ensure_kernel(args.kernel, scratch=scratch / "jupyter")
    print(f"reproduce: profile {args.profile!r}, {len(notebooks)} notebook(s), kernel {kernel!r} ({sys.executable})")
    print(f"  executed notebooks -> {'in place (' + str(args.notebook_dir) + ')' if in_place else output_dir}")
    print(f"  figures            -> {parameters.get('output_dir', repository_root() / 'figures')}")
    sys.stdout.flush()

    runs: list[NotebookRun] = []
    for path in notebooks:
        target = (scratch / "executed" / path.name) if in_place else Path(output_dir) / path.name
        run = execute_notebook(path, target, parameters, kernel_name=kernel, cwd=args.notebook_dir,
                               cell_timeout=args.cell_timeout or None, retries=args.retries)
        if run.ok and in_place:
            _write_committed_copy(target, path)
            run.output = path
        runs.append(run)
        status = "ok" if run.ok else f"FAILED - {run.error}\n    executed notebook with the error: {run.output}"
        if run.attempts > 1:
            status += f" (after {run.attempts} attempts)"
        print(f"  {path.name:<40s} {run.seconds:8.1f} s  {status}")
        sys.stdout.flush()
        if not run.ok and args.stop_on_failure:
            break

    total = sum(run.seconds for run in runs)
    failed = [run for run in runs if not run.ok]
    print(f"reproduce: {len(runs) - len(failed)}/{len(notebooks)} notebook(s) ran through in {total:.1f} s")
    timings = {
        "profile": args.profile,
        "kernel": kernel,
        "total_seconds": round(total, 1),
        "notebooks": [{"notebook": r.notebook, "seconds": round(r.seconds, 1), "ok": r.ok, "error": r.error,
                       "attempts": r.attempts} for r in runs],
    }
    timing_folder = Path(args.notebook_dir).resolve().parent / "results" if in_place else Path(output_dir)
    timing_folder.mkdir(parents=True, exist_ok=True)
    (timing_folder / "reproduce-timings.json").write_text(json.dumps(timings, indent=1) + "\n", encoding="utf-8")
    print(f"  timings -> {timing_folder / 'reproduce-timings.json'}")
    if failed or len(runs) < len(notebooks):
        print(f"reproduce: FAILED: {', '.join(r.notebook for r in failed)}", file=sys.stderr)
        return 1
    if in_place:  # the executed copies are in place now; nothing in the scratch folder is needed any more
        shutil.rmtree(scratch, ignore_errors=True)
    return 0
