"""Post-processing of explanation maps: the one place that says what every method's output went through.

Every method function returns a raw map ``(N, 1, h, w)``; :func:`finalize_maps` (called by
:func:`hidden_monotonicity.explain` for every method) then applies, in this order:

1. **upsampling** to the input size ``(H, W)`` with
   ``F.interpolate(mode="bilinear", align_corners=False)`` when ``(h, w)`` is smaller (this is what
   ``cv2.resize`` INTER_LINEAR computes, so it matches pytorch-grad-cam's resizer to ~1e-7);
   input-resolution maps are left untouched;
2. the generic parameter **abs** (``False`` by default for every method; ``True`` takes ``|map|``);
3. cast to **float32**, detach, keep the input's device.

Nothing else is done here: no ReLU, no normalisation (Quantus metrics normalise themselves,
``normalise=True`` by default; note that ``quantus.normalise_by_max`` divides by the maximum of
the whole batch unless ``normalise_func_kwargs={"normalise_axes": (1, 2, 3)}`` is passed).

**Channel reduction.** Input-space attributions ``(N, C, H, W)`` are *summed* over the colour
channels by :func:`sum_over_channels` - the reduction Quantus' own captum and zennit wrappers use
(``reduce_axes=(1,)``, keepdims). Layer methods (CAMs, paper section C's SplitCAM) reduce over the
layer's channels as their definition says.

Per method (library versions: captum 0.9, pytorch-grad-cam 1.5.7, zennit 0.5.1):

| method                | what the library computes                                   | reduction       | raw map size |
|-----------------------|-------------------------------------------------------------|-----------------|--------------|
| saliency              | captum ``Saliency(abs=False)``: signed d logit_t / d x      | sum over C      | input        |
| saliency_abs          | captum ``Saliency(abs=True)`` (captum's default): abs first | sum over C      | input        |
| input_x_gradient      | captum ``InputXGradient``: x * d logit_t / d x              | sum over C      | input        |
| guided_backprop       | captum ``GuidedBackprop``: backward clamped at 0 at every   | sum over C      | input        |
|                       | rectifier (ReLU, ReLU6, Hardtanh(0, t)) [4]                 |                 |              |
| integrated_gradients  | captum ``IntegratedGradients``: Gauss-Legendre, constant    | sum over C      | input        |
|                       | ``baseline``, ``n_steps`` points                            |                 |              |
| deeplift              | captum ``DeepLift``: Rescale rule at every element-wise     | sum over C      | input        |
|                       | activation [4], constant ``baseline``                       |                 |              |
| gradient_shap         | captum ``GradientShap``: seeded baselines and noise         | sum over C      | input        |
| occlusion             | captum ``Occlusion``: C x w x w windows [1]                 | sum over C      | input        |
| feature_ablation      | captum ``FeatureAblation``: square patches over all C [1]   | sum over C      | input        |
| gradcam, gradcam_pp,  | pytorch-grad-cam [2]                                        | layer channels, | input (the   |
| layercam, xgradcam    |                                                             | by the library  | library's)   |
| lrp_epsilon,          | zennit ``Gradient`` attributor, composite, canonizers [3];  | sum over C      | input, or    |
| lrp_gamma,            | ``layer``: the relevance at that module's output            | (layer          | the layer    |
| lrp_epsilon_plus_flat |                                                             | channels)       |              |
| splitcam, splitgrad,  | this paper, section C (``methods/split.py``)                | as defined      | layer or     |
| splitlrp              |                                                             | there           | input        |

[1] The window (patch) spans all C channels, so every channel of a pixel gets the same value and
    the channel sum is C times the logit drop the window (patch) causes.
[2] Channel-weighted activations summed over the layer's channels, then **ReLU**, **per-image
    min-max to [0, 1]** at layer resolution, ``cv2.resize`` (bilinear) to (H, W), ReLU, mean over
    the target layers (one here) and **min-max again**.
[3] ``attr_output = one_hot(target) * logits``, so the relevance sums to the target logit up to
    the rules' epsilon and the relevance the biases absorb (``zero_bias=True`` stops that); the
    canonizers are chosen by ``zennit.canonizers_for`` (``methods/zennit.py``). zennit gives every activation module
    (ReLU6, Hardtanh, LeakyReLU included) the Pass rule; ``nn.MultiheadAttention``, which zennit also counts as an
    activation, is refused.
[4] captum itself handles only ``nn.ReLU`` (Guided Backprop) and its ``SUPPORTED_NON_LINEAR`` types (DeepLift); the
    wrappers in ``methods/captum.py`` extend both to the ReLU family. Guided Backprop refuses ReLU-like activations
    whose negative part is not zero (LeakyReLU, PReLU, Hardtanh(-1, 1), GELU, SiLU, ...), and both refuse
    activations applied as functions (``F.relu``).

CAM baselines refuse a layer whose map is 1×1 (a constant map); see ``grad_cam.check_spatial_extent``.

Consequences worth knowing: pytorch-grad-cam maps are non-negative and lie in [0, 1] per image
(so ``abs`` is a no-op for them and their scale carries no information); every other method
returns signed, unnormalised maps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sum_over_channels(attributions: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W) -> (N, 1, H, W)`` by summing over C (Quantus' reduction for captum/zennit)."""
    if attributions.ndim != 4:
        raise ValueError(f"expected attributions of shape (N, C, H, W), got {tuple(attributions.shape)}")
    return attributions.sum(dim=1, keepdim=True)


def upsample_to(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling (``align_corners=False``) of ``(N, 1, h, w)`` maps to ``size``; a no-op at that size."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps, size=tuple(size), mode="bilinear", align_corners=False)


def finalize_maps(
    maps: torch.Tensor,
    *,
    batch_size: int,
    input_size: tuple[int, int],
    take_abs: bool,
    method: str,
) -> torch.Tensor:
    """Check a method's raw output and apply the shared steps: upsample, optional ``|.|``, float32.

    Raises ``TypeError``/``ValueError`` naming ``method`` when the raw output is not a tensor of
    shape ``(batch_size, 1, h, w)`` with ``h <= H`` and ``w <= W``.
    """
    if not isinstance(maps, torch.Tensor):
        raise TypeError(f"method {method!r} returned {type(maps).__name__}, expected a torch.Tensor (N, 1, h, w)")
    height, width = input_size
    if maps.ndim != 4 or maps.shape[0] != batch_size or maps.shape[1] != 1:
        raise ValueError(
            f"method {method!r} returned shape {tuple(maps.shape)}, expected ({batch_size}, 1, h, w)"
        )
    if maps.shape[2] > height or maps.shape[3] > width:
        raise ValueError(
            f"method {method!r} returned maps of size {tuple(maps.shape[2:])}, larger than the input {input_size}"
        )
    maps = maps.detach()
    if not maps.is_floating_point():
        maps = maps.float()
    maps = upsample_to(maps, (height, width))
    if take_abs:
        maps = maps.abs()
    return maps.to(torch.float32)
