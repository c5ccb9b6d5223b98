"""The benchmark scripts run end to end at a tiny size (this checks that they work, not how fast anything is:
timings live in benchmarks/RESULTS.md, measured by the scripts themselves)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(script: str, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *arguments], capture_output=True, text=True, timeout=600
    )


def test_bench_explain_prints_a_table_and_the_splitcam_layercam_ratio():
    # 64 px: ResNet18's layer4 is 2x2 there (1x1 at 32 px, where explain refuses CAMs: their maps would be constant)
    result = _run(
        "bench_explain.py", "--models", "resnet18", "--methods", "splitcam,layercam,occlusion", "--size", "64",
        "--batch", "2", "--repeats", "1", "--warmup", "0", "--device", "cpu", "--threads", "1",
    )
    assert result.returncode == 0, result.stderr
    rows = {line.split("|")[1].strip(): line for line in result.stdout.splitlines() if line.startswith("| ")}
    assert {"splitcam", "layercam", "occlusion"} <= set(rows)
    for method in ("splitcam", "layercam", "occlusion"):
        seconds = float(rows[method].split("|")[3])
        assert seconds > 0, rows[method]
    assert "SplitCAM / LayerCAM on resnet18, cpu:" in result.stdout


def test_bench_explain_rejects_unknown_names():
    result = _run("bench_explain.py", "--methods", "splitcam,no_such_method", "--device", "cpu")
    assert result.returncode != 0 and "no_such_method" in result.stderr


@pytest.mark.parametrize("model", ["resnet18"])
def test_bench_decompose_prints_ratios(model):
    result = _run("bench_decompose.py", "--models", model, "--batches", "1", "--repeats", "1", "--size", "32",
                  "--device", "cpu")
    assert result.returncode == 0, result.stderr
    table_rows = [line for line in result.stdout.splitlines() if line.startswith(f"| {model} |")]
    assert len(table_rows) == 1, result.stdout
    ratio = table_rows[0].split("|")[6].strip().strip("*×")
    assert float(ratio) > 0


def test_bench_evaluation_prints_every_metric_and_a_finite_overall_ratio():
    from hidden_monotonicity.evaluation.profiles import get_profile

    smoke = get_profile("smoke")
    result = _run("bench_evaluation.py", "--profile", "smoke", "--images", "4", "--methods", "saliency,gradcam",
                  "--repeats", "1")
    assert result.returncode == 0, result.stderr
    cells = [line.split("|") for line in result.stdout.splitlines() if line.startswith("| saliency |")
             or line.startswith("| gradcam |")]
    metrics_by_method = {method: {c[2].strip().split(" (")[0] for c in cells if c[1].strip() == method}
                         for method in ("saliency", "gradcam")}
    for method, metrics in metrics_by_method.items():
        assert set(smoke.metrics) | {"(maps)"} <= metrics, (method, result.stdout)
    # the required passes follow the smoke profile's parameters (PixelFlipping: 3*32*32 features, 64 a step,
    # read up to 20 %: 9 steps; Selectivity: 8 px patches of 32 px: 16; MaxSensitivity: 3 re-explanations)
    row = {c[2].strip(): c for c in cells if c[1].strip() == "saliency"}
    assert (row["PixelFlipping"][4].strip(), row["Selectivity"][4].strip()) == ("9", "16")
    assert row["MaxSensitivity"][5].strip() == "3"
    overall = [line for line in result.stdout.splitlines() if line.startswith("overall efficiency ratio:")]
    assert len(overall) == 1, result.stdout
    ratio = float(overall[0].split(":")[1].split()[0])
    assert math.isfinite(ratio) and ratio > 0


def _load_script(name: str):
    """A benchmark script as a module (to test its functions without running its main work)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_dask_runs_the_cut_twice_and_fails_when_the_tables_differ(tmp_path, monkeypatch, capsys):
    """bench_dask's driver logic without the evaluations (minutes each at the default cut, a quarter of an hour each
    for the whole profile): the serial and the Dask command get the same cut, ``--max-images 0`` means the whole
    profile, and differing tables exit 1."""
    bench = _load_script("bench_dask")
    calls = []

    def fake_evaluate(out, arguments, tables_differ=False):
        calls.append(list(arguments))
        out.mkdir(parents=True)
        for name in ("scores.csv", "table.csv"):
            (out / name).write_text("dask" if tables_differ and "--dask-local" in arguments and name == "table.csv" else "same")
        return 2.0 if "--dask-local" in arguments else 3.0

    monkeypatch.setattr(bench, "_evaluate", fake_evaluate)
    assert bench.main(["--models", "", "--max-images", "0", "--keep", str(tmp_path / "a")]) == 0
    assert calls == [["--profile", "default"], ["--profile", "default", "--dask-local", "2"]]
    out = capsys.readouterr().out
    assert "serial: 3.0 s; --dask-local 2: 2.0 s; ratio serial / dask: 1.50x" in out and "table.csv yes" in out

    calls.clear()
    monkeypatch.setattr(bench, "_evaluate", lambda out, arguments: fake_evaluate(out, arguments, tables_differ=True))
    assert bench.main(["--methods", "saliency", "--workers", "3", "--keep", str(tmp_path / "b")]) == 1
    assert calls[0] == ["--profile", "default", "--max-images", "96", "--models", "benchmark_vgg", "--methods", "saliency"]
    assert calls[1] == [*calls[0], "--dask-local", "3"]
    assert "scores.csv yes, table.csv NO" in capsys.readouterr().out


def test_time_fresh_clone_records_one_line_per_command_from_the_logs_summary(tmp_path):
    timer = _load_script("time_fresh_clone")
    assert timer.minutes_seconds(882.4) == "14 min 42 s" and timer.minutes_seconds(59.6) == "1 min 0 s"
    log = "....\n=========== 1702 passed, 4 warnings in 772.11s (0:12:52) ===========\n"
    line = timer.record_line("test", "abc1234", "2026-12-07", 882.4, log)
    assert line == ("test: commit abc1234, 2026-12-07, 14 min 42 s in all (clone, install and run); "
                    "pytest: 1,702 passed in 12 min 52 s")
    with pytest.raises(SystemExit, match="no pytest summary"):
        timer.record_line("test", "abc1234", "2026-12-07", 882.4, "1 failed, 3 passed in 2.0s")
    assert timer.record_line("reproduce", "abc1234", "2026-12-07", 1624, "") == (
        "reproduce: commit abc1234, 2026-12-07, 27 min 4 s in all (clone, install and run)")
    assert timer.record_line("reproduce", "abc1234", "2026-12-07", 1624, "  figures/: 0 created, 2 changed, 63 unchanged, "
                             "1 untouched\n").endswith("in all (clone, install and run); figures/: 0 created, 2 changed, 63 unchanged")
    record = tmp_path / "fresh_clone.txt"
    timer.write_record(record, "test", line)
    timer.write_record(record, "reproduce", "reproduce: commit old")
    timer.write_record(record, "reproduce", "reproduce: commit new")
    assert record.read_text().splitlines() == ["reproduce: commit new", line]
