"""The two kinds of stream networks of paper section F, plus an unconstrained ReLU stream.

A *stream* maps a flat input ``(N, in_features)`` to per-class scores ``(N, num_classes)``.

``kind="monotone"`` (the streams of a DM model)
    every weight ``>= 0`` and a convex non-decreasing activation (ReLU or softplus). Each
    score is then a non-negative combination of compositions of convex non-decreasing
    functions with non-negative affine maps, i.e. **monotone non-decreasing and convex** in
    every input coordinate (the same function class as the g/h streams of the DC split,
    paper section A.2, Theorem 1).
``kind="input_convex"`` (the streams of a DIC model; ICNN of Amos, Xu & Kolter, ICML 2017)
    ``z_1 = act(A_0 x + b_0)``, ``z_{k+1} = act(W_k z_k + A_k x + b_k)`` and the linear
    output ``W_K z_K + A_K x + b_K``: the first layer ``A_0`` and the input skip connections
    ``A_k`` are unconstrained, the hidden-to-hidden weights ``W_k >= 0``. Each score is
    **convex** in the input (not monotone).
``kind="unconstrained"``
    the same layer sizes without any constraint or skip connection: a plain ReLU network,
    used as the accuracy baseline.

``architecture="mlp"`` uses fully connected layers (``hidden`` = widths). ``architecture="cnn"``
reads the input as a square one-channel image (``in_features = side**2``): 3x3 'same'
convolutions (``hidden`` = channels), a 2x2 average pool (a non-negative linear map, so it
keeps monotonicity and convexity), then a fully connected output layer. In the ICNN variant
each convolution after the first and the output layer get an unconstrained skip connection
from the input image.
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Constraint, ConstrainedConv2d, ConstrainedLayer, ConstrainedLinear, check_constraint

StreamKind = Literal["monotone", "input_convex", "unconstrained"]
STREAM_KINDS: tuple[str, ...] = ("monotone", "input_convex", "unconstrained")
Architecture = Literal["mlp", "cnn"]
ARCHITECTURES: tuple[str, ...] = ("mlp", "cnn")
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "softplus": nn.Softplus}

DEFAULT_HIDDEN: dict[str, tuple[int, ...]] = {"mlp": (128, 128), "cnn": (16, 32)}


def _layer_constraints(kind: str, n_layers: int, constraint: str) -> list[str]:
    """Constraint of each main layer: monotone = all constrained, ICNN = all but the first."""
    if kind == "monotone":
        return [constraint] * n_layers
    if kind == "input_convex":
        return ["none"] + [constraint] * (n_layers - 1)
    if kind == "unconstrained":
        return ["none"] * n_layers
    raise ValueError(f"unknown stream kind {kind!r}; choose one of {STREAM_KINDS}")


def _check_activation(activation: str) -> nn.Module:
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; choose one of {tuple(ACTIVATIONS)} "
            "(monotone and input-convex streams need a convex non-decreasing activation)"
        )
    return ACTIVATIONS[activation]()


class StreamNetwork(nn.Module):
    """Common interface of :class:`MLPStream` and :class:`CNNStream`."""

    kind: str
    in_features: int
    num_classes: int
    constraint: str
    layers: nn.ModuleList  # main path, one constrained layer per stage, the last one is the output layer
    skips: nn.ModuleList  # ICNN input skip connections for stages 1.. (empty otherwise)

    def constrained_layers(self) -> list[ConstrainedLayer]:
        return [m for m in self.modules() if isinstance(m, ConstrainedLayer)]

    def project_(self) -> None:
        """Apply the projection of ``constraint='clamp'`` to every layer (no-op otherwise)."""
        for layer in self.constrained_layers():
            layer.project_()

    def constraint_violation(self) -> float:
        """Largest negative entry among the weights that must be non-negative (0.0 if none)."""
        return max((layer.constraint_violation() for layer in self.constrained_layers()), default=0.0)

    def _stage_input(self, stage: int, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _pre_activation(self, stage: int, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        pre = self.layers[stage](self._stage_input(stage, z))
        if self.kind == "input_convex" and stage > 0:
            pre = pre + self.skips[stage - 1](self._skip_input(stage, x))
        return pre

    def _skip_input(self, stage: int, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._prepare(x)
        z = x
        last = len(self.layers) - 1
        for stage in range(len(self.layers)):
            z = self._pre_activation(stage, z, x)
            if stage < last:
                z = self.activation(z)
        return z

    @torch.no_grad()
    def initialise_from_data_(self, x: torch.Tensor, eps: float = 1e-3) -> None:
        """Data-dependent initialisation (LSUV-like): each hidden unit gets zero-mean, unit-variance
        pre-activations on the batch ``x``, the output scores unit variance.

        Only positive rescaling of the weights and a change of the (unconstrained) bias are used,
        so all sign constraints stay satisfied. Needed because with non-negative weights every
        pre-activation starts positive and the ReLUs would all be in their linear regime.
        """
        x = self._prepare(x)
        z = x
        last = len(self.layers) - 1
        for stage in range(len(self.layers)):
            pre = self._pre_activation(stage, z, x)
            reduce_dims = [d for d in range(pre.ndim) if d != 1]
            mean = pre.mean(dim=reduce_dims)
            std = pre.std(dim=reduce_dims).clamp(min=eps)
            if stage == last:  # keep the class offsets, only make the scale O(1)
                mean, std = torch.zeros_like(mean), std.mean().expand_as(std).clone()
            scale_shape = (-1,) + (1,) * (self.layers[stage].raw_weight.ndim - 1)
            modules = [self.layers[stage]] + ([self.skips[stage - 1]] if self.kind == "input_convex" and stage > 0 else [])
            for module in modules:
                module.set_effective_weight_(module.effective_weight / std.reshape(scale_shape))
            main = self.layers[stage]
            main.bias.copy_((main.bias - mean) / std)
            z = self._pre_activation(stage, z, x)
            if stage < last:
                z = self.activation(z)


class MLPStream(StreamNetwork):
    """Fully connected stream; see the module docstring for ``kind``."""

    def __init__(
        self,
        kind: StreamKind,
        in_features: int,
        num_classes: int,
        hidden: Sequence[int] = DEFAULT_HIDDEN["mlp"],
        *,
        constraint: Constraint = "softplus",
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.kind, self.in_features, self.num_classes = kind, in_features, num_classes
        self.constraint = check_constraint(constraint)
        self.activation = _check_activation(activation)
        widths = [in_features, *hidden, num_classes]
        constraints = _layer_constraints(kind, len(widths) - 1, constraint)
        self.layers = nn.ModuleList(
            ConstrainedLinear(widths[i], widths[i + 1], constraint=constraints[i]) for i in range(len(widths) - 1)
        )
        n_skips = len(widths) - 2 if kind == "input_convex" else 0
        self.skips = nn.ModuleList(
            ConstrainedLinear(in_features, widths[i + 1], constraint="none", bias=False) for i in range(1, 1 + n_skips)
        )

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], self.in_features)

    def _stage_input(self, stage: int, z: torch.Tensor) -> torch.Tensor:
        return z

    def _skip_input(self, stage: int, x: torch.Tensor) -> torch.Tensor:
        return x


class CNNStream(StreamNetwork):
    """Small convolutional stream for square one-channel images (``in_features = side**2``)."""

    def __init__(
        self,
        kind: StreamKind,
        in_features: int,
        num_classes: int,
        hidden: Sequence[int] = DEFAULT_HIDDEN["cnn"],
        *,
        constraint: Constraint = "softplus",
        activation: str = "relu",
    ) -> None:
        super().__init__()
        side = math.isqrt(in_features)
        if side * side != in_features:
            raise ValueError(
                f"architecture='cnn' reads the input as a square image, but in_features={in_features} "
                "is not a square number (use 64 for 8x8 digits, 784 for 28x28 MNIST, or architecture='mlp')"
            )
        if not hidden:
            raise ValueError("architecture='cnn' needs at least one convolution: pass hidden=(channels, ...)")
        self.kind, self.in_features, self.num_classes, self.side = kind, in_features, num_classes, side
        self.constraint = check_constraint(constraint)
        self.activation = _check_activation(activation)
        self.pool = 2 if side % 2 == 0 else 1
        channels = [1, *hidden]
        constraints = _layer_constraints(kind, len(hidden) + 1, constraint)
        convs = [ConstrainedConv2d(channels[i], channels[i + 1], 3, constraint=constraints[i]) for i in range(len(hidden))]
        pooled = channels[-1] * (side // self.pool) ** 2
        head = ConstrainedLinear(pooled, num_classes, constraint=constraints[-1])
        self.layers = nn.ModuleList([*convs, head])
        skips: list[nn.Module] = []
        if kind == "input_convex":
            skips = [ConstrainedConv2d(1, c, 3, constraint="none", bias=False) for c in hidden[1:]]
            skips.append(ConstrainedLinear(in_features, num_classes, constraint="none", bias=False))
        self.skips = nn.ModuleList(skips)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], 1, self.side, self.side)

    def _stage_input(self, stage: int, z: torch.Tensor) -> torch.Tensor:
        if stage == len(self.layers) - 1:  # head: average-pool (non-negative linear) then flatten
            if self.pool > 1:
                z = F.avg_pool2d(z, self.pool)
            return z.flatten(1)
        return z

    def _skip_input(self, stage: int, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) if stage == len(self.layers) - 1 else x


def build_stream(
    kind: StreamKind,
    architecture: Architecture,
    in_features: int,
    num_classes: int,
    hidden: Sequence[int] | None = None,
    *,
    constraint: Constraint = "softplus",
    activation: str = "relu",
) -> StreamNetwork:
    """Build one stream; ``hidden=None`` uses :data:`DEFAULT_HIDDEN` for the architecture."""
    if kind not in STREAM_KINDS:
        raise ValueError(f"unknown stream kind {kind!r}; choose one of {STREAM_KINDS}")
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {ARCHITECTURES}")
    hidden = tuple(DEFAULT_HIDDEN[architecture] if hidden is None else hidden)
    if any(int(w) <= 0 for w in hidden):
        raise ValueError(f"hidden sizes must be positive integers, got {hidden}")
    cls = MLPStream if architecture == "mlp" else CNNStream
    return cls(kind, in_features, num_classes, hidden, constraint=constraint, activation=activation)
