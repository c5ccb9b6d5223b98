"""Dask (evaluate(..., dask=...), --dask / --dask-local; evaluation/dask_backend.py, issue 31): the same files as the
serial run, a worker killed mid-run is replaced, an interrupted driver leaves a folder any later run resumes, unit
errors are recorded or raised as in a serial run, and wrong arguments stop before anything starts."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from hidden_monotonicity import cli
from hidden_monotonicity.evaluation import MethodGrid, evaluate, parent_environment_kept
from hidden_monotonicity.evaluation.dask_backend import _check_gpu_workers
from hidden_monotonicity.evaluation.store import EvaluationSetupError

from evaluation_standins import picklable_backend, stand_in_profile

distributed = pytest.importorskip("distributed")

SAME_FILES = ("scores.csv", "table.csv", "selection.csv")
#: what a Dask nanny writes into its parent's environment before it starts a worker
NANNY_ENVIRONMENT = ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                     "PYTHONHASHSEED")


def _assert_same_files(one: Path, two: Path, names=SAME_FILES) -> None:
    for name in names:
        assert (one / name).read_bytes() == (two / name).read_bytes(), f"{name} differs from the serial run's"


@pytest.fixture(scope="module")
def client():
    """Two local worker processes (one thread each) for the stand-in tests; a killed one is restarted by its nanny."""
    with parent_environment_kept():  # else the nannies' one-thread BLAS and malloc settings reach every later test
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                           silence_logs=logging.ERROR)
        with distributed.Client(cluster) as c:
            yield c
        logger = logging.getLogger("distributed")
        level = logger.level
        logger.setLevel(logging.ERROR)  # a worker slow to exit is killed by its nanny: no news
        cluster.close()
        logger.setLevel(level)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The stand-in profile run serially: the reference every Dask run must equal."""
    folder = tmp_path_factory.mktemp("serial")
    result = evaluate(stand_in_profile(), folder, backend=picklable_backend(), progress=False)
    assert result.complete
    return SimpleNamespace(folder=folder, units=result.units_computed)


@pytest.mark.slow
def test_smoke_profile_on_two_local_dask_workers_writes_the_serial_files(tmp_path, capsys, monkeypatch):
    assert cli.main(["evaluate", "--profile", "smoke", "--out", str(tmp_path / "serial"), "--no-progress"]) == 0
    capsys.readouterr()
    for name in NANNY_ENVIRONMENT:  # as a fresh session has them (a cluster started earlier may have left them)
        monkeypatch.delenv(name, raising=False)
    before = dict(os.environ)
    assert cli.main(["evaluate", "--profile", "smoke", "--out", str(tmp_path / "dask"), "--dask-local", "2"]) == 0
    assert dict(os.environ) == before, "the nannies' settings must not stay in the driver's environment"
    shown = capsys.readouterr()
    _assert_same_files(tmp_path / "serial", tmp_path / "dask", ("scores.csv", "table.csv", "selection.csv",
                                                               "table_defaults.csv"))
    assert "Dask dashboard: http" in shown.out
    assert "units (dask)" in shown.err and "68/68" in shown.err, "one progress bar over all units"
    meta = json.loads((tmp_path / "dask" / "metadata.json").read_text())
    assert meta["complete"] and meta["runs"][-1]["dask"] == 2 and meta["runs"][-1]["units_computed"] == 68


# ------------------------------------------------------------------ a worker that dies mid-run
class _KillOneWorker:
    """The stand-in explanation; its first call in a Dask worker after a unit is on disk kills that worker (SIGKILL:
    no clean-up, as an out-of-memory kill or a lost node). Pickled with the backend into every worker."""

    def __init__(self, out: Path, marker: Path) -> None:
        self.out, self.marker, self.driver = out, marker, os.getpid()

    def __call__(self, model, x, targets, method, **params):
        if os.getpid() != self.driver and any((self.out / "units").rglob("*.csv")):
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                self.marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
        return picklable_backend().explain(model, x, targets, method, **params)


@pytest.mark.slow
def test_a_worker_killed_after_the_first_unit_is_replaced_and_the_tables_equal_the_serial_run(tmp_path, serial, client):
    backend = replace(picklable_backend(), explain=_KillOneWorker(tmp_path / "dask", tmp_path / "killed"))
    pids = set(client.run(os.getpid).values())
    result = evaluate(stand_in_profile(), tmp_path / "dask", backend=backend, progress=False, dask=client)
    assert (tmp_path / "killed").exists() and int((tmp_path / "killed").read_text()) in pids, "a worker was killed"
    assert result.complete
    _assert_same_files(serial.folder, tmp_path / "dask")


# ------------------------------------------------------------------ an interrupted driver, resumed
@pytest.mark.slow
def test_an_interrupted_dask_driver_leaves_a_folder_that_dask_and_serial_runs_resume(tmp_path, serial, client,
                                                                                    monkeypatch, capsys):
    import hidden_monotonicity.progress as progress

    def interrupt(**fields):
        if fields.get("task") == "dask":
            raise KeyboardInterrupt("driver stopped")

    monkeypatch.setattr(progress, "report_progress", interrupt)
    with pytest.raises(KeyboardInterrupt):
        evaluate(stand_in_profile(), tmp_path / "a", backend=picklable_backend(), progress=False, dask=client)
    monkeypatch.undo()
    meta = json.loads((tmp_path / "a" / "metadata.json").read_text())
    assert meta["complete"] is False and 0 < meta["runs"][-1]["units_computed"] < serial.units
    client.run(_wait_for_running_task)  # a task the driver left running would still write files while we copy
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    (tmp_path / "b" / ".lock").unlink(missing_ok=True)
    done = sum(1 for _ in (tmp_path / "a" / "units").rglob("*.csv"))
    capsys.readouterr()
    again = evaluate(stand_in_profile(), tmp_path / "a", backend=picklable_backend(), progress=True, dask=client)
    shown = capsys.readouterr().err
    assert again.complete and again.units_computed == serial.units - done, "finished units are not computed again"
    assert f"| {done}/{serial.units} [" in shown, "the progress bar starts at the units already on disk"
    _assert_same_files(serial.folder, tmp_path / "a")
    plain = evaluate(stand_in_profile(), tmp_path / "b", backend=picklable_backend(), progress=False)
    assert plain.complete
    _assert_same_files(serial.folder, tmp_path / "b")


def _wait_for_running_task() -> None:
    from hidden_monotonicity.evaluation import dask_backend

    with dask_backend._TASK_LOCK:  # held by a worker's task from its start to its end
        pass


# ------------------------------------------------------------------ unit errors: recorded or raised
def _failing_profile():
    return stand_in_profile(models=("tiny_flat",), methods=(MethodGrid("broken", grid={"failure": ("raise",)}),
                                                            MethodGrid("input_x_gradient", grid={"abs": (False,)})))


@pytest.mark.slow
def test_a_unit_error_is_recorded_as_in_a_serial_run_or_stops_the_run(tmp_path, client):
    one = evaluate(_failing_profile(), tmp_path / "one", backend=picklable_backend(), progress=False)
    address = client.scheduler.address  # the scheduler-address path: evaluate connects (and disconnects) itself
    two = evaluate(_failing_profile(), tmp_path / "two", backend=picklable_backend(), progress=False, dask=address)
    assert two.complete and two.metadata["runs"][-1]["dask"] == address
    _assert_same_files(tmp_path / "one", tmp_path / "two")
    assert one.scores["status"].str.startswith("failed: explain: RuntimeError").any()
    with pytest.raises(RuntimeError, match="this explainer always fails"):
        evaluate(_failing_profile(), tmp_path / "three", backend=picklable_backend(), progress=False, dask=client,
                 on_error="raise")


@pytest.mark.slow
@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks a driver without CUDA")
def test_a_cuda_run_on_workers_without_a_gpu_resource_is_refused_before_any_task(tmp_path, client):
    with pytest.raises(EvaluationSetupError, match="no Dask worker offers a GPU resource.*--resources GPU=1"):
        evaluate(stand_in_profile(), tmp_path / "r", backend=picklable_backend(), progress=False, device="cuda",
                 dask=client)
    assert not (tmp_path / "r").exists(), "a run that computed nothing leaves no folder"


# ------------------------------------------------------------------ arguments and placement
@pytest.mark.parametrize("dask, message", [
    (0, "dask must be a scheduler address"), (True, "dask must be a scheduler address"),
    ("  ", "dask must be a scheduler address"), (object(), "dask must be a scheduler address, a number"),
])
def test_bad_dask_arguments_are_refused_before_anything_starts(tmp_path, dask, message):
    with pytest.raises(EvaluationSetupError, match=message):
        evaluate(stand_in_profile(), tmp_path / "r", backend=picklable_backend(), progress=False, dask=dask)
    assert not (tmp_path / "r").exists()


def test_dask_with_workers_or_a_unit_budget_is_refused(tmp_path):
    with pytest.raises(EvaluationSetupError, match="either workers or dask"):
        evaluate(stand_in_profile(), tmp_path / "r", backend=picklable_backend(), progress=False, dask=2, workers=2)
    with pytest.raises(EvaluationSetupError, match="max_units.*without dask"):
        evaluate(stand_in_profile(), tmp_path / "r", backend=picklable_backend(), progress=False, dask=2, max_units=3)


@pytest.mark.parametrize("argv, message", [
    (["--dask-local", "2", "--dask", "tcp://127.0.0.1:1"], "not allowed with argument"),
    (["--dask-local", "2", "--workers", "2"], "either workers or dask"),
    (["--dask-local", "0"], "dask must be a scheduler address"),
])
def test_cli_dask_flag_errors_are_one_line(tmp_path, capsys, argv, message):
    assert cli.main(["evaluate", "--profile", "smoke", "--out", str(tmp_path / "r"), *argv]) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_a_cuda_run_needs_workers_that_offer_a_gpu_resource():
    class Client:
        def __init__(self, resources):
            self.resources = resources

        def scheduler_info(self):
            return {"workers": {"tcp://w:1": {"resources": self.resources}}}

    with pytest.raises(EvaluationSetupError, match="no Dask worker offers a GPU resource.*--resources GPU=1"):
        _check_gpu_workers(Client({}), "cuda")
    _check_gpu_workers(Client({"GPU": 1}), "cuda")
    _check_gpu_workers(Client({}), "cpu")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks a driver without CUDA")
def test_a_driver_without_cuda_hands_a_cuda_run_to_the_workers_which_check_the_device(tmp_path):
    from hidden_monotonicity.evaluation.dask_backend import _dask_task, resolve_device

    assert resolve_device("cuda", dask="tcp://gpu-node:8786") == "cuda", "a login node plans, the GPU workers compute"
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda", dask=None)  # without Dask this process computes: refused as before
    with pytest.raises(ValueError, match="CUDA is not available on this machine"):
        _dask_task({"device": "cuda", "token": "a worker without a GPU"}, ("tiny_flat", None, ()))
