"""Measure the float noise of the evaluation tables (issue 28): where the tolerances of ``verify`` come from.

Two kinds of perturbation that mimic another machine:

1. **pipeline**: the smoke profile runs (``python -m hidden_monotonicity evaluate --profile smoke``) once as the
   baseline (1 torch thread, this CPU's kernels) and once per perturbation, each in a fresh subprocess: 2 torch
   threads; 2 worker processes; ATen, oneDNN and MKL capped at AVX2 (``ATEN_CPU_CAPABILITY``,
   ``ONEDNN_MAX_CPU_ISA``, ``MKL_ENABLE_INSTRUCTIONS``: other SIMD kernels and summation orders, as on a CPU without
   AVX-512); capped at the oldest ISA (SSE4.1 / SSE4.2, ATen's scalar ``default``); ``MKL_CBWR=COMPATIBLE``.
2. **scores**: the default profile's published per-image scores (``figures/evaluation_scores.csv.gz``, 480 test
   images per model) moved by ``ULPS`` float32 ulps each (random sign, seeded), then its tables and comparisons
   (test split) recomputed from both the original and the moved scores: how much the intervals (BCa bootstrap),
   Monte-Carlo p-values and Holm/BH adjustments amplify a last-digit change of the inputs at the real size.

For each, every cell of ``table.csv``, ``comparisons.csv`` and ``selection.csv`` is compared with the baseline
(:func:`hidden_monotonicity.evaluation.verify.compare_tables`), and the maximum |diff| and |diff| / |reference| per
perturbation, file, metric and column is written to ``benchmarks/float_noise_smoke.csv``; the console shows the
maximum per metric over all perturbations and the cells whose verdict or selection changed.

    PYTHONPATH=lib python benchmarks/measure_float_noise.py [--skip-scores] [--out benchmarks/float_noise_smoke.csv]

Measured on the 2-core AMD EPYC (AVX-512) of the project: see the CSV and the tolerance table in
:mod:`hidden_monotonicity.evaluation.verify`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from hidden_monotonicity.evaluation import get_profile  # noqa: E402
from hidden_monotonicity.evaluation.comparisons import verdicts  # noqa: E402
from hidden_monotonicity.evaluation.profiles import SPLIT_METHODS  # noqa: E402
from hidden_monotonicity.evaluation.selection import profile_outputs  # noqa: E402
from hidden_monotonicity.evaluation.tables import write_tables  # noqa: E402
from hidden_monotonicity.evaluation.verify import FILES, compare_tables  # noqa: E402

ULPS = 4
PERTURBATIONS: dict[str, tuple[dict[str, str], list[str]]] = {
    "threads_2": ({"OMP_NUM_THREADS": "2"}, ["--threads", "2"]),
    "workers_2": ({}, ["--workers", "2"]),
    "isa_avx2": ({"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}, []),
    "isa_oldest": ({"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41",
                    "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}, []),
    "mkl_cbwr_compatible": ({"MKL_CBWR": "COMPATIBLE"}, []),
}


def run_smoke(out: Path, env: dict[str, str], args: list[str]) -> float:
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "lib"), "OMP_NUM_THREADS": "1", **env}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hidden_monotonicity", "evaluate", "--profile", "smoke", "--out", str(out),
                    "--no-progress", "--threads", "1", *args], env=environment, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def metric_of(cells: pd.DataFrame) -> pd.Series:
    """The metric of each cell (last part of the table/comparison key; the val_ column of a selection cell)."""
    last = cells["key"].str.split("/").str[-1]
    return last.where(cells["file"] != "selection.csv", cells["column"].str.replace("val_", "", regex=False))


def noise_rows(cells: pd.DataFrame, perturbation: str) -> pd.DataFrame:
    cells = cells.assign(metric=metric_of(cells), diff=pd.to_numeric(cells["diff"], errors="coerce"))
    numeric = cells[pd.to_numeric(cells["reference"], errors="coerce").notna()]
    reference = pd.to_numeric(numeric["reference"]).abs()
    numeric = numeric.assign(relative=(numeric["diff"] / reference.where(reference > 0)))
    bounds = numeric[numeric["column"].isin(["ci_low", "ci_high"])]
    width = (bounds.pivot_table(index=["file", "key"], columns="column", values="reference", aggfunc="first")
             .pipe(lambda f: (f["ci_high"] - f["ci_low"]).abs()).rename("width").reset_index())
    numeric = numeric.merge(width, on=["file", "key"], how="left")
    numeric = numeric.assign(of_width=(numeric["diff"] / numeric["width"].where(numeric["width"] > 0))
                             .where(numeric["column"].isin(["ci_low", "ci_high"])))
    grouped = numeric.groupby(["file", "metric", "column"]).agg(
        cells=("diff", "size"), max_abs_diff=("diff", "max"), max_relative_diff=("relative", "max"),
        max_diff_over_width=("of_width", "max"))
    changed = cells[cells["diff"].isna()]
    for _, row in changed.iterrows():
        print(f"  {perturbation}: {row['file']} {row['key']} {row['column']}: {row['reference']} -> {row['value']}")
    return grouped.reset_index().assign(perturbation=perturbation)


def perturbed_scores_tables(work: Path) -> pd.DataFrame:
    """Tables of the default profile recomputed from the published scores, as published and moved by ULPS ulps."""
    profile = get_profile("default")
    outputs = profile_outputs(profile)
    scores = pd.read_csv(ROOT / "figures" / "evaluation_scores.csv.gz", float_precision="round_trip", low_memory=False)
    selection = pd.read_csv(ROOT / "figures" / "evaluation_selection.csv")
    chosen = selection[selection["chosen"].astype(bool)][["model", "method", "config"]]
    test = scores[scores["split"] == "test"].merge(chosen, on=["model", "method", "config"], how="inner")
    rng = np.random.default_rng(0)
    ulp = np.spacing(np.abs(test["score"].to_numpy(np.float32))).astype(np.float64)
    binary = [n for n, o in outputs.items() if o.binary]  # 0/1 scores (Pointing Game): no last digit to move
    step = np.where(test["metric"].isin(binary), 0.0, rng.choice([-1.0, 1.0], size=len(test)) * ULPS * ulp)
    moved = test.assign(score=test["score"] + step)
    common = dict(models=list(profile.models), metric_order=list(outputs), method_order=[g.name for g in profile.methods],
                  directions={n: o.direction for n, o in outputs.items()},
                  split_methods=[g.name for g in profile.methods if g.method in SPLIT_METHODS], selection=selection,
                  seed=profile.seed, binary_metrics=[n for n, o in outputs.items() if o.binary])
    for name, frame in (("published", test), ("moved", moved)):
        (work / name).mkdir()
        write_tables(frame, work / name, **common)
    files = {name: work / "published" / name for name in ("table.csv", "comparisons.csv")}
    cells = compare_tables(files, work / "moved")
    ref = pd.read_csv(work / "published" / "comparisons.csv")
    run = pd.read_csv(work / "moved" / "comparisons.csv")
    print(f"  scores_{ULPS}ulp: {int((verdicts(ref) != verdicts(run)).sum())} of {len(ref)} verdicts changed")
    return noise_rows(cells, f"default_scores_{ULPS}ulp")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "float_noise_smoke.csv")
    parser.add_argument("--skip-scores", action="store_true", help="skip the default profile's score perturbation")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="float-noise-") as scratch:
        work = Path(scratch)
        seconds = run_smoke(work / "baseline", {}, [])
        print(f"baseline smoke run: {seconds:.1f} s")
        reference = {name: work / "baseline" / name for name in FILES}
        for name, (env, extra) in PERTURBATIONS.items():
            seconds = run_smoke(work / name, env, extra)
            cells = compare_tables(reference, work / name)
            identical = all((work / name / f).read_bytes() == (work / "baseline" / f).read_bytes() for f in FILES)
            print(f"{name}: {seconds:.1f} s, byte-identical tables: {identical}")
            rows.append(noise_rows(cells, name))
        if not args.skip_scores:
            start = time.perf_counter()
            rows.append(perturbed_scores_tables(work))
            print(f"default scores moved by {ULPS} ulps: {time.perf_counter() - start:.1f} s")
    noise = pd.concat(rows, ignore_index=True)[["perturbation", "file", "metric", "column", "cells", "max_abs_diff",
                                                "max_relative_diff", "max_diff_over_width"]]
    noise.to_csv(args.out, index=False, float_format="%.3g")
    worst = noise.assign(bound=noise["column"].isin(["ci_low", "ci_high"])).groupby(["perturbation", "bound"]).agg(
        max_abs_diff=("max_abs_diff", "max"), max_relative_diff=("max_relative_diff", "max"),
        max_diff_over_width=("max_diff_over_width", "max"))
    print(worst.to_string(float_format=lambda v: f"{v:.3g}"))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
