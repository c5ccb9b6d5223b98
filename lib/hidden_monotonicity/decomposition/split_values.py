"""The values that flow through a split network (named so as not to be confused with ``monotone/streams.py``, the
stream networks of paper section F): forward stream pairs, backward sensitivities, SplitLRP relevance.

Forward: each activation of the split network is a pair of non-negative streams ``(a⁺, a⁻)`` with
``a⁺ − a⁻ = a`` (paper A.2). The engine carries the equivalent pair

    d = a⁺ − a⁻   (exactly the original network's activation)
    s = a⁺ + a⁻   (the common mode, >= |d|)

because a split affine layer then costs two products instead of four:
``z^± = W⁺a^± + W⁻a^∓ + b^±``  ⇔  ``d' = W d + b``,  ``s' = |W| s + |b|``.
``d`` also provides, for free, the masks and max-pool winners of the original network (the paper's
"cached original activations", B.3), and the forward invariant ``a⁺ − a⁻ = a`` holds by construction.

Backward: the four local sensitivities ``δ^{±,g} = ∂g/∂a^±`` and ``δ^{±,h} = ∂h/∂a^±`` (B.3) are carried as

    grad   = (δ^{+,g} − δ^{−,g}) − (δ^{+,h} − δ^{−,h})   (= 2·∂f/∂a with the unit seed: the total invariant)
    diff_g = δ^{+,g} − δ^{−,g}
    common = δ^{+,g} + δ^{−,g} = δ^{+,h} + δ^{−,h}     (the common mode, identical for g and h)

The common mode is the same for the g and the h pair because it propagates through ``|W|ᵀ`` and passes
Maxout ungated, independently of the seed's stream; so three tensors describe all four sensitivities, and a
split layer's backward costs three input-only transposed products. The α-shift (B.3) subtracts
``α·common`` from both members of each pair, i.e. it multiplies ``common`` by ``1 − 2α`` and leaves
``grad`` and ``diff_g`` unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Streams:
    """A split activation in the (difference, common-mode) representation: ``d = a⁺ − a⁻``, ``s = a⁺ + a⁻``."""

    d: torch.Tensor
    s: torch.Tensor

    @classmethod
    def from_pos_neg(cls, a_pos: torch.Tensor, a_neg: torch.Tensor) -> "Streams":
        return cls(a_pos - a_neg, a_pos + a_neg)

    @property
    def pos(self) -> torch.Tensor:
        """The + stream ``a⁺ = (s + d) / 2``."""
        return 0.5 * (self.s + self.d)

    @property
    def neg(self) -> torch.Tensor:
        """The − stream ``a⁻ = (s − d) / 2``."""
        return 0.5 * (self.s - self.d)

    def map(self, fn) -> "Streams":
        """Apply the same shape or non-negative linear operation to both streams."""
        return Streams(fn(self.d), fn(self.s))

    @property
    def shape(self) -> torch.Size:
        return self.d.shape


class Sensitivities:
    """The four sensitivities of one activation, carried as ``(grad, diff_g, common)``; see the module docstring.

    ``pair`` stacks ``[grad; diff_g]`` along the batch axis (both go through ``Wᵀ``, so one transposed product
    serves both); the common mode is ``scale · common`` with a lazy scalar ``scale``, so that the α-shift
    (a multiplication of the common mode by ``1 − 2α``) costs nothing until a rule needs the values.
    """

    __slots__ = ("pair", "common", "scale")

    def __init__(self, pair: torch.Tensor, common: torch.Tensor, scale: float = 1.0):
        self.pair, self.common, self.scale = pair, common, float(scale)

    @classmethod
    def from_parts(cls, grad: torch.Tensor, diff_g: torch.Tensor, common: torch.Tensor) -> "Sensitivities":
        return cls(torch.cat([grad, diff_g]), common)

    @property
    def batch(self) -> int:
        return self.common.shape[0]

    @property
    def grad(self) -> torch.Tensor:
        return self.pair[: self.batch]

    @property
    def diff_g(self) -> torch.Tensor:
        return self.pair[self.batch :]

    @property
    def diff_h(self) -> torch.Tensor:
        """``δ^{+,h} − δ^{−,h}``."""
        return self.diff_g - self.grad

    def common_value(self) -> torch.Tensor:
        """The common mode ``δ⁺ + δ⁻`` (identical for the g and the h pair)."""
        return self.common if self.scale == 1.0 else self.scale * self.common

    def scaled(self, factor: float) -> "Sensitivities":
        """The α-shift: multiply the common mode by ``factor = 1 − 2α`` (lazily)."""
        return Sensitivities(self.pair, self.common, self.scale * factor)

    def __add__(self, other: "Sensitivities") -> "Sensitivities":
        if self.scale == other.scale:
            common = self.common + other.common
        else:
            common = torch.add(self.common, other.common, alpha=other.scale / self.scale) if self.scale != 0 else other.common_value()
            if self.scale == 0:
                return Sensitivities(self.pair + other.pair, common)
        return Sensitivities(self.pair + other.pair, common, self.scale)

    def map(self, fn) -> "Sensitivities":
        """Apply the same linear map (reshape, split, ...) to all components (``fn`` must act per sample)."""
        return Sensitivities(fn(self.pair), fn(self.common), self.scale)

    def four(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(δ^{+,g}, δ^{−,g}, δ^{+,h}, δ^{−,h})``."""
        common, diff_g = self.common_value(), self.diff_g
        diff_h = diff_g - self.grad
        return (
            0.5 * (common + diff_g),
            0.5 * (common - diff_g),
            0.5 * (common + diff_h),
            0.5 * (common - diff_h),
        )


@dataclass
class Relevance:
    """Relevance on the two streams of one activation (SplitLRP, paper C.3)."""

    pos: torch.Tensor
    neg: torch.Tensor

    def __add__(self, other: "Relevance") -> "Relevance":
        return Relevance(self.pos + other.pos, self.neg + other.neg)

    def map(self, fn) -> "Relevance":
        return Relevance(fn(self.pos), fn(self.neg))
