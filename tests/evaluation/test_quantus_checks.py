"""The vectorised attribution checks give Quantus's own verdicts and messages (evaluation/quantus_checks.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from quantus.helpers import asserts

from hidden_monotonicity.evaluation.quantus_checks import (check_attributions, has_two_distinct_values,
                                                           vectorised_attribution_checks)

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
    from hidden_monotonicity.evaluation import quantus_checks

    calls = []
    monkeypatch.setattr(quantus_checks, "check_attributions",
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
