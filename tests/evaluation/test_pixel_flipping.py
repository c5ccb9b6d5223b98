"""The stopping PixelFlipping gives exactly Quantus's curve up to where AUC@5 / AUC@20 read it (issue 13.5)."""

from __future__ import annotations

import numpy as np
import pytest
import quantus
import torch
from torch import nn

from hidden_monotonicity.evaluation.metrics import build_metric
from hidden_monotonicity.evaluation.pixel_flipping import pixel_flipping_auc, stopping_pixel_flipping


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 5)).eval()


def _batch():
    rng = np.random.default_rng(0)
    x = rng.random((3, 3, 8, 8)).astype(np.float32)
    a = rng.normal(size=(3, 1, 8, 8)).astype(np.float32)
    return x, np.array([0, 2, 4]), a


def _curves(metric_class, model, x, y, a, step):
    metric = metric_class(features_in_step=step, perturb_baseline="black", disable_warnings=True,
                          display_progressbar=False, return_auc_per_sample=False)
    return np.asarray(metric(model=model, x_batch=x, y_batch=y, a_batch=a, channel_first=True, softmax=True,
                             device="cpu", batch_size=len(x)), dtype=np.float64)


def test_stopping_curve_is_the_start_of_quantus_curve():
    model, (x, y, a) = _model(), _batch()
    full = _curves(quantus.PixelFlipping, model, x, y, a, step=16)  # 192 / 16 = 12 steps
    short = _curves(stopping_pixel_flipping(4), model, x, y, a, step=16)
    assert full.shape == (3, 12) and short.shape == (3, 4)
    np.testing.assert_allclose(short, full[:, :4], rtol=1e-6)


def test_pixel_flipping_auc_outputs_equal_those_of_the_full_quantus_curve():
    model, (x, y, a) = _model(), _batch()
    full = _curves(quantus.PixelFlipping, model, x, y, a, step=4)  # 48 steps; AUC@20 reads 9 of them
    evaluator = build_metric("PixelFlipping", {"features_in_step": 4, "normalise": False})
    result = evaluator.compute(model=model, x=x, y=y, a=a, s=None, explain_func=None, explain_func_kwargs=None,
                               device="cpu")
    for fraction, name in ((0.05, "AUC@5"), (0.2, "AUC@20")):
        np.testing.assert_allclose(result[name], pixel_flipping_auc(full, fraction, 192, 4), rtol=1e-6)
    assert evaluator.quantus_class.__name__ == "PixelFlipping"
