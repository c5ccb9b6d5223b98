"""Shipped profiles are valid, cover every metric category and the paper's methods; grid helpers."""

from __future__ import annotations

import pytest

from hidden_monotonicity.evaluation import profiles as P
from hidden_monotonicity.methods.layers import resolve_layer_rule
from hidden_monotonicity.evaluation.metrics import CATEGORIES, build_metric, ModelContext
from hidden_monotonicity.evaluation.selection import _selection_metric_names, profile_outputs

TASK_METHODS = {
    "saliency", "saliency_abs", "input_x_gradient", "guided_backprop", "integrated_gradients", "deeplift",
    "gradient_shap", "occlusion", "feature_ablation", "gradcam", "gradcam_pp", "layercam", "xgradcam",
    "lrp_epsilon", "lrp_gamma", "lrp_epsilon_plus_flat", "splitcam", "splitgrad", "splitlrp",
}


@pytest.mark.parametrize("name", sorted(P.PROFILES))
def test_profiles_resolve_and_cover_all_categories(name):
    profile = P.get_profile(name)
    outputs = profile_outputs(profile)
    assert {o.category for o in outputs.values()} == set(CATEGORIES)
    wanted, needed = _selection_metric_names(profile, outputs)
    assert wanted == list(P.PAPER_SELECTION_METRICS)
    assert set(needed) == {"PixelFlipping", "Selectivity", "AttributionLocalisation", "PointingGame", "MaxSensitivity"}
    for metric in profile.metrics:
        build_metric(metric, profile.metric_params.get(metric), ModelContext("m", 10))
    assert P.EvaluationProfile.from_dict(profile.to_dict()).to_dict() == profile.to_dict()


def test_default_and_paper_profiles_evaluate_every_method():
    for name in ("default", "paper"):
        assert {m.method for m in P.get_profile(name).methods} == TASK_METHODS


def test_smoke_profile_is_small_and_includes_a_split_method():
    smoke = P.get_profile("smoke")
    assert smoke.n_val <= 8 and smoke.n_test <= 8 and smoke.dataset_kwargs["size"] <= 64 and len(smoke.models) == 1
    assert 3 <= len(smoke.methods) <= 4 and any(m.method.startswith("split") for m in smoke.methods)
    assert smoke.metric_params["MaxSensitivity"]["nr_samples"] <= 5


def test_paper_profile_uses_the_paper_metric_settings():
    paper = P.get_profile("paper")
    assert paper.dataset == "imagenet_s" and paper.models == ("vgg16", "resnet18") and paper.n_val is None
    assert paper.metric_params["MaxSensitivity"] == {"nr_samples": 200, "lower_bound": 0.2}
    assert paper.metric_params["Selectivity"] == {"patch_size": 8}
    assert paper.selection_criterion == "mean_rank"


def test_get_profile_overrides_and_errors():
    assert P.get_profile("smoke", seed=3).seed == 3
    with pytest.raises(ValueError, match="unknown profile"):
        P.get_profile("huge")
    with pytest.raises(ValueError, match="unique"):
        P.get_profile("smoke", methods=(P.MethodGrid("saliency"), P.MethodGrid("saliency")))
    with pytest.raises(ValueError, match="selection_criterion"):
        P.get_profile("smoke", selection_criterion="best")
    with pytest.raises(ValueError, match="non-empty tuple"):
        P.MethodGrid("saliency", grid={"abs": True})


def test_layer_rules():
    layers = ["l0", "l1", "l2", "l3", "l4", "l5"]
    assert resolve_layer_rule("@last", layers) == ["l5"]
    assert resolve_layer_rule("@first", layers) == ["l0"]
    assert resolve_layer_rule("@middle", layers) == ["l2"]
    assert resolve_layer_rule("@evenly:3", layers) == ["l1", "l3", "l5"]
    assert resolve_layer_rule("@evenly:10", layers) == layers
    assert resolve_layer_rule("@all", layers) == layers
    assert resolve_layer_rule("l3", layers) == ["l3"]
    with pytest.raises(ValueError, match="not valid.*valid layers"):
        resolve_layer_rule("l9", layers)
    with pytest.raises(ValueError, match="unknown layer rule"):
        resolve_layer_rule("@best", layers)


def test_expand_grid_is_deterministic():
    combos = P.expand_grid({"b": (1, 2), "a": ("x",)})
    assert combos == [{"a": "x", "b": 1}, {"a": "x", "b": 2}]


def test_selection_metric_params_apply_to_the_validation_split_only():
    from hidden_monotonicity.evaluation.selection import metric_params_for

    paper = P.get_profile("paper")
    assert metric_params_for(paper, "MaxSensitivity", "val") == {"nr_samples": 20, "lower_bound": 0.2}
    assert metric_params_for(paper, "MaxSensitivity", "test") == {"nr_samples": 200, "lower_bound": 0.2}
    assert metric_params_for(paper, "Sparseness", "val") == {}
    with pytest.raises(ValueError, match="not in the profile"):
        P.get_profile("smoke", selection_metric_params={"NonSensitivity": {"eps": 1.0}})


@pytest.mark.parametrize("name", ["smoke", "default", "paper"])
def test_every_layer_method_selects_from_the_same_layer_rule(name):
    profile = P.get_profile(name)
    rules = {row.name: row.grid.get("layer") for row in profile.methods
             if row.method in P.CAM_BASELINES or row.method == "splitcam"}
    assert rules and len(set(rules.values())) == 1, rules
    assert None not in rules.values()


@pytest.mark.parametrize("name", ["default", "paper"])
def test_every_method_selects_its_main_hyper_parameters_beside_abs(name):
    rows = {row.method: row for row in P.get_profile(name).methods}
    expected = {"lrp_gamma": {"gamma", "abs"}, "lrp_epsilon": {"epsilon", "abs"}, "splitlrp": {"epsilon", "abs"},
                "integrated_gradients": {"baseline", "abs"}, "occlusion": {"window", "abs"},
                "feature_ablation": {"patch_size", "abs"}, "splitcam": {"alpha", "stabilize", "abs", "layer"},
                "splitgrad": {"alpha", "stabilize", "abs"}, "saliency": {"abs"}}
    for method, parameters in expected.items():
        assert set(rows[method].grid) == parameters, method
        assert all(len(rows[method].grid[p]) >= 2 for p in parameters if p != "layer"), method
    assert P.candidate_count(rows["splitcam"], n_layers=2) == 16 and P.candidate_count(rows["gradcam"], n_layers=2) == 2
