"""How the user's model is handled around a call into an attribution library (captum, pytorch-grad-cam,
zennit): shared by :mod:`.captum`, :mod:`.grad_cam` and :mod:`.zennit`.

The user's model is never left modified (checked by the tests):

* in-place activations (torchvision uses ``ReLU(inplace=True)``) break captum's full backward hooks (DeepLift,
  Guided Backprop; pytorch issue 61519) and let forward hooks see values that a later in-place ReLU overwrote.
  Every wrapper runs inside :func:`relu_inplace_disabled`, which switches ``inplace`` off and restores it
  afterwards - except on modules whose in-place effect the model relies on (a call whose result is not assigned,
  ``self.relu(y)`` followed by a use of ``y``): switching those off would change the explained function, so they
  stay in place (:func:`inplace_relied_upon`).
* pytorch-grad-cam calls ``loss.backward()`` and ``model.zero_grad()``; its wrappers freeze the parameters during
  the call (:func:`parameters_frozen`: only activation gradients are needed) and restore both the
  ``requires_grad`` flags and any ``.grad`` the user had.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

#: ``paper_section`` of a baseline the paper lists (section D.3), and of one it does not.
PAPER_BASELINE = "D.3"
EXTRA_BASELINE = "D.3 (extra baseline, not in the paper's list)"


def inplace_relied_upon(model: nn.Module, probe: torch.Tensor | None = None) -> set[nn.Module]:
    """The modules with ``inplace=True`` whose in-place write the model's output depends on: a call whose result is
    not assigned (``self.relu(y)`` and then a use of ``y``). Switching those off would change the function.

    Found on the ``torch.fx`` trace (:func:`~hidden_monotonicity.decomposition.inplace.inplace_writes`). A model that
    cannot be traced is checked on ``probe`` (its first image) instead: if its output changes when the flags are
    switched off, every in-place module is reported (none can be told apart); without a probe none is."""
    from ..decomposition.inplace import inplace_writes

    try:
        traced = torch.fx.symbolic_trace(model)
    except Exception:  # noqa: BLE001 - data-dependent control flow: compare outputs instead
        return _inplace_changes_output(model, probe)
    modules = dict(traced.named_modules())  # the user's own module objects
    return {modules[write.node.target] for write in inplace_writes(traced) if write.node.op == "call_module"}


def _inplace_changes_output(model: nn.Module, probe: torch.Tensor | None) -> set[nn.Module]:
    inplace = [module for module in model.modules() if getattr(module, "inplace", None) is True]
    if probe is None or not inplace:
        return set()
    with torch.no_grad():
        reference = model(probe[:1].clone())
        for module in inplace:
            module.inplace = False
        try:
            changed = not torch.equal(model(probe[:1].clone()), reference)
        finally:
            for module in inplace:
                module.inplace = True
    return set(inplace) if changed else set()


@contextmanager
def relu_inplace_disabled(model: nn.Module, probe: torch.Tensor | None = None) -> Iterator[nn.Module]:
    """Temporarily set ``inplace=False`` on every sub-module whose ``inplace`` flag is True, except on those whose
    in-place write the model relies on (:func:`inplace_relied_upon`; ``probe``: the input, used for models that
    cannot be traced): they stay in place, so the explained function is the model's own."""
    candidates = [module for module in model.modules() if getattr(module, "inplace", None) is True]
    kept = inplace_relied_upon(model, probe) if candidates else set()
    flipped = [module for module in candidates if module not in kept]
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


def input_requiring_grad(x: torch.Tensor) -> torch.Tensor:
    return x.detach().clone().requires_grad_(True)


# ------------------------------------------------------------------------------ model checks for every method


# ----------------------------------------------------------------------------- the ReLU family, by module type


def is_rectifier(module: nn.Module) -> bool:
    """Whether ``module`` computes ``clamp(x, 0, top)``: ``nn.ReLU``, ``nn.ReLU6`` and any ``nn.Hardtanh`` with
    ``min_val == 0`` (``ReLU6`` is ``Hardtanh(0, 6)``) - zero for negative inputs, identity on ``(0, top)``.

    Rules written for ReLU ("pass gradients only through positive activations") are defined on all of them;
    ``ReLU6(x) == ReLU(x)`` wherever ``x < 6``."""
    if isinstance(module, nn.ReLU):
        return True
    return isinstance(module, nn.Hardtanh) and float(module.min_val) == 0.0 and float(module.max_val) > 0.0


#: ReLU-like activations whose negative part is not zero (or that are smooth): a rule written for ReLU's
#: zero/identity branches is not defined on them (:func:`relu_like_without_rectifier_rule` adds Hardtanh with
#: ``min_val != 0``).
RELU_LIKE_NOT_RECTIFIERS: tuple[type[nn.Module], ...] = (
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.ELU,
    nn.CELU,
    nn.SELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Softplus,
)


def relu_like_without_rectifier_rule(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every ReLU-like activation module of ``model`` that is not a rectifier
    (:func:`is_rectifier`): :data:`RELU_LIKE_NOT_RECTIFIERS` and ``nn.Hardtanh`` with ``min_val != 0``."""
    found = []
    for name, module in model.named_modules():
        hardtanh_not_at_zero = isinstance(module, nn.Hardtanh) and not is_rectifier(module)
        if isinstance(module, RELU_LIKE_NOT_RECTIFIERS) or hardtanh_not_at_zero:
            found.append((name, module))
    return found


#: activation functions applied as functions in ``forward`` (invisible to rules that attach to modules)
_FUNCTIONAL_ACTIVATIONS = {
    "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_", "elu", "elu_", "gelu", "silu",
    "mish", "hardswish", "softplus", "selu", "celu", "prelu", "rrelu",
}


def functional_activations(model: nn.Module) -> list[str]:
    """Names of the ``torch.fx`` nodes of ``model`` that apply a ReLU-like activation as a function (``F.relu(x)``,
    ``torch.relu(x)``, ``x.relu()``, ...) rather than through an ``nn.Module``. Rules that attach to activation
    modules (captum's Guided Backprop and DeepLift) never see these calls. A model that ``torch.fx`` cannot trace
    gives ``[]`` (nothing can be told)."""
    try:
        traced = torch.fx.symbolic_trace(model)
    except Exception:  # noqa: BLE001 - data-dependent control flow: cannot inspect the calls
        return []
    found = []
    for node in traced.graph.nodes:
        if node.op == "call_function" and getattr(node.target, "__name__", None) in _FUNCTIONAL_ACTIVATIONS:
            found.append(node.name)
        elif node.op == "call_method" and node.target in _FUNCTIONAL_ACTIVATIONS:
            found.append(node.name)
    return found
