"""The split rule of each supported operation (paper A.2, A.3, B.3, C.3).

Every rule implements three passes on the representation of ``split_values.py``:

``forward(ctx, inputs, args, kwargs) -> Streams``
    the split forward (paper A.2/A.3), storing in ``ctx`` what the backward passes need;
``backward(ctx, sens) -> list[Sensitivities | None]``
    the exact four-sensitivity backward (paper B.3, α = 0; the α-shift is applied by the caller);
``relevance(ctx, rel, epsilon) -> list[Relevance | None]``
    the ε-LRP rule on the non-negative split network (SplitLRP, paper C.3).

Notation: a rule's input is ``(d, s)``, its output ``(d', s')``; ``a^± = (s ± d)/2``. For the backward,
``D = δ⁺ − δ⁻`` and ``Σ = δ⁺ + δ⁻`` of one pair, so that ``∂o/∂d = D/2`` and ``∂o/∂s = Σ/2``.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch.nn.grad import conv2d_input

from .split_values import Relevance, Sensitivities, Streams

Tensor = torch.Tensor


class SplitRule:
    """Base class. ``shifts``: the α-shift follows this rule's backward (B.3). ``stabilizes``: the forward
    stabilisation follows this rule's forward (B.2). ``kind`` names the rule family for error messages."""

    kind = "rule"
    shifts = False
    stabilizes = True
    fuses_stabilization = False  # True: forward() applies the stabiliser it is given itself

    def forward(self, ctx: dict, inputs: list[Streams], args: tuple, kwargs: dict, stabilizer=None) -> Streams:
        raise NotImplementedError

    def backward(self, ctx: dict, sens: Sensitivities) -> list[Sensitivities | None]:
        raise NotImplementedError

    def relevance(self, ctx: dict, rel: Relevance, epsilon: float) -> list[Relevance | None]:
        raise NotImplementedError(f"SplitLRP has no relevance rule for {self.kind}")

    def to(self, device: torch.device, dtype: torch.dtype) -> None:
        """Move the rule's parameters (if any) to ``device``/``dtype``."""


def _positive_part_relevance(
    inputs: Streams, outputs_raw: Streams, rel: Relevance, epsilon: float, transpose: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
) -> Relevance:
    """ε-rule for a split affine map (paper C.3).

    With non-negative weights, ``z^± = Σ_i W^±_{ji} a^+_i + W^∓_{ji} a^-_i + b^±_j``. The ε-rule gives
    ``R(a^±_i) = a^±_i · c^±_i`` with ``c^+ = W⁺ᵀr⁺ + W⁻ᵀr⁻``, ``c^- = W⁻ᵀr⁺ + W⁺ᵀr⁻`` and ``r^± = R(z^±)/(z^± + ε)``;
    ``c⁺ − c⁻ = Wᵀ(r⁺ − r⁻)`` and ``c⁺ + c⁻ = |W|ᵀ(r⁺ + r⁻)`` reuse the backward's two products.
    Biases absorb their share ``b^± r^±``.
    """
    r_pos = rel.pos / (outputs_raw.pos + epsilon)
    r_neg = rel.neg / (outputs_raw.neg + epsilon)
    c_diff, c_sum = transpose(r_pos - r_neg, r_pos + r_neg)
    return Relevance(inputs.pos * 0.5 * (c_sum + c_diff), inputs.neg * 0.5 * (c_sum - c_diff))


class AffineRule(SplitRule):
    """A split affine layer ``z = W a + b`` (Linear, Conv2d, BatchNorm): ``d' = W d + b``, ``s' = |W| s + |b|``
    (paper A.2 eq. 1-3, with the minimal split ``W^± = max(±W, 0)``, ``b^± = max(±b, 0)``).

    Backward (B.3): ``D ← Wᵀ D`` for both pairs, ``Σ ← |W|ᵀ Σ``. Subclasses only say how ``W`` acts
    (:meth:`apply`, :meth:`apply_transpose`); the weight, bias and their absolute values are kept here."""

    shifts = True

    def __init__(self, weight: Tensor, bias: Tensor | None):
        # own copies, never views of the model's tensors: a split is a snapshot of the model (SplitNetwork)
        self.weight = weight.detach().clone()
        self.bias = None if bias is None else bias.detach().clone()
        self._absolute: tuple[Tensor, Tensor | None] | None = None  # (|W|, |b|), made on first use

    def to(self, device, dtype):
        weight = self.weight.to(device=device, dtype=dtype)
        bias = None if self.bias is None else self.bias.to(device=device, dtype=dtype)
        if weight is self.weight and bias is self.bias:  # already there: keep |W| and |b|
            return
        self.weight, self.bias, self._absolute = weight, bias, None

    def parameters(self, absolute: bool) -> tuple[Tensor, Tensor | None]:
        """``(W, b)``, or ``(|W|, |b|)`` for the common-mode stream (computed once, at its first use)."""
        if not absolute:
            return self.weight, self.bias
        if self._absolute is None:
            self._absolute = (self.weight.abs(), None if self.bias is None else self.bias.abs())
        return self._absolute

    def apply(self, x: Tensor, absolute: bool) -> Tensor:
        raise NotImplementedError

    def apply_transpose(self, grad: Tensor, input_shape: torch.Size, absolute: bool) -> Tensor:
        raise NotImplementedError

    def forward(self, ctx, inputs, args, kwargs, stabilizer=None):
        (x,) = inputs
        ctx["input_shape"] = x.d.shape
        return Streams(self.apply(x.d, absolute=False), self.apply(x.s, absolute=True))

    def backward(self, ctx, sens):
        shape = ctx["input_shape"]
        pair = self.apply_transpose(sens.pair, shape_with_batch(shape, 2 * sens.batch), absolute=False)
        common = self.apply_transpose(sens.common, shape, absolute=True)
        return [Sensitivities(pair, common, sens.scale)]

    def relevance(self, ctx, rel, epsilon):
        shape = ctx["input_shape"]

        def transpose(diff: Tensor, total: Tensor) -> tuple[Tensor, Tensor]:
            return self.apply_transpose(diff, shape, False), self.apply_transpose(total, shape, True)

        return [_positive_part_relevance(ctx["input"], ctx["output_raw"], rel, epsilon, transpose)]


def shape_with_batch(shape: torch.Size, batch: int) -> torch.Size:
    return torch.Size((batch, *shape[1:]))


class LinearRule(AffineRule):
    kind = "Linear"

    def apply(self, x, absolute):
        return F.linear(x, *self.parameters(absolute))

    def apply_transpose(self, grad, input_shape, absolute):
        return grad @ self.parameters(absolute)[0]


class ConvRule(AffineRule):
    kind = "Conv2d"

    def __init__(self, weight, bias, stride, padding, dilation, groups):
        super().__init__(weight, bias)
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def forward(self, ctx, inputs, args, kwargs, stabilizer=None):
        if inputs[0].d.ndim != 4:
            raise ValueError(
                f"a Conv2d layer received shape {tuple(inputs[0].d.shape)}; the split needs a batch (N, C, H, W): for a "
                "single image add the batch dimension, x[None] or x.unsqueeze(0)"
            )
        return super().forward(ctx, inputs, args, kwargs, stabilizer)

    def apply(self, x, absolute):
        return F.conv2d(x, *self.parameters(absolute), self.stride, self.padding, self.dilation, self.groups)

    def apply_transpose(self, grad, input_shape, absolute):
        weight = self.parameters(absolute)[0]
        # input-only convolution backward (no weight gradient): cheaper than conv_transpose2d in float64
        return conv2d_input(input_shape, weight, grad, self.stride, self.padding, self.dilation, self.groups)


class ChannelAffineRule(AffineRule):
    """BatchNorm in eval mode, folded (paper A.3): ``γ(x − μ)/√(σ² + ε) + β = sc·x + t`` with
    ``sc = γ/√(σ²+ε)``, ``t = β − sc·μ``; the per-channel scale and shift are split by sign like a weight and a
    bias (stored as ``weight`` and ``bias``)."""

    kind = "BatchNorm"

    @staticmethod
    def _broadcast(v: Tensor, ndim: int) -> Tensor:
        return v.view(1, -1, *([1] * (ndim - 2)))

    def apply(self, x, absolute):
        scale, shift = self.parameters(absolute)
        return torch.addcmul(self._broadcast(shift, x.ndim), x, self._broadcast(scale, x.ndim))

    def apply_transpose(self, grad, input_shape, absolute):
        return grad * self._broadcast(self.parameters(absolute)[0], grad.ndim)


class PiecewiseLinearRule(SplitRule):
    """A piecewise-linear activation written as a difference of convex pieces (paper A.2 eq. 4, generalised):

        φ(z) = λ·z + Σ_k c_k · ReLU(z − t_k) + κ

    ReLU is ``(λ, c, t, κ) = (0, [1], [0], 0)``; LeakyReLU(ν) = ``(ν, [1 − ν], [0], 0)``; ReLU6 =
    ``(0, [1, −1], [0, 6], 0)``; Hardtanh(lo, hi) = ``(0, [1, −1], [lo, hi], lo)``. Each ReLU piece becomes the
    Maxout ``(a⁺, a⁻) = (max(u⁺, u⁻), u⁻)`` of its argument ``u = z − t_k`` (``ReLU(a − b) = max(a, b) − b``),
    i.e. ``d' = ReLU(d_u)``, ``s' = s_u + ReLU(−d_u)``; a negative coefficient swaps the streams. Every piece is
    monotone and convex in the streams, so g and h stay monotone and convex.

    Backward of one Maxout piece with mask ``m = [u ≥ 0]`` (from the original activation, ties to the
    + stream; B.3): ``δ_u^{+} = m δ⁺``, ``δ_u^{−} = δ⁻ + (1 − m) δ⁺``, i.e. ``D ← m D − (1 − m) Σ``, ``Σ ← Σ``.
    """

    shifts = True
    fuses_stabilization = True

    def __init__(self, kind: str, slope: float = 0.0, coefficients=(1.0,), thresholds=(0.0,), constant: float = 0.0,
                 original: Callable[[Tensor], Tensor] | None = None):
        self.kind = kind
        self.original = original  # the activation itself: d' exactly as the original network computes it
        self.slope, self.constant = float(slope), float(constant)
        self.pieces = [(float(c), float(t)) for c, t in zip(coefficients, thresholds)]
        self.is_relu = self.slope == 0.0 and self.constant == 0.0 and self.pieces == [(1.0, 0.0)]

    def forward(self, ctx, inputs, args, kwargs, stabilizer=None):
        (x,) = inputs
        d, s = x.d, x.s
        if self.is_relu:
            # Maxout: d' = ReLU(d); the − stream is unchanged (a⁻ = z⁻), so s' − |d'| = s − d = 2 z⁻
            ctx["masks"] = [d >= 0]
            d_out = torch.relu(d)
            excess = s - d
            s_out = d_out + excess if stabilizer is None else stabilizer.from_parts(d_out, excess)
            return Streams(d_out, s_out)
        masks = []
        d_out = self.slope * d + self.constant
        s_out = abs(self.slope) * s + abs(self.constant)
        for coefficient, threshold in self.pieces:
            u = d - threshold
            mask = u >= 0
            masks.append(mask)
            d_out = d_out + coefficient * torch.where(mask, u, 0.0)
            s_out = s_out + abs(coefficient) * (s + abs(threshold) + torch.where(mask, 0.0, -u))
        ctx["masks"] = masks
        if self.original is not None:  # the sum of pieces equals φ(d) only up to round-off (ties of max-pool winners)
            d_out = self.original(d)
        if stabilizer is not None:
            s_out = stabilizer(d_out, s_out)
        return Streams(d_out, s_out)

    def backward(self, ctx, sens):
        n = sens.batch
        if self.is_relu:
            (mask,) = ctx["masks"]
            pair = torch.empty_like(sens.pair)
            torch.mul(sens.grad, mask, out=pair[:n])
            torch.where(mask, sens.diff_g, sens.common * (-sens.scale), out=pair[n:])
            return [Sensitivities(pair, sens.common, sens.scale)]
        common = sens.common_value()
        grad = self.slope * sens.grad
        diff_g = self.slope * sens.diff_g
        common_out = abs(self.slope) * common
        for (coefficient, _), mask in zip(self.pieces, ctx["masks"]):
            piece_common = abs(coefficient) * common
            grad = grad + coefficient * torch.where(mask, sens.grad, 0.0)
            diff_g = diff_g + torch.where(mask, coefficient * sens.diff_g, -piece_common)
            common_out = common_out + piece_common
        return [Sensitivities.from_parts(grad, diff_g, common_out)]

    def relevance(self, ctx, rel, epsilon):
        """SplitLRP through the DC form, term by term (paper C.3, generalised from the ReLU Maxout).

        Each output stream is a sum of non-negative terms: ``|λ| a^±`` (the linear term; streams swapped for
        λ < 0), the constant ``|κ|`` and, per piece, ``|c_k|`` times the Maxout streams ``(max(u⁺, u⁻), u⁻)`` of
        ``u^± = a^± + t_k^∓`` (swapped for c_k < 0). The input-dependent part of the Maxout's + output is its
        winner's stream (``a⁺`` where ``u ≥ 0``, else ``a⁻``), of its − output ``a⁻``. Relevance ``R^±`` at the
        output is shared among the input-dependent parts of each stream in proportion to their values
        (``r^± = R^± / (Σ parts + ε)``); the activation's constants (``κ``, the thresholds ``t_k``: the 6 of ReLU6,
        the bounds of Hardtanh) keep **no** share, so relevance is conserved through the activation (up to ε) as
        through the ReLU Maxout, and only the biases of affine layers absorb relevance. With a single piece at 0
        and no constant this is the ReLU rule (winner takes all) up to ε."""
        masks = ctx["masks"]
        if self.is_relu:
            # a⁺ = max(z⁺, z⁻) goes to the winner, a⁻ = z⁻ to z⁻ (winner-takes-all through the max, C.3)
            (mask,) = masks
            return [Relevance(torch.where(mask, rel.pos, 0.0), rel.neg + torch.where(mask, 0.0, rel.pos))]
        x: Streams = ctx["input"]
        a_pos, a_neg = x.pos, x.neg
        slope = abs(self.slope)
        # input-dependent parts of the output streams, as (weight on a⁺, weight on a⁻) per stream
        weights = {"pos": [0.0 * a_pos, 0.0 * a_neg], "neg": [0.0 * a_pos, 0.0 * a_neg]}
        linear_pos, linear_neg = ("pos", "neg") if self.slope >= 0 else ("neg", "pos")
        weights[linear_pos][0] = weights[linear_pos][0] + slope
        weights[linear_neg][1] = weights[linear_neg][1] + slope
        for (coefficient, _), mask in zip(self.pieces, masks):
            of_max, of_min = ("pos", "neg") if coefficient >= 0 else ("neg", "pos")
            c = abs(coefficient)
            weights[of_max][0] = weights[of_max][0] + c * mask  # max(u⁺, u⁻): the winner's stream
            weights[of_max][1] = weights[of_max][1] + c * ~mask
            weights[of_min][1] = weights[of_min][1] + c  # u⁻
        total_pos, total_neg = 0.0, 0.0
        for stream, relevance in (("pos", rel.pos), ("neg", rel.neg)):
            on_pos, on_neg = weights[stream][0] * a_pos, weights[stream][1] * a_neg
            ratio = relevance / (on_pos + on_neg + epsilon)
            total_pos, total_neg = total_pos + on_pos * ratio, total_neg + on_neg * ratio
        return [Relevance(total_pos, total_neg)]


def _pool_geometry(kernel_size, stride, padding, dilation) -> tuple:
    pair = torch.nn.modules.utils._pair
    return pair(kernel_size), pair(stride if stride is not None else kernel_size), pair(padding), pair(dilation)


class MaxPoolRule(SplitRule):
    """Split max-pooling (paper A.3), two modes.

    ``"wta"`` (winner takes all, the paper's rows): the winner ``i* = argmax`` of the original activation
    ``a⁺ − a⁻``; both streams are gathered at ``i*`` and all four sensitivities scatter back to ``i*``. Exact
    locally, not globally convex.

    ``"dc"`` (exact DC form): ``max_i(g_i − h_i) = max_i(g_i + Σ_{j≠i} h_j) − Σ_j h_j``, so
    ``g' = max_i(g_i + Σ_{j≠i} h_j)`` and ``h' = Σ_j h_j`` stay convex and monotone. In (d, s):
    ``d' = max_i d_i``, ``s' = d' + Σ_j (s_j − d_j)``. Backward: ``δ⁺_i = [i = i*] δ'⁺`` and
    ``δ⁻_j = [j ≠ i*] δ'⁺ + δ'⁻``, i.e. ``D ← scatter(Σ + D) − sumpoolᵀ(Σ)``, ``Σ ← sumpoolᵀ(Σ)``.
    """

    kind = "MaxPool2d"
    shifts = True

    def __init__(self, mode: str, kernel_size, stride, padding, dilation, ceil_mode):
        self.mode = mode
        self.kernel_size, self.stride, self.padding, self.dilation = _pool_geometry(kernel_size, stride, padding, dilation)
        self.ceil_mode = bool(ceil_mode)

    def _sum_pool(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, True, 1)

    def _sum_pool_transpose(self, grad: Tensor, input_like: Tensor) -> Tensor:
        return torch.ops.aten.avg_pool2d_backward(
            grad, input_like, self.kernel_size, self.stride, self.padding, self.ceil_mode, True, 1
        )

    @staticmethod
    def _scatter(grad: Tensor, indices: Tensor, input_shape: torch.Size) -> Tensor:
        n, c = grad.shape[:2]
        flat_indices = indices.reshape(indices.shape[0], c, -1)
        if n != indices.shape[0]:  # several sensitivities stacked along the batch axis
            flat_indices = flat_indices.repeat(n // indices.shape[0], 1, 1)
        out = grad.new_zeros(n, c, input_shape[-2] * input_shape[-1])
        out.scatter_add_(2, flat_indices, grad.reshape(n, c, -1))
        return out.view(n, c, input_shape[-2], input_shape[-1])

    def forward(self, ctx, inputs, args, kwargs, stabilizer=None):
        (x,) = inputs
        d_out, indices = F.max_pool2d(
            x.d, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, return_indices=True
        )
        ctx["indices"], ctx["input_shape"] = indices, x.d.shape
        if self.mode == "dc":
            ctx["input_like"] = x.d
            s_out = d_out + self._sum_pool(x.s - x.d)
        else:
            s_out = x.s.flatten(2).gather(2, indices.flatten(2)).view_as(d_out)
        return Streams(d_out, s_out)

    def backward(self, ctx, sens):
        indices, shape = ctx["indices"], ctx["input_shape"]
        if self.mode == "wta":
            return [Sensitivities(self._scatter(sens.pair, indices, shape), self._scatter(sens.common, indices, shape), sens.scale)]
        n = sens.batch
        pair = self._scatter(sens.pair, indices, shape)
        common_at_winner = self._scatter(sens.common, indices, shape)
        spread = self._sum_pool_transpose(sens.common, ctx["input_like"])
        # D ← scatter(D + Σ) − sumpoolᵀ(Σ)
        pair[n:].add_(common_at_winner - spread, alpha=sens.scale)
        return [Sensitivities(pair, spread, sens.scale)]

    def relevance(self, ctx, rel, epsilon):
        x: Streams = ctx["input"]
        indices, shape = ctx["indices"], ctx["input_shape"]
        if self.mode == "wta":
            return [Relevance(self._scatter(rel.pos, indices, shape), self._scatter(rel.neg, indices, shape))]
        # g' = max_i(a⁺_i + Σ_{j≠i} a⁻_j): relevance to the winning sum's terms; h' = Σ_j a⁻_j: proportional
        raw: Streams = ctx["output_raw"]
        r_pos = rel.pos / (raw.pos + epsilon)
        r_neg = rel.neg / (raw.neg + epsilon)
        at_winner = self._scatter(r_pos, indices, shape)
        spread = self._sum_pool_transpose(r_pos + r_neg, x.d)
        return [Relevance(x.pos * at_winner, x.neg * (spread - at_winner))]


class PositiveLinearRule(SplitRule):
    """A linear operation with non-negative coefficients (AvgPool2d, AdaptiveAvgPool2d): it is applied to
    both streams unchanged (paper A.3); its transpose, by a vector-Jacobian product, to all sensitivities."""

    def __init__(self, kind: str, function: Callable[[Tensor], Tensor]):
        self.kind, self.function = kind, function

    def forward(self, ctx, inputs, args, kwargs, stabilizer=None):
        (x,) = inputs
        ctx["input_shape"] = x.d.shape
        return x.map(self.function)

    def _transpose(self, grad: Tensor, input_shape: torch.Size) -> Tensor:
        with torch.enable_grad():
            probe = grad.new_zeros(shape_with_batch(input_shape, grad.shape[0]), requires_grad=True)
            (result,) = torch.autograd.grad(self.function(probe), probe, grad)
        return result

    def backward(self, ctx, sens):
        stacked = self._transpose(torch.cat([sens.pair, sens.common]), ctx["input_shape"])
        return [Sensitivities(stacked[: 2 * sens.batch], stacked[2 * sens.batch :], sens.scale)]

    def relevance(self, ctx, rel, epsilon):
        x: Streams = ctx["input"]
        raw: Streams = ctx["output_raw"]
        n = rel.pos.shape[0]
        ratio = torch.cat([rel.pos / (raw.pos + epsilon), rel.neg / (raw.neg + epsilon)])
        spread = self._transpose(ratio, ctx["input_shape"])
        return [Relevance(x.pos * spread[:n], x.neg * spread[n:])]


class IdentityRule(SplitRule):
    """Dropout in eval mode, Identity, ``contiguous()``: both streams unchanged."""

    stabilizes = False

    def __init__(self, kind: str):
        self.kind = kind

    def forward(self, ctx, inputs, args, kwargs, stabilizer=None):
        return inputs[0]

    def backward(self, ctx, sens):
        return [sens]

    def relevance(self, ctx, rel, epsilon):
        return [rel]


class ReshapeRule(SplitRule):
    """flatten / view / reshape / squeeze / unsqueeze: the same reshape of both streams; the backward reshapes back."""

    stabilizes = False

    def __init__(self, kind: str, function: Callable[..., Tensor]):
        self.kind, self.function = kind, function

    def forward(self, ctx, inputs, args, kwargs, stabilizer=None):
        ctx["input_shape"] = inputs[0].d.shape
        rest = args[1:]
        return inputs[0].map(lambda t: self.function(t, *rest, **kwargs))

    def backward(self, ctx, sens):
        shape = ctx["input_shape"]
        return [sens.map(lambda t: t.reshape(shape_with_batch(shape, t.shape[0])))]

    def relevance(self, ctx, rel, epsilon):
        shape = ctx["input_shape"]
        return [rel.map(lambda t: t.reshape(shape))]


class LinearCombinationRule(SplitRule):
    """Residual addition and scalar arithmetic: ``y = Σ_i c_i x_i + κ`` (``+``, ``+=``, ``torch.add`` with
    ``alpha``, ``-``, ``*`` or ``/`` by a number). Paper A.3: ``(a⁺ + b⁺, a⁻ + b⁻)``; in general
    ``d' = Σ c_i d_i + κ``, ``s' = Σ |c_i| s_i + |κ|`` (a negative coefficient swaps the streams).
    Backward: ``D_i = c_i D``, ``Σ_i = |c_i| Σ``; broadcasting is summed out."""

    def __init__(self, kind: str, coefficients: list[float], constant: float):
        self.kind, self.coefficients, self.constant = kind, coefficients, float(constant)
        self.shifts = len(coefficients) > 1  # an Add of two branches is a layer of its own (as in the paper's code)

    def forward(self, ctx, inputs, args, kwargs, stabilizer=None):
        ctx["input_shapes"] = [x.d.shape for x in inputs]
        ctx["inputs"] = inputs
        d = self.constant + sum(c * x.d for c, x in zip(self.coefficients, inputs))
        s = abs(self.constant) + sum(abs(c) * x.s for c, x in zip(self.coefficients, inputs))
        return Streams(d, s)

    def backward(self, ctx, sens):
        out = []
        for c, shape in zip(self.coefficients, ctx["input_shapes"]):
            pair = sens.pair if c == 1.0 else c * sens.pair
            pair = pair.sum_to_size(shape_with_batch(shape, 2 * sens.batch))
            common = sens.common.sum_to_size(shape_with_batch(shape, sens.batch))
            out.append(Sensitivities(pair, common, abs(c) * sens.scale))  # never modified in place downstream
        return out

    def relevance(self, ctx, rel, epsilon):
        raw: Streams = ctx["output_raw"]
        r_pos = rel.pos / (raw.pos + epsilon)
        r_neg = rel.neg / (raw.neg + epsilon)
        out = []
        for c, x in zip(self.coefficients, ctx["inputs"]):
            into_pos, into_neg = (r_pos, r_neg) if c >= 0 else (r_neg, r_pos)
            out.append(Relevance((abs(c) * x.pos * into_pos).sum_to_size(x.shape), (abs(c) * x.neg * into_neg).sum_to_size(x.shape)))
        return out


class CatRule(SplitRule):
    """``torch.cat``: concatenate both streams; the backward splits."""

    kind = "cat"
    stabilizes = False

    def __init__(self, dim: int):
        if dim == 0:
            raise ValueError("torch.cat along the batch dimension is not supported")
        self.dim = dim

    def forward(self, ctx, inputs, args, kwargs, stabilizer=None):
        ctx["sizes"] = [x.d.shape[self.dim] for x in inputs]
        return Streams(torch.cat([x.d for x in inputs], self.dim), torch.cat([x.s for x in inputs], self.dim))

    def backward(self, ctx, sens):
        pairs, commons = sens.pair.split(ctx["sizes"], self.dim), sens.common.split(ctx["sizes"], self.dim)
        return [Sensitivities(p, c, sens.scale) for p, c in zip(pairs, commons)]

    def relevance(self, ctx, rel, epsilon):
        pos, neg = rel.pos.split(ctx["sizes"], self.dim), rel.neg.split(ctx["sizes"], self.dim)
        return [Relevance(p, n) for p, n in zip(pos, neg)]


# ---------------------------------------------------------------------------------------------------------
# Constructors used by the graph capture


def relu_family_rule(kind: str, **params: Any) -> PiecewiseLinearRule:
    """The difference-of-convex form of a ReLU-family activation (see PiecewiseLinearRule)."""
    if kind == "ReLU":
        return PiecewiseLinearRule("ReLU")
    if kind == "LeakyReLU":
        slope = float(params.get("negative_slope", 0.01))
        return PiecewiseLinearRule("LeakyReLU", slope=slope, coefficients=(1.0 - slope,), thresholds=(0.0,),
                                   original=lambda d: F.leaky_relu(d, slope))
    if kind == "ReLU6":
        return PiecewiseLinearRule("ReLU6", coefficients=(1.0, -1.0), thresholds=(0.0, 6.0), original=F.relu6)
    if kind == "Hardtanh":
        low, high = float(params.get("min_val", -1.0)), float(params.get("max_val", 1.0))
        if not high > low:
            raise ValueError(f"Hardtanh needs max_val > min_val, got {low}, {high}")
        return PiecewiseLinearRule("Hardtanh", coefficients=(1.0, -1.0), thresholds=(low, high), constant=low,
                                   original=lambda d: F.hardtanh(d, low, high))
    raise KeyError(kind)


def batchnorm_rule(module: torch.nn.modules.batchnorm._BatchNorm) -> ChannelAffineRule:
    """Fold an eval-mode BatchNorm into ``sc·x + t`` (paper A.3)."""
    mean, var = module.running_mean, module.running_var
    scale = torch.rsqrt(var.double() + module.eps)
    if module.weight is not None:
        scale = scale * module.weight.detach().double()
    shift = -mean.double() * scale
    if module.bias is not None:
        shift = shift + module.bias.detach().double()
    return ChannelAffineRule(scale, shift)


def conv_padding(padding, kernel_size, dilation) -> tuple[int, int]:
    """Integer padding for ``padding='same'|'valid'`` (needed by the input-only backward)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0)
        total = [d * (k - 1) for k, d in zip(kernel_size, dilation)]
        if any(t % 2 for t in total):
            raise ValueError("padding='same' with an even effective kernel is asymmetric and not supported")
        return tuple(t // 2 for t in total)
    return torch.nn.modules.utils._pair(padding)


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
