"""The zennit LRP baselines (paper section D.3): ``lrp_epsilon``, ``lrp_gamma`` (gamma = 0.25 as in the paper's VGG16
table), ``lrp_epsilon_plus_flat``, thin wrappers over zennit 0.5.1 with the canonizers that fit the model
(:func:`canonizers_for`); relevance starts at the target logit (:func:`target_logit_output`).

Each takes a ``layer``: ``"input"`` (the default) is the relevance of the input pixels, summed over the colour
channels; a module name (``"features.8"``, a block or container such as ``"layer2"``: its output) is the relevance
:math:`R^{(l)}` of that module's output activation - the relevance the LRP backward pass hands to layer ``l``, summed
over the layer's channels, a map at the layer's resolution that :func:`~.postprocess.finalize_maps` upsamples like a
CAM (the paper's Fig. 4 compares SplitCAM at a layer with LRP-γ at a layer). See :func:`relevance_at_output`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..decomposition.validation import real_number
from .layers import layer_names, resolve_layer, unknown_layer_message
from .model_guards import EXTRA_BASELINE, PAPER_BASELINE, relu_inplace_disabled
from .postprocess import sum_over_channels
from .registry import register_method


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


#: what to use on models zennit's rules cannot explain
_ALTERNATIVES = "'saliency', 'integrated_gradients' or 'occlusion'"


def _single_tensor_rule_message(method: str, culprit: str) -> str:
    return (
        f"{method}: zennit's LRP rules need modules that take and return a single tensor, but {culprit}; use a "
        f"method that works on such models, e.g. {_ALTERNATIVES}"
    )


def check_single_tensor_modules(model: nn.Module, method: str) -> None:
    """Refuse ``nn.MultiheadAttention``: zennit 0.5.1 counts it among its activations (``zennit.types.Activation``),
    so every composite gives it the Pass rule, whose backward hook returns one gradient for a module with three
    inputs (query, key, value) - torch then fails with "hook 'backward' has returned an incorrect number of values"."""
    attention = [name for name, module in model.named_modules() if isinstance(module, nn.MultiheadAttention)]
    if attention:
        more = f", and {len(attention) - 1} more" if len(attention) > 1 else ""
        culprit = (
            f"{attention[0]!r} (nn.MultiheadAttention{more}) takes query, key and value and returns a tuple (zennit "
            "gives it an activation's Pass rule)"
        )
        raise ValueError(_single_tensor_rule_message(method, culprit))


#: the layer name of the input pixels (the relevance zennit's ``Gradient`` attributor returns)
INPUT_LAYER = "input"


def check_lrp_layer(model: nn.Module, layer: Any, method: str) -> str:
    """``layer`` as the LRP methods read it: ``"input"`` (also for ``None``) or the name of a sub-module of ``model``;
    an unknown name raises ``ValueError`` with the closest names."""
    if layer is None or layer == INPUT_LAYER:
        return INPUT_LAYER
    modules = dict(model.named_modules())
    if not isinstance(layer, str) or not layer or layer not in modules:
        valid = [INPUT_LAYER, *layer_names(model)]
        raise ValueError(f"{method}: " + unknown_layer_message(layer, valid, type(model).__name__,
                                                               "'input' and model.named_modules()"))
    return layer


class relevance_at_output:  # noqa: N801 - used as a context manager, named for what it records
    """Record the LRP relevance at the output of ``module`` during one zennit attribution.

    Why the gradient: zennit computes LRP as a modified gradient - every module with a rule gets a backward hook that
    receives the relevance of its output in place of the gradient and returns the relevance of its input (paper D.3;
    zennit's ``BasicHook``), activations pass it on unchanged, and the attribution at the input is the input's
    "gradient". So the value that arrives at a module's output tensor in this backward pass **is** :math:`R^{(l)}`
    (not the gradient times the output: that holds for the true gradient of an LRP-0 network, which the tests use as
    the independent check). A tensor hook on the output, registered after the composite's hooks, reads it; a module
    whose output feeds several consumers gets the sum, as relevance should.

    Enter it inside the ``Gradient`` context (the composite's hooks must already be registered); after the
    attribution :meth:`relevance` returns the ``(N, C, h, w)`` relevance or raises ``ValueError`` saying why there is
    none (the module never ran, ran more than once, does not return one 4-D tensor, or is not on the path to the
    logits)."""

    def __init__(self, model: nn.Module, layer: str, method: str) -> None:
        self.model, self.layer, self.method = model, layer, method
        self.module = resolve_layer(model, layer)
        self.shapes: list[Any] = []
        self.gradients: list[torch.Tensor] = []

    def _record(self, _module: nn.Module, _inputs: Any, output: Any) -> None:
        self.shapes.append(tuple(output.shape) if torch.is_tensor(output) else type(output).__name__)
        if torch.is_tensor(output) and output.requires_grad:
            output.register_hook(self.gradients.append)

    def __enter__(self) -> "relevance_at_output":
        self._handle = self.module.register_forward_hook(self._record)
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._handle.remove()

    def relevance(self) -> torch.Tensor:
        where = f"{self.method} at layer {self.layer!r}"
        if not self.shapes:
            raise ValueError(f"{where}: the module never ran in the forward pass; choose a layer the model calls, "
                             "e.g. a convolution block output")
        if len(self.shapes) > 1:
            raise ValueError(f"{where}: the module ran {len(self.shapes)} times in one forward pass, so its output "
                             "has no single relevance; choose a module that is called once (e.g. the enclosing block)")
        shape = self.shapes[0]
        if not isinstance(shape, tuple) or len(shape) != 4:
            raise ValueError(f"{where}: its output is {shape}, not a (N, C, h, w) feature map; choose a convolutional "
                             "layer or 'input'")
        if len(self.gradients) != 1:
            raise ValueError(f"{where}: no relevance reached the module's output (it does not lie on the path to the "
                             "logits); choose another layer")
        return self.gradients[0]


def _zennit_relevance(
    model: nn.Module, x: torch.Tensor, targets: torch.Tensor, composite: Any, method: str, layer: Any = INPUT_LAYER
) -> torch.Tensor:
    """The channel sum of the LRP relevance of ``composite`` at ``layer`` (``"input"``: the pixels), ``(N, 1, h, w)``."""
    from zennit.attribution import Gradient

    layer = check_lrp_layer(model, layer, method)
    check_single_tensor_modules(model, method)
    with relu_inplace_disabled(model, x):
        try:
            with Gradient(model=model, composite=composite) as attributor:
                if layer == INPUT_LAYER:
                    _, relevance = attributor(x.detach(), target_logit_output(targets))
                else:
                    with relevance_at_output(model, layer, method) as recorder:
                        attributor(x.detach(), target_logit_output(targets))
                    relevance = recorder.relevance()
        except RuntimeError as error:  # a rule on another module with several inputs or outputs
            if "incorrect number of values" not in str(error):
                raise
            culprit = f"a module of {type(model).__name__} with a rule takes or returns several tensors ({error})"
            raise ValueError(_single_tensor_rule_message(method, culprit)) from error
    return sum_over_channels(relevance.detach())


def _zero_params(zero_bias: bool) -> list[str] | None:
    return ["bias"] if zero_bias else None


#: every LRP method reads the relevance at ``layer`` (``"input"``: the pixels; see :func:`relevance_at_output`)
_LAYER = {"layer": INPUT_LAYER}
_LAYER_DESCRIPTION = "; layer: 'input' (pixels) or a module whose output relevance is summed over its channels"


def _register_epsilon_lrp(name: str, label: str, description: str):
    """Register an LRP composite whose only parameters are ε (epsilon rule) and ``zero_bias`` (extra baselines)."""
    return register_method(name, label=label, family="zennit", defaults={"epsilon": 1e-6, "zero_bias": False, **_LAYER},
                           description=description + _LAYER_DESCRIPTION, paper_section=EXTRA_BASELINE,
                           needs_layer=True, own_layers=True)


@_register_epsilon_lrp(
    "lrp_epsilon", "LRP-ε",
    "LRP-epsilon on every conv and linear layer (zennit; Norm rule on sums and average pools, activations and merged "
    "batch norms pass), relevance starts at the target logit; summed over colour channels",
)
def lrp_epsilon(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, *, epsilon: float, zero_bias: bool,
                layer: str = INPUT_LAYER) -> torch.Tensor:
    from zennit.composites import LayerMapComposite, layer_map_base
    from zennit.rules import Epsilon
    from zennit.types import Linear as AnyLinear

    rule = Epsilon(epsilon=real_number("epsilon", epsilon, low=0.0, low_open=True), zero_params=_zero_params(zero_bias))
    composite = LayerMapComposite(
        layer_map=layer_map_base() + [(AnyLinear, rule)],
        canonizers=canonizers_for(model),
    )
    return _zennit_relevance(model, x, targets, composite, "lrp_epsilon", layer)


@register_method(
    "lrp_gamma",
    label="LRP-γ",
    family="zennit",
    defaults={"gamma": 0.25, "epsilon": 1e-6, "low": None, "high": None, "zero_bias": False, **_LAYER},
    description=(
        "LRP-gamma (zennit EpsilonGammaBox: ZBox on the first conv, gamma rule on the other convs, epsilon on "
        "linear layers); low/high None = per-image, per-channel min/max of x; relevance starts at the target logit"
        + _LAYER_DESCRIPTION
    ),
    paper_section=PAPER_BASELINE,
    needs_layer=True,
    own_layers=True,
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
    layer: str = INPUT_LAYER,
) -> torch.Tensor:
    from zennit.composites import EpsilonGammaBox

    low_bound = x.detach().amin(dim=(2, 3), keepdim=True) if low is None else torch.as_tensor(low).to(x)
    high_bound = x.detach().amax(dim=(2, 3), keepdim=True) if high is None else torch.as_tensor(high).to(x)
    if not (torch.isfinite(low_bound).all() and torch.isfinite(high_bound).all() and (low_bound <= high_bound).all()):
        raise ValueError(f"low and high must be finite with low <= high, got low={low!r}, high={high!r}")
    composite = EpsilonGammaBox(
        low=low_bound,
        high=high_bound,
        epsilon=real_number("epsilon", epsilon, low=0.0, low_open=True),
        gamma=real_number("gamma", gamma, low=0.0),
        zero_params=_zero_params(zero_bias),
        canonizers=canonizers_for(model),
    )
    return _zennit_relevance(model, x, targets, composite, "lrp_gamma", layer)


@_register_epsilon_lrp(
    "lrp_epsilon_plus_flat", "LRP-ε+♭",
    "LRP with zennit's EpsilonPlusFlat composite (Flat on the first layer, ZPlus on convs, epsilon on linear layers); "
    "relevance starts at the target logit; summed over colour channels",
)
def lrp_epsilon_plus_flat(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, *, epsilon: float,
                          zero_bias: bool, layer: str = INPUT_LAYER) -> torch.Tensor:
    from zennit.composites import EpsilonPlusFlat

    composite = EpsilonPlusFlat(
        epsilon=real_number("epsilon", epsilon, low=0.0, low_open=True), zero_params=_zero_params(zero_bias), canonizers=canonizers_for(model)
    )
    return _zennit_relevance(model, x, targets, composite, "lrp_epsilon_plus_flat", layer)
