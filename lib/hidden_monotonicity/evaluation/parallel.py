"""How an evaluation run is spread: shards, worker processes on one output folder, a unit budget (issue 27).

The rows of an evaluation - one (model, method) pair each: its selection on the validation split, its test units,
its defaults and fresh-split units - share nothing but the input data and the models, and every work unit has its
own seed (derived from the profile seed and the unit's identity, :mod:`.runner`). So the rows can run in any order
and in any process with the same results. :func:`execute_in_workers` hands them out in two stages - every row's
selection, the longest first; then the rows' test, defaults and fresh-split units in parts of a few chunks - to
``workers`` processes started with ``spawn``, each with its share of the caller's torch threads (a clean interpreter
each: no state inherited from the caller, no thread pool copied by ``fork``; a script that asks for workers needs the
``if __name__ == "__main__":`` guard, as every ``spawn`` program does). Each worker loads the models and the data itself, checks that its fingerprint of
them (:mod:`.provenance`) equals the caller's - a worker that would compute from other weights or images stops the
run - and writes its units into the same output folder (unit files are written atomically and never shared
between rows). The caller holds the folder's lock, collects the workers' timings and model records, and writes
``metadata.json``.

``workers=1`` (the library default) runs in the calling process as before; ``tests/evaluation/test_parallel.py``
checks that 1 and 2 workers write identical scores.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
from typing import Any, Sequence

import torch

from ..progress import PROGRESS_FILE_VARIABLE, report_progress
from .profiles import EvaluationProfile, MethodGrid
from .provenance import differences
from .store import EvaluationSetupError

_WORKER: dict[str, Any] = {}
#: test chunks per task of stage 2 (see :func:`execute_in_workers`)
PART_CHUNKS = 4


def check_arguments(shard: int, num_shards: int, max_units: int | None, on_error: str) -> None:
    """Check the plain arguments of :func:`evaluate` (each error is a one-line :class:`EvaluationSetupError`)."""
    for name, value in (("shard", shard), ("num_shards", num_shards)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise EvaluationSetupError(f"{name} must be a whole number, got {value!r}")
    if num_shards < 1:
        raise EvaluationSetupError(f"num_shards must be >= 1, got {num_shards}")
    if not 0 <= shard < num_shards:
        raise EvaluationSetupError(f"shard must be in [0, {num_shards}) for num_shards={num_shards}, got {shard}")
    if max_units is not None and (isinstance(max_units, bool) or not isinstance(max_units, int) or max_units < 0):
        raise EvaluationSetupError(f"max_units must be a whole number >= 0 (or None for no limit), got {max_units!r}")
    if on_error not in ("record", "raise"):
        raise EvaluationSetupError(f"on_error must be 'record' or 'raise', got {on_error!r}")


def check_workers(workers: Any, max_units: int | None, device: str) -> int:
    """``workers`` (a positive int, or ``"auto"``: :func:`default_workers`) as an int, or an
    :class:`~.store.EvaluationSetupError` saying what to pass."""
    if workers == "auto":
        workers = default_workers(device) if max_units is None else 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise EvaluationSetupError(
            f"workers must be a positive integer (1: this process only) or 'auto' (one per CPU core), got {workers!r}")
    if workers > 1 and max_units is not None:
        raise EvaluationSetupError("max_units counts the units of one process: pass workers=1 with max_units")
    return workers


def default_workers(device: str) -> int:
    """One worker per CPU core on the CPU (at most 8); one on a GPU (its processes would share the one device)."""
    return 1 if not str(device).startswith("cpu") else max(1, min(8, os.cpu_count() or 1))


def row_cost(grid: MethodGrid) -> int:
    """A rough cost of a row for ordering: its number of candidate configurations (each one a selection pass)."""
    return math.prod(len(values) for values in grid.grid.values()) if grid.grid else 1


def execute_in_workers(run: Any, rows: Sequence[tuple[str, MethodGrid]], workers: int, *,
                       expected_fingerprint: dict[str, Any]) -> None:
    """Run ``rows`` of ``run`` (a prepared :class:`.runner._Run`) in ``workers`` spawned processes; add their
    timings, model records and unit counts to ``run``. Raises the first worker error (the others are stopped)."""
    try:
        pickle.dumps(run.backend)
    except Exception as error:
        raise EvaluationSetupError(f"workers > 1 needs a backend that can be pickled ({error}); pass workers=1") from None
    # stage 1: every row's selection (its validation units), the longest first; stage 2: the test, defaults and fresh
    # units of every row in parts of PART_CHUNKS chunks, so that no worker waits for one long row at the end
    order = sorted(range(len(rows)), key=lambda i: -row_cost(rows[i][1]))
    selections = [(rows[i][0], rows[i][1], ()) for i in order]
    chunks = math.ceil((run.profile.n_test or len(run.samples("test"))) / run.profile.chunk_size)
    parts = [(model, grid, tuple(range(start, min(start + PART_CHUNKS, chunks))))
             for start in range(0, chunks, PART_CHUNKS) for model, grid in rows]
    setup = dict(profile=run.profile, root=str(run.store.root), backend=run.backend, device=run.device,
                 data_dir=run.data_dir, on_error=run.on_error,
                 threads=max(1, torch.get_num_threads() // workers),  # the caller's threads, shared out
                 expected_fingerprint=expected_fingerprint, all_rows=list(rows))
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes=min(workers, len(rows)), initializer=_start_worker, initargs=(setup,)) as pool:
        for number, stage in enumerate((selections, parts), start=1):
            for done, (seconds, models_info, units) in enumerate(pool.imap_unordered(_run_row, stage, chunksize=1), 1):
                run.seconds.merge(seconds)
                run.models_info.update(models_info)
                run.units_computed += units
                # one progress record per finished task, from this process only (the workers' own are switched off)
                report_progress(run=str(run.store.root), task=f"{workers} workers, stage {number}/2", task_done=done,
                                task_total=len(stage), units_computed=run.units_computed)


def _start_worker(setup: dict[str, Any]) -> None:
    """In a worker: load the models and data of the rows and check they are the ones the caller fingerprinted.
    An error is kept and raised by the worker's first row (a pool whose initializer raises starts new workers
    forever)."""
    os.environ.pop(PROGRESS_FILE_VARIABLE, None)  # the caller reports the progress of the whole pool
    try:
        _WORKER["run"] = _prepared_run(setup)
    except BaseException as error:  # noqa: BLE001 - re-raised in _run_row
        _WORKER["error"] = error


def _prepared_run(setup: dict[str, Any]) -> Any:
    from .runner import _Run
    from .store import ResultStore

    torch.set_num_threads(int(setup["threads"]))
    profile: EvaluationProfile = setup["profile"]
    run = _Run(profile, ResultStore(setup["root"]), setup["backend"], setup["device"], setup["data_dir"],
               max_units=None, progress=False, on_error=setup["on_error"])
    run.prepare(0, 1, rows=setup["all_rows"])
    fingerprint = run.fingerprint(setup["expected_fingerprint"]["profile_description"],
                                  setup["expected_fingerprint"]["versions"])
    changes, _, _ = differences(setup["expected_fingerprint"]["fingerprint"], fingerprint)
    if changes:  # compared as a resume compares (the git dirty flag is recorded, not compared)
        raise RuntimeError("a worker process loaded other models or data than the calling process fingerprinted ("
                           + "; ".join(changes) + "); run with workers=1")
    return run


def _run_row(task: tuple[str, MethodGrid, tuple[int, ...]]) -> tuple[dict[str, dict[str, float]], dict[str, Any], int]:
    """In a worker: one row's selection (no chunks) or its units of some test chunks (after its selection); returns
    the seconds it took, the model records and the number of units computed."""
    from .metadata import Timings

    if "error" in _WORKER:
        raise _WORKER["error"]
    run = _WORKER["run"]
    run.seconds, before = Timings(), run.units_computed
    model_name, grid, chunks = task
    run.execute(0, 1, rows=[(model_name, grid)], keep_models=True, chunks=chunks)
    return run.seconds.seconds, dict(run.models_info), run.units_computed - before
