"""In-place operations in a traced graph: find them, and rewrite the graph so that it says what eager mode computes.

A traced graph records ``y.relu_()`` (also ``torch.relu_(y)``, ``F.relu(y, inplace=True)``, ``y.add_(z)``,
``y.mul_(3)``, a module with ``inplace=True`` such as ``nn.ReLU(inplace=True)``) as a node whose *result* may be
ignored by the code: ``y.relu_()`` on a line of its own, ``self.relu(y)`` without ``y = ``. In eager mode the later
uses of ``y`` then see the overwritten values; in the graph they still point at the node that produced ``y``. Any
interpretation of the graph other than running it (the split, which evaluates each node with its own rule) would then
compute a different function.

:func:`inplace_writes` lists every in-place node whose overwritten tensor is read afterwards;
:func:`functionalize` redirects those later reads to the in-place node itself, which is exactly the eager semantics as
long as no other tensor shares the overwritten storage. When one does (the overwritten tensor is a view of another
tensor, or has views, that are read afterwards) the rewrite would be wrong, and the write is reported instead.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

#: functions that always write into their first argument
_INPLACE_FUNCTIONS = {torch.relu_, F.relu_, F.leaky_relu_, F.hardtanh_, F.elu_, F.rrelu_, F.threshold_,
                      operator.iadd, operator.isub, operator.imul, operator.itruediv}
#: functions with an ``inplace`` argument, and its position
_INPLACE_ARGUMENT = {F.relu: 1, F.relu6: 1, F.leaky_relu: 2, F.hardtanh: 3, F.elu: 2, F.selu: 1, F.celu: 2,
                     F.threshold: 3, F.rrelu: 4, F.dropout: 3, F.dropout2d: 3, F.hardswish: 1, F.silu: 1,
                     F.mish: 1, F.hardsigmoid: 1, F.alpha_dropout: 3}
#: operations whose result may share storage with their (first) argument
_VIEW_METHODS = {"view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "squeeze", "unsqueeze",
                 "contiguous", "permute", "transpose", "t", "expand", "expand_as", "narrow", "select", "detach",
                 "__getitem__", "split", "chunk", "unbind", "as_strided", "movedim"}
_VIEW_FUNCTIONS = {torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze, torch.transpose, torch.permute,
                   operator.getitem, torch.narrow, torch.select, torch.split, torch.chunk, torch.unbind,
                   torch.movedim, torch.detach}
_VIEW_MODULES = (nn.Identity, nn.Flatten, nn.Unflatten, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
                 nn.AlphaDropout)


@dataclass
class InplaceWrite:
    """An in-place node whose overwritten tensor ``target`` is read again after it (by ``later_users``)."""

    node: fx.Node
    target: fx.Node
    later_users: list[fx.Node]
    aliased: list[fx.Node]  # other tensors sharing the storage that are read after the write (rewrite impossible)

    def describe(self) -> str:
        what = f"module {self.node.target!r}" if self.node.op == "call_module" else f"node {self.node.name!r}"
        return (f"{what} overwrites {self.target.name!r} in place and {', '.join(repr(u.name) for u in self.later_users)} "
                "read(s) it afterwards")


def written_argument(node: fx.Node, modules: dict[str, nn.Module]) -> fx.Node | None:
    """The node whose tensor ``node`` overwrites in place, or ``None`` when ``node`` writes nothing."""
    if not node.args or not isinstance(node.args[0], fx.Node):
        return None
    if node.op == "call_module":
        return node.args[0] if getattr(modules.get(node.target), "inplace", False) is True else None
    if node.op == "call_method":
        name = node.target
        return node.args[0] if name.endswith("_") and not name.startswith("_") else None
    if node.op == "call_function":
        if node.target in _INPLACE_FUNCTIONS:
            return node.args[0]
        position = _INPLACE_ARGUMENT.get(node.target)
        if position is not None:
            inplace = node.args[position] if len(node.args) > position else node.kwargs.get("inplace", False)
            return node.args[0] if inplace is True else None
    return None


def _is_view(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_method":
        return node.target in _VIEW_METHODS
    if node.op == "call_function":
        return node.target in _VIEW_FUNCTIONS
    if node.op == "call_module":
        return isinstance(modules.get(node.target), _VIEW_MODULES)
    return False


def _storage_sharers(target: fx.Node, modules: dict[str, nn.Module]) -> set[fx.Node]:
    """Every node that may share storage with ``target``: up through views to the base, down through views."""
    base = target
    while _is_view(base, modules) and base.args and isinstance(base.args[0], fx.Node):
        base = base.args[0]
    sharers, frontier = {base}, [base]
    while frontier:
        current = frontier.pop()
        for user in current.users:
            if _is_view(user, modules) and user.args and user.args[0] is current and user not in sharers:
                sharers.add(user)
                frontier.append(user)
    return sharers


def inplace_writes(graph_module: fx.GraphModule) -> Iterator[InplaceWrite]:
    """Every in-place node of the graph whose overwritten tensor (or a tensor sharing its storage) is read after it,
    in graph order; lazily, so that a caller rewriting the graph between two writes sees the rewritten users."""
    modules = dict(graph_module.named_modules())
    nodes = list(graph_module.graph.nodes)
    position = {node: index for index, node in enumerate(nodes)}
    for node in nodes:
        target = written_argument(node, modules)
        if target is None:
            continue
        later = [user for user in target.users if position[user] > position[node]]
        aliased = [  # tensors sharing the storage that existed before the write and are read after it
            other for other in _storage_sharers(target, modules) - {target, node}
            if position[other] < position[node] and any(position[user] > position[node] for user in other.users)
        ]
        if later or aliased:
            yield InplaceWrite(node, target, later, aliased)


def functionalize(graph_module: fx.GraphModule) -> list[str]:
    """Rewrite ``graph_module`` so that every later read of a tensor overwritten in place reads the in-place node's
    result (the eager semantics). Returns the writes that cannot be rewritten (storage shared with another tensor read
    afterwards), described with the node names; the graph is recompiled when anything changed."""
    problems, changed = [], False
    for write in inplace_writes(graph_module):
        if write.aliased:
            problems.append(
                f"{write.describe()}; it shares storage with {', '.join(repr(n.name) for n in write.aliased)}, "
                "which is read afterwards too: assign the result instead (y = torch.relu(y)) or use out-of-place ops"
            )
            continue
        for user in write.later_users:
            user.replace_input_with(write.target, write.node)
            changed = True
    if changed:
        graph_module.recompile()
    return problems
