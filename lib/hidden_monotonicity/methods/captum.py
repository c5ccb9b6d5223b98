"""The captum baselines (paper section D.3) as thin wrappers: each function calls captum 0.9 and only adapts
inputs and outputs (per-sample targets, the colour-channel sum - see :mod:`.postprocess`).

Registered: ``saliency``, ``saliency_abs``, ``input_x_gradient``, ``guided_backprop``, ``integrated_gradients``,
``deeplift``, ``gradient_shap``, ``occlusion``, ``feature_ablation``.

* captum's DeepLift stores per-module state and refuses modules called twice in one forward (torchvision's
  ``BasicBlock`` calls ``self.relu`` twice). :func:`single_use_modules` builds a ``torch.fx`` trace of the model
  in which every repeated parameter-free module call gets its own copy; all parameters stay shared with the
  user's model (no weight copy).
* stochastic methods (``gradient_shap``) are seeded and do not touch the global RNG state
  (:func:`seeded_random_state`).
* the ReLU family: captum's Guided Backprop modifies only ``nn.ReLU`` and its DeepLift applies the Rescale rule
  only to the module types in ``SUPPORTED_NON_LINEAR`` (``nn.ReLU``, ``nn.LeakyReLU``, ``nn.ELU``, ... but not
  ``nn.ReLU6`` or ``nn.Hardtanh``); anywhere else both silently pass plain gradients (Guided Backprop on
  EfficientNet-Lite0, whose activations are all ReLU6, equalled Saliency bit for bit). Here Guided Backprop applies
  its rule at every rectifier (:func:`~.model_guards.is_rectifier`: ReLU, ReLU6, Hardtanh(0, top)) and refuses
  ReLU-like activations on which it is not defined (LeakyReLU, GELU, ...); DeepLift applies the Rescale rule to
  every element-wise activation module (:data:`RESCALE_ACTIVATIONS`). Both refuse activations applied as functions
  (``F.relu``), which no module rule can see.

The model handling shared with the other libraries (in-place activations) is in :mod:`.model_guards`.
"""

from __future__ import annotations

import copy
import functools
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from ..decomposition.validation import real_number
from .model_guards import (
    EXTRA_BASELINE,
    PAPER_BASELINE,
    functional_activations,
    input_requiring_grad,
    is_rectifier,
    relu_like_without_rectifier_rule,
    relu_inplace_disabled,
)
from .postprocess import sum_over_channels
from .registry import register_method


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


def _refuse_functional_activations(model: nn.Module, method: str, rule: str) -> None:
    """Refuse a model that applies an activation as a function (``F.relu(x)``): ``rule`` attaches to modules only."""
    calls = functional_activations(model)
    if calls:
        raise ValueError(
            f"{method}: {type(model).__name__} applies an activation as a function in forward (torch.fx node(s) "
            f"{', '.join(map(repr, calls[:3]))}{', ...' if len(calls) > 3 else ''}); {rule} attaches to activation "
            "modules only, so there it would pass plain gradients: use activation modules (nn.ReLU(), nn.ReLU6(), "
            "...) in forward, or explain with 'saliency' or 'integrated_gradients'"
        )


@functools.lru_cache(maxsize=None)
def _guided_backprop_class():  # noqa: ANN202 - returns a captum class (captum is imported lazily)
    """captum's ``GuidedBackprop`` with its hook registered on every rectifier (:func:`~.model_guards.is_rectifier`),
    not only on ``nn.ReLU``: at ``ReLU6``/``Hardtanh(0, top)`` the gradient that leaves the module backwards is
    ``relu(grad_output * 1[0 < x < top])``, Guided Backprop's rule "only positive gradients, only through positive
    (non-saturated) activations" (Springenberg et al. 2015) - exactly what captum computes at ``nn.ReLU``."""
    from captum.attr import GuidedBackprop
    from captum.attr._core import guided_backprop_deconvnet  # the hook registration captum uses at nn.ReLU

    class RectifierGuidedBackprop(GuidedBackprop):
        def _register_hooks(self, module: nn.Module) -> None:
            if is_rectifier(module):
                hooks = guided_backprop_deconvnet._register_backward_hook(module, self._backward_hook, self)
                self.backward_hooks.extend(hooks)

    return RectifierGuidedBackprop


def _check_guided_backprop_applies(model: nn.Module) -> None:
    """Guided Backprop's rule is defined at rectifiers only: refuse ReLU-like activations (LeakyReLU, GELU, ...),
    which captum would leave unmodified, and activations applied as functions."""
    found = relu_like_without_rectifier_rule(model)
    if found:
        types = sorted({type(module).__name__ for _, module in found})
        name, module = found[0]
        raise ValueError(
            f"guided_backprop: Guided Backprop's rule (pass only positive gradients through positive activations) is "
            f"defined at rectifiers (nn.ReLU, nn.ReLU6, nn.Hardtanh(min_val=0)), but the model has "
            f"{'/'.join(types)} ({len(found)} module(s), e.g. {name!r}: {module}), whose negative part is not zero; "
            "captum would leave those unmodified and mix the rule with plain gradients. Explain this model with "
            "'saliency', 'deeplift' or 'integrated_gradients'"
        )
    _refuse_functional_activations(model, "guided_backprop", "Guided Backprop's rule")


def _gradient_method(captum_class_name: str, **attribute_options: Any):  # noqa: ANN202 - returns the method
    def gradient_attribution(model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        import captum.attr

        if captum_class_name == "GuidedBackprop":
            _check_guided_backprop_applies(model)
            explainer_class = _guided_backprop_class()
        else:
            explainer_class = getattr(captum.attr, captum_class_name)
        with relu_inplace_disabled(model, x), _captum_notices_silenced():
            explainer = explainer_class(model)
            attributions = explainer.attribute(input_requiring_grad(x), target=targets, **attribute_options)
        return sum_over_channels(attributions)

    gradient_attribution.__name__ = gradient_attribution.__qualname__ = f"{captum_class_name}_attribution"
    return gradient_attribution


#: the one-pass gradient methods: name, captum class, its attribute() options, label, description, paper section
_GRADIENT_METHODS = (
    ("saliency", "Saliency", {"abs": False}, "Saliency",
     "signed input gradient d logit_t / d x (captum Saliency, abs=False), summed over colour channels", EXTRA_BASELINE),
    ("saliency_abs", "Saliency", {"abs": True}, "|Saliency|",
     "absolute input gradient |d logit_t / d x| (captum Saliency default), summed over colour channels",
     EXTRA_BASELINE),
    ("input_x_gradient", "InputXGradient", {}, "Input × Gradient",
     "input times gradient (captum InputXGradient), summed over colour channels", EXTRA_BASELINE),
    ("guided_backprop", "GuidedBackprop", {}, "Guided Backprop",
     "Guided Backpropagation (captum GuidedBackprop; backward clamped at every rectifier: ReLU, ReLU6, "
     "Hardtanh(0, top)), summed over colour channels",
     PAPER_BASELINE),
)

for _name, _captum_class, _options, _label, _description, _section in _GRADIENT_METHODS:
    register_method(_name, label=_label, family="captum", defaults={}, description=_description,
                    paper_section=_section)(_gradient_method(_captum_class, **_options))


@register_method(
    "integrated_gradients",
    label="Integrated Gradients",
    family="captum",
    defaults={"n_steps": 50, "baseline": 0.0, "integration": "gausslegendre", "internal_batch_size": 32},
    description=(
        "Integrated Gradients from a constant baseline image (captum IntegratedGradients; n_steps quadrature "
        "points, internal_batch_size images per forward pass - memory only), summed over colour channels"
    ),
    paper_section=PAPER_BASELINE,
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
    from captum.attr._utils.approximation_methods import SUPPORTED_METHODS

    if not isinstance(integration, str) or integration not in SUPPORTED_METHODS:
        allowed = ", ".join(map(repr, SUPPORTED_METHODS))
        raise ValueError(
            f"integration must be one of {allowed} (the quadrature rules of captum's IntegratedGradients, its "
            f"'method' option), got {integration!r}"
        )
    _positive_int("n_steps", n_steps)
    if internal_batch_size is not None:
        _positive_int("internal_batch_size", internal_batch_size)
    with relu_inplace_disabled(model, x), _captum_notices_silenced():
        attributions = IntegratedGradients(model).attribute(
            input_requiring_grad(x),
            baselines=real_number("baseline", baseline),
            target=targets,
            n_steps=n_steps,
            method=integration,
            internal_batch_size=internal_batch_size,
        )
    return sum_over_channels(attributions)


#: element-wise activation modules: DeepLIFT's Rescale rule (multiplier = Δoutput / Δinput, the gradient where
#: Δinput ~ 0) is defined on every one of them (Shrikumar et al. 2017, section 3.5.1)
RESCALE_ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.CELU, nn.SELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Softsign, nn.LogSigmoid,
    nn.Threshold, nn.Hardshrink, nn.Softshrink, nn.Tanhshrink,
)


@functools.lru_cache(maxsize=None)
def _rescale_deeplift_class():  # noqa: ANN202 - returns a captum class (captum is imported lazily)
    """captum's ``DeepLift`` with the Rescale rule on every :data:`RESCALE_ACTIVATIONS` module.

    captum applies it only to the exact types of its ``SUPPORTED_NON_LINEAR`` (ReLU, ELU, LeakyReLU, Sigmoid, Tanh,
    Softplus, plus max-pool and softmax rules); at any other activation - ReLU6 and Hardtanh among them - the plain
    gradient passed, so the summation-to-delta property (sum of attributions = f(x) - f(baseline)) silently broke.
    Those modules get captum's own ``nonlinear`` multiplier here; captum's types keep captum's handling."""
    from captum.attr import DeepLift
    from captum.attr._core import deep_lift

    class RescaleDeepLift(DeepLift):
        def _is_non_linear(self, module: nn.Module) -> bool:
            return super()._is_non_linear(module) or isinstance(module, RESCALE_ACTIVATIONS)

        def _backward_hook(
            self, module: nn.Module, grad_input: torch.Tensor, grad_output: torch.Tensor
        ) -> torch.Tensor:
            if type(module) in deep_lift.SUPPORTED_NON_LINEAR:
                return super()._backward_hook(module, grad_input, grad_output)
            if not self.satisfies_attribute_criteria(module):
                raise RuntimeError(
                    f"DeepLift: module {module} lacks its recorded input/output (is it called twice in forward?)"
                )
            multipliers = deep_lift.nonlinear(module, module.input, module.output, grad_input, grad_output,
                                              eps=self.eps)
            del module.input
            del module.output
            return multipliers

    return RescaleDeepLift


@register_method(
    "deeplift",
    label="DeepLIFT",
    family="captum",
    defaults={"baseline": 0.0},
    description=(
        "DeepLIFT Rescale rule from a constant baseline image (captum DeepLift; the rule at every element-wise "
        "activation module, ReLU6 and Hardtanh included), summed over colour channels"
    ),
    paper_section=PAPER_BASELINE,
)
def deeplift(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, *, baseline: float) -> torch.Tensor:
    _refuse_functional_activations(model, "deeplift", "DeepLIFT's Rescale rule")
    with relu_inplace_disabled(model, x), _captum_notices_silenced():
        explained = single_use_modules(model)
        attributions = _rescale_deeplift_class()(explained).attribute(
            input_requiring_grad(x), target=targets, baselines=real_number("baseline", baseline)
        )
    return sum_over_channels(attributions)


@register_method(
    "gradient_shap",
    label="Gradient SHAP",
    family="captum",
    defaults={"n_samples": 16, "stdevs": 0.1, "n_random_baselines": 4, "seed": 0},
    description=(
        "Gradient SHAP (captum GradientShap): expected gradients over n_samples draws of a baseline - the zero "
        "image or one of n_random_baselines N(0,1) images - with N(0, stdevs^2) input noise; seeded, each image "
        "explained with the same draws (independent of the batch), summed over colour channels"
    ),
    paper_section=PAPER_BASELINE,
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
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(n_random_baselines, bool) or not isinstance(n_random_baselines, int) or n_random_baselines < 0:
        raise ValueError(f"n_random_baselines must be a non-negative integer, got {n_random_baselines!r}")
    # drawn on the CPU, so that the baselines are the same on every device
    generator = torch.Generator().manual_seed(int(seed))
    random_baselines = torch.randn((n_random_baselines, *x.shape[1:]), generator=generator).to(x)
    baselines = torch.cat([torch.zeros_like(x[:1]), random_baselines])
    per_image = []
    with relu_inplace_disabled(model, x), _captum_notices_silenced():
        explainer = GradientShap(model)
        for index in range(x.shape[0]):
            with seeded_random_state(int(seed), x.device):
                per_image.append(
                    explainer.attribute(
                        input_requiring_grad(x[index : index + 1]),
                        baselines=baselines,
                        n_samples=n_samples,
                        stdevs=real_number("stdevs", stdevs, low=0.0),
                        target=targets[index : index + 1],
                    )
                )
    return sum_over_channels(torch.cat(per_image))


@register_method(
    "occlusion",
    label="Occlusion",
    family="captum",
    defaults={"window": None, "stride": None, "baseline": 0.0, "perturbations_per_eval": 8},
    description=(
        "Occlusion (captum Occlusion): mean logit drop when a window x window patch (all channels) is set to "
        "baseline; window None = 1/8 of the shorter side (28 px at 224), stride None = window // 2; "
        "summed over colour channels"
    ),
    paper_section=PAPER_BASELINE,
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
    with relu_inplace_disabled(model, x), torch.no_grad():
        attributions = Occlusion(model).attribute(
            x.detach(),
            sliding_window_shapes=(channels, side, side),
            strides=(channels, step, step),
            baselines=real_number("baseline", baseline),
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
    label="Feature Ablation",
    family="captum",
    defaults={"patch_size": None, "baseline": 0.0, "perturbations_per_eval": 8},
    description=(
        "Feature Ablation (captum FeatureAblation) over a grid of patch_size x patch_size squares (all channels "
        "together) set to baseline; patch_size None = 1/8 of the shorter side; summed over colour channels"
    ),
    paper_section=PAPER_BASELINE,
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
    with relu_inplace_disabled(model, x), torch.no_grad():
        attributions = FeatureAblation(model).attribute(
            x.detach(),
            baselines=real_number("baseline", baseline),
            target=targets,
            feature_mask=mask,
            perturbations_per_eval=perturbations_per_eval,
        )
    return sum_over_channels(attributions)
