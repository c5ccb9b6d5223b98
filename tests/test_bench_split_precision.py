"""benchmarks/bench_split_precision.py (issue 27) runs end to end at a tiny size: one table row per split method and
configuration with the comparison numbers, and the verdict line per model. No timing assertion (the numbers live in
benchmarks/RESULTS.md)."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_split_precision.py"), *arguments],
        capture_output=True, text=True, timeout=120,
    )


def test_bench_split_precision_prints_rows_and_the_verdict():
    result = _run("--models", "benchmark_vgg", "--images", "2", "--configs", "1", "--repeats", "1", "--allow-random-init")
    assert result.returncode == 0, result.stderr
    rows = [line.split("|")[1:-1] for line in result.stdout.splitlines() if line.startswith("| benchmark_vgg |")]
    assert sorted(cells[1].strip() for cells in rows) == ["splitcam", "splitgrad", "splitlrp"], result.stdout
    for cells in rows:
        max_rel, pearson, spearman = (float(cells[i]) for i in (3, 5, 6))
        assert 0 <= max_rel < math.inf and -1 <= pearson <= 1 and -1 <= spearman <= 1, cells
        assert cells[4].strip().split()[0].endswith("/2"), cells  # images over the threshold, of 2
        assert cells[7].strip().endswith("%") and cells[8].strip().endswith("%"), cells
        assert cells[9].strip() in ("yes", "**no**") and float(cells[10]) > 0 and float(cells[11]) > 0, cells
    verdicts = [line for line in result.stdout.splitlines() if line.startswith("verdict benchmark_vgg: ")]
    assert len(verdicts) == 1 and verdicts[0].split(": ")[1].split()[0] in ("agree", "differ"), result.stdout
    assert "float64 / float32 seconds on benchmark_vgg: splitcam" in result.stdout


def test_bench_split_precision_rejects_unknown_names(capsys):
    # in process (the argument check, without a second interpreter start and library import)
    spec = importlib.util.spec_from_file_location("bench_split_precision", BENCHMARKS / "bench_split_precision.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    for arguments in (["--models", "no_such_model"], ["--methods", "splitcam,no_such_method"]):
        with pytest.raises(SystemExit) as exit_info:
            module.parse_arguments(arguments)
        assert exit_info.value.code != 0
        assert arguments[1].split(",")[-1] in capsys.readouterr().err
