"""Graph capture: trace a model with torch.fx and attach a split rule to every node (paper A.3).

Tracing, rather than per-architecture patches, covers residual additions written as ``+``/``+=``/``torch.add``,
ReLUs used as modules, functions or methods (in place or not), and a ReLU module used twice (torchvision's
BasicBlock), because every *call* becomes its own node. Anything without a split rule is reported, all at
once and before any computation, by :class:`UnsupportedModelError`.
"""

from __future__ import annotations

import copy
import difflib
import operator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from . import rules as R
from .fingerprint import forward_hooks
from .inplace import functionalize

SUPPORTED_OPERATIONS = (
    "Linear, Conv2d (any stride/padding/dilation/groups, zero padding), BatchNorm1d/2d (eval, running stats), "
    "ReLU / F.relu / torch.relu / .relu() (in place or not), LeakyReLU, ReLU6, Hardtanh, MaxPool2d, AvgPool2d, "
    "AdaptiveAvgPool2d, Flatten / torch.flatten / .view / .reshape / .flatten / .squeeze / .unsqueeze, Dropout (eval), "
    "Identity, .contiguous(), residual addition (+, +=, torch.add, .add), subtraction and multiplication/division by "
    "a number, torch.cat, and shape queries (.size(), .shape, .dim())"
)


class UnsupportedModelError(ValueError):
    """The model contains operations that have no split rule, or cannot be traced."""


@dataclass
class PlannedNode:
    """One traced node with its role: "input", "split" (has a rule), "meta" (shape query), "output"."""

    node: fx.Node
    role: str
    name: str
    rule: R.SplitRule | None = None
    inputs: list[str] = field(default_factory=list)  # fx names of split-valued inputs, in rule order
    scope: tuple[str, ...] = ()  # names of the modules this node was traced inside, outermost first (itself included)


def node_scope(node: fx.Node) -> tuple[str, ...]:
    """Module names enclosing ``node`` in the traced ``forward`` (from fx's ``nn_module_stack``), outermost first;
    a module call is inside its own module too. ``("layer3", "layer3.1")`` for the residual add of ResNet's
    ``layer3.1``."""
    stack = node.meta.get("nn_module_stack") or {}
    names = [value[0] if isinstance(value, tuple) else key for key, value in stack.items()]
    if node.op == "call_module":
        names.append(node.target)
    return tuple(dict.fromkeys(name for name in names if name))


def closest_names(name: Any, candidates: list[str] | tuple[str, ...], count: int = 5) -> list[str]:
    """The ``count`` names of ``candidates`` closest to ``name`` (difflib), for "did you mean" hints."""
    if not isinstance(name, str):
        return []
    return difflib.get_close_matches(name, list(candidates), n=count, cutoff=0.5)


_MAXPOOL_MODES = ("wta", "dc")


def _module_rule(module: nn.Module, maxpool: str) -> R.SplitRule | str:
    """The rule of a leaf module, or a string explaining why there is none."""
    if isinstance(module, nn.Linear):
        return R.LinearRule(module.weight, module.bias)
    if isinstance(module, nn.Conv2d):
        if module.padding_mode != "zeros":
            return f"Conv2d with padding_mode={module.padding_mode!r} (only 'zeros' is supported)"
        try:
            padding = R.conv_padding(module.padding, module.kernel_size, module.dilation)
        except ValueError as error:
            return f"Conv2d: {error}"
        return R.ConvRule(module.weight, module.bias, module.stride, padding, module.dilation, module.groups)
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if module.running_mean is None or module.running_var is None:
            return f"{type(module).__name__} without running statistics (track_running_stats=False) uses batch statistics"
        return R.batchnorm_rule(module)
    if type(module) is nn.ReLU:
        return R.relu_family_rule("ReLU")
    if isinstance(module, nn.LeakyReLU):
        return R.relu_family_rule("LeakyReLU", negative_slope=module.negative_slope)
    if isinstance(module, nn.ReLU6):
        return R.relu_family_rule("ReLU6")
    if type(module) is nn.Hardtanh:
        return R.relu_family_rule("Hardtanh", min_val=module.min_val, max_val=module.max_val)
    if isinstance(module, nn.MaxPool2d):
        if module.return_indices:
            return "MaxPool2d with return_indices=True"
        if maxpool == "dc" and module.dilation not in (1, (1, 1)):
            return "MaxPool2d with dilation in maxpool='dc' mode"
        return R.MaxPoolRule(maxpool, module.kernel_size, module.stride, module.padding, module.dilation, module.ceil_mode)
    if isinstance(module, nn.AvgPool2d):  # a copy: the split is a snapshot of the model (SplitNetwork)
        return R.PositiveLinearRule("AvgPool2d", copy.deepcopy(module))
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return R.PositiveLinearRule("AdaptiveAvgPool2d", copy.deepcopy(module))
    if isinstance(module, nn.Flatten):
        start_dim, end_dim = module.start_dim, module.end_dim
        return R.ReshapeRule("Flatten", lambda t: t.flatten(start_dim, end_dim))
    if isinstance(module, (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout)):
        return R.IdentityRule("Dropout")
    if isinstance(module, nn.Identity):
        return R.IdentityRule("Identity")
    return f"module type {type(module).__name__}"


def _argument(node: fx.Node, position: int, name: str, default: Any) -> Any:
    if len(node.args) > position:
        return node.args[position]
    return node.kwargs.get(name, default)


def _linear_combination(node: fx.Node, is_split) -> R.SplitRule | str:
    """``a + b``, ``a - b``, ``a * c``, ``torch.add(a, b, alpha=...)`` and friends."""
    target = node.target if node.op == "call_function" else node.target.rstrip("_")
    name = getattr(target, "__name__", str(target)).lstrip("i") if node.op == "call_function" else target
    left, right = node.args[0], node.args[1] if len(node.args) > 1 else node.kwargs.get("other")
    alpha = node.kwargs.get("alpha", 1)
    if name in ("add", "sub"):
        sign = 1.0 if name == "add" else -1.0
        if is_split(left) and is_split(right):
            return R.LinearCombinationRule("add" if sign > 0 else "sub", [1.0, sign * alpha], 0.0)
        if is_split(left) and R.is_finite_number(right):
            return R.LinearCombinationRule(name, [1.0], sign * alpha * right)
        if is_split(right) and R.is_finite_number(left):  # number + tensor, number - tensor (e.g. 1 - x)
            return R.LinearCombinationRule(name, [sign * float(alpha)], left)
        return f"{name} of a split tensor with {type(right).__name__ if is_split(left) else type(left).__name__}"
    if name in ("mul", "truediv", "div"):
        if is_split(left) and R.is_finite_number(right):
            factor = right if name == "mul" else 1.0 / right
            return R.LinearCombinationRule(name, [float(factor)], 0.0)
        if name == "mul" and is_split(right) and R.is_finite_number(left):
            return R.LinearCombinationRule(name, [float(left)], 0.0)
        return f"{name} of a split tensor by a tensor (not piecewise linear in the input)"
    return f"operation {name}"


_ADD_FUNCTIONS = {operator.add, operator.iadd, operator.sub, operator.isub, operator.mul, operator.imul,
                  operator.truediv, operator.itruediv, torch.add, torch.sub, torch.mul, torch.div}
_ADD_METHODS = {"add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_"}
_RELU_FUNCTIONS = {F.relu: "ReLU", torch.relu: "ReLU", torch.relu_: "ReLU", F.relu_: "ReLU",
                   F.leaky_relu: "LeakyReLU", F.relu6: "ReLU6", F.hardtanh: "Hardtanh"}
_RESHAPE_METHODS = {"view": torch.Tensor.view, "reshape": torch.Tensor.reshape, "flatten": torch.Tensor.flatten,
                    "squeeze": torch.Tensor.squeeze, "unsqueeze": torch.Tensor.unsqueeze}
_META_METHODS = {"size", "dim"}


def _function_rule(node: fx.Node, is_split, maxpool: str) -> R.SplitRule | str:
    target = node.target
    if target in _RELU_FUNCTIONS:
        kind = _RELU_FUNCTIONS[target]
        params = {}
        if kind == "LeakyReLU":
            params["negative_slope"] = _argument(node, 1, "negative_slope", 0.01)
        if kind == "Hardtanh":
            params["min_val"] = _argument(node, 1, "min_val", -1.0)
            params["max_val"] = _argument(node, 2, "max_val", 1.0)
        return R.relu_family_rule(kind, **params)
    if target in _ADD_FUNCTIONS:
        return _linear_combination(node, is_split)
    if target in (torch.flatten, torch.reshape):
        fn = torch.flatten if target is torch.flatten else torch.reshape
        return R.ReshapeRule(getattr(target, "__name__", "reshape"), fn)
    if target in (torch.cat, torch.concat):
        dim = _argument(node, 1, "dim", 0)
        if dim == 0:
            return "torch.cat along the batch dimension"
        return R.CatRule(dim)
    if target is F.max_pool2d:
        if node.kwargs.get("return_indices") or (len(node.args) > 6 and node.args[6]):
            return "F.max_pool2d with return_indices=True"
        kernel = _argument(node, 1, "kernel_size", None)
        return R.MaxPoolRule(maxpool, kernel, _argument(node, 2, "stride", None), _argument(node, 3, "padding", 0),
                             _argument(node, 4, "dilation", 1), _argument(node, 5, "ceil_mode", False))
    if target in (F.avg_pool2d, F.adaptive_avg_pool2d):
        args, kwargs = node.args[1:], dict(node.kwargs)
        fn = target
        return R.PositiveLinearRule(target.__name__, lambda t: fn(t, *args, **kwargs))
    if target is F.dropout:
        if _argument(node, 2, "training", True):
            return "F.dropout with training=True"
        return R.IdentityRule("dropout")
    return f"function {getattr(target, '__module__', '')}.{getattr(target, '__name__', target)}"


def _method_rule(node: fx.Node, is_split) -> R.SplitRule | str:
    method = node.target
    if method in ("relu", "relu_"):
        return R.relu_family_rule("ReLU")
    if method in _ADD_METHODS:
        return _linear_combination(node, is_split)
    if method in _RESHAPE_METHODS:
        return R.ReshapeRule(method, _RESHAPE_METHODS[method])
    if method == "contiguous":
        return R.IdentityRule("contiguous")
    return f"tensor method .{method}()"


def output_rule(returned: str) -> str:
    """The one rule for what a model may return (``hm.decompose`` and ``hm.explain`` both say it)."""
    return (
        f"the model must return one tensor of logits (N, num_classes), but it returns a {returned}; wrap it in a "
        "module that returns the logits alone, e.g. forward(x) = model(x)['out'] or model(x)[0]"
    )


def check_model(model: Any) -> None:
    """The checks every entry point (``hm.decompose``, ``hm.explain``) makes on the model, each with what to do:
    an ``nn.Module``, not a ``torch.compile`` or ``DataParallel`` wrapper (unwrap it), with real (not meta-device)
    parameters, in eval mode."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}")
    if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        raise TypeError(
            f"the model is wrapped in {type(model).__name__}; explain the wrapped network itself: pass model.module"
        )
    if hasattr(model, "_orig_mod") and type(model).__name__ == "OptimizedModule":
        raise TypeError("the model is a torch.compile wrapper; pass the original module: model._orig_mod")
    meta = [name for name, tensor in [*model.named_parameters(), *model.named_buffers()] if tensor.is_meta]
    if meta:
        raise ValueError(
            f"the model's parameters are on the meta device (no values), e.g. {meta[0]!r}; materialise them first: "
            "model.to_empty(device='cpu') and then load_state_dict(...) (or build the model without device='meta')"
        )
    training = [name or type(model).__name__ for name, module in model.named_modules() if module.training]
    if training:
        shown = ", ".join(training[:5]) + (", ..." if len(training) > 5 else "")
        raise ValueError(
            f"the model is in training mode ({shown}); call model.eval() first: dropout and batch norm are used "
            "with their inference behaviour (frozen running statistics)"
        )


def hooks_message(hooks: list[str]) -> str:
    """The one message for forward hooks the split cannot see (:func:`~.fingerprint.forward_hooks` lists them)."""
    shown = "; ".join(hooks[:5]) + (f"; and {len(hooks) - 5} more" if len(hooks) > 5 else "")
    return (
        f"{shown}: the DC split cannot see what a forward hook computes (torch.fx traces forward alone, so the split "
        "would explain the model without it): remove the hook (handle.remove(), or torch.nn.utils.remove_weight_norm / "
        "remove_spectral_norm(module) for a WeightNorm / SpectralNorm hook) or fold what it does into the module's "
        "forward"
    )


def trace(model: nn.Module) -> fx.GraphModule:
    """Symbolically trace ``model`` (standard torch.nn modules stay leaves).

    Refused, because the trace would silently leave them out: a ``forward`` replaced on an instance, and every
    forward hook and forward pre-hook, on any module or global (:func:`~.fingerprint.forward_hooks`; a hook that
    does not change the output cannot be told from one that does, so all are refused). Backward hooks are
    allowed: they change only the gradients autograd reports, not the function ``f`` that the split decomposes."""
    hooks = forward_hooks(model)
    if hooks:
        raise UnsupportedModelError(hooks_message(hooks))
    patched = [name or "the model" for name, module in model.named_modules()
               if "forward" in vars(module) and (not name or type(module).__module__.startswith("torch.nn"))]
    if patched:
        raise UnsupportedModelError(
            f"forward was replaced on the instance ({', '.join(patched)}); torch.fx traces the class's forward, so the "
            "split would ignore the replacement: define the new forward in an nn.Module subclass instead"
        )
    try:
        return fx.symbolic_trace(model)
    except Exception as error:  # fx raises TraceError, TypeError, ... for data-dependent control flow
        raise UnsupportedModelError(
            f"{type(model).__name__} cannot be traced with torch.fx ({type(error).__name__}: {error}). "
            "Data-dependent control flow (if/for on tensor values) is not supported: the DC decomposition needs a "
            f"static graph of supported operations. Supported: {SUPPORTED_OPERATIONS}."
        ) from error


def plan(model: nn.Module, maxpool: str = "wta") -> tuple[fx.GraphModule, list[PlannedNode]]:
    """Trace ``model`` and attach a split rule to every tensor-valued node.

    Raises :class:`UnsupportedModelError` listing *every* offending node before anything is computed.
    """
    if maxpool not in _MAXPOOL_MODES:
        raise ValueError(f"unknown maxpool mode {maxpool!r}; choose one of {', '.join(_MAXPOOL_MODES)}")
    graph_module = trace(model)
    problems: list[str] = functionalize(graph_module)  # in-place writes read afterwards: what eager mode computes
    modules = dict(graph_module.named_modules())
    split_nodes: set[str] = set()
    planned: list[PlannedNode] = []
    used_names: dict[str, int] = {}

    def is_split(value: Any) -> bool:
        return isinstance(value, fx.Node) and value.name in split_nodes

    def unique(name: str) -> str:
        count = used_names.get(name, 0) + 1
        used_names[name] = count
        return name if count == 1 else f"{name}#{count}"

    placeholders = [n for n in graph_module.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise UnsupportedModelError(
            f"{type(model).__name__}.forward takes {len(placeholders)} inputs; the decomposition needs exactly one tensor input"
        )

    for node in graph_module.graph.nodes:
        inputs = [n for n in node.all_input_nodes if n.name in split_nodes]
        if node.op == "placeholder":
            split_nodes.add(node.name)
            planned.append(PlannedNode(node, "input", unique("input")))
            continue
        if node.op == "output":
            planned.append(PlannedNode(node, "output", "output", inputs=[n.name for n in inputs]))
            continue
        if node.op == "get_attr":
            problems.append(f"node {node.name!r}: reads the parameter/buffer {node.target!r} inside forward "
                            "(only parameters of supported modules are split)")
            split_nodes.add(node.name)
            continue
        if not inputs:
            planned.append(PlannedNode(node, "meta", node.name))  # arithmetic on shapes or constants
            continue
        is_meta = (
            (node.op == "call_method" and node.target in _META_METHODS)
            or (node.op == "call_function" and node.target is getattr and node.args[1] in ("shape", "ndim", "dtype", "device"))
        )
        if is_meta:
            planned.append(PlannedNode(node, "meta", node.name))
            continue
        if node.op == "call_module":
            rule = _module_rule(modules[node.target], maxpool)
            name = unique(node.target)
            where = f"module {node.target!r}"
        elif node.op == "call_function":
            rule = _function_rule(node, is_split, maxpool)
            name = unique(node.name)
            where = f"node {node.name!r}"
        else:
            rule = _method_rule(node, is_split)
            name = unique(node.name)
            where = f"node {node.name!r}"
        if isinstance(rule, str):
            problems.append(f"{where}: {rule}")
            split_nodes.add(node.name)  # its users are tensor-valued too: check them as well
            continue
        split_nodes.add(node.name)
        planned.append(PlannedNode(node, "split", name, rule, [n.name for n in inputs], node_scope(node)))

    if problems:
        listing = "\n  - ".join(problems)
        raise UnsupportedModelError(
            f"{type(model).__name__} contains operations without a DC split rule:\n  - {listing}\n"
            f"Supported: {SUPPORTED_OPERATIONS}. Non-piecewise-linear layers (GELU, SiLU, Softmax, LayerNorm, attention) "
            "have no exact difference-of-convex split of this kind."
        )
    output = planned[-1]
    returned = output.node.args[0] if output.node.args else None
    if output.role != "output" or len(output.inputs) != 1 or not isinstance(returned, fx.Node):
        kind = next((base.__name__ for base in (dict, tuple, list) if isinstance(returned, base)), type(returned).__name__)
        raise UnsupportedModelError(output_rule(kind))
    return graph_module, planned
