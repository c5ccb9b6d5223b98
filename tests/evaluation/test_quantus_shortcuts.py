"""The shortcuts through Quantus (evaluation/quantus_shortcuts.py): the vectorised attribution checks give Quantus's
own verdicts and messages; reusing the unit's maps saves EfficientMPRT's second explanation and changes no score."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from quantus.helpers import asserts

from hidden_monotonicity.evaluation.quantus_shortcuts import (check_attributions, has_two_distinct_values,
                                                              reusing_unit_maps, vectorised_attribution_checks)

ORIGINAL = asserts.assert_attributions


def verdict(check, x, a):
    try:
        check(x_batch=x, a_batch=a)
    except Exception as error:  # AssertionError, or whatever Quantus itself raises (IndexError on 1-pixel maps)
        return ("raises", type(error).__name__, str(error))
    return ("passes", None, None)


SPECIAL = st.sampled_from([0.0, -0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 0.5, 1e-300])
VALUES = st.one_of(SPECIAL, st.floats(allow_nan=True, allow_infinity=True, width=32))


@settings(max_examples=300, deadline=None)
@given(a=hnp.arrays(dtype=st.sampled_from([np.float32, np.float64]),
                    shape=st.tuples(st.integers(1, 3), st.just(1), st.integers(1, 3), st.integers(1, 3)),
                    elements=VALUES))
def test_same_verdict_and_message_as_quantus_on_generated_maps(a):
    x = np.zeros((a.shape[0], 3, a.shape[2], a.shape[3]), dtype=np.float32)
    assert verdict(check_attributions, x, a) == verdict(ORIGINAL, x, a)


@settings(max_examples=100, deadline=None)
@given(a=hnp.arrays(dtype=st.sampled_from([np.int64, np.bool_, np.uint8]), shape=st.integers(1, 6)))
def test_distinct_values_of_integer_and_boolean_arrays(a):
    assert has_two_distinct_values(a) == (len(set(a.flatten().tolist())) > 1)


@pytest.mark.parametrize("a", [
    np.array([[0.0, -0.0]]), np.array([[np.nan]]), np.array([[np.nan, np.nan]]), np.array([[np.nan, 2.0]]),
    np.array([[np.inf, np.inf]]), np.array([[np.inf, -np.inf]]), np.array([[2.0, 2.0, 2.0]]), np.array([[2.0, 3.0]]),
    np.array([[1 + 1j, 1 + 1j]]), np.array([[1 + 1j, 1 - 1j]]), np.array([[np.nan + 0j, 1.0]]),
])
def test_distinct_values_on_the_edge_cases(a):
    assert has_two_distinct_values(a) == (len(set(a.flatten().tolist())) > 1)


@pytest.mark.parametrize("x_shape, a_shape", [
    ((2, 3, 4, 4), (3, 1, 4, 4)),   # sample count differs
    ((2, 3, 4, 4), (2, 4, 4)),      # dimensions differ
    ((2, 3, 4, 4), (2, 1, 5, 5)),   # spatial size differs
    ((2, 3, 4, 5), (2, 1, 5, 4)),   # order differs
])
def test_same_message_on_shape_errors(x_shape, a_shape):
    x, a = np.zeros(x_shape), np.random.default_rng(0).normal(size=a_shape)
    assert verdict(check_attributions, x, a) == verdict(ORIGINAL, x, a)
    assert verdict(ORIGINAL, x, a)[0] == "raises"


def test_non_array_attributions_are_refused_like_quantus():
    x = np.zeros((1, 1, 2, 2))
    assert verdict(check_attributions, x, [[1.0, 2.0]]) == verdict(ORIGINAL, x, [[1.0, 2.0]])


def test_the_swap_lasts_for_the_block_only():
    with vectorised_attribution_checks():
        assert asserts.assert_attributions is check_attributions
    assert asserts.assert_attributions is ORIGINAL
    with pytest.raises(RuntimeError), vectorised_attribution_checks():
        raise RuntimeError("inside")
    assert asserts.assert_attributions is ORIGINAL


def test_quantus_metric_calls_use_the_vectorised_checks(monkeypatch):
    """A metric of the catalogue runs Quantus with the vectorised checks in place (and only then)."""
    import torch

    from hidden_monotonicity.evaluation.metrics import build_metric
    from hidden_monotonicity.evaluation import quantus_shortcuts

    calls = []
    monkeypatch.setattr(quantus_shortcuts, "check_attributions",
                        lambda **kw: calls.append(kw["a_batch"].shape) or ORIGINAL(**kw))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    x = np.random.default_rng(0).random((2, 1, 4, 4)).astype(np.float32)
    a = np.random.default_rng(1).random((2, 1, 4, 4)).astype(np.float32)
    s = np.ones_like(a)
    metric = build_metric("Sparseness")
    scores = metric.compute(model=model, x=x, y=np.array([0, 1]), a=a, s=s, explain_func=None,
                            explain_func_kwargs=None, device="cpu")
    assert calls and calls[0] == (2, 1, 4, 4)
    assert np.isfinite(scores["Sparseness"]).all()


def _unit():
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 8 * 8, 3)).eval()
    x = np.random.default_rng(0).random((4, 3, 8, 8)).astype(np.float32)
    y = np.array([0, 1, 2, 1])
    return model, x, y


def _counting_gradient(calls):
    import torch

    def explain(model, inputs, targets, **kwargs):
        calls.append(model)
        inputs = torch.as_tensor(np.asarray(inputs), dtype=torch.float32).requires_grad_(True)
        out = model(inputs)
        out[torch.arange(len(out)), torch.as_tensor(np.asarray(targets)).long()].sum().backward()
        return (inputs.grad * inputs).sum(1, keepdim=True).detach().numpy()
    return explain


def test_reused_maps_leave_efficient_mprt_unchanged_and_save_one_explanation_per_unit():
    from hidden_monotonicity.evaluation.metrics import build_metric

    model, x, y = _unit()
    maps = _counting_gradient([])(model, x, y)
    scores, calls = {}, {}
    for reuse in (False, True):
        calls[reuse] = []
        explain = _counting_gradient(calls[reuse])
        metric = build_metric("EfficientMPRT")
        if not reuse:
            metric_module = __import__("hidden_monotonicity.evaluation.metrics", fromlist=["x"])
            original, metric_module.reusing_unit_maps = metric_module.reusing_unit_maps, lambda f, *unit: f
        try:
            scores[reuse] = metric.compute(model=model, x=x, y=y, a=maps, s=None, explain_func=explain,
                                           explain_func_kwargs={}, device="cpu")
        finally:
            if not reuse:
                metric_module.reusing_unit_maps = original
    assert len(calls[True]) == len(calls[False]) - 1, "one explanation of the original model saved"
    assert all(m is not model for m in calls[True]), "only randomised copies are explained"
    for output in scores[False]:
        np.testing.assert_array_equal(scores[True][output], scores[False][output])


def test_only_the_units_own_model_images_and_targets_are_answered_from_the_maps():
    model, x, y = _unit()
    calls = []
    maps = np.full((4, 1, 8, 8), 7.0, dtype=np.float32)
    explain = reusing_unit_maps(_counting_gradient(calls), model, x, y, maps)
    np.testing.assert_array_equal(explain(model=model, inputs=x.astype(np.float64), targets=list(y)), maps)
    assert explain.reused == 1 and not calls
    import copy

    explain(model=copy.deepcopy(model), inputs=x, targets=y)                     # another model object
    explain(model=model, inputs=x + np.float32(1e-3), targets=y)                 # perturbed images
    explain(model=model, inputs=x, targets=(y + 1) % 3)                          # other targets (RandomLogit)
    explain(model=model, inputs=x[:2], targets=y[:2])                            # a part of the unit
    assert explain.reused == 1 and len(calls) == 4
    returned = explain(model=model, inputs=x, targets=y)
    returned[:] = 0
    assert (maps == 7.0).all(), "a copy is returned: Quantus may normalise it in place"
