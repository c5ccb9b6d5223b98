"""The README's result tables are the committed figures' numbers (issue 25: the results section is rewritten from the
new files; no number of these tables is typed twice).

Each ``<!-- digest: NAME -->`` block of the README must equal the table ``hm.evaluation.digest`` renders from
``figures/``; ``make reproduce`` re-renders them at its end (by hand:
``python -m hidden_monotonicity.evaluation.digest --write README.md``).
"""

from __future__ import annotations

import pandas as pd
import pytest

from hidden_monotonicity.evaluation import digest
from hidden_monotonicity.outputs import repository_root

README = repository_root() / "README.md"
FIGURES = repository_root() / "figures"


def test_every_digest_block_of_the_readme_equals_the_table_rendered_from_figures():
    text = README.read_text(encoding="utf-8")
    assert set(digest.readme_blocks(text)) == {"mean ranks", "verdicts", "replication", "class sensitivity",
                                               "paper settings", "selectivity direction", "confirmatory matrix",
                                               "confirmatory counts", "resnet claim", "paper cost",
                                               "notebook times", "monotone accuracy", "verify smoke",
                                               "explorer latency"}
    rendered = digest.render_readme(text, digest.readme_tables(FIGURES))
    assert rendered == text, ("the README's result tables differ from figures/: run "
                              "`python -m hidden_monotonicity.evaluation.digest --write README.md`")


def test_a_drifted_number_is_caught(tmp_path):
    text = README.read_text(encoding="utf-8")
    tables = digest.readme_tables(FIGURES)
    comparisons = pd.read_csv(FIGURES / "evaluation_comparisons.csv")
    comparisons.loc[comparisons.index[0], "direction"] = "method" if comparisons["direction"].iloc[0] != "method" else "none"
    drifted = {**tables, "verdicts": digest.verdict_table(comparisons)}
    assert digest.render_readme(text, drifted) != text


def test_the_paper_settings_follow_the_profile(monkeypatch):
    """A changed setting of the paper profile changes the README's table (its values are read, not typed)."""
    from hidden_monotonicity.evaluation import get_profile

    changed = get_profile("paper").replace(metric_params={**get_profile("paper").metric_params,
                                                          "Selectivity": {"patch_size": 16}})
    assert "| Selectivity | `patch_size` | `16` |" in digest.paper_settings_table(changed)
    assert "| Selectivity | `patch_size` | `8` |" in digest.paper_settings_table()


def test_the_confirmatory_matrix_and_counts_follow_the_verdicts():
    both = pd.DataFrame({"model": ["m", "m"], "method": ["splitcam", "splitcam"], "baseline": ["layercam", "layercam"],
                         "metric": ["AUC@5", "PointingGame"], "verdict_test": ["favours method", "favours baseline"],
                         "verdict_fresh": ["favours method", "inconclusive"]})
    matrix = digest.confirmatory_matrix(both)
    assert "| m: splitcam vs layercam | ▲ / ▲ | ▼ / · |" in matrix
    counts = digest.confirmatory_counts(both)
    assert "| m | splitcam | 2 | 1 | 0 | 1 |" in counts


def test_the_resnet_claim_names_the_strongest_baseline_from_the_table():
    table = pd.read_csv(FIGURES / "evaluation_table.csv")
    both = pd.read_csv(FIGURES / "evaluation_confirmatory_both_splits.csv")
    ranks = table[(table["table"] == "headline") & (table["metric"] == digest.MEAN_RANK)
                  & (table["model"] == "benchmark_resnet") & ~table["method"].isin(digest.SPLIT_METHODS)]
    best = ranks.sort_values("mean", kind="mergesort")["method"].iloc[0]
    rendered = digest.resnet_claim_table(both, table)
    assert f"by headline mean rank: {best} (" in rendered
    assert rendered.count("vs layercam") == 4


def test_an_unknown_block_is_named():
    with pytest.raises(KeyError, match="digest: nonsense"):
        digest.render_readme("<!-- digest: nonsense -->\nold\n<!-- /digest -->\n", {"verdicts": "x"})


def test_the_notebook_times_are_papermills_records(tmp_path):
    """The README's time per notebook is read from each notebook's papermill metadata, not typed."""
    import json

    notebook = {"cells": [], "metadata": {"papermill": {"duration": 956.3, "end_time": "2026-12-07T00:36:02",
                                                        "parameters": {"profile": "default"}}}}
    (tmp_path / "04_x.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    notebook["metadata"]["papermill"]["duration"] = 11.9
    (tmp_path / "00_y.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    table = digest.notebook_times_table(tmp_path)
    assert "| `04_x` | default | 15.9 min | 2026-12-07 |" in table and "| `00_y` | default | 12 s |" in table


def test_the_monotone_table_is_the_files_own(tmp_path):
    path = tmp_path / "m.md"
    path.write_text("# t\n\n## Accuracy and the Fig. 3 claim\n\n| a | b |\n|---|---|\n| DM | 0.9 |\n\n## Next\n| x |\n",
                    encoding="utf-8")
    assert digest.monotone_accuracy_table(path) == "| a | b |\n|---|---|\n| DM | 0.9 |"
    path.write_text("no section", encoding="utf-8")
    with pytest.raises(ValueError, match="Accuracy"):
        digest.monotone_accuracy_table(path)


def test_write_readme_rerenders_a_stale_block_and_names_it(tmp_path):
    """What `make reproduce` does at its end: a block left behind by the outputs (here: a notebook time, which
    changes at every run) is re-rendered, named, and nothing else of the file moves."""
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- digest: notebook times -->")
    stale_line = text.index("| `00_environment` |", start)
    end_of_line = text.index("\n", stale_line)
    stale = text[:stale_line] + "| `00_environment` | default | 999 s | 1999-01-01 |" + text[end_of_line:]
    readme = tmp_path / "README.md"
    readme.write_text(stale, encoding="utf-8")
    assert digest.write_readme(readme, FIGURES) == ["notebook times"]
    assert readme.read_text(encoding="utf-8") == text
    assert digest.write_readme(readme, FIGURES) == []


def test_reproduce_refreshes_the_readme_only_after_a_default_run_into_figures(tmp_path, capsys):
    from hidden_monotonicity import reproduce

    text = README.read_text(encoding="utf-8")
    stale = text.replace("<!-- digest: mean ranks -->\n", "<!-- digest: mean ranks -->\n| stale |\n", 1)
    readme = tmp_path / "README.md"
    readme.write_text(stale, encoding="utf-8")
    assert reproduce.refresh_readme("smoke", FIGURES, readme) == []
    assert reproduce.refresh_readme("default", tmp_path, readme) == []
    assert readme.read_text(encoding="utf-8") == stale
    assert reproduce.refresh_readme("default", FIGURES, readme) == ["mean ranks"]
    assert readme.read_text(encoding="utf-8") == text
    assert "README tables re-rendered from the new outputs: mean ranks" in capsys.readouterr().out
