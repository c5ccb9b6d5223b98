"""Issue 27: the faster evaluation computes the same numbers as the path before it.

* old path: one process, Quantus's own attribution checks, EfficientMPRT explaining the unit's images twice; new
  path: two worker processes (evaluation/parallel.py), the vectorised checks and the unit's maps reused
  (evaluation/quantus_shortcuts.py). Same profile, same chunks: every score of the shipped smoke profile (real
  models, data and methods, all deterministic) is equal, bit for bit.
* the chunk size (8 -> 32 in the default profile) changes the batches Quantus sees: the deterministic metrics agree
  within float noise (``CHUNK_TOLERANCE``); the metrics that draw random numbers per unit (MaxSensitivity's noise,
  EfficientMPRT's randomised weights, RandomLogit's other class) are redrawn, as documented in profiles.py.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import pytest

import hidden_monotonicity as hm
from hidden_monotonicity.evaluation import evaluate, get_profile
from hidden_monotonicity.evaluation import metrics as metrics_module

from evaluation_standins import make_backend, stand_in_profile

KEY = ["model", "split", "method", "config", "metric", "sample"]
#: relative tolerance of a deterministic score computed in batches of another size (float32 model passes)
CHUNK_TOLERANCE = 1e-5
REDRAWN = ("MaxSensitivity", "EfficientMPRT", "RandomLogit")


def _scores(folder) -> pd.DataFrame:
    return pd.read_csv(folder / "scores.csv").sort_values(KEY).reset_index(drop=True)


@pytest.mark.slow
def test_old_and_new_path_give_identical_scores_on_the_smoke_profile(tmp_path, monkeypatch):
    with monkeypatch.context() as patch:  # the old path: Quantus's own checks, this process only
        patch.setattr(metrics_module, "vectorised_attribution_checks", contextlib.nullcontext)
        patch.setattr(metrics_module, "reusing_unit_maps", lambda explain_func, *unit: explain_func)
        old = evaluate("smoke", tmp_path / "old", progress=False, workers=1)
    new = evaluate("smoke", tmp_path / "new", progress=False, workers=2)
    assert old.complete and new.complete
    old_scores, new_scores = _scores(tmp_path / "old"), _scores(tmp_path / "new")
    assert (old_scores["status"] == "ok").mean() > 0.9
    pd.testing.assert_frame_equal(old_scores, new_scores)
    assert (tmp_path / "old" / "table.csv").read_text() == (tmp_path / "new" / "table.csv").read_text()


def test_the_chunk_size_changes_only_the_random_draws(tmp_path):
    small = evaluate(stand_in_profile(chunk_size=2), tmp_path / "small", backend=make_backend(), progress=False)
    large = evaluate(stand_in_profile(chunk_size=5), tmp_path / "large", backend=make_backend(), progress=False)
    a, b = _scores(tmp_path / "small"), _scores(tmp_path / "large")
    assert small.complete and large.complete and a[KEY].equals(b[KEY])
    both_ok = (a["status"] == "ok") & (b["status"] == "ok")
    stochastic = a["metric"].str.startswith(REDRAWN)
    deterministic = both_ok & ~stochastic & ~a["metric"].str.startswith("MPRT")
    assert deterministic.sum() > 50
    np.testing.assert_allclose(a.loc[deterministic, "score"], b.loc[deterministic, "score"], rtol=CHUNK_TOLERANCE,
                               atol=1e-7)
    assert set(a.loc[both_ok & stochastic, "metric"]) >= {"MaxSensitivity", "RandomLogit"}


def test_the_default_profile_scores_at_least_480_test_and_32_validation_images():
    profile = get_profile("default")
    assert profile.n_test >= 480 and profile.n_val >= 32
    assert hm.evaluation.get_profile("default").chunk_size == 32


def test_the_defaults_table_covers_the_first_defaults_images_only(tmp_path):
    """defaults_images: the table at registered defaults on the first N test images - computed in whole chunks, cut to
    exactly N in the table, also for rows whose defaults equal the chosen configuration (their units cover every
    test image)."""
    profile = stand_in_profile(defaults_metrics=("PixelFlipping",), defaults_images=2, chunk_size=3)
    result = evaluate(profile, tmp_path / "r", backend=make_backend(), progress=False)
    defaults = pd.read_csv(tmp_path / "r" / "table_defaults.csv")
    per_image = defaults[defaults["metric"] != "Mean rank"]
    assert len(per_image) and set(per_image["n"]) == {2}, defaults[["model", "method", "metric", "n"]]
    full = pd.read_csv(tmp_path / "r" / "table.csv")
    assert full.loc[full["metric"] == "AUC@5", "n"].max() == profile.n_test
    units = list((tmp_path / "r" / "units").rglob("PixelFlipping-*.csv"))
    assert result.complete and units


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "96"])
def test_a_bad_defaults_images_is_refused(value):
    with pytest.raises(ValueError, match="defaults_images must be a whole number >= 1 or None"):
        stand_in_profile(defaults_images=value)
