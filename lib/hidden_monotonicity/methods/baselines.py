"""The paper's baseline explanations (section D.3) as thin wrappers over maintained libraries.

Nothing here re-implements an attribution method: each function calls captum 0.9,
pytorch-grad-cam 1.5.7 or zennit 0.5.1 and only adapts inputs and outputs (per-sample targets,
channel reduction - see :mod:`.postprocess` for the full table). Registered names:

* captum: ``saliency``, ``saliency_abs``, ``input_x_gradient``, ``guided_backprop``,
  ``integrated_gradients``, ``deeplift``, ``gradient_shap``, ``occlusion``, ``feature_ablation``;
* pytorch-grad-cam: ``gradcam``, ``gradcam_pp``, ``layercam``, ``xgradcam`` (``layer`` parameter);
* zennit: ``lrp_epsilon``, ``lrp_gamma`` (gamma = 0.25 as in the paper's VGG16 table),
  ``lrp_epsilon_plus_flat``.

The paper names Guided Backprop, LayerCAM, LRP-gamma (0.25), DeepLift, Integrated Gradients,
Gradient SHAP, GradCAM++, Occlusion and Feature Ablation ("etc."); the plain gradient, Grad-CAM,
XGrad-CAM and the two other LRP composites are extra baselines.

The user's model is never left modified (checked by the tests):

* in-place activations (torchvision uses ``ReLU(inplace=True)``) break captum's full backward
  hooks (DeepLift, Guided Backprop; pytorch issue 61519) and let forward hooks see values that a
  later in-place ReLU overwrote. Every wrapper runs inside :func:`relu_inplace_disabled`, which
  switches ``inplace`` off and restores it afterwards. Results are identical; hooks see the
  tensor each layer produced.
* captum's DeepLift stores per-module state and refuses modules called twice in one forward
  (torchvision's ``BasicBlock`` calls ``self.relu`` twice). :func:`single_use_modules` builds a
  ``torch.fx`` trace of the model in which every repeated parameter-free module call gets its own
  copy; all parameters stay shared with the user's model (no weight copy).
* pytorch-grad-cam calls ``loss.backward()`` and ``model.zero_grad()``; its wrappers freeze the
  parameters during the call (only activation gradients are needed) and restore both the
  ``requires_grad`` flags and any ``.grad`` the user had.

Everything runs on the input's device; stochastic methods (``gradient_shap``) are seeded and do
not touch the global RNG state.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .postprocess import sum_over_channels
from .registry import register_method, resolve_layer

# ------------------------------------------------------------------------------ model handling


@contextmanager
def relu_inplace_disabled(model: nn.Module) -> Iterator[nn.Module]:
    """Temporarily set ``inplace=False`` on every sub-module whose ``inplace`` flag is True."""
    flipped = [module for module in model.modules() if getattr(module, "inplace", None) is True]
    for module in flipped:
        module.inplace = False
    try:
        yield model
    finally:
        for module in flipped:
            module.inplace = True


@contextmanager
def parameters_frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Temporarily set ``requires_grad=False`` on all parameters; restore the flags and ``.grad`` after."""
    saved = [(parameter, parameter.requires_grad, parameter.grad) for parameter in model.parameters()]
    for parameter, _, _ in saved:
        parameter.requires_grad_(False)
    try:
        yield model
    finally:
        for parameter, requires_grad, grad in saved:
            parameter.requires_grad_(requires_grad)
            parameter.grad = grad


def single_use_modules(model: nn.Module) -> nn.Module:
    """A ``torch.fx`` trace of ``model`` in which no parameter-free module is called twice.

    Each repeated call of a module without parameters or buffers (e.g. the shared ``self.relu``
    of torchvision's ``BasicBlock``) is re-targeted to a fresh deep copy; every other module,
    hence every parameter, is the user's own object. Returns ``model`` itself when no module is
    reused or when the model cannot be traced (captum then reports any reuse itself). Raises
    ``ValueError`` when a module *with* parameters is called twice (it cannot be split).
    """
    try:
        traced = torch.fx.symbolic_trace(model)
    except Exception:  # noqa: BLE001 - untraceable models are explained as they are
        return model
    seen: set[str] = set()
    copies = 0
    for node in traced.graph.nodes:
        if node.op != "call_module":
            continue
        if node.target in seen:
            module = traced.get_submodule(node.target)
            if any(True for _ in module.parameters()) or any(True for _ in module.buffers()):
                raise ValueError(
                    f"module {node.target!r} ({type(module).__name__}) holds parameters and is called more than "
                    "once per forward pass; captum's DeepLift cannot explain such a model"
                )
            copies += 1
            new_name = f"_single_use_{copies}_{node.target.replace('.', '_')}"
            traced.add_submodule(new_name, copy.deepcopy(module))
            node.target = new_name
        else:
            seen.add(node.target)
    if copies == 0:
        return model
    traced.recompile()
    return traced


@contextmanager
def seeded_random_state(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch (CPU and ``device``) and numpy's global RNGs inside, restore the caller's states after.

    captum draws GradientShap's baselines with ``np.random`` and its noise with ``torch.normal``.
    """
    cuda_devices = []
    if device.type == "cuda":
        cuda_devices = [device.index if device.index is not None else torch.cuda.current_device()]
    numpy_state = np.random.get_state()
    try:
        with torch.random.fork_rng(devices=cuda_devices):
            torch.default_generator.manual_seed(seed)
            for index in cuda_devices:  # only the input's device: fork_rng restores just that one
                with torch.cuda.device(index):
                    torch.cuda.manual_seed(seed)
            np.random.seed(seed)
            yield
    finally:
        np.random.set_state(numpy_state)


def _input_requiring_grad(x: torch.Tensor) -> torch.Tensor:
    return x.detach().clone().requires_grad_(True)


@contextmanager
def _captum_notices_silenced() -> Iterator[None]:
    """Silence captum's informational 'setting hooks' warnings (they fire on every call)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Setting (forward, )?backward hooks", category=UserWarning)
        warnings.filterwarnings(
            "ignore", message=r"Input Tensor \d+ did not already require", category=UserWarning
        )
        yield


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _default_patch(x: torch.Tensor, value: int | None, name: str) -> int:
    """``value`` if given, else one eighth of the shorter image side (28 px at 224, 8 px at 64)."""
    if value is None:
        return max(1, round(min(x.shape[-2:]) / 8))
    size = _positive_int(name, value)
    if size > min(x.shape[-2:]):
        raise ValueError(f"{name}={size} is larger than the image ({tuple(x.shape[-2:])})")
    return size


# ------------------------------------------------------------------------------------- captum

_PAPER_BASELINE = "D.3"  # listed among the paper's baselines
_EXTRA_BASELINE = "D.3 (extra baseline, not in the paper's list)"


@register_method(
    "saliency",
    family="captum",
    defaults={},
    description="signed input gradient d logit_t / d x (captum Saliency, abs=False), summed over colour channels",
    paper_section=_EXTRA_BASELINE,
)
def saliency(model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    from captum.attr import Saliency

    with relu_inplace_disabled(model), _captum_notices_silenced():
        attributions = Saliency(model).attribute(_input_requiring_grad(x), target=targets, abs=False)
    return sum_over_channels(attributions)


@register_method(
    "saliency_abs",
    family="captum",
    defaults={},
    description="absolute input gradient |d logit_t / d x| (captum Saliency default), summed over colour channels",
    paper_section=_EXTRA_BASELINE,
)
def saliency_abs(model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    from captum.attr import Saliency

    with relu_inplace_disabled(model), _captum_notices_silenced():
        attributions = Saliency(model).attribute(_input_requiring_grad(x), target=targets, abs=True)
    return sum_over_channels(attributions)


@register_method(
    "input_x_gradient",
    family="captum",
    defaults={},
    description="input times gradient (captum InputXGradient), summed over colour channels",
    paper_section=_EXTRA_BASELINE,
)
def input_x_gradient(model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    from captum.attr import InputXGradient

    with relu_inplace_disabled(model), _captum_notices_silenced():
        attributions = InputXGradient(model).attribute(_input_requiring_grad(x), target=targets)
    return sum_over_channels(attributions)


@register_method(
    "guided_backprop",
    family="captum",
    defaults={},
    description="Guided Backpropagation (captum GuidedBackprop, nn.ReLU backward clamped), summed over colour channels",
    paper_section=_PAPER_BASELINE,
)
def guided_backprop(model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    from captum.attr import GuidedBackprop

    with relu_inplace_disabled(model), _captum_notices_silenced():
        attributions = GuidedBackprop(model).attribute(_input_requiring_grad(x), target=targets)
    return sum_over_channels(attributions)


@register_method(
    "integrated_gradients",
    family="captum",
    defaults={"n_steps": 50, "baseline": 0.0, "integration": "gausslegendre", "internal_batch_size": 32},
    description=(
        "Integrated Gradients from a constant baseline image (captum IntegratedGradients; n_steps quadrature "
        "points, internal_batch_size images per forward pass - memory only), summed over colour channels"
    ),
    paper_section=_PAPER_BASELINE,
)
def integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    *,
    n_steps: int,
    baseline: float,
    integration: str,
    internal_batch_size: int | None,
) -> torch.Tensor:
    from captum.attr import IntegratedGradients

    _positive_int("n_steps", n_steps)
    if internal_batch_size is not None:
        _positive_int("internal_batch_size", internal_batch_size)
    with relu_inplace_disabled(model), _captum_notices_silenced():
        attributions = IntegratedGradients(model).attribute(
            _input_requiring_grad(x),
            baselines=float(baseline),
            target=targets,
            n_steps=n_steps,
            method=integration,
            internal_batch_size=internal_batch_size,
        )
    return sum_over_channels(attributions)


@register_method(
    "deeplift",
    family="captum",
    defaults={"baseline": 0.0},
    description="DeepLIFT Rescale rule from a constant baseline image (captum DeepLift), summed over colour channels",
    paper_section=_PAPER_BASELINE,
)
def deeplift(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, *, baseline: float) -> torch.Tensor:
    from captum.attr import DeepLift

    with relu_inplace_disabled(model), _captum_notices_silenced():
        explained = single_use_modules(model)
        attributions = DeepLift(explained).attribute(
            _input_requiring_grad(x), target=targets, baselines=float(baseline)
        )
    return sum_over_channels(attributions)


@register_method(
    "gradient_shap",
    family="captum",
    defaults={"n_samples": 16, "stdevs": 0.1, "n_random_baselines": 4, "seed": 0},
    description=(
        "Gradient SHAP (captum GradientShap): expected gradients over n_samples draws of a baseline - the zero "
        "image or one of n_random_baselines N(0,1) images - with N(0, stdevs^2) input noise; seeded, each image "
        "explained with the same draws (independent of the batch), summed over colour channels"
    ),
    paper_section=_PAPER_BASELINE,
)
def gradient_shap(
    model: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    *,
    n_samples: int,
    stdevs: float,
    n_random_baselines: int,
    seed: int,
) -> torch.Tensor:
    from captum.attr import GradientShap

    _positive_int("n_samples", n_samples)
    if isinstance(n_random_baselines, bool) or not isinstance(n_random_baselines, int) or n_random_baselines < 0:
        raise ValueError(f"n_random_baselines must be a non-negative integer, got {n_random_baselines!r}")
    # drawn on the CPU, so that the baselines are the same on every device
    generator = torch.Generator().manual_seed(int(seed))
    random_baselines = torch.randn((n_random_baselines, *x.shape[1:]), generator=generator).to(x)
    baselines = torch.cat([torch.zeros_like(x[:1]), random_baselines])
    per_image = []
    with relu_inplace_disabled(model), _captum_notices_silenced():
        explainer = GradientShap(model)
        for index in range(x.shape[0]):
            with seeded_random_state(int(seed), x.device):
                per_image.append(
                    explainer.attribute(
                        _input_requiring_grad(x[index : index + 1]),
                        baselines=baselines,
                        n_samples=n_samples,
                        stdevs=float(stdevs),
                        target=targets[index : index + 1],
                    )
                )
    return sum_over_channels(torch.cat(per_image))


@register_method(
    "occlusion",
    family="captum",
    defaults={"window": None, "stride": None, "baseline": 0.0, "perturbations_per_eval": 8},
    description=(
        "Occlusion (captum Occlusion): mean logit drop when a window x window patch (all channels) is set to "
        "baseline; window None = 1/8 of the shorter side (28 px at 224), stride None = window // 2; "
        "summed over colour channels"
    ),
    paper_section=_PAPER_BASELINE,
)
def occlusion(
    model: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    *,
    window: int | None,
    stride: int | None,
    baseline: float,
    perturbations_per_eval: int,
) -> torch.Tensor:
    from captum.attr import Occlusion

    side = _default_patch(x, window, "window")
    step = max(1, side // 2) if stride is None else _positive_int("stride", stride)
    _positive_int("perturbations_per_eval", perturbations_per_eval)
    channels = x.shape[1]
    with relu_inplace_disabled(model), torch.no_grad():
        attributions = Occlusion(model).attribute(
            x.detach(),
            sliding_window_shapes=(channels, side, side),
            strides=(channels, step, step),
            baselines=float(baseline),
            target=targets,
            perturbations_per_eval=perturbations_per_eval,
        )
    return sum_over_channels(attributions)


def square_patch_mask(height: int, width: int, patch: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Feature mask ``(1, 1, H, W)`` numbering ``patch x patch`` squares row by row from 0 (edges may be smaller)."""
    columns = math.ceil(width / patch)
    rows = torch.arange(height, device=device) // patch
    cols = torch.arange(width, device=device) // patch
    return (rows[:, None] * columns + cols[None, :])[None, None]


@register_method(
    "feature_ablation",
    family="captum",
    defaults={"patch_size": None, "baseline": 0.0, "perturbations_per_eval": 8},
    description=(
        "Feature Ablation (captum FeatureAblation) over a grid of patch_size x patch_size squares (all channels "
        "together) set to baseline; patch_size None = 1/8 of the shorter side; summed over colour channels"
    ),
    paper_section=_PAPER_BASELINE,
)
def feature_ablation(
    model: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    *,
    patch_size: int | None,
    baseline: float,
    perturbations_per_eval: int,
) -> torch.Tensor:
    from captum.attr import FeatureAblation

    side = _default_patch(x, patch_size, "patch_size")
    _positive_int("perturbations_per_eval", perturbations_per_eval)
    mask = square_patch_mask(x.shape[-2], x.shape[-1], side, device=x.device)
    with relu_inplace_disabled(model), torch.no_grad():
        attributions = FeatureAblation(model).attribute(
            x.detach(),
            baselines=float(baseline),
            target=targets,
            feature_mask=mask,
            perturbations_per_eval=perturbations_per_eval,
        )
    return sum_over_channels(attributions)


# ---------------------------------------------------------------------------- pytorch-grad-cam


def _grad_cam(
    cam_class_name: str, model: nn.Module, x: torch.Tensor, targets: torch.Tensor, layer: str
) -> torch.Tensor:
    """Run a pytorch-grad-cam class on one layer; returns its (N, 1, H, W) maps unchanged (min-max scaled)."""
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cam_class = getattr(pytorch_grad_cam, cam_class_name)
    target_layer = resolve_layer(model, layer)
    per_sample_targets = [ClassifierOutputTarget(int(target)) for target in targets.tolist()]
    maps = None
    failure = (
        f"pytorch-grad-cam {cam_class_name} failed on layer {layer!r}: a CAM layer must output a (N, C, h, w) "
        "feature map during the forward pass"
    )
    with relu_inplace_disabled(model), parameters_frozen(model):
        # frozen parameters: only activation gradients are computed, so the input must carry the graph
        try:
            with cam_class(model=model, target_layers=[target_layer]) as cam:
                maps = cam(input_tensor=_input_requiring_grad(x), targets=per_sample_targets)
        except (AttributeError, ValueError) as error:  # e.g. a layer never called, or a 2-D output
            raise ValueError(f"{failure} ({type(error).__name__}: {error})") from error
    if maps is None:  # BaseCAM.__exit__ swallows IndexError (it only prints it)
        raise ValueError(failure)
    return torch.from_numpy(maps).to(x.device).unsqueeze(1)


@register_method(
    "gradcam",
    family="grad-cam",
    defaults={},
    description="Grad-CAM (pytorch-grad-cam GradCAM): ReLU(sum_c mean(grad_c) A_c), min-max scaled, resized",
    paper_section=_EXTRA_BASELINE,
    needs_layer=True,
)
def gradcam(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, *, layer: str) -> torch.Tensor:
    return _grad_cam("GradCAM", model, x, targets, layer)


@register_method(
    "gradcam_pp",
    family="grad-cam",
    defaults={},
    description="Grad-CAM++ (pytorch-grad-cam GradCAMPlusPlus), min-max scaled, resized",
    paper_section=_PAPER_BASELINE,
    needs_layer=True,
)
def gradcam_pp(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, *, layer: str) -> torch.Tensor:
    return _grad_cam("GradCAMPlusPlus", model, x, targets, layer)


@register_method(
    "layercam",
    family="grad-cam",
    defaults={},
    description="LayerCAM (pytorch-grad-cam LayerCAM): ReLU(sum_c ReLU(grad_c) * A_c), min-max scaled, resized",
    paper_section=_PAPER_BASELINE,
    needs_layer=True,
)
def layercam(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, *, layer: str) -> torch.Tensor:
    return _grad_cam("LayerCAM", model, x, targets, layer)


@register_method(
    "xgradcam",
    family="grad-cam",
    defaults={},
    description="XGrad-CAM (pytorch-grad-cam XGradCAM), min-max scaled, resized",
    paper_section=_EXTRA_BASELINE,
    needs_layer=True,
)
def xgradcam(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, *, layer: str) -> torch.Tensor:
    return _grad_cam("XGradCAM", model, x, targets, layer)


# -------------------------------------------------------------------------------------- zennit


def canonizers_for(model: nn.Module) -> list[Any]:
    """The zennit canonizers that fit ``model`` (fresh instances; canonizers hold per-model state).

    * any torchvision ``BasicBlock``/``Bottleneck`` -> ``[ResNetCanonizer()]`` (merges each
      batch norm into the preceding conv and routes the residual ``+`` through a ``Sum`` module,
      which gets zennit's Norm rule);
    * otherwise any batch norm -> ``[SequentialMergeBatchNorm()]`` (VGG-BN style: a batch norm
      right after a conv/linear in registration order is folded into it);
    * otherwise none (plain VGG). A batch norm that cannot be merged is skipped by the rules
      (zennit maps it to ``Pass``).
    """
    from torchvision.models.resnet import BasicBlock, Bottleneck
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.torchvision import ResNetCanonizer

    modules = list(model.modules())
    if any(isinstance(module, (BasicBlock, Bottleneck)) for module in modules):
        return [ResNetCanonizer()]
    if any(isinstance(module, nn.modules.batchnorm._BatchNorm) for module in modules):
        return [SequentialMergeBatchNorm()]
    return []


def target_logit_output(targets: torch.Tensor):  # noqa: ANN201 - returns a closure
    """zennit ``attr_output``: the one-hot of each target times the logits, so relevance sums to the logit."""

    def attr_output(output: torch.Tensor) -> torch.Tensor:
        return output * F.one_hot(targets.to(output.device), output.shape[1]).to(output.dtype)

    return attr_output


def _zennit_relevance(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, composite: Any) -> torch.Tensor:
    from zennit.attribution import Gradient

    with relu_inplace_disabled(model):
        with Gradient(model=model, composite=composite) as attributor:
            _, relevance = attributor(x.detach(), target_logit_output(targets))
    return sum_over_channels(relevance)


def _zero_params(zero_bias: bool) -> list[str] | None:
    return ["bias"] if zero_bias else None


@register_method(
    "lrp_epsilon",
    family="zennit",
    defaults={"epsilon": 1e-6, "zero_bias": False},
    description=(
        "LRP-epsilon on every conv and linear layer (zennit; Norm rule on sums and average pools, activations "
        "and merged batch norms pass), relevance starts at the target logit; summed over colour channels"
    ),
    paper_section=_EXTRA_BASELINE,
)
def lrp_epsilon(
    model: nn.Module, x: torch.Tensor, targets: torch.Tensor, *, epsilon: float, zero_bias: bool
) -> torch.Tensor:
    from zennit.composites import LayerMapComposite, layer_map_base
    from zennit.rules import Epsilon
    from zennit.types import Linear as AnyLinear

    rule = Epsilon(epsilon=float(epsilon), zero_params=_zero_params(zero_bias))
    composite = LayerMapComposite(
        layer_map=layer_map_base() + [(AnyLinear, rule)],
        canonizers=canonizers_for(model),
    )
    return _zennit_relevance(model, x, targets, composite)


@register_method(
    "lrp_gamma",
    family="zennit",
    defaults={"gamma": 0.25, "epsilon": 1e-6, "low": None, "high": None, "zero_bias": False},
    description=(
        "LRP-gamma (zennit EpsilonGammaBox: ZBox on the first conv, gamma rule on the other convs, epsilon on "
        "linear layers); low/high None = per-image, per-channel min/max of x; relevance starts at the target logit"
    ),
    paper_section=_PAPER_BASELINE,
)
def lrp_gamma(
    model: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    *,
    gamma: float,
    epsilon: float,
    low: float | torch.Tensor | None,
    high: float | torch.Tensor | None,
    zero_bias: bool,
) -> torch.Tensor:
    from zennit.composites import EpsilonGammaBox

    low_bound = x.detach().amin(dim=(2, 3), keepdim=True) if low is None else torch.as_tensor(low).to(x)
    high_bound = x.detach().amax(dim=(2, 3), keepdim=True) if high is None else torch.as_tensor(high).to(x)
    composite = EpsilonGammaBox(
        low=low_bound,
        high=high_bound,
        epsilon=float(epsilon),
        gamma=float(gamma),
        zero_params=_zero_params(zero_bias),
        canonizers=canonizers_for(model),
    )
    return _zennit_relevance(model, x, targets, composite)


@register_method(
    "lrp_epsilon_plus_flat",
    family="zennit",
    defaults={"epsilon": 1e-6, "zero_bias": False},
    description=(
        "LRP with zennit's EpsilonPlusFlat composite (Flat on the first layer, ZPlus on convs, epsilon on linear "
        "layers); relevance starts at the target logit; summed over colour channels"
    ),
    paper_section=_EXTRA_BASELINE,
)
def lrp_epsilon_plus_flat(
    model: nn.Module, x: torch.Tensor, targets: torch.Tensor, *, epsilon: float, zero_bias: bool
) -> torch.Tensor:
    from zennit.composites import EpsilonPlusFlat

    composite = EpsilonPlusFlat(
        epsilon=float(epsilon), zero_params=_zero_params(zero_bias), canonizers=canonizers_for(model)
    )
    return _zennit_relevance(model, x, targets, composite)
