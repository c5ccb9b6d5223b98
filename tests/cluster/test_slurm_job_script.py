"""hm.evaluation.slurm_cluster (evaluation/dask_backend.py, issue 31): the Slurm job script it would submit. No Slurm
is needed - the script is generated, not submitted; tests/cluster/slurm_check.sh runs one for real."""

from __future__ import annotations

from pathlib import Path

import pytest

import hidden_monotonicity as hm
from hidden_monotonicity.evaluation.store import EvaluationSetupError

pytest.importorskip("dask_jobqueue")


def _job_script(**options) -> str:
    cluster = hm.evaluation.slurm_cluster(**options, scheduler_options={"dashboard_address": ":0"})
    try:
        return cluster.job_script()
    finally:
        cluster.close()


def test_a_gpu_job_asks_slurm_for_one_gpu_and_offers_it_to_the_scheduler_as_a_resource():
    script = _job_script(gpus=1, cores=4, memory="16GB", walltime="02:30:00", queue="gpu", account="proj42",
                         job_extra_directives=["--qos=long"], job_script_prologue=["module load cuda"])
    lines = script.splitlines()
    for directive in ("#SBATCH --gres=gpu:1", "#SBATCH --qos=long", "#SBATCH -t 02:30:00", "#SBATCH -p gpu",
                      "#SBATCH -A proj42", "#SBATCH --cpus-per-task=4", "#SBATCH -n 1"):
        assert directive in lines, f"{directive!r} missing from:\n{script}"
    assert any(line.startswith("#SBATCH --mem=") for line in lines)
    worker = next(line for line in lines if "distributed.cli.dask_worker" in line or "dask worker" in line)
    assert "--resources GPU=1" in worker and "--nthreads 4" in worker
    assert "--nworkers" not in worker, "one worker process per job"
    library = str(Path(hm.__file__).resolve().parents[1])
    assert f"export PYTHONPATH={library}" in script, "the workers import the library this process imported"
    assert "module load cuda" in lines and "export OMP_NUM_THREADS=4" in lines
    assert lines.index("module load cuda") < lines.index(worker)


def test_a_cpu_job_asks_for_no_gpu():
    script = _job_script(gpus=0, cores=2, memory="4GB", walltime="00:10:00")
    assert "--gres" not in script and "GPU=1" not in script and "#SBATCH --cpus-per-task=2" in script.splitlines()


@pytest.mark.parametrize("options, message", [
    ({"gpus": 2}, "gpus must be 0 or 1"), ({"gpus": True}, "gpus must be 0 or 1"), ({"cores": 0}, "cores must be"),
])
def test_bad_slurm_options_are_one_line_errors(options, message):
    with pytest.raises(EvaluationSetupError, match=message):
        hm.evaluation.slurm_cluster(**options)
