"""Pixel flipping (Bach et al. 2015; Quantus ``PixelFlipping``): the curve, its AUC@5 / AUC@20, and a
Quantus PixelFlipping that stops where the AUCs stop reading (paper D.4, issue 13.5)."""

from __future__ import annotations

import functools

import numpy as np


def pixel_flipping_auc(curves: np.ndarray, fraction: float, n_features: int, features_in_step: int) -> np.ndarray:
    """Area under the pixel-flipping curve over the first ``fraction`` of flipped features.

    ``curves[:, k-1]`` is the target-class output after flipping ``k * features_in_step`` features
    (Quantus ``PixelFlipping`` with ``return_auc_per_sample=False``; most relevant first). The
    x-axis is the *fraction* of flipped features, ``x_k = k * features_in_step / n_features``, and
    the integral (trapezoidal rule) runs over all points with ``x_k <= fraction``. The result is
    therefore at most ``fraction`` for probabilities; dividing by ``fraction`` gives the mean
    probability over that range. Lower is better (the output drops fast). Paper: "AUC@5 / AUC@20"
    (digest D.4 / H.10 [I]).
    """
    curves = np.asarray(curves, dtype=np.float64)
    if curves.ndim != 2:
        raise ValueError(f"expected curves of shape (N, steps), got {curves.shape}")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    x_axis = np.minimum(np.arange(1, curves.shape[1] + 1) * features_in_step, n_features) / n_features
    keep = x_axis <= fraction + 1e-12
    if keep.sum() < 2:
        raise ValueError(
            f"AUC@{fraction * 100:g} needs at least 2 curve points within the first {fraction:.0%} of features, "
            f"but with features_in_step={features_in_step} and {n_features} features there are {int(keep.sum())}; "
            "lower PixelFlipping features_in_step"
        )
    return np.trapezoid(curves[:, keep], x_axis[keep], axis=1)


def auc_output_name(fraction: float) -> str:
    """``0.05 -> "AUC@5"``."""
    return f"AUC@{round(fraction * 100, 6):g}"


@functools.lru_cache(maxsize=None)
def stopping_pixel_flipping(max_steps: int) -> type:
    """``quantus.PixelFlipping`` that stops after ``max_steps`` flipping steps.

    Same definition as Quantus 0.6.0's ``evaluate_batch``: features ordered by descending attribution
    (the map broadcast over the channels, ``np.argsort(-a)``), flipped ``features_in_step`` at a time with
    the metric's perturbation function, the target's output recorded after each step - only the
    steps past ``max_steps``, which no AUC reads, are not computed.
    """
    import quantus

    class StoppingPixelFlipping(quantus.PixelFlipping):
        def evaluate_batch(self, model, x_batch, y_batch, a_batch, **kwargs):
            n = len(x_batch)
            order = np.argsort(-np.broadcast_to(a_batch, x_batch.shape).reshape(n, -1), axis=1)
            flipped = x_batch.reshape(n, -1).copy()
            curve = []
            for step in range(max_steps):
                indices = order[:, step * self.features_in_step:(step + 1) * self.features_in_step]
                flipped = self.perturb_func(arr=flipped, indices=indices)
                x_input = model.shape_input(flipped.reshape(x_batch.shape), x_batch.shape, channel_first=True,
                                            batched=True)
                curve.append(model.predict(x_input)[np.arange(n), y_batch])
            return np.stack(curve, axis=1).tolist()

    StoppingPixelFlipping.__name__ = "PixelFlipping"
    return StoppingPixelFlipping
