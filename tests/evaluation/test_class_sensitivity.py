"""Class sensitivity: correlation of the maps for the label and another class, signed and on |map|, beside the
same-class baseline (the label's map under input noise); SplitLRP is class-insensitive."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from hidden_monotonicity.evaluation import class_sensitivity as C
from hidden_monotonicity.plots import evaluation as plots


def test_other_classes_and_errors():
    assert C.other_classes(torch.tensor([0, 8, 9]), 10).tolist() == [3, 1, 2]
    with pytest.raises(ValueError, match="multiple"):
        C.other_classes(torch.tensor([0]), 10, shift=10)


def test_map_correlations():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 1, 4, 4))
    b = np.stack([a[0], -a[1], np.zeros_like(a[2])])
    spearman, pearson = C.map_correlations(a, b)
    assert spearman[0] == pytest.approx(1) and pearson[1] == pytest.approx(-1) and np.isnan(spearman[2])


def _linear_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 4)).eval()


def test_gradient_of_a_linear_model_is_class_sensitive_and_a_class_blind_method_is_not():
    model = _linear_model()
    x = torch.rand(6, 1, 4, 4)
    targets = torch.tensor([0, 1, 2, 3, 0, 1])

    def explain(model, x, t, method, **params):
        if method == "blind":  # the same map for every class
            return x.clone()
        weights = model[1].weight[t].reshape(len(t), 1, 4, 4)
        return weights.detach()

    frame = C.class_sensitivity(model, x, targets, {"gradient": ("grad", {}), "blind": ("blind", {})}, explain=explain)
    summary = C.summarize_class_sensitivity(frame).set_index("method")
    assert summary.loc["blind", "other_signed_spearman"] == pytest.approx(1.0)
    assert summary.loc["gradient", "other_signed_spearman"] < 0.9
    expected = [np.corrcoef(model[1].weight[t].detach(), model[1].weight[(t + 3) % 4].detach())[0, 1] for t in targets]
    np.testing.assert_allclose(frame[frame["method"] == "gradient"]["other_signed_pearson"], expected, rtol=1e-6)
    # the gradient of a linear model does not depend on the input: its same-class baseline is 1 under any noise,
    # while the class-blind map x moves with the noise
    assert summary.loc["gradient", "same_signed_spearman"] == pytest.approx(1.0)
    assert summary.loc["blind", "same_signed_spearman"] < 1.0


def _sign_flip(model, x, t, method, **params):
    """A hand-made method: one fixed picture, its sign set by the parity of the class (class 0: +m, class 3: -m)."""
    picture = torch.arange(1.0, 17.0).reshape(1, 1, 4, 4) * torch.tensor([1.0, -1.0]).repeat(8).reshape(1, 1, 4, 4)
    return picture.repeat(len(t), 1, 1, 1) * (1.0 - 2.0 * (t % 2).float()).reshape(-1, 1, 1, 1)


def test_a_sign_flipped_map_is_minus_one_signed_and_one_on_abs():
    """Issue 25.6: a correlation of -1 is as class-insensitive as +1; |map| reports it as the same picture."""
    model = _linear_model()
    targets = torch.tensor([0, 2, 0])  # other classes 3, 1, 3: odd, so every map is the negative of the label's
    frame = C.class_sensitivity(model, torch.rand(3, 1, 4, 4), targets, {"flip": ("flip", {})}, explain=_sign_flip)
    for correlation in ("spearman", "pearson"):
        np.testing.assert_allclose(frame[f"other_signed_{correlation}"], -1.0, atol=1e-12)
        np.testing.assert_allclose(frame[f"other_abs_{correlation}"], 1.0, atol=1e-12)
    summary = C.summarize_class_sensitivity(frame).iloc[0]
    assert summary["other_signed_spearman"] == pytest.approx(-1.0)
    assert summary["other_abs_spearman"] == pytest.approx(1.0)
    # the map does not depend on the input, so the same-class baseline is 1 and the |map| gap 0: class-insensitive
    assert summary["same_abs_spearman"] == pytest.approx(1.0) and summary["abs_gap_spearman"] == pytest.approx(0.0)


def test_map_correlations_agree_with_scipy_on_ties():
    import scipy.stats

    rng = np.random.default_rng(1)
    a = rng.integers(0, 4, size=(5, 30)).astype(float)  # many ties
    b = a + rng.integers(0, 3, size=(5, 30))
    spearman, pearson = C.map_correlations(a, b)
    for i in range(5):
        assert spearman[i] == pytest.approx(scipy.stats.spearmanr(a[i], b[i]).statistic)
        assert pearson[i] == pytest.approx(scipy.stats.pearsonr(a[i], b[i]).statistic)
    with pytest.raises(ValueError, match="differ in shape"):
        C.map_correlations(a, b[:, :10])


def _relu_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(8 * 8 * 8, 10)).eval()


def test_same_class_baseline_is_one_without_noise_and_below_one_with_noise_on_a_relu_net():
    model = _relu_net()
    x = torch.randn(4, 3, 8, 8)
    targets = torch.tensor([0, 1, 2, 3])
    methods = {"saliency": ("saliency", {}), "gradient_shap": ("gradient_shap", {"n_samples": 4})}
    exact = C.class_sensitivity(model, x, targets, methods, noise_sd=0.0)
    same = [f"same_{kind}_{correlation}" for kind in ("signed", "abs") for correlation in ("spearman", "pearson")]
    # seeded alike, even the stochastic GradientSHAP draws the same samples for the label and the baseline
    np.testing.assert_allclose(exact[same].to_numpy(dtype=float), 1.0, atol=1e-9)
    noisy = C.class_sensitivity(model, x, targets, methods, noise_sd=0.2)
    saliency = noisy[noisy["method"] == "saliency"]
    assert (saliency["same_signed_spearman"] < 1.0 - 1e-6).all() and (saliency["same_abs_spearman"] < 1.0 - 1e-6).all()
    assert (noisy["noise_sd"] == 0.2).all() and (exact["noise_sd"] == 0.0).all()
    # the other-class correlations do not depend on the baseline's noise
    np.testing.assert_allclose(noisy["other_abs_spearman"], exact["other_abs_spearman"])


def test_batches_give_the_same_maps_as_one_call():
    model = _relu_net()
    x, targets = torch.randn(5, 3, 8, 8), torch.tensor([0, 1, 2, 3, 4])
    methods = {"saliency": ("saliency", {})}
    whole = C.class_sensitivity(model, x, targets, methods, batch_size=None)
    pieces = C.class_sensitivity(model, x, targets, methods, batch_size=2)
    value_columns = [c for c in C.CLASS_SENSITIVITY_COLUMNS if c.endswith(("spearman", "pearson"))]
    np.testing.assert_allclose(pieces[value_columns].to_numpy(float), whole[value_columns].to_numpy(float), atol=1e-6)


def test_noisy_copy_scales_the_noise_to_each_image():
    x = torch.stack([torch.randn(3, 16, 16), 10 * torch.randn(3, 16, 16)])
    noisy = C.noisy_copy(x, 0.1, seed=3)
    ratio = (noisy - x).reshape(2, -1).std(dim=1) / x.reshape(2, -1).std(dim=1)
    np.testing.assert_allclose(ratio.numpy(), 0.1, rtol=0.1)
    assert torch.equal(C.noisy_copy(x, 0.1, seed=3), noisy) and not torch.equal(C.noisy_copy(x, 0.1, seed=4), noisy)
    assert torch.equal(C.noisy_copy(x, 0.0), x)


@pytest.mark.parametrize("noise_sd", [-0.1, float("nan"), float("inf"), "0.1", True])
def test_bad_noise_is_refused(noise_sd):
    with pytest.raises(ValueError, match="noise_sd must be a finite number >= 0"):
        C.class_sensitivity(_linear_model(), torch.rand(2, 1, 4, 4), torch.tensor([0, 1]), {}, noise_sd=noise_sd)


def test_bad_batch_size_and_mismatched_targets_are_refused():
    model, x = _linear_model(), torch.rand(2, 1, 4, 4)
    with pytest.raises(ValueError, match="batch_size must be a positive"):
        C.class_sensitivity(model, x, torch.tensor([0, 1]), {}, batch_size=0)
    with pytest.raises(ValueError, match="2 images but 3 targets"):
        C.class_sensitivity(model, x, torch.tensor([0, 1, 2]), {})


def test_summary_has_mean_and_interval_of_every_comparison_and_the_plot_shows_both():
    model = _linear_model()
    x, targets = torch.rand(6, 1, 4, 4), torch.tensor([0, 1, 2, 3, 0, 1])

    def explain(model, x, t, method, **params):
        return x.clone() if method == "blind" else _sign_flip(model, x, t, method)

    frame = C.class_sensitivity(model, x, targets, {"flip": ("flip", {}), "blind": ("blind", {})}, noise_sd=0.1,
                                explain=explain)
    summary = C.summarize_class_sensitivity(frame)
    for correlation in ("spearman", "pearson"):
        for quantity in ("other_signed", "other_abs", "same_signed", "same_abs", "abs_gap"):
            for end in ("", "_ci_low", "_ci_high"):
                assert f"{quantity}_{correlation}{end}" in summary.columns
    assert {"method", "n", "n_images", "noise_sd"} <= set(summary.columns)
    blind = summary.set_index("method").loc["blind"]
    part = frame[frame["method"] == "blind"]
    assert blind["n"] == 6 and blind["noise_sd"] == 0.1
    assert blind["same_abs_spearman"] == pytest.approx(part["same_abs_spearman"].mean())
    assert blind["abs_gap_spearman"] == pytest.approx((part["same_abs_spearman"] - part["other_abs_spearman"]).mean())
    assert blind["same_abs_spearman_ci_low"] <= blind["same_abs_spearman"] <= blind["same_abs_spearman_ci_high"]
    with pytest.raises(ValueError, match="lacks the columns"):
        C.summarize_class_sensitivity(frame.drop(columns=["other_abs_spearman"]))

    figure = plots.plot_class_sensitivity(summary)
    assert len(figure.axes) == 2 and "|map|" in figure.axes[1].get_title()
    table = pd.DataFrame({"metric": "RandomLogit", "method": ["flip", "blind"], "mean": [1.0, 0.5],
                          "ci_low": [1.0, 0.4], "ci_high": [1.0, 0.6]})
    assert len(plots.plot_class_sensitivity(summary, table).axes) == 3
    with pytest.raises(ValueError, match="lacks the columns"):
        plots.plot_class_sensitivity(summary.drop(columns=["same_abs_spearman"]))
    plt.close("all")


@pytest.mark.slow
def test_splitlrp_maps_do_not_depend_on_the_class_and_splitgrad_maps_do():
    import hidden_monotonicity as hm

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 64, 10)).eval()
    x = torch.rand(4, 3, 8, 8)
    targets = torch.tensor([0, 1, 2, 3])
    frame = C.class_sensitivity(model, x, targets, {"splitlrp": ("splitlrp", {"layer": "input"}),
                                                    "splitgrad": ("splitgrad", {"layer": "input"})})
    summary = C.summarize_class_sensitivity(frame).set_index("method")
    assert "splitlrp" in hm.methods()
    # measured on this random net, |map|: SplitLRP 0.91, SplitGrad 0.08 (same-class baseline 1.00 and 0.98);
    # benchmark_vgg, 96 test digits: 1.000 and 0.51 (baseline 0.97 and 0.77)
    assert summary.loc["splitlrp", "other_abs_spearman"] > 0.85 and summary.loc["splitgrad", "other_abs_spearman"] < 0.5


def test_changed_predictions_counts_what_the_same_class_noise_flips():
    import torch

    from hidden_monotonicity.evaluation.class_sensitivity import changed_predictions, same_class_input

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3)).eval()
    x = torch.randn(64, 3, 2, 2)
    assert changed_predictions(model, x, 0.0) == 0
    with torch.no_grad():
        expected = int((model(same_class_input(x, 2.0, seed=5)).argmax(1) != model(x).argmax(1)).sum())
    assert changed_predictions(model, x, 2.0, seed=5) == expected > 0
