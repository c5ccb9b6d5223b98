"""``python -m hidden_monotonicity verify`` (issue 28): a run's tables against the committed reference within the
float-noise tolerance of each metric; a cell moved beyond its tolerance, a changed verdict or selection is named."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

import hidden_monotonicity as hm
from hidden_monotonicity.__main__ import COMMANDS, main as package_main
from hidden_monotonicity.cli import verify_main
from hidden_monotonicity.evaluation import PROFILES, get_profile, verify
from hidden_monotonicity.evaluation.selection import profile_outputs
from hidden_monotonicity.evaluation.tables import NOT_TABULATED
from hidden_monotonicity.outputs import repository_root

REFERENCE = repository_root() / "tests" / "reference" / "smoke"
CELL = ("headline", "benchmark_vgg", "saliency", "AUC@5")  # a FLOAT_NOISE metric of the smoke table


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    """The smoke evaluation, run once for this module (about 10 s)."""
    out = tmp_path_factory.mktemp("verify") / "smoke"
    assert hm.evaluate(get_profile("smoke"), out, progress=False).complete
    return out


def _copy(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("units", "selection"))
    return copy


def _outside(run: Path) -> pd.DataFrame:
    cells = verify.compare_tables(verify.reference_files("smoke"), run)
    return cells[~cells["within"]]


def _move_table_cell(run: Path, factor: float) -> tuple[float, float]:
    """Move the mean of CELL by ``factor`` times its tolerance; return (reference, tolerance)."""
    path = run / "table.csv"
    table = pd.read_csv(path, float_precision="round_trip")
    row = ((table["table"] == CELL[0]) & (table["model"] == CELL[1]) & (table["method"] == CELL[2])
           & (table["metric"] == CELL[3]))
    assert row.sum() == 1
    reference = float(table.loc[row, "mean"].iloc[0])
    tolerance = verify.tolerance_for(CELL[3]).allowed(reference, float(table.loc[row, "n"].iloc[0]))
    table.loc[row, "mean"] = reference + factor * tolerance
    table.to_csv(path, index=False)
    return reference, tolerance


@pytest.mark.slow
def test_smoke_run_is_within_tolerance_of_the_committed_reference(smoke_run, tmp_path, capsys):
    report = tmp_path / "verify.txt"
    assert verify_main(["--run", str(smoke_run), "--report", str(report)]) == 0
    printed = capsys.readouterr().out
    lines = report.read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"$ python -m hidden_monotonicity verify --run {smoke_run} --report {report}"
    assert " 0 outside tolerance" in printed and "all cells within tolerance" in printed
    cells = verify.compare_tables(verify.reference_files("smoke"), smoke_run)
    assert set(cells["file"]) == set(verify.FILES) and cells["within"].all()
    # on the machine that wrote the reference the run is byte-identical, so every difference is exactly 0
    assert (pd.to_numeric(cells["diff"], errors="coerce").fillna(0) == 0).all()


@pytest.mark.slow
def test_verify_runs_the_profile_when_no_run_is_given(tmp_path, capsys):
    assert verify_main(["--profile", "smoke", "--out", str(tmp_path / "fresh")]) == 0
    assert (tmp_path / "fresh" / "table.csv").is_file()
    assert "0 outside tolerance" in capsys.readouterr().out


def test_a_cell_moved_beyond_its_tolerance_is_named_and_exits_1(smoke_run, tmp_path, capsys):
    run = _copy(smoke_run, tmp_path)
    reference, tolerance = _move_table_cell(run, 3.0)
    outside = _outside(run)
    assert len(outside) == 1
    cell = outside.iloc[0]
    assert (cell["file"], cell["key"], cell["column"]) == ("table.csv", "/".join(CELL), "mean")
    assert math.isclose(cell["diff"], 3 * tolerance, rel_tol=1e-6) and cell["reference"] == reference
    assert verify_main(["--run", str(run)]) == 1
    printed = capsys.readouterr().out
    assert "1 outside tolerance" in printed and f"table.csv | {'/'.join(CELL)} | mean" in printed


def test_a_cell_moved_within_its_tolerance_passes(smoke_run, tmp_path):
    run = _copy(smoke_run, tmp_path)
    _move_table_cell(run, 0.5)
    assert _outside(run).empty
    assert verify_main(["--run", str(run)]) == 0


def test_a_changed_verdict_and_selection_are_named(smoke_run, tmp_path):
    run = _copy(smoke_run, tmp_path)
    comparisons = pd.read_csv(run / "comparisons.csv", float_precision="round_trip")
    row = (comparisons["metric"] == "AUC@5") & (comparisons["baseline"] == "saliency")
    assert row.sum() == 1 and comparisons.loc[row, "direction"].iloc[0] == "none"
    comparisons.loc[row, "direction"] = "method"  # the verdict flips to "favours method", the numbers stay
    comparisons.to_csv(run / "comparisons.csv", index=False)
    selection = pd.read_csv(run / "selection.csv", float_precision="round_trip")
    gradcam = selection["method"] == "gradcam"
    selection.loc[gradcam, "chosen"] = ~selection.loc[gradcam, "chosen"].astype(bool)
    selection.to_csv(run / "selection.csv", index=False)
    outside = _outside(run)
    named = set(zip(outside["file"], outside["key"], outside["column"]))
    assert named == {("comparisons.csv", "test/benchmark_vgg/splitcam/saliency/AUC@5", "verdict"),
                     ("selection.csv", "benchmark_vgg/gradcam", "chosen config")}
    verdict = outside[outside["column"] == "verdict"].iloc[0]
    assert (verdict["reference"], verdict["value"]) == ("inconclusive", "favours method")
    assert verify_main(["--run", str(run)]) == 1


def test_a_noisy_metric_may_change_its_verdict(smoke_run, tmp_path):
    run = _copy(smoke_run, tmp_path)
    comparisons = pd.read_csv(run / "comparisons.csv", float_precision="round_trip")
    row = (comparisons["metric"] == "MaxSensitivity") & (comparisons["baseline"] == "saliency")
    comparisons.loc[row, "direction"] = "baseline"
    comparisons.to_csv(run / "comparisons.csv", index=False)
    assert verify.TOLERANCES["MaxSensitivity"].noisy
    cells = verify.compare_tables(verify.reference_files("smoke"), run)
    assert cells["within"].all() and verify.summary(cells)["noisy_changed"] == 1


def test_a_missing_row_is_named(smoke_run, tmp_path):
    run = _copy(smoke_run, tmp_path)
    table = pd.read_csv(run / "table.csv", float_precision="round_trip")
    table[table["method"] != "gradcam"].to_csv(run / "table.csv", index=False)
    outside = _outside(run)
    assert set(outside["column"]) == {"(row)"} and all(k.split("/")[2] == "gradcam" for k in outside["key"])


def test_every_tabulated_metric_of_every_profile_has_a_tolerance():
    named = set(verify.TOLERANCES)
    for name, profile in PROFILES.items():
        outputs = set(profile_outputs(profile)) - set(NOT_TABULATED)
        assert outputs <= named, (name, outputs - named)
    assert verify.MEAN_RANK in named
    for folder, files in verify.REFERENCES.values():  # the committed tables' metrics too
        table = pd.read_csv(repository_root() / folder / files["table.csv"])
        assert set(table["metric"]) <= named
    for tolerance in verify.TOLERANCES.values():
        assert tolerance.atol >= 0 and tolerance.rtol >= 0 and (not tolerance.noisy or tolerance.reason)


def test_the_committed_reference_holds_the_three_tables():
    files = verify.reference_files("smoke")
    assert [p.parent for p in files.values()] == [REFERENCE] * 3
    assert verify.reference_files("default")["table.csv"] == repository_root() / "figures" / "evaluation_table.csv"


@pytest.mark.parametrize("argv, message", [
    (["--profile", "paper", "--run", "."], "no committed reference for profile 'paper'"),
    (["--run", "no-such-folder"], "no-such-folder has no table.csv"),
    (["--run", ".", "--out", "x"], "--run and --out exclude each other"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_usage_errors_are_one_line_with_exit_2(argv, message, capsys):
    assert verify_main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m hidden_monotonicity verify: error: ") and message in err


def test_verify_is_a_registered_command():
    assert COMMANDS["verify"] is verify_main
    import hidden_monotonicity.__main__ as entry

    assert "verify" in entry.__doc__
    assert package_main(["verify", "--bogus"]) == 2


def test_report_block_renders_the_committed_report():
    path = repository_root() / "benchmarks" / "verify_smoke.txt"
    block = verify.verify_report_block(path)
    assert block.startswith("```text\n$ python -m hidden_monotonicity verify") and block.endswith("\n```")
    assert "outside tolerance" in block
