"""Per-stream gradient explanations of ``f(x) = g(x) - h(1 - x)`` (paper section F, Fig. 3).

For a class k and an image x in [0, 1] (u = 1 - x the inverted image, the h-stream's input by default):

* **g-map** ``dg_k/dx (x)``: for a DM model non-negative, "which present ink raises the score";
* **h-map** ``dh_k/du (u)`` at ``u = 1 - x``: for a DM model non-negative, "which background
  (missing ink) raises the counter-score" -- the paper's counterfactual features [PN];
* **f-map** ``df_k/dx (x)``. By the chain rule ``df_k/dx = dg_k/dx + dh_k/du`` (the minus sign
  of ``-h`` and of ``u = 1 - x`` cancel); :func:`stream_gradients` computes the f-map with a
  separate backward pass through ``model.forward`` so this identity is a real check.

For a DM model both maps are ``>= 0``, so ``df_k/dx >= 0``: every logit is non-decreasing in every pixel
(:func:`monotonicity_check` measures it on a batch). **The identity form** (``h_input="identity"``,
``f = g(x) - h(x)``): the h-stream reads ``u = x``, the h-map is ``dh_k/dx`` ("which present ink raises the
counter-score") and ``df_k/dx = dg_k/dx - dh_k/dx`` (:attr:`StreamGradients.h_sign` is -1), which for DM has
either sign. ``h_mass_on_background`` is computed the same way for both forms; for the identity form the
h-stream does not read the background as bright pixels, so the Fig. 3 reading ("missing ink") does not apply.

:func:`stream_mass_shares` turns the maps into the numbers behind the Fig. 3 claim: the
share of ``|g-map|`` mass on stroke pixels and of ``|h-map|`` mass on background pixels,
next to the chance levels (fraction of stroke / background pixels). Stroke pixels are those
with intensity ``> stroke_threshold`` (default 0.5, i.e. > 8/16 for sklearn digits).

**Split sensitivities** (paper B.3 applied to these models). :func:`split_sensitivities` runs the DC
decomposition engine on :meth:`MonotoneDifference.as_plain_network` (``hm.decompose``, float64, no
forward stabilisation, input split ``(x, 0)``, which for x in [0, 1] is also the "center" split) and
returns the four sensitivities ``δ^{±,g} = ∂G/∂x^±``, ``δ^{±,h} = ∂H/∂x^±`` at the input as pixel maps,
where ``G``, ``H`` are the *engine's* output streams (``G - H = f``). Relations to the model's own stream
gradients ``∂g/∂x`` (g-map) and ``∂h/∂u`` (h-map) of :func:`stream_gradients`:

* any kind, any α (unit seed): ``δ^{+,g} - δ^{+,h} = δ^{-,h} - δ^{-,g} = ∂f/∂x = ∂g/∂x + ∂h/∂u``;
* α = 0.5 (iterative shift, also after the output): ``δ^{+,g} = δ^{-,h} = ½ ∂f/∂x``,
  ``δ^{-,g} = δ^{+,h} = -½ ∂f/∂x``;
* **DM models, α = 0** (derivation at the end of this item; checked in
  ``tests/monotone/test_decomposable.py``). The engine's streams are **not** the model's g and h. Let
  ``L_s`` (s = g, h) be stream s with every ReLU replaced by the identity and every bias ``b`` by
  ``ReLU(-b)``: an affine, non-decreasing map ``L_s(v) = A_s v + L_s(0)`` with ``A_s >= 0`` the product of
  the stream's (effective) weights (convolutions and the pool included).
  Then, for the target class k (all-ReLUs-active Jacobian rows ``A_{s,k}``)::

      G_k(x) = g_k(x) + L_{h,k}(x) + L_{g,k}(0)          H_k(x) = h_k(1 - x) + L_{h,k}(x) + L_{g,k}(0)
      δ^{+,g} = ∂g/∂x + A_{h,k}      δ^{-,g} = A_{g,k} - ∂g/∂x
      δ^{+,h} = A_{h,k} - ∂h/∂u      δ^{-,h} = A_{g,k} + ∂h/∂u

  i.e. both engine streams are the model's streams plus the *same* affine non-decreasing term; ``A_{s,k}``
  does not depend on x, so each split map is a model stream map plus a fixed, image-independent pixel map;
  the common mode ``δ^{+,·} + δ^{-,·} = A_{g,k} + A_{h,k}`` is the product of the absolute weights (B.3).
  **DM with** ``h_input="identity"`` (same derivation, the h-stream gets ``(x, 0)`` like g): the engine's streams
  are the model's streams plus one *constant*, ``G_k = g_k(x) + L_{g,k}(0) + L_{h,k}(0)``,
  ``H_k = h_k(x) + L_{g,k}(0) + L_{h,k}(0)``, so ``δ^{+,g} = ∂g/∂x``, ``δ^{+,h} = ∂h/∂x``,
  ``δ^{-,g} = A_{g,k} + A_{h,k} - ∂g/∂x``, ``δ^{-,h} = A_{g,k} + A_{h,k} - ∂h/∂x``.
  Derivation: with all weights ``W >= 0`` the split layer is ``z^+ = W a^+ + ReLU(b)``,
  ``z^- = W a^- + ReLU(-b)`` and the ReLU Maxout keeps ``a^- = z^-``, so the − stream of a stream network
  fed ``(p, n)`` is ``L(n)`` whatever p is, and the + stream is ``net(p - n) + L(n)`` (the difference is exact).
  The g-stream gets ``(x, 0)``; ``u = 1 - x`` is split as ``(1 + x^-, x^+) = (1, x)``, so the h-stream gets
  ``(1, x)``; the output ``g - h`` swaps the h-stream's pair. Stabilisation (``stabilize != "none"``) removes
  part of the common term layer by layer, so this closed form holds for ``stabilize="none"`` only. DIC and
  unconstrained streams have mixed-sign weights and no such closed form (the general identities still hold).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch

from .model import MonotoneDifference

DEFAULT_STROKE_THRESHOLD = 0.5


@dataclass(frozen=True)
class StreamGradients:
    """Gradient maps ``(N, in_features)`` of the ``targets`` class scores, plus the scores."""

    targets: torch.Tensor  # (N,) explained class per image
    g: torch.Tensor  # dg_k/dx at x
    h: torch.Tensor  # dh_k/du at the h-stream's input u (1 - x by default, x for h_input="identity")
    f: torch.Tensor  # df_k/dx at x (separate backward pass through forward)
    g_scores: torch.Tensor  # (N,) g_k(x)
    h_scores: torch.Tensor  # (N,) h_k(u)
    logits: torch.Tensor  # (N, num_classes) f(x)
    h_input: str = "inverted"  # the model's h_input: what u is

    @property
    def h_sign(self) -> int:
        """``du/dx`` times -1: ``df/dx = g + h_sign * h`` (+1 for ``u = 1 - x``, -1 for ``u = x``)."""
        return 1 if self.h_input == "inverted" else -1

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
    The h-map is taken at the h-stream's own input ``u = model.h_stream_input(x)`` (``1 - x``, or ``x``
    for ``h_input="identity"``); ``f = g + h_sign * h`` (see :class:`StreamGradients`).
    """
    x = model.flatten_input(x).detach()
    model.check_range(x)
    x_for_g = x.clone().requires_grad_(True)
    u_for_h = model.h_stream_input(x).clone().requires_grad_(True)
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
        h_input=getattr(model, "h_input", "inverted"),
    )


def monotonicity_check(model: MonotoneDifference, x: torch.Tensor, tolerance: float | None = None) -> dict[str, float]:
    """Is every logit non-decreasing in every pixel on these images? The whole input Jacobian, measured.

    Computes ``∂f_k/∂x_i`` for every image, class k and pixel i (one backward pass per class, through
    ``model.forward``) and returns ``min_slope`` (the smallest), ``max_slope`` (the largest),
    ``negative_share`` (share of the (image, class, pixel) slopes below ``-tolerance``) and ``monotone``
    (1.0 if none is, else 0.0). ``tolerance`` defaults to ``64 * eps(dtype) * max|slope|`` (rounding of the
    backward pass). A DM model with ``h_input="inverted"`` is monotone by construction
    (``∂f_k/∂x = g_k'(x) + h_k'(1 - x) >= 0``); with ``"identity"`` (``g_k'(x) - h_k'(x)``) it is not in general.
    """
    x = model.flatten_input(x).detach()
    model.check_range(x)
    x = x.clone().requires_grad_(True)
    logits = model(x)
    slopes = torch.stack(
        [torch.autograd.grad(logits[:, k].sum(), x, retain_graph=k < logits.shape[1] - 1)[0] for k in range(logits.shape[1])],
        dim=1,
    ).detach()  # (N, num_classes, in_features); images do not interact, so row n is image n's Jacobian
    scale = float(slopes.abs().max()) if slopes.numel() else 0.0
    if tolerance is None:
        tolerance = 64 * torch.finfo(slopes.dtype).eps * scale
    negative = slopes < -float(tolerance)
    return {
        "min_slope": float(slopes.min()),
        "max_slope": float(slopes.max()),
        "negative_share": float(negative.double().mean()),
        "monotone": float(not bool(negative.any())),
        "tolerance": float(tolerance),
    }


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


# ---------------------------------------------------------------------------------------------------------
# split sensitivities of the plain export (paper B.3; see the module docstring for their relation to g, h)


@dataclass(frozen=True)
class SplitSensitivities:
    """The engine's four sensitivities of the ``targets`` class at the requested layers.

    ``layers[name]`` is a :class:`hidden_monotonicity.decomposition.LayerRecord` (``a_pos``, ``a_neg``,
    ``delta_pos_g``, ``delta_neg_g``, ``delta_pos_h``, ``delta_neg_h``); at ``"input"`` every tensor is a
    pixel map ``(N, side, side)`` (``(N, in_features)`` if ``in_features`` is not a square), at other layers
    it has that layer's shape. ``g``/``h``: the engine's output streams of the target class (``g - h = f``).
    """

    targets: torch.Tensor
    g: torch.Tensor
    h: torch.Tensor
    alpha: float
    layers: dict = field(default_factory=dict)

    def __getitem__(self, name: str):
        if name not in self.layers:
            raise KeyError(f"layer {name!r} was not requested; available: {', '.join(self.layers)}")
        return self.layers[name]

    @property
    def input(self):
        """The record at ``"input"`` (pixel maps)."""
        return self["input"]


def split_sensitivities(
    model: MonotoneDifference,
    x: torch.Tensor,
    target: int | torch.Tensor | None = None,
    alpha: float = 0.0,
    layers: Sequence[str] = ("input",),
) -> SplitSensitivities:
    """The four split sensitivities (paper B.3) of ``f = g - h`` at ``layers``, the input as pixel maps.

    Runs ``hm.decompose(model.as_plain_network(), stabilize="none", input_split="positive")`` in float64 and
    :meth:`~hidden_monotonicity.decomposition.SplitNetwork.sensitivities` with the α-shift ``alpha``
    (iterative, unit seed). Works for MLP models too (``hm.explain`` wants image batches; this function takes
    every layout the model accepts). ``target``: ``None`` (predicted class), one class for all images or one per
    image. Layer names as in ``hm.decompose(model.as_plain_network()).layer_names`` (e.g. ``"g_stream.relus.1"``).
    The relation to the model's own stream gradients is in the module docstring (for DM at α = 0:
    ``δ^{+,g} = ∂g/∂x + A_h``, ...; for any model at α = 0.5: ``δ^{+,g} = ½ ∂f/∂x``).

    Raises ``ValueError`` for inputs outside [0, 1], a wrong input size, a bad target, an unknown layer
    (``KeyError``), and (from :meth:`MonotoneDifference.as_plain_network`) softplus activations or ``kind="lmn"``.
    """
    from ..decomposition import decompose  # lazy: keeps `import hidden_monotonicity.monotone` light

    if isinstance(layers, str):
        layers = (layers,)
    flat = model.flatten_input(x).detach()
    model.check_range(flat)
    split = decompose(model.as_plain_network(), dtype=torch.float64, stabilize="none", input_split="positive")
    split.check_layers(layers)
    with torch.no_grad():
        logits = model(flat)
    targets = _targets(target, logits)
    inputs = flat  # the model's own input convention: (N, in_features) for the MLP, (N, 1, side, side) for the CNN
    if model.architecture == "cnn":
        side = math.isqrt(model.in_features)
        inputs = flat.reshape(flat.shape[0], 1, side, side)
    result = split.sensitivities(inputs, targets.to(flat.device), layers, alpha=float(alpha))
    records = {}
    for name in layers:
        record = result[name]
        if name == "input":
            record = _as_pixel_maps(record, model.in_features)
        records[name] = record
    return SplitSensitivities(targets=targets, g=result.g, h=result.h, alpha=float(alpha), layers=records)


def _as_pixel_maps(record, in_features: int):
    """The ``"input"`` record with every tensor reshaped to ``(N, side, side)`` (``(N, in_features)`` if not square)."""
    from ..decomposition import LayerRecord

    side = math.isqrt(in_features)
    shape = (side, side) if side * side == in_features else (in_features,)

    def reshape(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(t.shape[0], *shape)

    return LayerRecord(
        record.name, reshape(record.a_pos), reshape(record.a_neg), reshape(record.delta_pos_g),
        reshape(record.delta_neg_g), reshape(record.delta_pos_h), reshape(record.delta_neg_h),
    )
