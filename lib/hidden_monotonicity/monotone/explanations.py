"""Per-stream gradient explanations of ``f(x) = g(x) - h(1 - x)`` (paper section F, Fig. 3).

For a class k and an image x in [0, 1] (u = 1 - x the inverted image):

* **g-map** ``dg_k/dx (x)``: for a DM model non-negative, "which present ink raises the score";
* **h-map** ``dh_k/du (u)`` at ``u = 1 - x``: for a DM model non-negative, "which background
  (missing ink) raises the counter-score" -- the paper's counterfactual features [PN];
* **f-map** ``df_k/dx (x)``. By the chain rule ``df_k/dx = dg_k/dx + dh_k/du`` (the minus sign
  of ``-h`` and of ``u = 1 - x`` cancel); :func:`stream_gradients` computes the f-map with a
  separate backward pass through ``model.forward`` so this identity is a real check.

:func:`stream_mass_shares` turns the maps into the numbers behind the Fig. 3 claim: the
share of ``|g-map|`` mass on stroke pixels and of ``|h-map|`` mass on background pixels,
next to the chance levels (fraction of stroke / background pixels). Stroke pixels are those
with intensity ``> stroke_threshold`` (default 0.5, i.e. > 8/16 for sklearn digits).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .model import MonotoneDifference

DEFAULT_STROKE_THRESHOLD = 0.5


@dataclass(frozen=True)
class StreamGradients:
    """Gradient maps ``(N, in_features)`` of the ``targets`` class scores, plus the scores."""

    targets: torch.Tensor  # (N,) explained class per image
    g: torch.Tensor  # dg_k/dx at x
    h: torch.Tensor  # dh_k/du at u = 1 - x
    f: torch.Tensor  # df_k/dx at x (separate backward pass through forward)
    g_scores: torch.Tensor  # (N,) g_k(x)
    h_scores: torch.Tensor  # (N,) h_k(1 - x)
    logits: torch.Tensor  # (N, num_classes) f(x)

    def images(self, side: int) -> dict[str, torch.Tensor]:
        """The three maps reshaped to ``(N, side, side)``."""
        return {name: getattr(self, name).reshape(-1, side, side) for name in ("g", "h", "f")}


def _targets(target: int | torch.Tensor | None, logits: torch.Tensor) -> torch.Tensor:
    n, num_classes = logits.shape
    if target is None:
        targets = logits.argmax(dim=1)
    else:
        targets = torch.as_tensor(target, dtype=torch.long).reshape(-1)
        if targets.numel() == 1:
            targets = targets.expand(n)
        if targets.numel() != n:
            raise ValueError(f"target must be None, one class index or one per image ({n}); got {targets.numel()} values")
    if bool(((targets < 0) | (targets >= num_classes)).any()):
        raise ValueError(f"target classes must lie in [0, {num_classes - 1}], got {targets.tolist()}")
    return targets.clone()


def stream_gradients(model: MonotoneDifference, x: torch.Tensor, target: int | torch.Tensor | None = None) -> StreamGradients:
    """g-, h- and f-gradient maps of the class ``target`` (default: the predicted class).

    ``target`` may be ``None``, one class index for all images, or a tensor with one index per
    image. The model is used as is (call ``model.eval()`` first if it matters); images do not
    interact in these models, so the per-image gradients come from one batched backward pass.
    """
    x = model.flatten_input(x).detach()
    model.check_range(x)
    x_for_g = x.clone().requires_grad_(True)
    u_for_h = (1.0 - x).requires_grad_(True)
    x_for_f = x.clone().requires_grad_(True)
    g_scores_all = model.g(x_for_g)
    h_scores_all = model.h(u_for_h)
    logits = model(x_for_f)
    targets = _targets(target, logits.detach())
    index = targets.to(logits.device).unsqueeze(1)
    g_scores = g_scores_all.gather(1, index).squeeze(1)
    h_scores = h_scores_all.gather(1, index).squeeze(1)
    (g_map,) = torch.autograd.grad(g_scores.sum(), x_for_g, allow_unused=True)
    (h_map,) = torch.autograd.grad(h_scores.sum(), u_for_h, allow_unused=True)
    (f_map,) = torch.autograd.grad(logits.gather(1, index).sum(), x_for_f, allow_unused=True)
    zeros = torch.zeros_like(x)
    return StreamGradients(
        targets=targets,
        g=(zeros if g_map is None else g_map).detach(),
        h=(zeros if h_map is None else h_map).detach(),
        f=(zeros if f_map is None else f_map).detach(),
        g_scores=g_scores.detach(),
        h_scores=h_scores.detach(),
        logits=logits.detach(),
    )


def stroke_mask(x: torch.Tensor, threshold: float = DEFAULT_STROKE_THRESHOLD) -> torch.Tensor:
    """Boolean mask of stroke (ink) pixels: intensity ``> threshold`` for images in [0, 1]."""
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"stroke threshold must lie in [0, 1), got {threshold}")
    return x > threshold


def _mass_share(mass: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Per-image share of ``mass`` inside ``region``; NaN for images with zero total mass."""
    total = mass.sum(dim=1)
    inside = (mass * region).sum(dim=1)
    return torch.where(total > 0, inside / total.clamp(min=torch.finfo(mass.dtype).tiny), torch.full_like(total, float("nan")))


def stream_mass_shares(
    gradients: StreamGradients, x: torch.Tensor, threshold: float = DEFAULT_STROKE_THRESHOLD
) -> dict[str, float]:
    """The Fig. 3 numbers for a batch (each a mean over images; images whose map is all zero are skipped).

    Returns ``g_mass_on_stroke`` (share of ``|dg/dx|`` on stroke pixels), ``h_mass_on_background``
    (share of ``|dh/du|`` on background pixels), ``f_mass_on_stroke`` (share of ``|df/dx|`` on
    stroke pixels), the chance levels ``stroke_fraction`` / ``background_fraction`` (mean
    fraction of stroke / background pixels per image) and the lifts
    ``g_lift = g_mass_on_stroke / stroke_fraction``, ``h_lift = h_mass_on_background / background_fraction``,
    and ``g_zero_maps`` / ``h_zero_maps``: the share of images whose g- / h-map is identically zero
    (a *dead stream*: e.g. all ReLUs of h off, so h is constant and explains nothing).
    """
    x = x.reshape(x.shape[0], -1)
    if x.shape != gradients.g.shape:
        raise ValueError(f"images {tuple(x.shape)} do not match the gradient maps {tuple(gradients.g.shape)}")
    stroke = stroke_mask(x, threshold).to(gradients.g.dtype)
    background = 1.0 - stroke
    g_share = torch.nanmean(_mass_share(gradients.g.abs(), stroke))
    h_share = torch.nanmean(_mass_share(gradients.h.abs(), background))
    f_share = torch.nanmean(_mass_share(gradients.f.abs(), stroke))
    stroke_fraction = float(stroke.mean())
    background_fraction = 1.0 - stroke_fraction
    return {
        "g_mass_on_stroke": float(g_share),
        "h_mass_on_background": float(h_share),
        "f_mass_on_stroke": float(f_share),
        "stroke_fraction": stroke_fraction,
        "background_fraction": background_fraction,
        "g_lift": float(g_share) / stroke_fraction if stroke_fraction > 0 else float("nan"),
        "h_lift": float(h_share) / background_fraction if background_fraction > 0 else float("nan"),
        "g_zero_maps": float((gradients.g == 0).all(dim=1).double().mean()),
        "h_zero_maps": float((gradients.h == 0).all(dim=1).double().mean()),
    }
