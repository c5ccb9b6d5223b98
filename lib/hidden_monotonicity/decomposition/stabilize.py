"""Forward stabilisation of the split streams (paper section B.2).

Adding the *same* constant to both streams ``a⁺`` and ``a⁻`` of a unit changes neither the difference
``a⁺ − a⁻`` (so neither ``f = g − h``) nor any of the four sensitivities, which only depend on which
argument of each Maxout wins (paper A.2, corollary of Theorem 1). The streams, however, accumulate a
common mode that grows multiplicatively with depth (B.1): without subtracting it, even float64 keeps no
correct digit of ``g − h`` on VGG16-depth networks. The strategies below subtract a shift
``c ∈ [0, min(a⁺, a⁻)]`` so that both streams stay non-negative.

The engine carries each activation as ``d = a⁺ − a⁻`` and ``s = a⁺ + a⁻`` (see ``rules.py``); a common
shift ``c`` leaves ``d`` unchanged and maps ``s ↦ s − 2c``. With ``m = min(a⁺, a⁻) = (s − |d|)/2``:

==============  =================================================  ===============================
strategy        shift ``c``                                        effect on ``s``
==============  =================================================  ===============================
``"none"``      0                                                  ``s``
``"shift"``     ``m`` (full recentering: one stream is 0)          ``|d|``
``"scale"``     ``(1 − θ)·m`` (keep the fraction θ of the          ``|d| + θ·(s − |d|)``
                common mode; the paper's "sc", θ = 0.1)
``"threshold"`` the "scale" shift, only on units whose larger      as "scale" where
                stream ``max(a⁺, a⁻) = (s + |d|)/2`` exceeds Θ     ``(s+|d|)/2 > Θ``, else ``s``
==============  =================================================  ===============================

θ = 0.1 and Θ = 10 are the paper's constants; the exact form of the three strategies is not published
(digest H.1), so these are parameters. Round-off can make ``s − |d|`` slightly negative; it is clamped
at zero so that both streams stay non-negative.

**When** the strategy runs (``when``, ``hm.decompose(..., stabilize_when=...)``): the paper recenters the streams
"whenever they exceed a threshold" (B.2) and does not say whether the test is per unit or per layer. Both
readings [I] are parameters:

``"always"`` (default)
    after every stabilised layer (Linear, Conv2d, BatchNorm, ReLU family, MaxPool, pooling, residual Add; not
    the output layer, Flatten/reshape, Identity or cat), on every unit;
``"above_threshold"``
    a trigger per layer and per sample: the strategy runs on a sample's whole activation at that layer only if
    the largest stream of any of its units, ``max(a⁺, a⁻) = |d| + (s − |d|)/2``, exceeds Θ (``threshold``, the
    same Θ and ``>`` as the "threshold" strategy); otherwise the streams pass untouched, bit-identical to
    ``"none"`` at that layer. Per sample, so that an explanation does not depend on the rest of the batch.

The per-unit reading is the ``"threshold"`` strategy (the "scale" shift on the units above Θ); with
``when="above_threshold"`` it gives the same streams (a layer without a unit above Θ is untouched by both).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .validation import real_number

STRATEGIES = ("none", "shift", "scale", "threshold")
TRIGGERS = ("always", "above_threshold")


@dataclass(frozen=True)
class Stabilizer:
    """A forward stabilisation strategy with its constants and its trigger (paper B.2; see the module docstring)."""

    strategy: str = "scale"
    theta: float = 0.1
    threshold: float = 10.0
    when: str = "always"

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"unknown stabilisation strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}"
            )
        if self.when not in TRIGGERS:
            raise ValueError(
                f"unknown stabilize_when {self.when!r}; choose one of {', '.join(TRIGGERS)} (when the forward "
                "stabilisation runs: after every layer, or only where a sample's streams exceed the threshold)"
            )
        real_number("theta (the fraction of the common mode kept)", self.theta, low=0.0, high=1.0)
        real_number("threshold", self.threshold, low=0.0)

    def __call__(self, d: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Return the stabilised common-mode stream ``s`` for difference ``d`` (``d`` is never changed)."""
        if self.strategy == "none":
            return s
        magnitude = d.abs()
        if self.when == "always":
            return self.from_parts(magnitude, s - magnitude)
        excess = s - magnitude
        stabilized = stabilized_sum(magnitude, excess, self.strategy, self.theta, self.threshold)
        return torch.where(self.triggered(magnitude, excess), stabilized, s)

    def from_parts(self, magnitude: torch.Tensor, excess: torch.Tensor) -> torch.Tensor:
        """Stabilised ``s`` from ``|d|`` and ``excess = s − |d| = 2·min(a⁺, a⁻)`` (rules that know both fuse this)."""
        stabilized = stabilized_sum(magnitude, excess, self.strategy, self.theta, self.threshold)
        if self.when == "always" or self.strategy == "none":
            return stabilized
        return torch.where(self.triggered(magnitude, excess), stabilized, magnitude + excess)

    def triggered(self, magnitude: torch.Tensor, excess: torch.Tensor) -> torch.Tensor:
        """``when="above_threshold"``: per sample (dimension 0), whether the largest stream of any unit,
        ``max(a⁺, a⁻) = |d| + excess/2``, exceeds Θ; shaped to broadcast over the sample's units."""
        larger_stream = torch.add(magnitude, excess.clamp_min(0.0), alpha=0.5)
        if larger_stream.ndim == 0:
            return larger_stream > self.threshold
        per_sample = larger_stream.reshape(larger_stream.shape[0], -1).amax(1) > self.threshold
        return per_sample.view(-1, *([1] * (larger_stream.ndim - 1)))


def stabilized_sum(
    magnitude: torch.Tensor, excess: torch.Tensor, strategy: str, theta: float, threshold: float
) -> torch.Tensor:
    """Forward stabilisation (paper B.2) in the (d, s) representation, from ``|d|`` and ``s − |d|``;
    see the module docstring."""
    if strategy == "none":
        return magnitude + excess
    if strategy == "shift":
        return magnitude
    excess = excess.clamp_min(0.0)  # round-off can make 2·min(a⁺, a⁻) slightly negative
    scaled = torch.add(magnitude, excess, alpha=theta)
    if strategy == "scale":
        return scaled
    # "threshold": only where the larger stream (s + |d|)/2 = |d| + excess/2 exceeds Θ
    larger_stream = torch.add(magnitude, excess, alpha=0.5)
    return torch.where(larger_stream > threshold, scaled, magnitude + excess)
