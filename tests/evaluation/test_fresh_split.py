"""Issue 25.10: a second, fresh test split, drawn once the protocol was frozen, tests the confirmatory family again.

The stand-in rows are named after the paper's methods (``splitcam``: the two-candidate mask oracle, selected on the
validation split; ``guided_backprop``: the gradient; ``saliency``: input x gradient, a baseline outside the paper's
table), so that the confirmatory family - split methods against the paper's baselines on the headline columns -
exists. The stand-in data honour ``dataset_kwargs["seed"]``, as the digits benchmark does.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from hidden_monotonicity.evaluation import fresh_split, provenance, statistics
from hidden_monotonicity.evaluation.comparisons import comparison_summary, confirmatory_side_by_side
from hidden_monotonicity.evaluation.profiles import DEFAULT, SMOKE, MethodGrid
from hidden_monotonicity.evaluation.runner import evaluate, merge
from hidden_monotonicity.evaluation.store import EvaluationSetupError
from evaluation_standins import StandInMethods, make_backend, method_spec, stand_in_profile, synthetic_split

ALIASES = {"splitcam": "mask_oracle", "guided_backprop": "gradient", "saliency": "input_x_gradient"}
OUTPUTS = ("scores.csv", "selection.csv", "table.csv", "table.md", "comparisons.csv")
FRESH_SEED = 11


def fresh_backend(*, honour_seed: bool = True, crash_after: int | None = None):
    """The stand-in backend under the paper's method names; the data drawn with ``dataset_kwargs["seed"]``."""
    methods = StandInMethods(crash_after=crash_after)

    def explain(model, x, targets, method, **params):
        return methods.explain(model, x, targets, ALIASES.get(method, method), **params)

    def quantus_explain_func(model, inputs, targets, **kwargs):
        return methods.quantus_explain_func(model, inputs, targets, **{**kwargs, "method": ALIASES[kwargs["method"]]})

    def load_split(profile, split, data_dir):
        seed = profile.dataset_kwargs.get("seed", 0) if honour_seed else 0
        return synthetic_split(split, profile.n_val if split == "val" else profile.n_test, seed=seed)

    backend = dataclasses.replace(make_backend(methods), explain=explain, quantus_explain_func=quantus_explain_func,
                                  method_spec=lambda name: method_spec(ALIASES.get(name, name)), load_split=load_split)
    return backend, methods


def fresh_profile(**changes):
    """Two tiny models; rows saliency, splitcam (two candidates), guided_backprop; one metric outside the headline."""
    base = dict(dataset_kwargs={"seed": 0}, fresh_test={"seed": FRESH_SEED},
                methods=(MethodGrid("saliency"), MethodGrid("splitcam", grid={"quality": ("inverted", "oracle")}),
                         MethodGrid("guided_backprop")),
                metrics=("Sparseness", "PointingGame", "AttributionLocalisation"), metric_params={},
                selection_criterion="metric:PointingGame")
    base.update(changes)
    return stand_in_profile(**base)


def _run(out, profile=None, backend=None, **kwargs):
    return evaluate(profile or fresh_profile(), out, backend=backend or fresh_backend()[0], progress=False, **kwargs)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted run with the fresh split, and the number of explanations it made."""
    backend, methods = fresh_backend()
    result = _run(tmp_path_factory.mktemp("fresh"), backend=backend)
    return result, methods.calls


# ------------------------------------------------------------------------------ what the fresh split scores


def test_the_fresh_split_scores_the_confirmatory_rows_and_headline_metrics_with_the_validation_choice(reference):
    result, _ = reference
    scores, selection = result.scores, result.selection
    fresh = scores[scores["split"] == "fresh"]
    # only the rows of the confirmatory family (saliency is no baseline of the paper's table) ...
    assert set(fresh["method"]) == {"splitcam", "guided_backprop"}
    # ... and only the metrics of the headline columns (Sparseness is not one)
    assert set(fresh["metric"]) == {"PointingGame", "AttributionLocalisation"}
    chosen = selection[selection["chosen"].astype(bool)].set_index(["model", "method"])["config"]
    for (model, method), part in fresh.groupby(["model", "method"]):
        assert set(part["config"]) == {chosen[(model, method)]}  # the configuration chosen on the validation split
        assert part.groupby("metric")["sample"].nunique().eq(5).all()  # n_test images per metric
    assert set(chosen.xs("splitcam", level="method")) == {"quality=oracle"}
    # no new selection: the selection files hold the validation candidates only
    assert len(selection[selection["method"] == "splitcam"]) == 2 * 2
    assert set(scores[scores["split"] == "val"]["method"]) == {"splitcam"}
    described = result.metadata["fresh_test"]
    assert described["rows"] == ["splitcam", "guided_backprop"]
    assert described["metrics"] == ["PointingGame", "AttributionLocalisation"]
    assert described["dataset_kwargs"] == {"seed": FRESH_SEED} and described["n"] == 5
    assert result.metadata["seconds"]["tiny_vgg/splitcam"]["fresh_cpu_s"] > 0
    assert "fresh_cpu_s" not in result.metadata["seconds"]["tiny_vgg/saliency"]


def test_the_fresh_images_are_new_and_fingerprinted(reference, tmp_path):
    result, _ = reference
    data = result.metadata["fingerprint"]["data"]
    assert set(data) == {"val", "test", "fresh"}
    assert data["fresh"]["n"] == data["test"]["n"] == 5
    fresh, test = np.asarray(data["fresh"]["image_checksums"]), np.asarray(data["test"]["image_checksums"])
    assert not (fresh[:, None, :] == test[None, :, :]).all(axis=2).any()  # no fresh image equals a test image
    # a dataset that ignores the overrides would "confirm" the test results on the test images: refused
    with pytest.raises(EvaluationSetupError, match=r"fresh test split repeats 5 image\(s\) of the test split"):
        _run(tmp_path / "same", backend=fresh_backend(honour_seed=False)[0])
    assert not (tmp_path / "same").exists()


def test_the_digits_fresh_split_renders_new_images_from_the_same_test_pool():
    from hidden_monotonicity.evaluation.backend import default_backend

    profile = DEFAULT.replace(n_test=6, dataset_kwargs={**DEFAULT.dataset_kwargs, "size": 32})
    test = fresh_split.load_split(default_backend(), profile, "test", None)
    fresh = fresh_split.load_split(default_backend(), profile, "fresh", None)
    assert fresh.meta["seed"] == 20261206 and test.meta["seed"] == 0
    assert fresh.meta["source_digits"] == test.meta["source_digits"]  # the same pool of test scans
    assert set(fresh.sample_info["source_index"]) <= set(test.meta["source_digits"])
    images = {"test": np.asarray(test.images), "fresh": np.asarray(fresh.images)}
    assert not any(np.array_equal(a, b) for a in images["fresh"] for b in images["test"])
    fresh_split.check_fresh_split(profile, images)  # passes


# ------------------------------------------------------------------------------ comparisons and tables


def test_comparisons_hold_the_confirmatory_family_of_both_splits_each_holm_corrected_on_its_own(reference):
    result, _ = reference
    comparisons = pd.read_csv(result.paths["comparisons"])
    assert list(dict.fromkeys(comparisons["split"])) == ["test", "fresh"]
    test, fresh = comparisons[comparisons["split"] == "test"], comparisons[comparisons["split"] == "fresh"]
    assert set(fresh["family"]) == {"confirmatory"} and set(fresh["correction"]) == {"holm"}
    key = ["model", "method", "baseline", "metric"]
    confirmatory = test[test["family"] == "confirmatory"]
    assert sorted(map(tuple, fresh[key].values)) == sorted(map(tuple, confirmatory[key].values))
    exploratory = test[test["family"] == "exploratory"]
    assert ((exploratory["baseline"] == "saliency") | (exploratory["metric"] == "Sparseness")).all()
    for model in ("tiny_vgg", "tiny_flat"):
        for part in (fresh[fresh["model"] == model], confirmatory[confirmatory["model"] == model]):
            assert np.allclose(part["p_adjusted"], statistics.holm(part["p_value"].to_numpy()), equal_nan=True)
        # the same equivalence margin per metric on both splits (the test split's, fixed before the fresh images)
        margins = {s: c[c["model"] == model].groupby("metric")["margin"].first() for s, c in (("t", test), ("f", fresh))}
        assert margins["f"].to_dict() == margins["t"].loc[margins["f"].index].to_dict()
    # the effect of a fresh row is the mean paired difference of the fresh scores
    row = fresh[(fresh["model"] == "tiny_vgg") & (fresh["metric"] == "AttributionLocalisation")].iloc[0]
    scores = result.scores[(result.scores["split"] == "fresh") & (result.scores["model"] == "tiny_vgg")
                           & (result.scores["metric"] == "AttributionLocalisation") & (result.scores["status"] == "ok")]
    per_image = scores.set_index(["method", "sample"])["score"]
    difference = (per_image["splitcam"] - per_image["guided_backprop"]).dropna()
    assert row["n"] == len(difference) and row["effect"] == pytest.approx(difference.mean())
    # the tables stay on the test split; the markdown ends with the verdicts of both splits side by side
    assert (result.table[result.table["metric"] == "PointingGame"]["n"] == 4).all()  # one empty test mask dropped
    markdown = result.paths["md"].read_text(encoding="utf-8")
    section = markdown.split("## The confirmatory family on both test splits", 1)[1]
    for model in ("tiny_vgg", "tiny_flat"):
        assert f"| {model} | test |" in section and f"| {model} | fresh |" in section
        assert f"- {model}: the same verdict on the test and the fresh split for " in section


def test_the_verdict_summary_and_the_side_by_side_view_keep_the_splits_apart(reference):
    comparisons = pd.read_csv(reference[0].paths["comparisons"])
    summary = comparison_summary(comparisons)
    confirmatory = summary[summary["family"] == "confirmatory"]
    assert list(confirmatory["split"]) == ["test", "fresh"] * 2
    assert (confirmatory["total"] == 2).all()  # 1 split method x 1 paper baseline x 2 headline metrics, per split
    side = confirmatory_side_by_side(comparisons)
    assert len(side) == 4 and {"verdict_test", "verdict_fresh", "effect_fresh", "same_verdict"} <= set(side.columns)
    fresh = comparisons[comparisons["split"] == "fresh"].set_index(["model", "method", "baseline", "metric"])
    assert side.set_index(["model", "method", "baseline", "metric"])["effect_fresh"].to_dict() == fresh["effect"].to_dict()


# ------------------------------------------------------------------------------ without fresh_test: as before


def test_without_fresh_test_nothing_changes_and_the_fresh_split_leaves_the_test_results_alone(reference, tmp_path):
    result, _ = reference
    plain = _run(tmp_path / "plain", profile=fresh_profile(fresh_test={}))
    assert "fresh" not in set(plain.scores["split"]) and "fresh_test" not in plain.metadata
    assert set(plain.metadata["fingerprint"]["data"]) == {"val", "test"}
    plain_comparisons = pd.read_csv(plain.paths["comparisons"])
    assert set(plain_comparisons["split"]) == {"test"}
    plain_md = plain.paths["md"].read_text(encoding="utf-8")
    assert "both test splits" not in plain_md
    # every result of the test split is the same with and without the fresh split
    for name in ("selection.csv", "table.csv", "metric_correlations.csv"):
        assert (tmp_path / "plain" / name).read_bytes() == (result.out_dir / name).read_bytes(), name
    scores = result.scores[result.scores["split"] != "fresh"].reset_index(drop=True)
    pd.testing.assert_frame_equal(plain.scores, scores)
    comparisons = pd.read_csv(result.paths["comparisons"])
    pd.testing.assert_frame_equal(plain_comparisons, comparisons[comparisons["split"] == "test"])
    # table.md: the same, plus the notes on the fresh split's dropped images and the section of both splits
    head = result.paths["md"].read_text(encoding="utf-8").split("\n## The confirmatory family on both test splits")[0]
    assert "".join(line for line in head.splitlines(keepends=True) if "/fresh: " not in line) == plain_md


def test_profiles_plan_the_fresh_split_for_the_confirmatory_family_only():
    rows, metrics = fresh_split.fresh_plan(DEFAULT)
    assert DEFAULT.fresh_test == {"seed": 20261206} and DEFAULT.dataset_kwargs["seed"] == 0
    assert rows == ("guided_backprop", "integrated_gradients", "lrp_gamma", "gradcam_pp", "layercam", "splitcam",
                    "splitgrad", "splitlrp")
    assert metrics == ("PixelFlipping", "Selectivity", "AttributionLocalisation", "PointingGame", "MaxSensitivity")
    assert fresh_split.fresh_plan(SMOKE) == ((), ())  # no baseline of the paper's table: nothing to confirm
    assert fresh_split.fresh_plan(SMOKE.replace(fresh_test={"seed": 5})) == ((), ())
    with pytest.raises(ValueError, match="fresh_test {'seed': 0} leaves dataset_kwargs unchanged"):
        DEFAULT.replace(fresh_test={"seed": 0})
    with pytest.raises(ValueError, match="fresh_test must be a mapping"):
        DEFAULT.replace(fresh_test=20261206)
    # a folder written before the field existed has no fresh_test in its profile: it is read as the default (none)
    written_before = {k: v for k, v in SMOKE.to_dict().items() if k != "fresh_test"}
    assert provenance._with_new_fields(written_before) == SMOKE.to_dict()


# ------------------------------------------------------------------------------ resume, shards, merge


def test_a_run_killed_in_the_fresh_split_resumes_to_the_same_results(reference, tmp_path):
    result, calls = reference
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):  # the last explanation of the run: the fresh split's last chunk
        _run(out, backend=fresh_backend(crash_after=calls - 1)[0])
    fresh_units = sorted((out / "units").glob("*/fresh/*/*/*.csv"))
    assert fresh_units and len(fresh_units) < len(sorted((result.out_dir / "units").glob("*/fresh/*/*/*.csv")))
    resumed = _run(out)
    assert resumed.complete and 0 < resumed.units_computed <= 2
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (result.out_dir / name).read_bytes(), name


def test_shards_score_the_fresh_split_of_their_own_rows_and_merge_to_the_single_run(reference, tmp_path):
    result, _ = reference
    rows = [(m, g.name) for m in fresh_profile().models for g in fresh_profile().methods]
    for shard in (0, 1):
        part = _run(tmp_path / f"shard{shard}", shard=shard, num_shards=2)
        fresh = part.scores[part.scores["split"] == "fresh"]
        mine = {row for i, row in enumerate(rows) if i % 2 == shard and row[1] != "saliency"}
        assert set(map(tuple, fresh[["model", "method"]].drop_duplicates().values)) == mine
    merge([tmp_path / "shard0", tmp_path / "shard1"], tmp_path / "merged")
    for name in OUTPUTS:
        assert (tmp_path / "merged" / name).read_bytes() == (result.out_dir / name).read_bytes(), name
