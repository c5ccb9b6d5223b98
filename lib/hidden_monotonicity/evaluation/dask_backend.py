"""An evaluation run on a Dask cluster: ``evaluate(..., dask=ADDRESS | N | Client | cluster)`` (issue 31).

Sharding (``shard``/``num_shards``, then :func:`.runner.merge`) splits a run by hand, with no dependency. This module
hands the same run to a Dask scheduler instead - a :class:`distributed.LocalCluster` of ``N`` worker processes, the
scheduler at ``ADDRESS`` (``dask scheduler`` / ``dask worker`` started by hand), or a ``dask_jobqueue.SLURMCluster``
(:func:`slurm_cluster`) - which balances the load, reschedules the tasks of a worker that died, shows the run on its
dashboard and places one task per GPU.

The tasks are those of :mod:`.parallel`: one row's selection (its validation units), then the row's test, defaults and
fresh-split units of one test chunk each, which wait for their row's selection only (a Dask dependency) rather than
for every selection. A task runs in the worker the function a pool worker runs (:func:`.parallel._run_row`): on its
first task a worker process loads the models and the data itself and checks their fingerprint against the driver's
(:mod:`.provenance`); each unit is written at once into the shared output folder by :class:`.store.ResultStore`
(atomic files with integrity records), so the folder must be reachable under the same path from every worker (a
shared file system on a cluster). The driver (this process) holds the folder's lock, plans the tasks - a task whose
units are all on disk already is not submitted, so a folder left by a killed driver is resumed by the next
``evaluate``, with or without Dask - shows one progress bar over the units (done / total / time left), and finalises
the tables as a serial run does; the results equal the serial run's (every unit has its own seed).

Failures: a task whose worker process dies (killed, out of memory, node lost) is rescheduled on another worker by the
scheduler (up to ``distributed.scheduler.allowed-failures`` times, Dask's default 3; then ``KilledWorker`` stops the
run). A task that raises is not re-run (Dask's ``retries`` is 0: a unit error is deterministic, every unit having its
own seed): it is recorded in the scores with ``on_error="record"`` and stops the run with ``on_error="raise"`` (the
other tasks are cancelled; their finished units stay on disk for the next run). On a CUDA device every task requests one ``GPU`` resource: start each worker with
``--resources GPU=1`` (and one GPU visible to it), so that one unit runs per GPU.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import uuid
from typing import Any, Iterator, Sequence

from .metadata import Timings
from .parallel import row_cost
from .profiles import MethodGrid
from .store import EvaluationSetupError

_TASK_LOCK = threading.Lock()  # a worker with several threads runs its tasks one at a time (one prepared run each)
#: test chunks per task after the selections (1: the finest tasks that compute each explanation once)
DASK_PART_CHUNKS = 1


def check_dask(dask: Any, workers: int, max_units: int | None) -> None:
    """Check ``evaluate``'s ``dask`` argument (None: no Dask) before anything starts; one-line errors."""
    if dask is None:
        return
    if isinstance(dask, bool) or (isinstance(dask, int) and dask < 1) or (isinstance(dask, str) and not dask.strip()):
        raise EvaluationSetupError(f"dask must be a scheduler address such as 'tcp://host:8786', a number of local worker "
                                   f"processes >= 1, a distributed.Client or a Dask cluster, got {dask!r}")
    if not isinstance(dask, (int, str)) and not hasattr(dask, "submit") and not hasattr(dask, "scheduler_address"):
        raise EvaluationSetupError(f"dask must be a scheduler address, a number of local workers, a distributed.Client "
                                   f"or a Dask cluster (e.g. hm.evaluation.slurm_cluster()), got {type(dask).__name__}")
    if workers != 1:
        raise EvaluationSetupError("pass either workers or dask, not both: with dask the Dask workers share the rows")
    if max_units is not None:
        raise EvaluationSetupError("max_units counts the units of one process: pass max_units without dask")
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise EvaluationSetupError("dask needs the distributed package: pip install 'dask[distributed]' "
                                   "(pinned in requirements.txt)") from None


def resolve_device(requested: str, dask: Any) -> str:
    """The run's device (:func:`~hidden_monotonicity.environment.select_device`); with ``dask``, ``"cuda..."`` is kept
    on a driver without CUDA (a Slurm login node): each worker checks it where the tasks run, the driver plans on the
    CPU."""
    import torch

    from ..environment import select_device

    if dask is not None and str(requested).startswith("cuda") and not torch.cuda.is_available():
        return requested
    return select_device(requested)


def describe(dask: Any) -> Any:
    """What ``metadata.json`` records of ``dask``: the number of local workers, or the scheduler's address."""
    if isinstance(dask, (int, str)):
        return dask
    return str(getattr(dask, "scheduler_address", None) or getattr(getattr(dask, "scheduler", None), "address", dask))


# ---------------------------------------------------------------------------------------------- the driver
def execute_in_dask(run: Any, rows: Sequence[tuple[str, MethodGrid]], dask: Any, *,
                    expected_fingerprint: dict[str, Any]) -> None:
    """Run ``rows`` of ``run`` (a prepared :class:`.runner._Run`) as Dask tasks; add the tasks' timings, model
    records and unit counts to ``run``. Raises the first task error (the other tasks are cancelled)."""
    from distributed import as_completed

    quiet = logging.getLogger("distributed")  # its INFO lines would reach a root handler (quantus sets one up)
    level, quiet.level = quiet.level, max(quiet.level, logging.WARNING)
    with parent_environment_kept():  # a LocalCluster's nannies write into this process's environment
        client, owned = _connect(dask, run.device)
        try:
            print(f"Dask dashboard: {client.dashboard_link}", flush=True)  # also without progress bars (a notebook)
            _check_gpu_workers(client, run.device)
            warm = [client.submit(_import_runner, workers=[w], pure=False)  # the workers import the library while
                    for w in client.scheduler_info().get("workers", {})]   # this process plans
            tasks, total, done = plan(run, rows)
            setup = dict(profile=run.profile, root=str(run.store.root), backend=run.backend, device=run.device,
                         data_dir=run.data_dir, on_error=run.on_error, expected_fingerprint=expected_fingerprint,
                         all_rows=list(rows), token=uuid.uuid4().hex)
            futures = _submit(client, setup, [task for task, _, _ in tasks], run.device)
            _collect(run, as_completed(futures), futures, client, total, done)
            del warm
        finally:
            quiet.setLevel(logging.ERROR)  # a worker slow to exit is killed by its nanny: a warning that is no news
            for thing in owned:  # the client and the LocalCluster this call started; a caller's own stay open
                thing.close()
            quiet.setLevel(level)


@contextlib.contextmanager
def parent_environment_kept() -> Iterator[None]:
    """Give this process's ``os.environ`` back as it was, whatever a Dask nanny started inside the block wrote into it.

    A nanny writes its ``distributed.nanny.pre-spawn-environ`` (``MALLOC_TRIM_THRESHOLD_=65536``, ``OMP_NUM_THREADS``,
    ``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` = 1) and ``PYTHONHASHSEED`` into the *parent's* environment before
    every worker (re)start, and leaves them there: every process started later by the same Python session - a
    notebook kernel, a serial run's worker pool - would inherit one-thread BLAS and the mmap-per-tensor heap of
    :func:`_heap_for_tensors` (measured: notebook 03's classroom run, 75 s alone, took 114 s in a pytest session after
    a Dask test). Used around every cluster this module starts; wrap your own ``LocalCluster`` in it likewise."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        for name in [name for name in os.environ if name not in saved]:
            del os.environ[name]
        for name, value in saved.items():
            if os.environ.get(name) != value:
                os.environ[name] = value


def _connect(dask: Any, device: str) -> tuple[Any, list[Any]]:
    """A :class:`distributed.Client` for ``dask`` and what this call must close again."""
    from distributed import Client, LocalCluster

    if hasattr(dask, "submit"):
        return dask, []
    if isinstance(dask, int):  # one thread per worker process; torch threads are set per task to the worker's
        resources = {"GPU": 1} if str(device).startswith("cuda") else None
        cluster = LocalCluster(n_workers=dask, threads_per_worker=1, processes=True, resources=resources,
                               dashboard_address=":0", silence_logs=logging.WARNING)
        client = Client(cluster)
        return client, [client, cluster]
    client = Client(dask)  # an address or a cluster object (SLURMCluster, LocalCluster ...)
    return client, [client]


def _check_gpu_workers(client: Any, device: str) -> None:
    if not str(device).startswith("cuda"):
        return
    workers = client.scheduler_info().get("workers", {})
    if workers and not any(w.get("resources", {}).get("GPU") for w in workers.values()):
        raise EvaluationSetupError(f"device {device!r}: no Dask worker offers a GPU resource, so no task could start; "
                                   "start each worker with --resources GPU=1 (one per GPU)")


def _submit(client: Any, setup: dict[str, Any], tasks: list[tuple[str, MethodGrid, tuple[int, ...]]],
            device: str) -> list[Any]:
    """Submit the selections (the longest first) and the parts; a part waits for its row's selection only."""
    options: dict[str, Any] = {"pure": False, "retries": 0}
    if str(device).startswith("cuda"):
        options["resources"] = {"GPU": 1}
    futures, selections = [], {}
    for task in tasks:
        model, grid, chunks = task
        name = f"hm-{model}-{grid.name}-" + ("selection" if not chunks else "chunks-" + "-".join(map(str, chunks)))
        after = [selections[(model, grid.name)]] if chunks and (model, grid.name) in selections else []
        future = client.submit(_dask_task, setup, task, *after, key=f"{name}-{setup['token'][:8]}",
                               priority=row_cost(grid) if not chunks else 0, **options)
        if not chunks:
            selections[(model, grid.name)] = future
        futures.append(future)
    return futures


def _collect(run: Any, finished: Any, futures: list[Any], client: Any, total: int, done: int) -> None:
    """Wait for the tasks; one progress bar over the units; the first error cancels the rest and is raised."""
    from tqdm.auto import tqdm

    from ..progress import report_progress

    with tqdm(total=total, initial=done, desc="units (dask)", unit="unit", disable=not run.progress) as bar:
        try:
            for future in finished:
                seconds, models_info, units = future.result()  # re-raises the task's exception
                run.seconds.merge(seconds)
                run.models_info.update(models_info)
                run.units_computed += units
                done += units
                bar.update(units)
                report_progress(task="dask", task_done=done, task_total=total, units_computed=run.units_computed)
            bar.update(total - done)  # every task finished: all units are on disk (a killed worker's too)
        except BaseException:
            client.cancel(futures)
            raise


# ---------------------------------------------------------------------------------------------- the worker
def _dask_task(setup: dict[str, Any], task: tuple[str, MethodGrid, tuple[int, ...]],
               *after: Any) -> tuple[dict[str, dict[str, float]], dict[str, Any], int]:
    """In a Dask worker: :func:`.parallel._run_row`, after preparing this process for the run on its first task
    (``after``: the results of the tasks this one waited for; unused)."""
    from ..environment import select_device
    from . import parallel

    with _TASK_LOCK:
        if parallel._WORKER.get("token") != setup["token"]:  # this process's first task of this run
            select_device(setup["device"])  # a worker without the run's device stops the run, saying so
            _heap_for_tensors()
            parallel._WORKER.clear()
            parallel._start_worker({**setup, "threads": _worker_threads()})
            parallel._WORKER["token"] = setup["token"]
        return parallel._run_row(task)


def _heap_for_tensors() -> None:
    """Undo, in this worker process, what Dask's nanny sets for it: ``MALLOC_TRIM_THRESHOLD_`` (its
    ``distributed.nanny.pre-spawn-environ``) turns glibc's adaptive mmap threshold off, so that every tensor above
    128 KiB is a fresh ``mmap`` of zeroed pages - measured 2.3x the CPU seconds per work unit of a serial run. The
    thresholds set here are glibc's adaptive ceiling (32 MiB) and twice it. Nothing happens off glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 32 * 1024 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 * 1024 * 1024)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def _import_runner() -> None:
    from . import runner  # noqa: F401  (torch, Quantus, Captum ...: seconds, once per worker process)


def _worker_threads() -> int:
    """The Dask worker's thread count (its ``--nthreads``): the torch threads of its tasks."""
    try:
        from distributed import get_worker

        return max(1, int(get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        return 1


# ---------------------------------------------------------------------------------------------- planning
class _Recorder:
    """A :class:`.store.ResultStore` stand-in for planning: counts the units a task would compute and the pending
    ones, computes none (``pending`` answers "none"), and reads a row's selection from ``stand_in`` while the row has
    none on disk (the count of its test units does not depend on which configuration will be chosen)."""

    def __init__(self, store: Any) -> None:
        self.store, self.total, self.todo, self.stand_in = store, 0, 0, {}

    def pending(self, units: Sequence[Any]) -> set[Any]:
        self.total += len(units)
        self.todo += len(self.store.pending(units))
        return set()

    def read_selection(self, model: str, row: str) -> Any:
        table = self.store.read_selection(model, row)
        return self.stand_in.get((model, row)) if table is None else table

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def plan(run: Any, rows: Sequence[tuple[str, MethodGrid]]) -> tuple[list[tuple[Any, int, int]], int, int]:
    """The tasks of ``rows`` - ``((model, row, chunks), units, pending units)`` - in submission order: every row's
    selection (the longest first; no chunks), then every row's parts of :data:`DASK_PART_CHUNKS` test chunks; and
    the units of the whole run and those of them on disk already (for the progress bar).

    The driver readies each model once for this (as a serial run does, one at a time) to learn each row's
    candidates and test split; the models it loaded for the fingerprint are released as it goes. A task with no
    pending unit is left out, except the selection task of a row with no selection on disk (it writes the decision).
    """
    import pandas as pd
    import torch

    from .runner import _Run
    from .selection import candidate_configurations
    from .store import config_key

    class Planner(_Run):
        def run_row(self, model_name, model, context, grid, chunks=None):  # noqa: ANN001, ANN201
            spec = self.backend.method_spec(grid.method)
            example = torch.as_tensor(self.samples("test").x[:1], device=self.device)
            candidates = candidate_configurations(grid, spec, lambda: self.backend.layer_candidates(model, spec, example))
            if not chunks and len(candidates) > 1:  # the selection task: its validation units (done once decided)
                for params in candidates:
                    self.run_units(model_name, model, context, "val", grid, params, self.selection_metrics)
            if self.store.store.read_selection(model_name, grid.name) is None:
                self.store.stand_in[(model_name, grid.name)] = pd.DataFrame(
                    {"config": [config_key(candidates[0])], "chosen": [True]})
            super().run_row(model_name, model, context, grid, chunks)

    planner = Planner.__new__(Planner)
    planner.__dict__.update(run.__dict__)
    planner.store, planner._ready, planner.seconds, planner.models_info = _Recorder(run.store), {}, Timings(), {}
    if str(run.device).startswith("cuda") and not torch.cuda.is_available():
        planner.device = "cpu"  # a driver without the workers' GPU; its count of a "correct" test split may differ:
    elsewhere = planner.device != run.device  # then empty parts are submitted too (no-ops where they are empty)
    sizes = [run.profile.n_test or len(run.samples("test"))] + [len(s) for k, s in run._samples.items() if k not in ("val", "test")]
    parts = [tuple(range(start, start + DASK_PART_CHUNKS))
             for start in range(0, math.ceil(max(sizes) / run.profile.chunk_size), DASK_PART_CHUNKS)]
    order = {id(g): -row_cost(g) for _, g in rows}
    planned: dict[tuple[str, str, tuple[int, ...]], tuple[Any, int, int]] = {}
    units = done = 0
    for model_name in run.profile.models:  # model by model: each model is readied once
        for grid in [g for m, g in rows if m == model_name]:
            decided = run.store.read_selection(model_name, grid.name) is not None
            for chunks in [(), *parts]:
                planner.store.total = planner.store.todo = 0
                planner.execute(0, 1, rows=[(model_name, grid)], keep_models=False, chunks=chunks)
                total, todo = planner.store.total, planner.store.todo  # an undecided row's selection always runs
                if not decided and chunks:  # no selection yet: none of the row's test units can be on disk
                    todo = total
                units, done = units + total, done + total - todo
                if todo or (not decided and not chunks) or (elsewhere and chunks and not total):
                    planned[(model_name, grid.name, chunks)] = ((model_name, grid, chunks), total, todo)
    run.models_info.update(planner.models_info)
    first = sorted((v for k, v in planned.items() if not k[2]), key=lambda v: order[id(v[0][1])])
    return first + [v for k, v in planned.items() if k[2]], units, done


# ---------------------------------------------------------------------------------------------- Slurm
def slurm_cluster(*, gpus: int = 1, cores: int = 8, memory: str = "32GB", walltime: str = "04:00:00",
                  queue: str | None = None, account: str | None = None, job_extra_directives: Sequence[str] = (),
                  job_script_prologue: Sequence[str] = (), **kwargs: Any) -> Any:
    """A ``dask_jobqueue.SLURMCluster`` whose every Slurm job is one Dask worker for this library's tasks.

    Each job asks for ``cores`` CPUs, ``memory`` and ``walltime`` (``HH:MM:SS``), plus one GPU when ``gpus=1``
    (``#SBATCH --gres=gpu:1``; the worker then offers ``--resources GPU=1``, which every task of a CUDA run requests);
    scale with the number of jobs: ``cluster.scale(jobs=4)`` or ``cluster.adapt(maximum_jobs=8)``. The job script
    exports the ``PYTHONPATH`` this process imported the library from (so that the workers run the same code, and
    the run's fingerprint check passes) and one OpenMP thread per torch thread. ``job_extra_directives`` adds
    ``#SBATCH`` lines (``["--constraint=a100", "--qos=long"]``), ``job_script_prologue`` shell lines (``module
    load ...``, ``source .venv/bin/activate``); other keywords go to ``SLURMCluster`` (``log_directory``,
    ``local_directory``, ``python``, ``interface`` ...). Print ``cluster.job_script()`` to see what is submitted.
    One GPU per job: a job with several GPUs would need one worker per GPU, each seeing only its own.
    """
    from pathlib import Path

    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise EvaluationSetupError("slurm_cluster needs dask-jobqueue: pip install dask-jobqueue "
                                   "(pinned in requirements.txt)") from None
    if isinstance(gpus, bool) or gpus not in (0, 1):
        raise EvaluationSetupError(f"gpus must be 0 or 1 (one GPU per Slurm job; scale the number of jobs), got {gpus!r}")
    if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
        raise EvaluationSetupError(f"cores must be a whole number >= 1 (CPUs per Slurm job), got {cores!r}")
    library = str(Path(__file__).resolve().parents[2])  # the folder that holds hidden_monotonicity/
    prologue = [f"export PYTHONPATH={library}${{PYTHONPATH:+:$PYTHONPATH}}", f"export OMP_NUM_THREADS={cores}",
                *job_script_prologue]
    directives = [*(["--gres=gpu:1"] if gpus else []), *job_extra_directives]
    worker_args = [*(["--resources", "GPU=1"] if gpus else []), *kwargs.pop("worker_extra_args", [])]
    return SLURMCluster(cores=cores, processes=1, memory=memory, walltime=walltime, queue=queue, account=account,
                        job_extra_directives=directives, job_script_prologue=prologue, worker_extra_args=worker_args,
                        **kwargs)
