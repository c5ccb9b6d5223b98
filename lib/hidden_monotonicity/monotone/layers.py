"""Sign-constrained linear and convolution layers for monotone and input-convex networks.

Paper section F (see ``paper-digest.md``): the self-explaining models are differences of two
networks whose weights are partly or fully non-negative. A layer here holds an unconstrained
*raw* parameter and exposes the weight actually used in the forward pass as
:attr:`ConstrainedLayer.effective_weight`. Four ways to produce that weight:

``"softplus"``
    re-parameterisation ``W = softplus(V)``; always ``W > 0``, gradients flow through ``V``.
``"exp"``
    re-parameterisation ``W = exp(V)``; always ``W > 0``.
``"clamp"``
    projection: ``W = V`` in the forward pass and :meth:`ConstrainedLayer.project_` sets
    ``V <- max(V, 0)``; the training loop calls it after every optimiser step
    (projected gradient descent). Between a step and the projection the constraint can be
    violated, so always call :meth:`project_` after changing the parameters by hand.
``"none"``
    unconstrained ``W = V`` (first ICNN layer, input skip connections, baseline networks).

All layers are initialised so that the *effective* weight has mean ``1 / fan_in`` and a
half-normal spread (``|N(0, 1)| * sqrt(pi/2) / fan_in``) when constrained, and PyTorch's default
(Kaiming-uniform) initialisation when unconstrained. :meth:`ConstrainedLayer.set_effective_weight_`
inverts the re-parameterisation, so a data-dependent re-scaling can act on ``W`` directly.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Constraint = Literal["softplus", "exp", "clamp", "none"]
CONSTRAINTS: tuple[str, ...] = ("softplus", "exp", "clamp", "none")

# smallest effective weight the re-parameterisations are initialised to (log/softplus^-1 of 0)
_MIN_POSITIVE_WEIGHT = 1e-6


def check_constraint(constraint: str) -> str:
    """Return ``constraint`` if it is a known weight constraint, else raise a clear ``ValueError``."""
    if constraint not in CONSTRAINTS:
        raise ValueError(
            f"unknown weight constraint {constraint!r}; choose one of {CONSTRAINTS} "
            "('softplus'/'exp' re-parameterise, 'clamp' projects after each optimiser step)"
        )
    return constraint


def inverse_softplus(weight: torch.Tensor) -> torch.Tensor:
    """Raw value ``V`` with ``softplus(V) == weight`` (for ``weight > 0``), numerically stable."""
    weight = weight.clamp(min=_MIN_POSITIVE_WEIGHT)
    # softplus^-1(w) = log(expm1(w)) = w + log(1 - exp(-w))
    return weight + torch.log(-torch.expm1(-weight))


class ConstrainedLayer(nn.Module):
    """Mixin for a layer with a raw parameter ``raw_weight`` and a weight ``constraint``."""

    raw_weight: nn.Parameter
    constraint: str

    @property
    def effective_weight(self) -> torch.Tensor:
        """The weight used in the forward pass (non-negative unless ``constraint == 'none'``)."""
        if self.constraint == "softplus":
            return F.softplus(self.raw_weight)
        if self.constraint == "exp":
            return torch.exp(self.raw_weight)
        return self.raw_weight

    @property
    def is_nonnegative(self) -> bool:
        """Whether this layer's weight is meant to be ``>= 0``."""
        return self.constraint != "none"

    @torch.no_grad()
    def set_effective_weight_(self, weight: torch.Tensor) -> None:
        """Set the raw parameter so that :attr:`effective_weight` equals ``weight``.

        For the non-negative constraints ``weight`` must be ``>= 0``; zeros are mapped to a tiny
        positive value for ``softplus``/``exp`` (which cannot represent 0 exactly).
        """
        weight = weight.to(self.raw_weight)
        if self.is_nonnegative and bool((weight < 0).any()):
            raise ValueError(f"{type(self).__name__} with constraint {self.constraint!r} needs a non-negative weight")
        if self.constraint == "softplus":
            self.raw_weight.copy_(inverse_softplus(weight))
        elif self.constraint == "exp":
            self.raw_weight.copy_(torch.log(weight.clamp(min=_MIN_POSITIVE_WEIGHT)))
        else:
            self.raw_weight.copy_(weight)

    @torch.no_grad()
    def project_(self) -> None:
        """Projection step of ``constraint='clamp'``: ``V <- max(V, 0)``; a no-op otherwise."""
        if self.constraint == "clamp":
            self.raw_weight.clamp_(min=0.0)

    def constraint_violation(self) -> float:
        """Largest amount by which the effective weight is negative (0.0 when satisfied)."""
        if not self.is_nonnegative:
            return 0.0
        return float((-self.effective_weight.detach()).clamp(min=0).max()) + 0.0  # + 0.0: no '-0.0'

    @torch.no_grad()
    def _initialise(self, fan_in: int, generator: torch.Generator | None = None) -> None:
        shape = self.raw_weight.shape
        if self.is_nonnegative:
            half_normal = torch.randn(shape, generator=generator, dtype=self.raw_weight.dtype).abs()
            self.set_effective_weight_(half_normal * math.sqrt(math.pi / 2) / fan_in)
        else:
            bound = 1.0 / math.sqrt(fan_in)
            self.raw_weight.copy_(torch.empty(shape, dtype=self.raw_weight.dtype).uniform_(-bound, bound, generator=generator))

    def extra_repr(self) -> str:  # pragma: no cover - cosmetic
        return f"{super().extra_repr()}, constraint={self.constraint!r}"


class ConstrainedLinear(ConstrainedLayer):
    """``y = W x + b`` with ``W = effective_weight`` (see module docstring); bias is unconstrained.

    A non-negative ``W`` makes ``x -> W x + b`` monotone non-decreasing and (being affine) convex.
    """

    def __init__(self, in_features: int, out_features: int, *, constraint: Constraint = "softplus", bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.constraint = check_constraint(constraint)
        self.raw_weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self._initialise(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, constraint={self.constraint!r}"


class ConstrainedConv2d(ConstrainedLayer):
    """2-D convolution (stride 1, 'same' zero padding) with a constrained kernel; bias unconstrained.

    Zero padding adds constants, so a non-negative kernel keeps the map monotone and affine.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, *, constraint: Constraint = "softplus", bias: bool = True
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd for 'same' padding, got {kernel_size}")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.constraint = check_constraint(constraint)
        self.raw_weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self._initialise(in_channels * kernel_size * kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.effective_weight, self.bias, padding=self.kernel_size // 2)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"constraint={self.constraint!r}"
        )


def constrained_layers(module: nn.Module) -> list[ConstrainedLayer]:
    """All :class:`ConstrainedLayer` sub-modules of ``module`` (in registration order)."""
    return [m for m in module.modules() if isinstance(m, ConstrainedLayer)]
