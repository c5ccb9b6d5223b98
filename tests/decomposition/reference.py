"""An independent, deliberately naive reference of the DC split (paper A.2, B.3) for nn.Sequential models.

It carries the two streams ``(a⁺, a⁻)`` explicitly, with the four weight products ``W⁺a⁺ + W⁻a⁻ + b⁺`` and
``W⁻a⁺ + W⁺a⁻ + b⁻``, and obtains the four sensitivities layer by layer as vector-Jacobian products of each split
layer (autograd), followed by the α-shift exactly as the paper writes it:
``shift = α(δ⁺ + δ⁻); δ⁺ −= shift; δ⁻ −= shift`` for the g and for the h pair.
It shares no code with the engine, which uses the (d, s) representation.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

SHIFTING = (nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d)


def _pos(t):
    return torch.clamp(t, min=0)


def _neg(t):
    return torch.clamp(-t, min=0)


def make_layer(module: nn.Module, pos: torch.Tensor, neg: torch.Tensor, maxpool: str):
    """Return the split function (pos, neg) -> (pos', neg') of one layer at the current input (masks frozen)."""
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
    if isinstance(module, nn.ReLU):
        mask = (pos - neg) >= 0  # from the original activation, ties to the + stream

        return lambda p, n: (torch.where(mask, p, n), n)  # Maxout: max(z⁺, z⁻), z⁻
    if isinstance(module, nn.MaxPool2d):
        _, indices = F.max_pool2d(pos - neg, module.kernel_size, module.stride, module.padding, return_indices=True)

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


def reference_split(model: nn.Sequential, x: torch.Tensor, targets: torch.Tensor, *, alpha: float = 0.0,
                    maxpool: str = "wta", shift_output: bool = True, closed_form: bool = False):
    """Return ``(g, h, sensitivities)`` where sensitivities[k] = (δ^{+,g}, δ^{−,g}, δ^{+,h}, δ^{−,h}) w.r.t. the input
    of layer k (k = 0 is the network input), for the target logits; float64, no stabilisation."""
    x = x.double()
    pos, neg = _pos(x), _neg(x)
    layers, inputs = [], []
    for module in model:
        fn = make_layer(module, pos, neg, maxpool)
        layers.append((module, fn))
        inputs.append((pos, neg))
        with torch.no_grad():
            pos, neg = fn(pos, neg)
    one_hot = torch.zeros_like(pos).scatter_(1, targets[:, None], 1.0)
    g = pos.gather(1, targets[:, None]).squeeze(1)
    h = neg.gather(1, targets[:, None]).squeeze(1)
    pg, ng, ph, nh = one_hot, torch.zeros_like(pos), torch.zeros_like(pos), one_hot
    found = {}
    step_alpha = 0.0 if closed_form else alpha
    for k in reversed(range(len(layers))):
        module, fn = layers[k]
        p_in, n_in = inputs[k]
        p_in = p_in.clone().requires_grad_(True)
        n_in = n_in.clone().requires_grad_(True)
        with torch.enable_grad():
            out_p, out_n = fn(p_in, n_in)
            pg_in, ng_in = torch.autograd.grad((out_p, out_n), (p_in, n_in), (pg, ng), retain_graph=True, allow_unused=True)
            ph_in, nh_in = torch.autograd.grad((out_p, out_n), (p_in, n_in), (ph, nh), allow_unused=True)
        pg, ng, ph, nh = (torch.zeros_like(p_in) if t is None else t for t in (pg_in, ng_in, ph_in, nh_in))
        is_output = k == len(layers) - 1
        if isinstance(module, SHIFTING) and step_alpha and (shift_output or not is_output):
            shift_g = step_alpha * (pg + ng)
            shift_h = step_alpha * (ph + nh)
            pg, ng, ph, nh = pg - shift_g, ng - shift_g, ph - shift_h, nh - shift_h
        if closed_form:
            shift_g, shift_h = alpha * (pg + ng), alpha * (ph + nh)
            found[k] = (pg - shift_g, ng - shift_g, ph - shift_h, nh - shift_h)
        else:
            found[k] = (pg, ng, ph, nh)
    return g, h, found
