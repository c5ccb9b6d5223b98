"""The smoke run's Completeness / CompletenessError of input x gradient, recomputed independently of the runner,
Quantus and captum: the same images and model, the gradient by autograd, ``f(x) − f(0)`` by two forward passes.

Input x gradient of a ReLU network with biases is not complete (the biases carry part of ``f(x) − f(0)``), so the
expected error is the recomputed one, not zero; it is zero (and every sample passes) for the bias-free random init."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

import hidden_monotonicity as hm
from hidden_monotonicity.data import digits_benchmark
from hidden_monotonicity.evaluation.metrics import resolve_params


def _smoke_model(name: str, weights: str, seed: int) -> torch.nn.Module:
    if weights.startswith("random init"):
        torch.manual_seed(seed)
        return hm.models.load(name, weights=None).eval()
    return hm.models.load(name).eval()


def assert_completeness_recomputed(profile, meta: dict, ok: pd.DataFrame, method: str = "input_x_gradient") -> None:
    model_name = profile.models[0]
    model = _smoke_model(model_name, meta["models"][model_name]["weights"], profile.seed)
    data = digits_benchmark(split="test", n=profile.n_test, **dict(profile.dataset_kwargs))
    x = torch.as_tensor(np.asarray(data.images)[: profile.n_test], dtype=torch.float32)
    y = torch.as_tensor(np.asarray(data.labels)[: profile.n_test]).long()
    x_grad = x.clone().requires_grad_(True)
    logits = model(x_grad)
    (grad,) = torch.autograd.grad(logits.gather(1, y[:, None]).sum(), x_grad)
    with torch.no_grad():
        difference = (logits.gather(1, y[:, None]) - model(torch.zeros_like(x)).gather(1, y[:, None])).squeeze(1)
    total = (x * grad).flatten(1).sum(1)
    settings = {**resolve_params("Completeness"), **dict(profile.metric_params.get("Completeness", {}))}
    tolerance, atol = float(settings["tolerance"]), float(settings["atol"])
    expected_error = ((total - difference).abs() / difference.abs().clamp_min(atol)).double().numpy()

    rows = ok[ok["method"] == method].set_index(["metric", "sample"])["score"]
    run_error = np.array([rows[("CompletenessError", i)] for i in range(profile.n_test)])
    run_pass = np.array([rows[("Completeness", i)] for i in range(profile.n_test)])
    np.testing.assert_allclose(run_error, expected_error, rtol=1e-3, atol=1e-5)
    # the pass flag: error <= tolerance (relative) + atol; samples within 1 % of the boundary are not judged
    limit = tolerance + atol / difference.abs().double().numpy()
    clear = np.abs(expected_error - limit) > 0.01 * limit
    np.testing.assert_array_equal(run_pass[clear], (expected_error <= limit)[clear].astype(float))
