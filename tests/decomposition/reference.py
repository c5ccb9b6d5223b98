"""An independent, deliberately naive reference of the DC split (paper A.2, A.3, B.2, B.3).

It carries the two streams ``(a⁺, a⁻)`` explicitly, with the four weight products ``W⁺a⁺ + W⁻a⁻ + b⁺`` and
``W⁻a⁺ + W⁺a⁻ + b⁻``, and obtains the four sensitivities layer by layer as vector-Jacobian products of each split
layer (autograd), followed by the α-shift exactly as the paper writes it:
``shift = α(δ⁺ + δ⁻); δ⁺ −= shift; δ⁻ −= shift`` for the g and for the h pair.
It shares no code with the engine, which uses the (d, s) representation.

Two entry points:

* :func:`reference_split` for an ``nn.Sequential`` (sensitivities indexed by the layer whose *input* they belong to);
* :func:`reference_graph_split` for a small DAG given as a list of :class:`Node` (residual ``add``, ``cat``), with
  sensitivities and streams indexed by node name; :class:`GraphNet` runs the same list as an ``nn.Module`` so that
  the engine can trace it (its layer names are ``"m.<key>"`` for modules and ``add``, ``add_1``, ``cat`` ...).

Conventions taken from the documented method (not from the engine's code):

* input split "center" ``(ReLU(x), ReLU(−x))`` or "positive" ``(x, 0)``;
* a ReLU is the Maxout ``(max(u⁺, u⁻), u⁻)`` with the winner frozen from the original activation (ties to +);
  the ReLU family is ``λ·z + Σ_k c_k·ReLU(z − t_k) + κ`` (LeakyReLU(ν) = ``ν z + (1 − ν) ReLU(z)``, ReLU6 =
  ``ReLU(z) − ReLU(z − 6)``, Hardtanh(lo, hi) = ``lo + ReLU(z − lo) − ReLU(z − hi)``), every constant split
  minimally ``(max(t, 0), max(−t, 0))`` and a negative coefficient swapping the streams;
* the α-shift follows every Linear, Conv2d, BatchNorm, ReLU-family, MaxPool layer and every residual add of two
  or more branches; not AvgPool, Flatten or cat;
* the forward stabilisation (B.2) subtracts a common ``c`` from both streams after every layer but Flatten, cat
  and the output: "shift" ``c = min(a⁺, a⁻)``, "scale" ``c = (1 − θ) min(a⁺, a⁻)``, "threshold" the "scale"
  shift only where ``max(a⁺, a⁻) > Θ``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

RELU_FAMILY = (nn.ReLU, nn.LeakyReLU, nn.ReLU6, nn.Hardtanh)
SHIFTING = (nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.MaxPool2d) + RELU_FAMILY
NOT_STABILIZED = (nn.Flatten,)


def _pos(t):
    return torch.clamp(t, min=0)


def _neg(t):
    return torch.clamp(-t, min=0)


def _scaled(c: float, p, n):
    """``c·(p − n)`` as streams: a negative coefficient swaps them."""
    return (c * p, c * n) if c >= 0 else (-c * n, -c * p)


def _relu_family_pieces(module: nn.Module):
    """``(λ, [(c_k, t_k)], κ)`` of ``λ z + Σ c_k ReLU(z − t_k) + κ``."""
    if isinstance(module, nn.ReLU6):
        return 0.0, [(1.0, 0.0), (-1.0, 6.0)], 0.0
    if isinstance(module, nn.Hardtanh):
        low, high = float(module.min_val), float(module.max_val)
        return 0.0, [(1.0, low), (-1.0, high)], low
    if isinstance(module, nn.LeakyReLU):
        nu = float(module.negative_slope)
        return nu, [(1.0 - nu, 0.0)], 0.0
    return 0.0, [(1.0, 0.0)], 0.0


def make_layer(module: nn.Module, pos: torch.Tensor, neg: torch.Tensor, maxpool: str, original: torch.Tensor | None = None):
    """Return the split function (pos, neg) -> (pos', neg') of one layer at the current input (masks frozen).
    ``original``: the original network's activation at the layer's input, which fixes the Maxout and max-pool
    winners (default ``pos − neg``; they differ by round-off, which matters only at exact ties)."""
    z = pos - neg if original is None else original
    if isinstance(module, nn.Linear):
        w, b = module.weight.double(), module.bias.double() if module.bias is not None else None

        def affine(p, n):
            bp = _pos(b) if b is not None else 0.0
            bn = _neg(b) if b is not None else 0.0
            return F.linear(p, _pos(w)) + F.linear(n, _neg(w)) + bp, F.linear(p, _neg(w)) + F.linear(n, _pos(w)) + bn

        return affine
    if isinstance(module, nn.Conv2d):
        w = module.weight.double()
        b = module.bias.double() if module.bias is not None else None
        kw = dict(stride=module.stride, padding=module.padding, dilation=module.dilation, groups=module.groups)

        def conv(p, n):
            out_p = F.conv2d(p, _pos(w), **kw) + F.conv2d(n, _neg(w), **kw)
            out_n = F.conv2d(p, _neg(w), **kw) + F.conv2d(n, _pos(w), **kw)
            if b is not None:
                out_p = out_p + _pos(b)[None, :, None, None]
                out_n = out_n + _neg(b)[None, :, None, None]
            return out_p, out_n

        return conv
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        scale = module.weight.double() / torch.sqrt(module.running_var.double() + module.eps)
        shift = module.bias.double() - scale * module.running_mean.double()
        shape = (1, -1) + (1,) * (pos.ndim - 2)
        sp, sn, tp, tn = (v.view(shape) for v in (_pos(scale), _neg(scale), _pos(shift), _neg(shift)))
        return lambda p, n: (sp * p + sn * n + tp, sn * p + sp * n + tn)
    if isinstance(module, RELU_FAMILY):
        slope, pieces, constant = _relu_family_pieces(module)
        masks = [(z - t) >= 0 for _, t in pieces]  # ties to the + stream

        def relu_family(p, n):
            out_p, out_n = _scaled(slope, p, n)
            out_p, out_n = out_p + max(constant, 0.0), out_n + max(-constant, 0.0)
            for (c, t), mask in zip(pieces, masks):
                u_p, u_n = p + max(-t, 0.0), n + max(t, 0.0)  # u = z − t
                m_p, m_n = torch.where(mask, u_p, u_n), u_n  # Maxout: ReLU(u⁺ − u⁻) = max(u⁺, u⁻) − u⁻
                c_p, c_n = _scaled(c, m_p, m_n)
                out_p, out_n = out_p + c_p, out_n + c_n
            return out_p, out_n

        return relu_family
    if isinstance(module, nn.MaxPool2d):
        _, indices = F.max_pool2d(z, module.kernel_size, module.stride, module.padding, return_indices=True)

        def gather(t):
            return t.flatten(2).gather(2, indices.flatten(2)).view(indices.shape)

        if maxpool == "wta":
            return lambda p, n: (gather(p), gather(n))

        def dc(p, n):
            # g' = max_i (g_i + Σ_{j≠i} h_j) at the winner of the original activation, h' = Σ_j h_j
            k, s, pad = module.kernel_size, module.stride, module.padding
            total_neg = F.avg_pool2d(n, k, s, pad, count_include_pad=True, divisor_override=1)
            return gather(p) + total_neg - gather(n), total_neg

        return dc
    if isinstance(module, (nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten)):
        return lambda p, n: (module(p), module(n))
    raise TypeError(f"reference has no rule for {type(module).__name__}")


def stabilize_streams(p: torch.Tensor, n: torch.Tensor, strategy: str, theta: float, threshold: float):
    """Paper B.2: subtract a common shift ``c ∈ [0, min(p, n)]`` from both streams (see the module docstring)."""
    if strategy == "none":
        return p, n
    common = torch.minimum(p, n)
    if strategy == "shift":
        c = common
    elif strategy == "scale":
        c = (1.0 - theta) * common
    elif strategy == "threshold":
        c = torch.where(torch.maximum(p, n) > threshold, (1.0 - theta) * common, torch.zeros_like(common))
    else:
        raise ValueError(strategy)
    return p - c, n - c


# ------------------------------------------------------------------------------------------------ graphs
@dataclass
class Node:
    """One node of a reference graph: ``op`` is an ``nn.Module``, ``"add"`` (with ``coefficients``) or ``"cat"``
    (along ``dim`` 1); ``inputs`` are node names (``"input"`` is the network input)."""

    name: str
    op: object
    inputs: list[str]
    coefficients: list[float] = field(default_factory=list)


class GraphNet(nn.Module):
    """Runs a list of :class:`Node` as a model (modules in ``self.m``, so the engine names them ``"m.<name>"``)."""

    def __init__(self, nodes: list[Node]):
        super().__init__()
        self.nodes = nodes
        self.m = nn.ModuleDict({node.name: node.op for node in nodes if isinstance(node.op, nn.Module)})

    def forward(self, x):
        env = {"input": x}
        for node in self.nodes:
            args = [env[name] for name in node.inputs]
            if node.op == "add":
                coefficients = node.coefficients or [1.0] * len(args)
                out = args[0] if coefficients[0] == 1.0 else coefficients[0] * args[0]
                for c, a in zip(coefficients[1:], args[1:]):
                    out = out + a if c == 1.0 else torch.add(out, a, alpha=c)
            elif node.op == "cat":
                out = torch.cat(args, 1)
            else:
                out = self.m[node.name](*args)
            env[node.name] = out
        return env[self.nodes[-1].name]


def _original_function(node: Node):
    """The node of the original network (no split)."""
    if node.op == "add":
        coefficients = node.coefficients or [1.0] * len(node.inputs)
        return lambda *args: sum(c * a for c, a in zip(coefficients, args))
    if node.op == "cat":
        return lambda *args: torch.cat(args, 1)
    return copy.deepcopy(node.op).double()  # float64, whatever the model's dtype


def _split_function(node: Node, inputs: list[tuple[torch.Tensor, torch.Tensor]], maxpool: str, originals):
    """The split function of a node: takes a flat list ``[p_1, n_1, p_2, n_2, ...]``, returns ``(p', n')``."""
    if node.op == "add":
        coefficients = node.coefficients or [1.0] * len(inputs)

        def add(*streams):
            out_p, out_n = 0.0, 0.0
            for c, i in zip(coefficients, range(0, len(streams), 2)):
                c_p, c_n = _scaled(c, streams[i], streams[i + 1])
                out_p, out_n = out_p + c_p, out_n + c_n
            return out_p, out_n

        return add
    if node.op == "cat":
        return lambda *streams: (torch.cat(streams[0::2], 1), torch.cat(streams[1::2], 1))
    (p, n), = inputs
    layer = make_layer(node.op, p, n, maxpool, originals[0])
    return lambda p_in, n_in: layer(p_in, n_in)


def _shifts(node: Node) -> bool:
    if node.op == "add":
        return len(node.inputs) > 1
    return isinstance(node.op, SHIFTING)


def _stabilized(node: Node) -> bool:
    return node.op != "cat" and not isinstance(node.op, NOT_STABILIZED)


def reference_graph_split(nodes: list[Node], x: torch.Tensor, targets: torch.Tensor, *, alpha: float = 0.0,
                          maxpool: str = "wta", shift_output: bool = True, closed_form: bool = False,
                          input_split: str = "center", stabilize: str = "none", theta: float = 0.1,
                          threshold: float = 10.0):
    """Return ``(g, h, sensitivities, streams)`` of the graph for the target logits, float64.

    ``sensitivities[name] = (δ^{+,g}, δ^{−,g}, δ^{+,h}, δ^{−,h})`` of the node's output (``"input"``: the network
    input) and ``streams[name] = (a⁺, a⁻)`` after the stabilisation.

    ``closed_form``: the shift applied once on every path (issue 26.9), by its definition as the interpolation of
    the two end points, ``δ(α) = (1 − 2α)·δ(0) + 2α·δ(½)`` (``δ(½)`` from the iterative shift)."""
    if closed_form:
        options = dict(maxpool=maxpool, shift_output=shift_output, input_split=input_split, stabilize=stabilize,
                       theta=theta, threshold=threshold)
        g, h, exact, streams = reference_graph_split(nodes, x, targets, alpha=0.0, **options)
        _, _, half, _ = reference_graph_split(nodes, x, targets, alpha=0.5, **options)
        found = {name: tuple((1 - 2 * alpha) * e + 2 * alpha * o for e, o in zip(exact[name], half[name]))
                 for name in exact}
        return g, h, found, streams
    x = x.double()
    if input_split == "center":
        streams = {"input": (_pos(x), _neg(x))}
        original = {"input": x}
    elif input_split == "positive":
        streams = {"input": (x, torch.zeros_like(x))}
        original = {"input": x}
    else:
        raise ValueError(input_split)
    functions = {}
    output_name = nodes[-1].name
    for node in nodes:
        inputs = [streams[name] for name in node.inputs]
        fn = _split_function(node, inputs, maxpool, [original[name] for name in node.inputs])
        functions[node.name] = fn
        with torch.no_grad():
            original[node.name] = _original_function(node)(*[original[name] for name in node.inputs])
            p, n = fn(*[t for pair in inputs for t in pair])
            if _stabilized(node) and node.name != output_name:
                p, n = stabilize_streams(p, n, stabilize, theta, threshold)
        streams[node.name] = (p, n)
    out_p, out_n = streams[output_name]
    one_hot = torch.zeros_like(out_p).scatter_(1, targets[:, None], 1.0)
    g = out_p.gather(1, targets[:, None]).squeeze(1)
    h = out_n.gather(1, targets[:, None]).squeeze(1)
    zero = torch.zeros_like(out_p)
    pending = {output_name: [one_hot, zero, zero, one_hot]}
    found = {}
    for node in reversed(nodes):
        sens = pending.pop(node.name)
        found[node.name] = tuple(sens)
        leaves = [t.clone().requires_grad_(True) for name in node.inputs for t in streams[name]]
        with torch.enable_grad():
            out = functions[node.name](*leaves)
            from_g = torch.autograd.grad(out, leaves, (sens[0], sens[1]), retain_graph=True, allow_unused=True)
            from_h = torch.autograd.grad(out, leaves, (sens[2], sens[3]), allow_unused=True)
        from_g = [torch.zeros_like(leaf) if t is None else t for leaf, t in zip(leaves, from_g)]
        from_h = [torch.zeros_like(leaf) if t is None else t for leaf, t in zip(leaves, from_h)]
        for i, name in enumerate(node.inputs):
            pg, ng, ph, nh = from_g[2 * i], from_g[2 * i + 1], from_h[2 * i], from_h[2 * i + 1]
            if _shifts(node) and alpha and (shift_output or node.name != output_name):
                shift_g = alpha * (pg + ng)
                shift_h = alpha * (ph + nh)
                pg, ng, ph, nh = pg - shift_g, ng - shift_g, ph - shift_h, nh - shift_h
            if name in pending:
                pending[name] = [a + b for a, b in zip(pending[name], (pg, ng, ph, nh))]
            else:
                pending[name] = [pg, ng, ph, nh]
    found["input"] = tuple(pending.pop("input"))
    return g, h, found, streams


def sequential_nodes(model: nn.Sequential) -> list[Node]:
    """The nodes of an ``nn.Sequential``: node ``str(k)`` is layer k, fed by node ``k − 1``."""
    return [Node(str(k), module, ["input" if k == 0 else str(k - 1)]) for k, module in enumerate(model)]


def reference_split(model: nn.Sequential, x: torch.Tensor, targets: torch.Tensor, *, alpha: float = 0.0,
                    maxpool: str = "wta", shift_output: bool = True, closed_form: bool = False, **options):
    """Return ``(g, h, sensitivities)`` where sensitivities[k] = (δ^{+,g}, δ^{−,g}, δ^{+,h}, δ^{−,h}) w.r.t. the input
    of layer k (k = 0 is the network input), for the target logits; float64, no stabilisation unless ``options``
    (``input_split``, ``stabilize``, ``theta``, ``threshold``) say otherwise."""
    g, h, found, _ = reference_graph_split(sequential_nodes(model), x, targets, alpha=alpha, maxpool=maxpool,
                                           shift_output=shift_output, closed_form=closed_form, **options)
    by_input = {0: found["input"]}
    by_input.update({k + 1: found[str(k)] for k in range(len(model) - 1)})
    return g, h, by_input
