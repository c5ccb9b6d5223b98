"""Two shortcuts through Quantus that leave every score as it was (issue 27).

**1. Quantus's attribution checks, vectorised: same verdicts and messages, a fraction of the time.**

Every Quantus metric call runs ``quantus.helpers.asserts.assert_attributions`` on the maps it scores, and every
re-explanation inside a metric (MaxSensitivity's samples, the randomisation metrics) runs it again. Its last
value check, "the attributions are not uniformly distributed", is ``len(set(a_batch.flatten().tolist())) > 1``:
it builds a Python list and a Python set of every map value - 35 ms for 32 maps of 64 × 64 pixels, about a quarter
of the evaluation's time on the digits benchmark (``benchmarks/bench_evaluation.py``).

:func:`check_attributions` makes the same checks with array operations. It is the same function of its arguments:
for every input it either returns ``None`` like the original or raises ``AssertionError`` with the original's
message (``tests/evaluation/test_quantus_shortcuts.py`` compares both on generated arrays, NaN and ±inf included).
The uniformity check, spelled out: ``tolist()`` gives a new Python float per element, so a set merges equal
values (``0.0`` and ``-0.0`` included) but keeps every NaN apart (NaN ≠ NaN, and the objects differ); it has
more than one element exactly when there are two NaNs, or a NaN and any other element, or two different
non-NaN values.

:func:`vectorised_attribution_checks` swaps it in for the duration of a Quantus call (the metrics of
:mod:`.metrics` call Quantus inside it) and puts the original back afterwards, so Quantus behaves as shipped
everywhere else.

**2. The unit's maps instead of a second explanation of the same images.** Quantus 0.6.0's EfficientMPRT explains
the original model again even when it is given the maps (``a_batch`` only sizes its entropy histogram), so each of
its units explained every image twice (``benchmarks/bench_evaluation.py``: 2 explanations where 1 is needed).
:func:`reusing_unit_maps` wraps the explain function: a call for the very model object, images and targets of the
unit returns a copy of the unit's maps - what the call would compute for a deterministic method, the same function
on the same arguments - and every other call (perturbed images, randomised models, other targets) explains. For a
method that draws random numbers (Gradient SHAP) the reused maps are the unit's draw instead of a second one.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import numpy as np

UNIFORM_MESSAGE = ("The attributions are uniformly distributed, which may cause inconsistent results since many "
                   "metrics rely on ordering.Recompute the explanations.")


def has_two_distinct_values(a: np.ndarray) -> bool:
    """``len(set(a.flatten().tolist())) > 1`` without building the set (see the module docstring)."""
    values = np.asarray(a).reshape(-1)
    if values.size < 2:
        return False
    kind = values.dtype.kind
    if kind in "biu":
        return bool(values.min() != values.max())
    if kind in "fc":
        if np.isnan(values).any():  # every NaN is its own set element
            return True
        return bool(values.min() != values.max()) if kind == "f" else bool(np.any(values != values[0]))
    return len(set(values.tolist())) > 1  # other dtypes: the original's own test


def check_attributions(x_batch: np.ndarray, a_batch: np.ndarray) -> None:
    """``quantus.helpers.asserts.assert_attributions`` (Quantus 0.6.0) with its checks vectorised: the same
    assertions in the same order, with the same messages."""
    assert type(a_batch) == np.ndarray, "Attributions 'a_batch' should be of type np.ndarray."  # noqa: E721
    assert np.shape(x_batch)[0] == np.shape(a_batch)[0], (
        "The inputs 'x_batch' and attributions 'a_batch' should include the same number of samples."
        "{} != {}".format(np.shape(x_batch)[0], np.shape(a_batch)[0])
    )
    assert np.ndim(x_batch) == np.ndim(a_batch), (
        "The inputs 'x_batch' and attributions 'a_batch' should have the same number of dimensions."
        "{} != {}".format(np.ndim(x_batch), np.ndim(a_batch))
    )
    a_shape = [s for s in np.shape(a_batch)[1:] if s != 1]
    x_shape = [s for s in np.shape(x_batch)[1:]]
    assert a_shape[0] == x_shape[0] or a_shape[-1] == x_shape[-1], (
        "The dimensions of attribution and input per sample should correspond in either the first or last "
        "dimensions, but got shapes {} and {}".format(a_shape, x_shape)
    )
    assert all([a in x_shape for a in a_shape]), (
        "All attribution dimensions should be included in the input dimensions, but got shapes {} and {}".format(
            a_shape, x_shape)
    )
    assert all([x_shape.index(a) > x_shape.index(a_shape[i]) for a in a_shape for i in range(a_shape.index(a))]), (
        "The dimensions of the attribution must correspond to dimensions of the input in the same order, but got "
        "shapes {} and {}".format(a_shape, x_shape)
    )
    assert not np.all((a_batch == 0)), (
        "The elements in the attribution vector are all equal to zero, which may cause inconsistent results since "
        "many metrics rely on ordering. Recompute the explanations."
    )
    assert not np.all((a_batch == 1.0)), (
        "The elements in the attribution vector are all equal to one, which may cause inconsistent results since "
        "many metrics rely on ordering. Recompute the explanations."
    )
    assert has_two_distinct_values(a_batch), UNIFORM_MESSAGE
    assert not np.all((a_batch < 0.0)), "Attributions should not all be less than zero."


@contextlib.contextmanager
def vectorised_attribution_checks() -> Iterator[None]:
    """Within the block, Quantus checks attributions with :func:`check_attributions`; the original afterwards."""
    from quantus.helpers import asserts

    original = asserts.assert_attributions
    asserts.assert_attributions = check_attributions
    try:
        yield
    finally:
        asserts.assert_attributions = original


def reusing_unit_maps(explain_func: Callable[..., np.ndarray], model: Any, x: np.ndarray, y: np.ndarray,
                      a: np.ndarray) -> Callable[..., np.ndarray]:
    """``explain_func`` that returns a copy of ``a`` when asked to explain exactly ``x`` for targets ``y`` on the
    object ``model`` (see the module docstring, 2.); ``.reused`` counts those calls."""
    targets = np.asarray(y).reshape(-1)

    def explain(*, model: Any, inputs: Any, targets: Any = None, **kwargs: Any) -> np.ndarray:
        if (model is unit_model and np.shape(inputs) == x.shape and np.array_equal(np.asarray(inputs), x)
                and targets_given(targets)):
            explain.reused += 1
            return a.copy()
        return explain_func(model=model, inputs=inputs, targets=targets, **kwargs)

    def targets_given(given: Any) -> bool:
        given = np.asarray(given).reshape(-1)
        return given.shape == unit_targets.shape and bool(np.array_equal(given, unit_targets))

    unit_model, unit_targets = model, targets
    explain.reused = 0
    return explain
