"""The fresh test split: the confirmatory claims tested on images drawn once the protocol was frozen (issue 25.10).

The evaluation protocol - the rows, their candidate configurations, the metrics, the selection - was revised after
test results had been seen, so the test split no longer tests it blindly. A profile's ``fresh_test`` names a second
test split drawn afterwards: overrides of ``dataset_kwargs`` (the default profile: the rendering seed 20261206, drawn
on 2026-12-06 once the protocol was frozen) for ``n_test`` images, loaded like the test split and stored as split
:data:`~.store.FRESH_SPLIT` (``"fresh"``). It answers one question - do the paper's claims hold on new images? - so
it is scored for the confirmatory family only (:func:`fresh_plan`):

* the **rows** of that family: the split methods and the baselines of the paper's table
  (:data:`.comparisons.PAPER_BASELINES`), by row label as :func:`.comparisons.compare_methods` assigns the family;
* the **metrics** that produce a headline column (:data:`.profiles.PAPER_SELECTION_METRICS`), with the test split's
  parameters;
* every row with the configuration chosen on the validation split: no new selection, nothing tuned on these images.

Its comparisons (:func:`.comparisons.replicate_confirmatory`) go into ``comparisons.csv`` with ``split`` =
``"fresh"``: a Holm family of their own per model, with the equivalence margins of the test split. The tables stay
on the test split; ``table.md`` ends with the confirmatory verdicts of both splits side by side.

A fresh split that repeats an image of the test (or validation) split is refused (:func:`check_fresh_split`): a
dataset that ignores the overrides would otherwise "confirm" the test results with the test images.
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping

import numpy as np

from .comparisons import PAPER_BASELINES
from .metrics import metric_outputs
from .profiles import PAPER_SELECTION_METRICS, SPLIT_METHODS, EvaluationProfile
from .store import FRESH_SPLIT, EvaluationSetupError

FRESH = FRESH_SPLIT


def confirmatory_rows(profile: EvaluationProfile) -> tuple[str, ...]:
    """Labels of the rows of the confirmatory family, in profile order: split-method rows labelled with their method
    (:data:`.profiles.SPLIT_METHODS`) and rows labelled as a baseline of the paper's table; none unless both sides
    are there."""
    ours = {g.name for g in profile.methods if g.method in SPLIT_METHODS and g.name in SPLIT_METHODS}
    theirs = {g.name for g in profile.methods if g.name in PAPER_BASELINES}
    if not ours or not theirs:
        return ()
    return tuple(g.name for g in profile.methods if g.name in ours | theirs)


def confirmatory_metrics(profile: EvaluationProfile,
                         headline: tuple[str, ...] = PAPER_SELECTION_METRICS) -> tuple[str, ...]:
    """The profile's metrics that produce a headline column (PixelFlipping gives AUC@5 and AUC@20), in profile order."""
    return tuple(name for name in profile.metrics
                 if {o.name for o in metric_outputs(name, profile.metric_params.get(name))} & set(headline))


def fresh_plan(profile: EvaluationProfile) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(row labels, metrics)`` scored on the fresh split; both empty when the profile has no ``fresh_test`` or no
    confirmatory pair (e.g. the smoke profile: no baseline of the paper's table)."""
    if not profile.fresh_test:
        return (), ()
    rows, metrics = confirmatory_rows(profile), confirmatory_metrics(profile)
    return (rows, metrics) if rows and metrics else ((), ())


def fresh_dataset_profile(profile: EvaluationProfile) -> EvaluationProfile:
    """The profile whose test split is the fresh split: ``dataset_kwargs`` updated with ``fresh_test``."""
    return profile.replace(dataset_kwargs={**dict(profile.dataset_kwargs), **dict(profile.fresh_test)}, fresh_test={})


def load_split(backend: Any, profile: EvaluationProfile, split: str, data_dir: str | None) -> Any:
    """``backend.load_split`` of ``split``; the fresh split is the test split of :func:`fresh_dataset_profile`."""
    if split == FRESH:
        return backend.load_split(fresh_dataset_profile(profile), "test", data_dir)
    return backend.load_split(profile, split, data_dir)


def _image_digests(images: np.ndarray) -> list[str]:
    return [hashlib.sha256(np.ascontiguousarray(image, dtype=np.float32).tobytes()).hexdigest() for image in images]


def check_fresh_split(profile: EvaluationProfile, images: Mapping[str, np.ndarray]) -> None:
    """Raise when an image of the fresh split equals an image of another split (``images``: split -> (N, C, H, W))."""
    fresh = _image_digests(images[FRESH])
    for split, other in images.items():
        if split == FRESH:
            continue
        seen = set(_image_digests(other))
        repeated = [i for i, digest in enumerate(fresh) if digest in seen]
        if repeated:
            listed = ", ".join(map(str, repeated[:5])) + (f" and {len(repeated) - 5} more" if len(repeated) > 5 else "")
            raise EvaluationSetupError(
                f"profile {profile.name!r}: the fresh test split repeats {len(repeated)} image(s) of the {split} split "
                f"(fresh image(s) {listed}), so it cannot test the protocol on new images; its fresh_test "
                f"{dict(profile.fresh_test)} must change what the dataset draws (e.g. a 'seed' the dataset honours)")


def describe(profile: EvaluationProfile) -> dict[str, Any] | None:
    """What ``metadata.json`` records of the fresh split (None for a profile without ``fresh_test``)."""
    if not profile.fresh_test:
        return None
    rows, metrics = fresh_plan(profile)
    return {"split": FRESH, "overrides": dict(profile.fresh_test),
            "dataset_kwargs": dict(fresh_dataset_profile(profile).dataset_kwargs), "n": profile.n_test,
            "rows": list(rows), "metrics": list(metrics), "configuration": "chosen on the validation split",
            "comparisons": "confirmatory family only; Holm per model on this split; the test split's margins"}
