"""The metric catalogue: AUC@k, per-sample normalisation, tolerance completeness, Quantus workarounds."""

from __future__ import annotations

import numpy as np
import pytest
import quantus
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from hidden_monotonicity.evaluation import metrics as M
from evaluation_standins import StandInMethods, TinyVGG, build_model, synthetic_split


# ------------------------------------------------------------------------------ catalogue facts


def test_catalogue_covers_all_six_quantus_categories():
    categories = {M.build_metric(name, None, M.ModelContext("m", 3)).category for name in M.CATALOGUE}
    assert categories == set(M.CATEGORIES)


@pytest.mark.parametrize("name", ["Selectivity", "PointingGame", "AttributionLocalisation", "MaxSensitivity",
                                  "Sparseness", "Complexity", "EfficientMPRT", "MPRT", "RandomLogit",
                                  "InputInvariance", "NonSensitivity"])
def test_quantus_directions_come_from_score_direction(name):
    expected = "higher" if getattr(quantus, name).score_direction.name == "HIGHER" else "lower"
    (output,) = M.metric_outputs(name)
    assert output.direction == expected
    assert output.category == getattr(quantus, name).evaluation_category.value


def test_pixel_flipping_outputs_follow_the_fractions():
    outputs = M.metric_outputs("PixelFlipping", {"auc_fractions": (0.05, 0.2, 0.5)})
    assert [o.name for o in outputs] == ["AUC@5", "AUC@20", "AUC@50"]
    assert all(o.direction == "lower" for o in outputs)


def test_softmax_is_explicit_for_every_metric():
    for name, entry in M.CATALOGUE.items():
        assert entry.softmax in (True, False), name


def test_unknown_metric_parameter_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown parameter.*nr_sample"):
        M.resolve_params("MaxSensitivity", {"nr_sample": 3})
    with pytest.raises(ValueError, match="unknown metric"):
        M.build_metric("Pixelflipping")


def test_non_sensitivity_refuses_steps_quantus_cannot_run():
    with pytest.raises(ValueError, match="features_in_step=1"):
        M.build_metric("NonSensitivity", {"features_in_step": 16})


def test_weighted_attribution_localisation_is_refused():
    with pytest.raises(ValueError, match="weighted=True"):
        M.build_metric("AttributionLocalisation", {"weighted": True})


# ------------------------------------------------------------------------------ AUC@k


def test_pixel_flipping_auc_matches_hand_computation():
    # 10 features flipped 1 at a time: x = 0.1, 0.2, ..., 1.0
    curve = np.array([[1.0, 0.8, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, 0.0, 0.0]])
    auc20 = M.pixel_flipping_auc(curve, 0.2, n_features=10, features_in_step=1)
    assert auc20 == pytest.approx([0.1 * (1.0 + 0.8) / 2])
    auc50 = M.pixel_flipping_auc(curve, 0.5, n_features=10, features_in_step=1)
    assert auc50 == pytest.approx([0.1 * (0.9 + 0.65 + 0.45 + 0.35)])


def test_pixel_flipping_auc_needs_two_points():
    with pytest.raises(ValueError, match="lower PixelFlipping features_in_step"):
        M.pixel_flipping_auc(np.ones((1, 4)), 0.05, n_features=100, features_in_step=25)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=20, max_size=20), st.sampled_from([0.1, 0.25, 0.5]))
def test_pixel_flipping_auc_is_bounded_and_grows_with_the_fraction(values, fraction):
    curve = np.array([values])
    small = M.pixel_flipping_auc(curve, fraction, n_features=40, features_in_step=2)[0]
    large = M.pixel_flipping_auc(curve, 1.0, n_features=40, features_in_step=2)[0]
    assert 0 <= small <= fraction + 1e-12
    assert small <= large + 1e-12


def test_pixel_flipping_auc_on_real_quantus_curves():
    model = build_model("tiny_flat")
    data = synthetic_split("test", 3)
    x, y = data.images.numpy(), data.labels.numpy()
    a = StandInMethods().explain(model, data.images, data.labels, "input_x_gradient").numpy()
    evaluator = M.build_metric("PixelFlipping", {"features_in_step": 16})
    result = evaluator.compute(model=model, x=x, y=y, a=a, s=None, explain_func=None, explain_func_kwargs=None, device="cpu")
    curves = np.asarray(quantus.PixelFlipping(features_in_step=16, disable_warnings=True,
                                              normalise_func=M.normalise_by_max_per_sample)(
        model=model, x_batch=x, y_batch=y, a_batch=a, softmax=True, channel_first=True))
    # 768 features / 16 = 48 steps; 5 % of 768 = 38.4 features -> steps 1, 2 (x = 16/768, 32/768)
    x_axis = np.array([16, 32]) / 768
    np.testing.assert_allclose(result["AUC@5"], np.trapezoid(curves[:, :2], x_axis, axis=1))
    assert set(result) == {"AUC@5", "AUC@20"}


# ------------------------------------------------------------------------------ normalisation


def test_per_sample_normalisation_does_not_depend_on_the_batch():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 1, 8, 8))
    a[1] *= 1e6  # Quantus' batch-wide normalise_by_max would squash sample 0 to ~1e-6
    alone = M.normalise_by_max_per_sample(a[:1])
    together = M.normalise_by_max_per_sample(a)
    np.testing.assert_allclose(together[0], alone[0])
    np.testing.assert_allclose(np.abs(together).reshape(2, -1).max(axis=1), [1.0, 1.0])
    batch_wide = quantus.normalise_func.normalise_by_max(a)
    assert np.abs(batch_wide[0]).max() < 1e-5  # the pitfall this function avoids


def test_per_sample_normalisation_keeps_zero_maps_zero():
    a = np.zeros((2, 1, 4, 4))
    a[1, 0, 0, 0] = -3.0
    out = M.normalise_by_max_per_sample(a)
    assert np.all(out[0] == 0) and np.isfinite(out).all()
    assert out[1, 0, 0, 0] == -1.0


# ------------------------------------------------------------------------------ completeness


def _bias_free_linear(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 6 * 6, 4, bias=False)).eval()


def _input_x_gradient(model: nn.Module, x: np.ndarray, y: np.ndarray, baseline: np.ndarray | None = None) -> np.ndarray:
    xt = torch.tensor(x, requires_grad=True)
    model(xt).gather(1, torch.tensor(y).view(-1, 1)).sum().backward()
    reference = 0 if baseline is None else baseline
    return ((x - reference) * xt.grad.numpy()).sum(axis=1, keepdims=True)


def test_completeness_passes_for_an_exactly_complete_method_and_fails_when_perturbed():
    model = _bias_free_linear()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 3, 6, 6)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 0])
    a = _input_x_gradient(model, x, y)  # exact for f(x) = w.x with baseline 0
    metric = M.build_metric("Completeness", {"tolerance": 1e-3})
    scores = metric.compute(model=model, x=x, y=y, a=a, device="cpu")
    np.testing.assert_array_equal(scores["Completeness"], np.ones(5))
    assert scores["CompletenessError"].max() < 1e-4
    # perturb: 10 % more relevance on one pixel-sum -> relative error 0.1
    perturbed = a * 1.1
    bad = metric.compute(model=model, x=x, y=y, a=perturbed, device="cpu")
    np.testing.assert_array_equal(bad["Completeness"], np.zeros(5))
    np.testing.assert_allclose(bad["CompletenessError"], 0.1, rtol=1e-3)


def test_completeness_black_baseline():
    model = _bias_free_linear(3)
    x = np.random.default_rng(2).normal(size=(3, 3, 6, 6)).astype(np.float32)
    y = np.array([1, 2, 3])
    black = x.reshape(3, -1).min(axis=1).reshape(3, 1, 1, 1) * np.ones_like(x)
    a = _input_x_gradient(model, x, y, baseline=black)
    metric = M.build_metric("Completeness", {"baseline": "black", "tolerance": 1e-3})
    assert metric.compute(model=model, x=x, y=y, a=a, device="cpu")["Completeness"].tolist() == [1.0, 1.0, 1.0]
    zero_baseline = M.build_metric("Completeness", {"baseline": "zero", "tolerance": 1e-3})
    assert zero_baseline.compute(model=model, x=x, y=y, a=a, device="cpu")["Completeness"].sum() == 0


def test_quantus_completeness_fails_where_ours_passes():
    """Why we replace quantus.Completeness: exact float equality fails for an exactly complete method."""
    model = _bias_free_linear()
    x = np.random.default_rng(1).normal(size=(4, 3, 6, 6)).astype(np.float32)
    y = np.array([0, 1, 2, 3])
    a = _input_x_gradient(model, x, y)
    ours = M.build_metric("Completeness").compute(model=model, x=x, y=y, a=a, device="cpu")["Completeness"]
    theirs = quantus.Completeness(normalise=False, disable_warnings=True, perturb_baseline="black")(
        model=model, x_batch=x, y_batch=y, a_batch=a, softmax=False, channel_first=True)
    assert ours.tolist() == [1.0] * 4
    assert not any(theirs)


# ------------------------------------------------------------------------------ skip / flatten


def test_input_invariance_skip_reasons():
    evaluator = M.build_metric("InputInvariance")
    assert "features" in evaluator.skip_reason(TinyVGG())
    assert evaluator.skip_reason(build_model("tiny_flat")) is None
    bias_free = nn.Sequential(nn.Conv2d(3, 2, 3, bias=False), nn.Flatten())
    assert "no bias" in evaluator.skip_reason(bias_free)


def test_mprt_dict_is_flattened_with_a_headline_output():
    model = build_model("tiny_flat")
    data = synthetic_split("val", 3)
    methods = StandInMethods()
    evaluator = M.build_metric("MPRT", {"layer_order": "top_down"})
    result = evaluator.compute(model=model, x=data.images.numpy(), y=data.labels.numpy(), a=None, s=None,
                               explain_func=methods.quantus_explain_func,
                               explain_func_kwargs={"method": "gradient"}, device="cpu")
    randomised = [name for name, module in model.named_modules() if hasattr(module, "reset_parameters")]
    assert set(result) == {"MPRT", "MPRT[original]", *(f"MPRT[{n}]" for n in randomised)}
    np.testing.assert_allclose(result["MPRT[original]"], 1.0)  # same explanation twice
    np.testing.assert_array_equal(result["MPRT"], result[f"MPRT[{randomised[0]}]"])  # top-down: first layer last
    assert all(v.shape == (3,) for v in result.values())


def test_quantus_pointing_game_counts_an_empty_mask_as_a_hit():
    """The pitfall the runner works around by dropping empty masks (tested end to end in test_runner)."""
    model = build_model("tiny_flat")
    x = np.random.default_rng(0).normal(size=(2, 3, 16, 16)).astype(np.float32)
    a = np.random.default_rng(1).normal(size=(2, 1, 16, 16))
    s = np.zeros((2, 1, 16, 16))
    hits = quantus.PointingGame(disable_warnings=True)(model=model, x_batch=x, y_batch=np.array([0, 1]), a_batch=a,
                                                       s_batch=s, channel_first=True)
    assert all(bool(h) for h in hits)
