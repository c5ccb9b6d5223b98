"""Issue 26.12: the α ablation of SplitCAM and SplitGrad (paper B.3) as a derived evaluation profile.

The profile builder is checked on the default profile with a hand-made selection; the table against a direct
recomputation from the per-image scores of a tiny run (the library's real split methods on the stand-in TinyVGG and
16 px synthetic images, every α of a two-value grid, α = 0 included).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from hidden_monotonicity.evaluation import ablation, statistics
from hidden_monotonicity.evaluation.backend import default_backend
from hidden_monotonicity.evaluation.profiles import DEFAULT, MethodGrid
from evaluation_standins import TEST_METRIC_PARAMS, build_model, stand_in_profile, synthetic_split

SELECTED = {
    ("benchmark_vgg", "splitcam"): {"abs": False, "alpha": 0.4, "layer": "features.4", "maxpool": "wta", "stabilize": "shift"},
    ("benchmark_vgg", "splitgrad"): {"abs": False, "alpha": 0.4, "layer": "input", "maxpool": "wta", "stabilize": "scale"},
    ("benchmark_resnet", "splitcam"): {"abs": True, "alpha": 0.3, "layer": "layer2.0.relu", "maxpool": "wta", "stabilize": "scale"},
    ("benchmark_resnet", "splitgrad"): {"abs": True, "alpha": 0.5, "layer": "input", "maxpool": "wta", "stabilize": "shift"},
}


def fake_selection(selected: dict) -> pd.DataFrame:
    """selection.csv rows: the chosen candidate of every (model, row) and one candidate not chosen beside it."""
    rows = []
    for (model, method), params in selected.items():
        other = {**params, "alpha": 0.0, "abs": not params["abs"]}
        for candidate, (chosen, p) in enumerate(((False, other), (True, params))):
            rows.append({"model": model, "method": method, "candidate": candidate, "config": str(sorted(p.items())),
                         "params": json.dumps(p, sort_keys=True), "chosen": chosen})
    return pd.DataFrame(rows)


def test_one_single_candidate_row_per_method_and_alpha_with_the_selected_parameters():
    selection = fake_selection(SELECTED)
    alphas = (0.0, 0.2, 0.5)
    for model in DEFAULT.models:
        profile = ablation.ablation_profile(DEFAULT, selection, model, alphas=alphas, n_test=12)
        assert profile.models == (model,)
        assert [row.name for row in profile.methods] == [f"{m} α={a:g}" for m in ("splitcam", "splitgrad") for a in alphas]
        for row in profile.methods:
            method, alpha = row.method, float(row.name.split("=")[1])
            assert not row.may_have_several_candidates() and not row.grid  # one candidate: no selection runs
            assert row.fixed == {**SELECTED[(model, method)], "alpha": alpha}
        assert profile.metrics == ("PixelFlipping", "Selectivity", "AttributionLocalisation", "PointingGame", "MaxSensitivity")
        assert set(profile.metric_params) <= set(profile.metrics) and not profile.selection_metric_params
        assert (profile.defaults_metrics, dict(profile.fresh_test), profile.n_val, profile.n_test) == ((), {}, 0, 12)
    assert ablation.ablation_profile(DEFAULT, selection, "benchmark_vgg").n_test == DEFAULT.n_test


@pytest.mark.parametrize("alphas", [(), [], (0.6,), (0.1, -0.1), (0.2, 0.2), (float("nan"),), ("0.3",), (True,), "0.3", 0.3])
def test_a_wrong_alpha_grid_is_refused_with_a_clear_error(alphas):
    with pytest.raises(ValueError, match="α|alphas"):
        ablation.ablation_profile(DEFAULT, fake_selection(SELECTED), "benchmark_vgg", alphas=alphas)


def test_a_selection_without_the_model_is_refused():
    selection = fake_selection({k: v for k, v in SELECTED.items() if k[0] != "benchmark_resnet"})
    with pytest.raises(ValueError, match="0 chosen configuration.*'splitcam' on 'benchmark_resnet'"):
        ablation.ablation_profile(DEFAULT, selection, "benchmark_resnet")


def test_the_table_equals_a_recomputation_from_the_runs_scores(tmp_path):
    tiny = build_model  # the stand-in models and data, the library's own split methods and layer candidates
    backend = dataclasses.replace(
        default_backend(), load_model=lambda name, allow_random_init, seed: (tiny(name, seed), "stand-in"),
        load_split=lambda profile, split, data_dir: synthetic_split(split, profile.n_test))
    profile = stand_in_profile(
        models=("tiny_vgg",), n_test=6, chunk_size=6,
        methods=(MethodGrid("splitcam", grid={"alpha": (0.3, 0.4), "layer": ("@last",)}, fixed={"maxpool": "wta"}),
                 MethodGrid("splitgrad", grid={"alpha": (0.4, 0.5)}, fixed={"layer": "input"})),
        metrics=("PixelFlipping", "AttributionLocalisation", "PointingGame", "Sparseness"),
        metric_params={"PixelFlipping": TEST_METRIC_PARAMS["PixelFlipping"]})
    selection = fake_selection({
        ("tiny_vgg", "splitcam"): {"abs": False, "alpha": 0.3, "layer": "features.4", "maxpool": "wta", "stabilize": "shift"},
        ("tiny_vgg", "splitgrad"): {"abs": True, "alpha": 0.5, "layer": "input", "maxpool": "wta", "stabilize": "scale"},
    })
    alphas = (0.0, 0.5)
    run = ablation.run_alpha_ablation(profile, selection, tmp_path, alphas=alphas, backend=backend, progress=False)
    table = run.table
    headline = ["AUC@5", "AUC@20", "AttributionLocalisation", "PointingGame"]  # Sparseness is no headline column
    assert len(table) == 2 * len(alphas) * len(headline) and set(table["metric"]) == set(headline)
    assert (tmp_path / "tiny_vgg" / "scores.csv").is_file()  # the run is an ordinary evaluation folder
    # one cell, recomputed from the per-image scores the run wrote
    scores = pd.read_csv(tmp_path / "tiny_vgg" / "scores.csv")
    label, metric = "splitgrad α=0.5", "AttributionLocalisation"
    part = scores[(scores["method"] == label) & (scores["metric"] == metric) & (scores["status"] == "ok")]
    values = part.sort_values("sample")["score"].to_numpy(dtype=float)
    config = part["config"].iloc[0]
    assert "abs=True" in config and "alpha=0.5" in config and "stabilize=scale" in config
    interval = statistics.interval_of_mean(values, binary=False,
                                           seed=statistics.stable_seed(profile.seed, "tiny_vgg", label, config, metric))
    cell = table[(table["method"] == "splitgrad") & (table["alpha"] == 0.5) & (table["metric"] == metric)].iloc[0]
    assert cell["n"] == len(values) == 5  # test image 1 has an empty mask: dropped from localisation
    assert cell["mean"] == pytest.approx(values.mean(), rel=1e-12)
    assert (cell["ci_low"], cell["ci_high"]) == pytest.approx((interval.low, interval.high), rel=1e-12)
    assert cell["config"] == config and cell["in_grid"] and cell["selected"]
    zero = table[(table["method"] == "splitcam") & (table["alpha"] == 0.0)]
    assert not zero["in_grid"].any() and not zero["selected"].any()
    assert (zero["n"] + zero["n_not_ok"]).gt(0).all()  # α = 0 is scored (or its failure recorded), never raised
    best = ablation.best_alphas(table)
    assert set(best["best_alpha"]) <= set(alphas) and len(best) == 2 * len(headline)


def test_the_figure_has_a_panel_per_model_and_metric_and_refuses_another_table():
    import matplotlib.pyplot as plt

    from hidden_monotonicity.plots.evaluation import plot_alpha_ablation

    rows = [{"model": model, "method": method, "alpha": alpha, "metric": metric, "direction": "lower",
             "mean": alpha + k, "ci_low": alpha + k - 0.1, "ci_high": alpha + k + 0.1, "in_grid": alpha >= 0.3,
             "selected": alpha == 0.4}
            for model in ("a", "b") for k, method in enumerate(("splitcam", "splitgrad"))
            for alpha in (0.0, 0.3, 0.4) for metric in ("AUC@5", "Selectivity", "PointingGame")]
    figure = plot_alpha_ablation(pd.DataFrame(rows))
    panels = [ax for ax in figure.axes if ax.lines]
    assert len(panels) == 2 * 3
    # per method: the line, the rings of the grid's α values, the star of the selected α
    assert [len(line.get_xdata()) for line in panels[0].lines] == [3, 2, 1, 3, 2, 1]
    plt.close(figure)
    with pytest.raises(ValueError, match="lacks the columns.*selected"):
        plot_alpha_ablation(pd.DataFrame(rows).drop(columns=["selected"]))
