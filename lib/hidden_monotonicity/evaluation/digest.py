"""The README's result tables, rendered from the files ``make reproduce`` writes into ``figures/`` (issue 25).

The README quotes these tables verbatim; ``tests/test_readme_results.py`` renders them again from the committed files
and fails when the README and the files drift apart, so no number of these tables is typed twice. Print them with
``python -m hidden_monotonicity.evaluation.digest --write README.md`` after a run: it replaces every block between
``<!-- digest: NAME -->`` and ``<!-- /digest -->`` with the table NAME rendered from ``figures/``.

* :func:`mean_rank_table` - the headline mean rank (with its interval) of the best three baselines, LayerCAM and the
  split methods, per model (``evaluation_table.csv``);
* :func:`verdict_table` - how many comparisons of each family favour the split method or the baseline, are
  equivalent or inconclusive (``evaluation_comparisons.csv``; :func:`.comparisons.comparison_summary`);
* :func:`replication_table` - how many confirmatory verdicts of the test split the fresh split repeats
  (``evaluation_confirmatory_both_splits.csv``);
* :func:`class_sensitivity_table` - the class-sensitivity correlations on |map| beside the same-class baseline and the
  signed ones (``evaluation_class_sensitivity.csv``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..outputs import markdown_table
from .comparisons import comparison_summary
from .paper import paper_settings_table, selectivity_direction_note
from .profiles import SPLIT_METHODS
from .verify import verify_report_block

MEAN_RANK = "Mean rank"
#: The rows of the class-sensitivity table: the split methods and the baselines closest to them.
CLASS_SENSITIVITY_ROWS: tuple[str, ...] = ("splitcam", "splitgrad", "splitlrp", "layercam", "gradcam_pp",
                                            "guided_backprop", "saliency")


def mean_rank_table(table: pd.DataFrame, *, best: int = 3, compared: Sequence[str] = ("layercam",)) -> str:
    """Markdown: per model the ``best`` baselines by headline mean rank, the ``compared`` rows and the split methods,
    each ``mean [interval]`` as the evaluation table displays it."""
    ranks = table[(table["table"] == "headline") & (table["metric"] == MEAN_RANK)]
    header = ["model", f"best {best} baselines", *compared, *SPLIT_METHODS]
    rows = []
    for model, part in ranks.groupby("model", sort=False):
        shown = part.set_index("method")["display"]
        baselines = part[~part["method"].isin(SPLIT_METHODS)].sort_values("mean", kind="mergesort")
        leaders = ", ".join(f"{r['method']} {r['display']}" for _, r in baselines.head(best).iterrows())
        rows.append([model, leaders, *(shown.get(m, "–") for m in (*compared, *SPLIT_METHODS))])
    return markdown_table(pd.DataFrame(rows, columns=header))


def verdict_table(comparisons: pd.DataFrame) -> str:
    """Markdown of :func:`.comparisons.comparison_summary` (per model and family; per split when there are several)."""
    return markdown_table(comparison_summary(comparisons))


def replication_table(both_splits: pd.DataFrame) -> str:
    """Markdown: per model, the confirmatory comparisons with the same verdict on both test splits, and how many of the
    test split's significant differences the fresh split repeats in the same direction (or reverses)."""
    rows = []
    for model, part in both_splits.groupby("model", sort=False):
        significant = part[part["verdict_test"].str.startswith("favours")]
        rows.append({"model": model, "comparisons": len(part), "same verdict": int(part["same_verdict"].sum()),
                     "significant on test": len(significant),
                     "repeated on fresh": int((significant["verdict_fresh"] == significant["verdict_test"]).sum()),
                     "reversed on fresh": int((significant["verdict_fresh"].str.startswith("favours")
                                               & (significant["verdict_fresh"] != significant["verdict_test"])).sum())})
    return markdown_table(pd.DataFrame(rows))


#: one character per confirmatory verdict (:func:`confirmatory_matrix`)
VERDICT_SYMBOLS = {"favours method": "▲", "favours baseline": "▼", "equivalent": "=", "inconclusive": "·"}


def confirmatory_matrix(both_splits: pd.DataFrame) -> str:
    """Markdown: every confirmatory comparison (split method vs paper baseline, per headline column) as its verdict on
    the test split / the fresh split: ▲ favours the split method, ▼ favours the baseline, = equivalent, ·
    inconclusive - the README's summary of the confirmatory family, rendered instead of written."""
    frame = both_splits.copy()
    for split in ("test", "fresh"):
        frame[split] = frame[f"verdict_{split}"].map(lambda v: VERDICT_SYMBOLS.get(v, "?"))
    frame["cell"] = frame["test"] + " / " + frame["fresh"]
    frame["comparison"] = frame["model"] + ": " + frame["method"] + " vs " + frame["baseline"]
    order = list(dict.fromkeys(frame["metric"]))
    matrix = frame.pivot(index="comparison", columns="metric", values="cell")[order]
    matrix = matrix.reindex(list(dict.fromkeys(frame["comparison"]))).reset_index()
    return markdown_table(matrix)


def confirmatory_counts(both_splits: pd.DataFrame) -> str:
    """Markdown: per model and split method, how many of its confirmatory comparisons (5 baselines × 6 columns)
    favour it on both test splits, favour the baseline on both, and everything else (equivalent, inconclusive, or a
    verdict the fresh split does not repeat)."""
    rows = []
    for (model, method), part in both_splits.groupby(["model", "method"], sort=False):
        method_both = (part["verdict_test"] == "favours method") & (part["verdict_fresh"] == "favours method")
        baseline_both = (part["verdict_test"] == "favours baseline") & (part["verdict_fresh"] == "favours baseline")
        rows.append({"model": model, "split method": method, "comparisons": len(part),
                     "▲ on both splits": int(method_both.sum()), "▼ on both splits": int(baseline_both.sum()),
                     "other": int(len(part) - method_both.sum() - baseline_both.sum())})
    return markdown_table(pd.DataFrame(rows))


#: the paper's ResNet18 claim (digest E): the split methods improve only marginally over LayerCAM, the strongest
#: baseline there, in Selectivity and the Pointing Game
RESNET_CLAIM = {"model": "benchmark_resnet", "methods": ("splitcam", "splitlrp"), "baseline": "layercam",
                "metrics": ("Selectivity", "PointingGame")}


def resnet_claim_table(both_splits: pd.DataFrame, table: pd.DataFrame, claim: dict = RESNET_CLAIM) -> str:
    """Markdown: what the benchmark ResNet says about the paper's ResNet18 claim - the split methods against LayerCAM
    on Selectivity and the Pointing Game (effect = split method - LayerCAM, with its interval, verdict on both
    splits), and which baseline has the best headline mean rank there (the paper: LayerCAM)."""
    rows = both_splits[(both_splits["model"] == claim["model"]) & both_splits["method"].isin(claim["methods"])
                       & (both_splits["baseline"] == claim["baseline"]) & both_splits["metric"].isin(claim["metrics"])]
    shown = pd.DataFrame({
        "comparison": rows["method"] + " vs " + rows["baseline"], "metric": rows["metric"],
        "effect [95 % CI], test": [f"{e:.3g} [{lo:.3g}, {hi:.3g}]" for e, lo, hi in
                                   zip(rows["effect_test"], rows["ci_low_test"], rows["ci_high_test"])],
        "verdict test / fresh": rows["verdict_test"] + " / " + rows["verdict_fresh"]})
    ranks = table[(table["table"] == "headline") & (table["metric"] == MEAN_RANK) & (table["model"] == claim["model"])]
    baselines = ranks[~ranks["method"].isin(SPLIT_METHODS)].sort_values("mean", kind="mergesort")
    best = baselines.iloc[0] if len(baselines) else None
    note = ("" if best is None else f"\n\nStrongest baseline on {claim['model']} by headline mean rank: "
            f"{best['method']} ({best['display']}); {claim['baseline']}: "
            f"{ranks.set_index('method')['display'].get(claim['baseline'], '–')}.")
    return markdown_table(shown) + note


#: the recorded output of ``python -m hidden_monotonicity verify --profile smoke`` from a fresh clone
VERIFY_SMOKE = Path("benchmarks") / "verify_smoke.txt"

#: the browser test's recorded update latencies (``HM_UPDATE_BROWSER_FIGURE=1``)
EXPLORER_LATENCY = Path("benchmarks") / "explorer_latency.txt"

#: the recorded output of a dry run of the paper profile (written by the command in its first line)
PAPER_DRY_RUN = Path("benchmarks") / "paper_dry_run.txt"


def paper_cost_block(path: str | Path) -> str:
    """The command and the projected-cost report of the recorded paper dry run (:data:`PAPER_DRY_RUN`), as a fenced
    block: the README quotes the file the run wrote, so its numbers are never typed."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Cost on this device")), None)
    if not lines or not lines[0].startswith("$ ") or start is None:
        raise ValueError(f"{path} must start with '$ <command>' and hold the dry run's 'Cost on this device' report")
    return "\n".join(["```text", lines[0], *lines[start:], "```"])


def class_sensitivity_table(sensitivity: pd.DataFrame, rows: Sequence[str] = CLASS_SENSITIVITY_ROWS) -> str:
    """Markdown: per model and method, Spearman's ρ between the maps for the label and another class on |map| (with
    its interval), the same-class baseline on |map| (the label's map under small input noise) and the signed ρ."""
    records = []
    for _, r in sensitivity[sensitivity["method"].isin(rows)].iterrows():
        records.append({
            "model": r["model"], "method": r["method"],
            "other class, |map|": f"{r['other_abs_spearman']:.2f} [{r['other_abs_spearman_ci_low']:.2f}, "
                                  f"{r['other_abs_spearman_ci_high']:.2f}]",
            "same class + noise, |map|": f"{r['same_abs_spearman']:.2f}",
            "other class, signed": f"{r['other_signed_spearman']:.2f}",
            "n": int(r["n"]),
        })
    frame = pd.DataFrame(records)
    order = {name: i for i, name in enumerate(rows)}
    frame = frame.sort_values(["model", "method"], key=lambda c: c.map(order) if c.name == "method" else c,
                              ascending=[False, True], kind="mergesort")
    return markdown_table(frame)


def notebook_times_table(notebooks: str | Path) -> str:
    """Markdown: each committed notebook's wall time as papermill recorded it (``metadata.papermill.duration``) and
    the profile it ran with; the README's times are never typed."""
    import json

    rows = []
    for path in sorted(Path(notebooks).glob("0*.ipynb")):
        record = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("papermill", {}) or {}
        seconds = record.get("duration")
        shown = "–" if seconds is None else (f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min")
        rows.append({"notebook": f"`{path.stem}`", "profile": (record.get("parameters") or {}).get("profile", "–"),
                     "time": shown, "finished": str(record.get("end_time") or "–")[:10]})
    return markdown_table(pd.DataFrame(rows))


def monotone_accuracy_table(path: str | Path) -> str:
    """The accuracy and lift table of ``monotone_accuracy.md`` (section "Accuracy and the Fig. 3 claim"), as written."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("## Accuracy")), None)
    if start is None:
        raise ValueError(f"{path} has no section '## Accuracy ...'; rerun notebook 05 to write it")
    table = [line for line in lines[start + 1:next((i for i in range(start + 1, len(lines))
                                                    if lines[i].startswith("## ")), len(lines))] if line.startswith("|")]
    return "\n".join(table)


def readme_tables(figures: str | Path) -> dict[str, str]:
    """Every table the README quotes, rendered from the files in ``figures``."""
    folder = Path(figures)
    table = pd.read_csv(folder / "evaluation_table.csv")
    both_splits = pd.read_csv(folder / "evaluation_confirmatory_both_splits.csv")  # read once, rendered four ways
    return {
        "mean ranks": mean_rank_table(table),
        "verdicts": verdict_table(pd.read_csv(folder / "evaluation_comparisons.csv")),
        "replication": replication_table(both_splits),
        "confirmatory matrix": confirmatory_matrix(both_splits),
        "confirmatory counts": confirmatory_counts(both_splits),
        "class sensitivity": class_sensitivity_table(pd.read_csv(folder / "evaluation_class_sensitivity.csv")),
        "resnet claim": resnet_claim_table(both_splits, table),
        "paper settings": paper_settings_table(),
        "paper cost": paper_cost_block(folder.parent / PAPER_DRY_RUN),
        "selectivity direction": selectivity_direction_note(),
        "notebook times": notebook_times_table(folder.parent / "notebooks"),
        "monotone accuracy": monotone_accuracy_table(folder / "monotone_accuracy.md"),
        "verify smoke": verify_report_block(folder.parent / VERIFY_SMOKE),
        "explorer latency": verify_report_block(folder.parent / EXPLORER_LATENCY),
    }


END_MARKER = "<!-- /digest -->"
_BLOCK = re.compile(r"(<!-- digest: (?P<name>[^>]+?) -->\n)(?P<body>.*?)(" + re.escape(END_MARKER) + ")", re.S)


def render_readme(text: str, tables: dict[str, str]) -> str:
    """``text`` with every ``<!-- digest: NAME -->`` ... ``<!-- /digest -->`` block holding ``tables[NAME]``; an
    unknown NAME raises ``KeyError`` naming it."""
    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name not in tables:
            raise KeyError(f"README block 'digest: {name}' names no table; known: {sorted(tables)}")
        return f"{match.group(1)}{tables[name]}\n{END_MARKER}"

    return _BLOCK.sub(replace, text)


def readme_blocks(text: str) -> list[str]:
    """The names of the digest blocks in ``text``, in order."""
    return [m.group("name") for m in _BLOCK.finditer(text)]


def write_readme(readme: str | Path, figures: str | Path) -> list[str]:
    """Re-render every digest block of ``readme`` from ``figures`` (and the committed notebooks beside it) in place;
    returns the names of the blocks whose text changed (empty: the file is left untouched).

    ``make reproduce`` calls this after a default run (the notebook times, for one, change at every run), so the
    committed README never lags behind the outputs it quotes."""
    readme = Path(readme)
    text = readme.read_text(encoding="utf-8")
    rendered = render_readme(text, readme_tables(figures))
    if rendered == text:
        return []
    old = {m.group("name"): m.group("body") for m in _BLOCK.finditer(text)}
    new = {m.group("name"): m.group("body") for m in _BLOCK.finditer(rendered)}
    readme.write_text(rendered, encoding="utf-8")
    return [name for name in new if new[name] != old.get(name)]


if __name__ == "__main__":  # pragma: no cover - a helper for whoever updates the README by hand
    from ..outputs import repository_root

    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        changed = write_readme(sys.argv[2], repository_root() / "figures")
        print(f"updated {sys.argv[2]}: {', '.join(changed)}" if changed else f"{sys.argv[2]}: every block is current")
    else:
        for name, body in readme_tables(repository_root() / "figures").items():
            print(f"<!-- digest: {name} -->\n{body}\n{END_MARKER}\n")
