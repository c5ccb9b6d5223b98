"""Comparison streams from the ``monotonicnetworks`` library (Lipschitz monotonic networks).

Kitouni, Nolte & Williams, "Expressive Monotonic Neural Networks", ICLR 2023 (arXiv 2307.07512),
PyPI ``monotonicnetworks`` (pinned in ``requirements.txt``). A Lipschitz monotonic network is
``s(x) = n(x) + lambda * sum_i x_i`` where ``n`` is built from ``LipschitzLinear`` layers and
``GroupSort`` activations such that ``|d n_k / d x_i| <= lambda`` for every class k and pixel i;
hence ``d s_k / d x_i >= 0``: each score is **monotone non-decreasing, but not convex**
(GroupSort is not convex).

Our comparison row uses two such networks in the same structure as our DM model,
``f(x) = G(x) - H(1 - x)`` (:class:`.model.MonotoneDifference` with ``kind="lmn"``), so the
per-stream gradient maps are directly comparable. Layer norms: ``"one-inf"`` on the first layer
and ``"inf"`` on the others (the library's recommended choice for a Lipschitz bound from the L1
input norm), each layer with constant ``lambda ** (1 / n_layers)`` so the network is
lambda-Lipschitz; GroupSort with groups of 2 (MaxMin). The residual ``lambda * sum_i x_i`` is
the same for every class, so it does not change the predicted class of a single stream.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

DEFAULT_LMN_HIDDEN: tuple[int, ...] = (128, 128)
# lambda of each stream, chosen on a validation split of the digits training images from {0.5, 1, 2, 4}
# (validation accuracy 0.960 / 0.970 / 0.965 for 1 / 2 / 4 at learning rate 1e-2, mean of 2 seeds)
DEFAULT_LIPSCHITZ_CONST = 2.0


def import_monotonicnetworks():
    """Import ``monotonicnetworks`` or raise an ``ImportError`` that says how to install it."""
    try:
        import monotonicnetworks
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "kind='lmn' needs the 'monotonicnetworks' package (Lipschitz monotonic networks); "
            "install the pinned version from requirements.txt: pip install monotonicnetworks==1.5.1"
        ) from error
    return monotonicnetworks


class LipschitzMonotoneStream(nn.Module):
    """One LMN stream ``(N, in_features) -> (N, num_classes)``, monotone non-decreasing in every input."""

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        hidden: Sequence[int] = DEFAULT_LMN_HIDDEN,
        lipschitz_const: float = DEFAULT_LIPSCHITZ_CONST,
    ) -> None:
        super().__init__()
        lmn = import_monotonicnetworks()
        if lipschitz_const <= 0:
            raise ValueError(f"lipschitz_const must be positive, got {lipschitz_const}")
        if any(int(w) <= 0 or int(w) % 2 for w in hidden):
            raise ValueError(f"kind='lmn' needs positive even hidden widths (GroupSort pairs units), got {tuple(hidden)}")
        widths = [in_features, *hidden, num_classes]
        n_layers = len(widths) - 1
        per_layer = float(lipschitz_const) ** (1.0 / n_layers)
        layers: list[nn.Module] = []
        for i in range(n_layers):
            kind = "one-inf" if i == 0 else "inf"
            layers.append(lmn.LipschitzLinear(widths[i], widths[i + 1], kind=kind, lipschitz_const=per_layer))
            if i < n_layers - 1:
                layers.append(lmn.GroupSort(widths[i + 1] // 2))
        self.in_features, self.num_classes = in_features, num_classes
        self.network = lmn.MonotonicWrapper(
            nn.Sequential(*layers), lipschitz_const=float(lipschitz_const), monotonic_constraints=[1] * in_features
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x.reshape(x.shape[0], self.in_features))


def build_lipschitz_stream(
    in_features: int, num_classes: int, hidden: Sequence[int] | None = None, *, lipschitz_const: float = DEFAULT_LIPSCHITZ_CONST
) -> LipschitzMonotoneStream:
    """LMN stream with ``hidden`` widths (default ``(128, 128)``) and Lipschitz constant ``lipschitz_const``."""
    return LipschitzMonotoneStream(
        in_features, num_classes, tuple(DEFAULT_LMN_HIDDEN if hidden is None else hidden), lipschitz_const
    )
