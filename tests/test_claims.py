"""Claims as data (issue 28): every quantitative sentence of the prose holds against the committed outputs, and the
check notices a drifted number, a reworded sentence and missing evidence."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hidden_monotonicity import claims
from hidden_monotonicity.claims import CLAIMS, FAILS, HOLDS, MISSING, NO_EVIDENCE, check_claims
from hidden_monotonicity.outputs import repository_root

ROOT = repository_root()


def test_every_claim_holds_on_the_committed_outputs():
    table = check_claims(CLAIMS, ROOT)
    broken = table[table["verdict"] != HOLDS]
    assert broken.empty, "\n" + claims.format_report(table)


def test_the_claims_cover_the_readme_the_notebooks_and_the_course():
    assert len(CLAIMS) >= 40
    sources = {c.source for c in CLAIMS}
    assert {"README.md", "COURSE.md"} <= sources
    for number in ("02", "03", "04", "05", "06", "07"):
        assert any(s.startswith(f"notebooks/{number}_") for s in sources), f"no claim from notebook {number}"


def test_the_command_prints_the_table_and_exits_zero():
    done = subprocess.run([sys.executable, "-m", "hidden_monotonicity", "claims", "--all", "--only", "readme.alpha"],
                          capture_output=True, text=True, cwd=ROOT)  # --only: the full check runs in-process above
    assert done.returncode == 0, done.stdout + done.stderr
    assert "claims: 1 checked" in done.stdout and "readme.alpha-04-05-correlation" in done.stdout


@pytest.fixture
def copy_of_the_outputs(tmp_path: Path) -> Path:
    """The prose and the outputs the claims read, in a scratch repository root."""
    for name in ("README.md", "COURSE.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ("figures", "notebooks"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("*.png", "solutions"))
    shutil.copytree(ROOT / "benchmarks", tmp_path / "benchmarks", ignore=shutil.ignore_patterns("*.py", "*.sh"))
    (tmp_path / "data" / "checkpoints").mkdir(parents=True)
    for path in (ROOT / "data" / "checkpoints").glob("*.json"):
        shutil.copy(path, tmp_path / "data" / "checkpoints" / path.name)
    return tmp_path


def _verdicts(root: Path) -> pd.Series:
    return check_claims(CLAIMS, root).set_index("claim")["verdict"]


def test_a_drifted_number_fails_its_claim_and_the_command_exits_one(copy_of_the_outputs):
    path = copy_of_the_outputs / "figures" / "evaluation_class_sensitivity.csv"
    frame = pd.read_csv(path)
    row = (frame["model"] == "benchmark_vgg") & (frame["method"] == "splitcam")
    frame.loc[row, "other_abs_spearman"] = 0.80  # the notebook says 0.74
    frame.to_csv(path, index=False)
    verdicts = _verdicts(copy_of_the_outputs)
    assert verdicts["04.splitcam-vgg"] == FAILS
    assert (verdicts.drop("04.splitcam-vgg") == HOLDS).all()
    done = subprocess.run([sys.executable, "-m", "hidden_monotonicity", "claims", "--root", str(copy_of_the_outputs)],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "04.splitcam-vgg" in done.stdout and "0.8" in done.stdout


def test_a_reworded_sentence_is_reported_missing(copy_of_the_outputs):
    readme = copy_of_the_outputs / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8").replace("(correlation 0.992)", "(correlation 0.99)"),
                      encoding="utf-8")
    assert _verdicts(copy_of_the_outputs)["readme.alpha-04-05-correlation"] == MISSING


def test_missing_evidence_is_named(copy_of_the_outputs):
    (copy_of_the_outputs / "figures" / "saliency_photo_negativity.csv").unlink()
    table = check_claims(CLAIMS, copy_of_the_outputs).set_index("claim")
    assert table.loc["03.lite0-head-sum", "verdict"] == NO_EVIDENCE
    assert "saliency_photo_negativity.csv does not exist" in table.loc["03.lite0-head-sum", "reason"]


def test_about_holds_within_half_a_unit_of_the_printed_digit():
    assert claims.about("0.74").test(0.7449) and not claims.about("0.74").test(0.7451)
    assert claims.about("1.00").test(0.996) and not claims.about("1.00").test(0.994)
    assert claims.about(0.5, noise=0.125).test(0.62) and not claims.about(0.5).test(0.62)
    assert not claims.about(0.5).test(float("nan"))


def test_claim_ids_are_unique_and_a_duplicate_is_refused():
    ids = [c.id for c in CLAIMS]
    assert len(ids) == len(set(ids))
    with pytest.raises(ValueError, match="repeated"):
        check_claims([CLAIMS[0], CLAIMS[0]], ROOT)


@pytest.mark.parametrize("source, stale", [
    ("notebooks/06_interactive_explorer.ipynb", "SplitLRP refuses"),
    ("COURSE.md", "Six mosaics"),
    ("notebooks/04_quantitative_evaluation.ipynb", "1.00 [1.00, 1.00] vs 0.97 on the VGG"),
    ("notebooks/04_quantitative_evaluation.ipynb", "13–15 min"),
    ("notebooks/07_natural_photo_evaluation.ipynb", "1/32"),
    ("README.md", "second-lowest Max-Sensitivity"),
    ("README.md", "no other headline difference"),
    ("README.md", "4e-15"),
])
def test_the_sentences_issue_28_found_contradicted_are_gone(source, stale):
    assert stale not in claims.Outputs(ROOT).prose(source)


def test_make_reproduce_ends_with_the_claims_check(capsys, monkeypatch):
    from hidden_monotonicity import reproduce
    from hidden_monotonicity.claims import registry

    assert reproduce.report_claims("smoke", ROOT / "figures") == 0
    assert "claims: not checked" in capsys.readouterr().out
    assert reproduce.report_claims("default", ROOT / "figures") == 0
    assert f"claims: {len(CLAIMS)} checked" in capsys.readouterr().out
    wrong = claims.Claim("test.wrong", "README.md", "(correlation 0.992)", CLAIMS[4].evidence, claims.equals(0.5))
    monkeypatch.setattr(registry, "CLAIMS", (wrong,))
    monkeypatch.setattr(claims, "CLAIMS", (wrong,))
    assert reproduce.report_claims("default", ROOT / "figures") == 1
    captured = capsys.readouterr()
    assert "test.wrong" in captured.out and "1 claim(s) of the prose do not hold" in captured.err
