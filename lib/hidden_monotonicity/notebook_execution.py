"""Executing one notebook with papermill while watching it: the cell it is in, the library's progress records,
the warnings of its cells and the messages of its kernel (used by :mod:`hidden_monotonicity.reproduce`).

* :func:`ensure_kernel`: a kernelspec that starts this interpreter.
* :func:`execute_notebook`: one papermill run (retried after a hung or dead kernel); with a :class:`NotebookWatch`
  it reports every code cell's start, the records the library appends to ``$HM_PROGRESS_FILE``
  (:mod:`hidden_monotonicity.progress`; the evaluation runner's work units), each cell's warnings and errors, and
  what the kernel process wrote to its stderr - minus two messages known to be harmless:

  - "Kernel is running over TCP without encryption" (ipykernel, at start): the kernel talks only to this
    process over the loopback interface. Where jupyter_client and the kernelspec support it, the connection is
    encrypted instead (CurveZMQ keys provisioned by the kernel manager), so the warning is not even written.
  - "KeyboardInterrupt caught in kernel" after the last cell of a successful run: jupyter_client interrupts the
    kernel (SIGINT) before asking it to shut down, and ipykernel logs the interrupt it then catches.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .progress import PROGRESS_FILE_VARIABLE

__all__ = [
    "KERNEL_ARGUMENTS",
    "KERNEL_NAME",
    "Console",
    "NotebookRun",
    "NotebookWatch",
    "check_run_limits",
    "declared_parameters",
    "ensure_kernel",
    "execute_notebook",
    "format_seconds",
    "is_harmless_kernel_message",
]

KERNEL_NAME = "hidden-monotonicity"
#: Extra kernel command-line arguments for every run (none by default; e.g.
#: ``("--IPKernelApp.capture_fd_output=False",)`` keeps C-level output out of the notebooks).
KERNEL_ARGUMENTS: tuple[str, ...] = ()
#: Errors after which a run may be retried: the kernel hung (timeout) or died, not a failing cell.
_RETRYABLE = ("CellTimeoutError", "DeadKernelError")
#: nbclient's ``RuntimeError`` for a kernel process that exited while starting (before any cell ran): retried like
#: a dead kernel. Seen once in a fresh clone's test run with two kernels starting at the same moment.
_DIED_AT_START = "Kernel died before replying to kernel_info"
_ENGINE_NAME = "hidden-monotonicity"
_TCP_WARNING = "Kernel is running over TCP without encryption"
_INTERRUPT_MESSAGE = "KeyboardInterrupt caught in kernel"
_WARNING_LINE = re.compile(r"\b([A-Z]\w*Warning): (.+)")


def _retryable(exception: BaseException) -> bool:
    """Whether a failed run may be started again: a timeout, a dead kernel, a kernel that died while starting."""
    return (type(exception).__name__ in _RETRYABLE or isinstance(exception, TimeoutError)
            or (isinstance(exception, RuntimeError) and _DIED_AT_START in str(exception)))


def format_seconds(seconds: float) -> str:
    """``42 s``, ``3m07s``, ``1h02m``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


# ----------------------------------------------------------------------------------------- kernel
def _same_interpreter(command: str, executable: str) -> bool:
    """True when the kernelspec's ``argv[0]`` is this interpreter (compared without resolving the venv symlink)."""
    candidate = shutil.which(command) if not os.path.isabs(command) else command
    if candidate is None:
        return False
    return os.path.normpath(os.path.abspath(candidate)) == os.path.normpath(os.path.abspath(executable))


def _ipykernel_metadata() -> dict[str, Any]:
    """The kernelspec metadata this ipykernel writes itself (``supported_encryption`` where it has CurveZMQ)."""
    try:
        from ipykernel.kernelspec import get_kernel_dict

        return dict(get_kernel_dict().get("metadata", {}))
    except Exception:  # an ipykernel without get_kernel_dict: the plain metadata
        return {"debugger": True}


def ensure_kernel(preferred: str = KERNEL_NAME, *, executable: str | None = None, scratch: str | os.PathLike | None = None) -> str:
    """Name of a kernelspec that starts ``executable`` (default ``sys.executable``).

    Uses ``preferred`` when it exists and points to this interpreter; otherwise writes a kernelspec named
    ``<preferred>-<hash>`` into ``scratch/kernels`` (default: a temporary folder) and prepends that folder to
    ``JUPYTER_PATH`` of this process, where papermill's kernel manager finds it. The written spec is the one
    ``ipykernel install`` writes (frozen modules off, so the debugger does not warn; its encryption support).
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
        "argv": [executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"hidden-monotonicity ({executable})",
        "language": "python",
        "metadata": _ipykernel_metadata(),
    }
    (folder / "kernel.json").write_text(json.dumps(spec_json, indent=1), encoding="utf-8")
    paths = [str(base), *[p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]]
    os.environ["JUPYTER_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    KernelSpecManager().get_kernel_spec(name)  # fails loudly here rather than inside papermill
    return name


def _kernel_manager_class(stderr: TextIO | None) -> type:
    """An ``AsyncKernelManager`` that encrypts the kernel connection where it can and sends the kernel process's
    stderr to ``stderr`` (``None``: this process's stderr)."""
    import zmq
    from jupyter_client import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            if self.has_trait("transport_encryption") and zmq.has("curve") and self.transport_encryption == "disabled":
                self.transport_encryption = "auto"  # used when the kernelspec declares CurveZMQ support

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            if stderr is not None:
                kw["stderr"] = stderr
            await super()._async_launch_kernel(kernel_cmd, **kw)

    return QuietKernelManager


def _register_engine() -> None:
    """The papermill engine that reports cell starts and ends to a :class:`NotebookWatch` (``watch=`` kwarg)."""
    from papermill.engines import NBClientEngine, papermill_engines

    class WatchedEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, watch=None, kernel_stderr=None, **kwargs):
            if watch is not None:
                start, complete = nb_man.cell_start, nb_man.cell_complete
                watch.begin(nb_man.nb.cells)

                def cell_start(cell, cell_index=None, **kw):
                    watch.cell_started(cell_index, cell)
                    return start(cell, cell_index, **kw)

                def cell_complete(cell, cell_index=None, **kw):
                    result = complete(cell, cell_index=cell_index, **kw)
                    watch.cell_finished(cell_index, cell)
                    return result

                nb_man.cell_start, nb_man.cell_complete = cell_start, cell_complete
            kwargs["kernel_manager_class"] = _kernel_manager_class(kernel_stderr)
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register(_ENGINE_NAME, WatchedEngine)


# ----------------------------------------------------------------------------------------- console
class Console:
    """Where reproduce writes: ``"live"`` (a terminal: one status line redrawn in place), ``"lines"`` (each
    status as its own line, e.g. for a log file) or ``"quiet"`` (no status; one line per notebook)."""

    def __init__(self, mode: str, stream: TextIO | None = None, *, interval: float = 30.0) -> None:
        if mode not in ("live", "lines", "quiet"):
            raise ValueError(f"progress mode must be 'live', 'lines' or 'quiet', got {mode!r}")
        self.mode = mode
        self.stream = stream if stream is not None else sys.stdout
        self.interval = interval
        self._status = ""
        self._last_line = 0.0
        self._lock = threading.Lock()

    def status(self, text: str, *, force: bool = False) -> None:
        """Show the current status (live: redrawn; lines: printed when ``force`` or every ``interval`` s)."""
        with self._lock:
            if self.mode == "live":
                width = shutil.get_terminal_size((120, 20)).columns - 1
                self._status = text[:width]
                self.stream.write("\r\x1b[K" + self._status)
            elif self.mode == "lines" and (force or time.monotonic() - self._last_line >= self.interval):
                self._last_line = time.monotonic()
                self.stream.write(text + "\n")
            self.stream.flush()

    def line(self, text: str, *, error: bool = False) -> None:
        """Print a permanent line (``error``: to stderr), keeping a live status line below it."""
        with self._lock:
            if self.mode == "live" and self._status:
                self.stream.write("\r\x1b[K")
            target = sys.stderr if error else self.stream
            target.write(text + "\n")
            target.flush()
            if self.mode == "live" and self._status:
                self.stream.write(self._status)
            self.stream.flush()

    def clear(self) -> None:
        with self._lock:
            if self.mode == "live" and self._status:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
            self._status = ""


# ----------------------------------------------------------------------------------------- watching
def is_harmless_kernel_message(line: str, *, after_last_cell: bool, ok: bool) -> bool:
    """True for the kernel messages known to be harmless (see the module docstring)."""
    if _TCP_WARNING in line:
        return True
    return _INTERRUPT_MESSAGE in line and after_last_cell and ok


@dataclass
class NotebookWatch:
    """What one notebook run is doing, for the status line and the messages (fed by the papermill engine and
    polled by a timer thread).

    ``expected_seconds`` / ``expected_units``: the last recorded run's wall time and work units, for the
    estimate of the time left.
    """

    notebook: str
    position: int
    count: int
    console: Console
    folder: Path
    expected_seconds: float | None = None
    expected_units: int | None = None
    started: float = field(default_factory=time.monotonic)
    cell: int = 0
    code_cells: int = 0
    units: int = 0
    task: str = ""
    task_done: int = 0
    task_total: int = 0
    units_started: float | None = None
    _run_units: dict[str, int] = field(default_factory=dict)  #: units computed per evaluation run (its folder)
    finished_cells: bool = False
    messages: list[str] = field(default_factory=list)
    kernel_lines: list[tuple[str, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = Path(self.notebook).stem
        self.progress_file = self.folder / f"{stem}.progress.jsonl"
        self.kernel_log = self.folder / f"{stem}.kernel-stderr.log"
        for path in (self.progress_file, self.kernel_log):
            path.unlink(missing_ok=True)
        self._offsets = {self.progress_file: 0, self.kernel_log: 0}
        self._seen: dict[str, int] = {}
        self._lock = threading.RLock()
        self._cell_started = self.started

    # -------------------------------------------------------- engine hooks (main thread)
    def begin(self, cells: Sequence[Mapping[str, Any]]) -> None:
        """A new attempt starts (also after a retry)."""
        with self._lock:
            self.code_cells = sum(cell.get("cell_type") == "code" for cell in cells)
            self.cell = 0
            self.finished_cells = False

    def cell_started(self, index: int | None, cell: Mapping[str, Any]) -> None:
        if cell.get("cell_type") != "code":
            return
        with self._lock:
            self.poll()
            self.cell += 1
            self._cell_started = time.monotonic()
        self.console.status(self.status(), force=True)

    def cell_finished(self, index: int | None, cell: Mapping[str, Any]) -> None:
        if cell.get("cell_type") != "code":
            return
        with self._lock:
            self.poll()
            if self.cell >= self.code_cells:
                self.finished_cells = True
            for text in _cell_problems(cell):
                self._message(f"cell {self.cell}: {text}")

    # -------------------------------------------------------- polling (timer thread and hooks)
    def poll(self) -> None:
        """Read what the library and the kernel appended since the last poll."""
        with self._lock:
            for line in self._new_lines(self.progress_file):
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if self.units_started is None:
                    self.units_started = self._cell_started
                # several evaluations per notebook (and a pool's parent for its workers): units summed over runs
                run = str(record.get("run", ""))
                self._run_units[run] = int(record.get("units_computed", self._run_units.get(run, 0)))
                self.units = sum(self._run_units.values())
                self.task = str(record.get("task", self.task))
                self.task_done = int(record.get("task_done", 0))
                self.task_total = int(record.get("task_total", 0))
            for line in self._new_lines(self.kernel_log):
                if line.strip():
                    self.kernel_lines.append((line, self.finished_cells))

    def _new_lines(self, path: Path) -> list[str]:
        try:
            with open(path, encoding="utf-8", errors="replace") as stream:
                stream.seek(self._offsets[path])
                text = stream.read()
        except FileNotFoundError:
            return []
        complete = text[: text.rfind("\n") + 1]  # a half-written last line is read next time
        self._offsets[path] += len(complete.encode("utf-8"))
        return complete.splitlines()

    def _message(self, text: str) -> None:
        """A message once per notebook (repeats are counted and reported at the end)."""
        key = re.sub(r"^cell \d+: ", "", text)
        self._seen[key] = self._seen.get(key, 0) + 1
        if self._seen[key] == 1:
            self.messages.append(text)
            self.console.line(f"  ! {self.notebook} {text}", error=True)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def seconds_left(self) -> float | None:
        """The larger of two estimates: from the work units (rate so far times the units left, when the last run
        recorded how many there were) and from the last run's wall time; ``None`` without either."""
        with self._lock:
            estimates = []
            if self.expected_units and self.units_started is not None and 0 < self.units < self.expected_units:
                rate = (time.monotonic() - self.units_started) / self.units
                estimates.append(rate * (self.expected_units - self.units))
            if self.expected_seconds:
                estimates.append(self.expected_seconds - self.elapsed())
            return max(estimates) if estimates else None

    def status(self) -> str:
        """``[2/7] 04_quantitative_evaluation.ipynb  cell 9/21  3m12s  units 118/240 (benchmark_vgg | test | ...
        12/30)  ~4m10s left``"""
        with self._lock:
            where = f"cell {self.cell}/{self.code_cells}" if self.cell else "starting the kernel"
            parts = [f"[{self.position}/{self.count}] {self.notebook}", where, format_seconds(self.elapsed())]
            if self.units:
                total = f"/{self.expected_units}" if self.expected_units and self.units <= self.expected_units else ""
                name = self.task if len(self.task) <= 48 else self.task.split(" [")[0]  # without a long configuration
                task = f" ({name} {self.task_done}/{self.task_total})" if self.task else ""
                parts.append(f"units {self.units}{total}{task}")
            left = self.seconds_left()
            if left is not None:
                parts.append(f"~{format_seconds(left)} left" if left > 0 else
                             f"longer than the last run ({format_seconds(self.expected_seconds or 0)})")
        return "  ".join(parts)

    def finish(self, ok: bool) -> None:
        """Report what the kernel wrote to its stderr, minus the known-harmless messages."""
        with self._lock:
            self.finished_cells = True
            self.poll()
            for line, after_last_cell in self.kernel_lines:
                if not is_harmless_kernel_message(line, after_last_cell=after_last_cell, ok=ok):
                    where = "kernel, after the last cell" if after_last_cell else f"kernel, cell {self.cell}"
                    self._message(f"({where}): {line.strip()}")
            self.kernel_lines.clear()
            repeated = {text: n for text, n in self._seen.items() if n > 1}
            for text, n in repeated.items():
                self.console.line(f"  ! {self.notebook}: the message above was repeated {n} times: {text[:80]}",
                                  error=True)


def _cell_problems(cell: Mapping[str, Any]) -> list[str]:
    """The warnings (``...Warning: message`` on stderr) of an executed cell (a failing cell's error is reported
    with the run; a cell tagged ``raises-exception`` fails on purpose)."""
    found: list[str] = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            text = output.get("text", "")
            text = "".join(text) if isinstance(text, list) else text
            found += [f"{m.group(1)}: {m.group(2).strip()}" for m in _WARNING_LINE.finditer(text)]
    return list(dict.fromkeys(found))


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
    units: int = 0


def check_run_limits(cell_timeout: float | None, retries: int) -> None:
    """Raise ``ValueError`` unless ``cell_timeout`` is ``None`` or positive seconds and ``retries`` a whole number
    >= 0 (nbclient would take a negative timeout, and a negative retry count would silently mean "no retry")."""
    number = isinstance(cell_timeout, numbers.Real) and not isinstance(cell_timeout, bool)
    if cell_timeout is not None and not (number and cell_timeout > 0):  # also refuses NaN
        raise ValueError(f"cell_timeout must be positive seconds (e.g. 3600) or None for no limit, got {cell_timeout!r}")
    if isinstance(retries, bool) or not isinstance(retries, numbers.Integral) or retries < 0:
        raise ValueError(f"retries must be a whole number >= 0 (0: run each notebook once), got {retries!r}")


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
    watch: NotebookWatch | None = None,
    on_retry: Callable[[str], None] | None = None,
) -> NotebookRun:
    """Execute one notebook with papermill; parameters it does not declare are dropped. Never raises for a
    failing notebook: the error is in the returned :class:`NotebookRun`.

    ``cell_timeout``: seconds one cell may run, > 0 (``None``: no limit). ``retries``: how often (0 or more) a run
    that timed out or whose kernel died is started again from scratch (a cell that raises is never retried); other
    values raise ``ValueError`` before anything runs.
    ``kernel_arguments``: extra command-line arguments of the kernel (see :data:`KERNEL_ARGUMENTS`).
    ``watch``: follows the run (cells, ``$HM_PROGRESS_FILE`` records, warnings, the kernel's stderr).
    """
    check_run_limits(cell_timeout, retries)
    started = time.perf_counter()
    if watch is not None:
        watch.started = time.monotonic()
    import papermill

    path, output = Path(path), Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    declared = declared_parameters(path)
    if not declared:
        raise ValueError(f"{path.name} has no cell tagged 'parameters'; papermill cannot parameterise it")
    given = {key: value for key, value in parameters.items() if key in declared and value is not None}
    _register_engine()
    attempts = 0
    previous = os.environ.get(PROGRESS_FILE_VARIABLE)
    if watch is not None:
        os.environ[PROGRESS_FILE_VARIABLE] = str(watch.progress_file)  # the kernel inherits it
    try:
        while True:
            attempts += 1
            kernel_stderr = open(watch.kernel_log, "a", encoding="utf-8") if watch is not None else None  # noqa: SIM115
            try:
                papermill.execute_notebook(
                    str(path), str(output), parameters=given, kernel_name=kernel_name, engine_name=_ENGINE_NAME,
                    cwd=str(cwd if cwd is not None else path.parent), progress_bar=False, log_output=False,
                    execution_timeout=cell_timeout, extra_arguments=list(kernel_arguments),
                    watch=watch, kernel_stderr=kernel_stderr,
                )
                ok, error = True, ""
            except Exception as exception:  # papermill.PapermillExecutionError, kernel death, timeouts
                message = str(exception).strip().splitlines()
                summary = next((line for line in reversed(message) if line.strip()), type(exception).__name__)
                if _retryable(exception) and attempts <= retries:
                    note = f"{path.name}: {type(exception).__name__} ({summary}); starting it again"
                    (on_retry or (lambda text: print("  " + text, file=sys.stderr)))(note)
                    continue
                ok = False
                where = f"cell {watch.cell}: " if watch is not None and watch.cell else ""
                error = f"{where}{type(exception).__name__}: {summary}"
            finally:
                if kernel_stderr is not None:
                    kernel_stderr.close()
            if watch is not None:
                watch.finish(ok)
            return NotebookRun(path.name, output, time.perf_counter() - started, ok, error, attempts=attempts,
                               units=watch.units if watch is not None else 0)
    finally:
        if watch is not None:
            if previous is None:
                os.environ.pop(PROGRESS_FILE_VARIABLE, None)
            else:
                os.environ[PROGRESS_FILE_VARIABLE] = previous
