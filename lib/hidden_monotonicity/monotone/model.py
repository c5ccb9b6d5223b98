"""Self-explaining classifiers ``f(x) = g(x) - h(1 - x)`` (paper section F).

``MonotoneDifference`` holds two stream networks (see :mod:`.stream_networks`) with per-class scores:

* ``kind="dm"``: **d**ifference of **m**onotone networks. g and h are monotone non-decreasing
  and convex, so ``f_k(x) = g_k(x) - h_k(1 - x)`` is non-decreasing in every pixel for every
  class k (``∂f_k/∂x = g_k'(x) + h_k'(1 - x) >= 0``: ``-h(1 - x)`` is non-decreasing in x) and a
  difference of convex functions. **This DM model is a monotone classifier** -- exactly the restriction
  that the paper's premise says a difference of monotone networks overcomes. It still classifies, because
  the prediction ``argmax_k f_k(x)`` compares monotone logits: more ink raises every class score, by
  different amounts. With ``h_input="identity"`` the model is ``f(x) = g(x) - h(x)``, a difference of
  monotone networks that is **not** monotone in general (``∂f_k/∂x = g_k'(x) - h_k'(x)`` has either sign).
* ``kind="dic"``: **d**ifference of **i**nput-**c**onvex networks (ICNN streams). g and h are
  convex, ``f`` is a DC function, not monotone.
* ``kind="unconstrained"``: both streams are plain ReLU networks of the same sizes as the DM
  streams (the accuracy baseline; equivalent to one ReLU network of twice the width).
* ``kind="lmn"``: both streams are Lipschitz monotonic networks from the ``monotonicnetworks``
  library (Kitouni, Nolte & Williams, ICLR 2023), see :mod:`.lipschitz`; the comparison row.

**The h-stream's input** (``h_input``). By default (``"inverted"``) the h-stream reads the inverted image
``u = 1 - x``, so for inputs in ``[0, 1]`` (digit strokes bright) g sees the ink and h sees the background as its
"bright" pixels. The inverted input is attested for the DIC experiment (paper Fig. 3 [PN: "the h-stream gets the
inverted input"]); that DM uses it too is this library's reading [I]. ``h_input="identity"`` gives both streams
the image, ``f(x) = g(x) - h(x)`` (the other reading; for DM the non-monotone one). ``model.g(x)`` takes the image
``x``; ``model.h(u)`` takes the h-stream's input ``u = model.h_stream_input(x)``: the **already inverted** image
``1 - x`` by default, ``x`` itself for ``"identity"`` (``forward`` computes ``g(x) - h(u)``). Inputs may be flat
``(N, in_features)`` or images ``(N, side, side)`` / ``(N, 1, side, side)``.

The default weight constraint is ``DEFAULT_CONSTRAINT = "softplus"`` (re-parameterisation
``W = softplus(V)``), chosen by the measurement in ``figures/monotone_accuracy.md`` (digits MLP,
3 seeds, 30 epochs, each method at its validation-chosen learning rate, test split):

==========  ==============  ==============  ================================================
constraint  DM accuracy     DIC accuracy    other measurements
==========  ==============  ==============  ================================================
softplus    0.973 +- 0.006  0.983 +- 0.003  lr 3e-2; no dead stream in any seed
exp         0.962 +- 0.008  0.983 +- 0.002  lr 3e-2; one DM seed: h-map 0 on 99.8 % of images
clamp       0.958 +- 0.013  0.981 +- 0.002  lr 3e-3; 17 % exact zero weights; at lr 1e-2 the
                                            DM h-stream died in 2/3 seeds, at 3e-2 all of DM
==========  ==============  ==============  ================================================

softplus had the best DM accuracy with the smallest spread, tied for DIC, never produced a dead
stream, and keeps the weights non-negative at every moment (no reliance on the training loop
calling :meth:`MonotoneDifference.project_`). Its costs: no exact zero weights, a larger learning
rate (``training.DEFAULT_LEARNING_RATES``; too small a rate underfits rather than fails loudly), and
slightly less stroke-focused stream maps than ``clamp`` (DM g-lift 1.16 vs 1.20, h-lift 0.90 vs 1.03).
"""

from __future__ import annotations

import math
from typing import Any, Literal, Sequence

import torch
from torch import nn

from .layers import Constraint, ConstrainedConv2d, ConstrainedLinear, check_constraint
from .stream_networks import Architecture, CNNStream, MLPStream, StreamNetwork, build_stream

ModelKind = Literal["dm", "dic", "unconstrained", "lmn"]
MODEL_KINDS: tuple[str, ...] = ("dm", "dic", "unconstrained", "lmn")
HInput = Literal["inverted", "identity"]
#: What the h-stream reads: ``"inverted"`` (``u = 1 - x``, f = g(x) - h(1 - x): the default, attested for DIC in the
#: paper's Fig. 3, our reading for DM) or ``"identity"`` (``u = x``, f = g(x) - h(x)).
H_INPUTS: tuple[str, ...] = ("inverted", "identity")
DEFAULT_H_INPUT: HInput = "inverted"
STREAM_KIND_OF_MODEL: dict[str, str] = {"dm": "monotone", "dic": "input_convex", "unconstrained": "unconstrained"}
DEFAULT_CONSTRAINT: Constraint = "softplus"

# inputs may exceed [0, 1] by this much (float round-off of a division by 16 or 255)
RANGE_TOLERANCE = 1e-6


class MonotoneDifference(nn.Module):
    """Classifier ``f(x) = g(x) - h(1 - x)`` (or ``g(x) - h(x)``) made of two monotone / input-convex streams.

    Args:
        kind: ``"dm"`` (monotone streams), ``"dic"`` (input-convex streams),
            ``"unconstrained"`` (plain ReLU streams, baseline) or ``"lmn"`` (Lipschitz
            monotonic networks from ``monotonicnetworks``, comparison row; MLP only).
        in_features: pixels per image (64 for the 8x8 sklearn digits, 784 for MNIST).
        num_classes: number of output scores per stream.
        hidden: hidden widths (``"mlp"``) or channels (``"cnn"``); ``None`` = defaults
            ``(128, 128)`` / ``(16, 32)``.
        architecture: ``"mlp"`` or ``"cnn"`` (3x3 convolutions on the ``side x side`` image).
        constraint: how the non-negative weights are enforced: ``"softplus"`` (default) or
            ``"exp"`` (re-parameterisation), or ``"clamp"`` (projection after each optimiser
            step: call :meth:`project_`). Ignored for ``"unconstrained"`` and ``"lmn"``.
        activation: ``"relu"`` or ``"softplus"`` (both convex and non-decreasing).
        lipschitz_const: only for ``kind="lmn"``, the Lipschitz constant lambda of each stream
            (default 2, chosen on a validation split, see :mod:`.lipschitz`).
        h_input: what the h-stream reads: ``"inverted"`` (default; ``u = 1 - x``, ``f = g(x) - h(1 - x)``,
            for DM a classifier whose every logit is non-decreasing in every pixel) or ``"identity"``
            (``u = x``, ``f = g(x) - h(x)``, for DM not monotone). Any kind accepts both; see the module
            docstring for which is attested by the paper.

    The model is already split (``f = g - h`` with convex g, h), but its forward checks its input
    and its constrained layers compute ``W = softplus(V)`` / ``exp(V)`` at run time, so torch.fx
    cannot trace it. :meth:`as_plain_network` exports an equivalent plain ReLU network
    (:class:`PlainDifference`: ``nn.Linear``/``nn.Conv2d`` holding the effective weights, ``nn.ReLU``,
    skip additions, ``1 - x``) that ``hm.decompose`` and the split methods of ``hm.explain``
    (SplitCAM, SplitGrad, SplitLRP, paper section C) accept; :func:`.explanations.split_sensitivities`
    gives the four split sensitivities at the input as pixel maps.
    """

    def __init__(
        self,
        kind: ModelKind = "dm",
        in_features: int = 64,
        num_classes: int = 10,
        hidden: Sequence[int] | None = None,
        architecture: Architecture = "mlp",
        constraint: Constraint = DEFAULT_CONSTRAINT,
        activation: str = "relu",
        lipschitz_const: float = 2.0,
        h_input: HInput = DEFAULT_H_INPUT,
    ) -> None:
        super().__init__()
        if kind not in MODEL_KINDS:
            raise ValueError(f"unknown model kind {kind!r}; choose one of {MODEL_KINDS}")
        check_h_input(h_input)
        if int(in_features) <= 0 or int(num_classes) <= 0:
            raise ValueError(f"in_features and num_classes must be positive, got {in_features}, {num_classes}")
        check_constraint(constraint)
        if kind in ("dm", "dic") and constraint == "none":
            raise ValueError(f"kind={kind!r} needs non-negative weights: use constraint 'clamp', 'softplus' or 'exp'")
        self.kind, self.in_features, self.num_classes = kind, int(in_features), int(num_classes)
        self.architecture, self.activation_name = architecture, activation
        self.constraint = "none" if kind in ("unconstrained", "lmn") else constraint
        self.lipschitz_const = float(lipschitz_const)
        self.h_input: str = h_input
        self.g_stream = self._build_stream(hidden)
        self.h_stream = self._build_stream(hidden)
        self.hidden = tuple(hidden) if hidden is not None else None

    def _build_stream(self, hidden: Sequence[int] | None) -> nn.Module:
        if self.kind == "lmn":
            from .lipschitz import build_lipschitz_stream

            if self.architecture != "mlp":
                raise ValueError("kind='lmn' (monotonicnetworks) supports only architecture='mlp'")
            return build_lipschitz_stream(self.in_features, self.num_classes, hidden, lipschitz_const=self.lipschitz_const)
        return build_stream(
            STREAM_KIND_OF_MODEL[self.kind],  # type: ignore[arg-type]
            self.architecture,
            self.in_features,
            self.num_classes,
            hidden,
            constraint=self.constraint,  # type: ignore[arg-type]
            activation=self.activation_name,
        )

    # ------------------------------------------------------------------ inputs
    def flatten_input(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_features)`` view of ``x``; raises ``ValueError`` on a wrong size or dtype."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"expected a torch.Tensor, got {type(x).__name__}")
        if not torch.is_floating_point(x):
            raise TypeError(f"expected a floating point tensor scaled to [0, 1], got dtype {x.dtype}")
        if x.ndim < 2 or x[0].numel() != self.in_features:
            shape = tuple(x.shape)
            raise ValueError(
                f"expected a batch of inputs with {self.in_features} features each, shaped (N, {self.in_features}) "
                f"or (N, [1,] side, side); got shape {shape}. Add a batch dimension for a single image "
                "(x.unsqueeze(0)) or build the model with the matching in_features (64 for 8x8 digits, 784 for MNIST)."
            )
        return x.reshape(x.shape[0], self.in_features)

    def check_range(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` unless every entry of ``x`` lies in ``[0, 1]`` (NaN fails too)."""
        inside = (x >= -RANGE_TOLERANCE) & (x <= 1 + RANGE_TOLERANCE)
        if not bool(inside.all()):
            finite = x[torch.isfinite(x)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.numel() else (float("nan"), float("nan"))
            reason = "the h-stream reads 1 - x" if self.h_input == "inverted" else "the streams are trained on such images"
            raise ValueError(
                f"inputs must lie in [0, 1] because {reason}; got values in [{lo:.4g}, {hi:.4g}]"
                f"{' and NaN/inf' if finite.numel() < x.numel() else ''}. Scale the images to [0, 1] first "
                "(divide sklearn digits by 16, MNIST by 255; do not mean/std-normalise)."
            )

    # ------------------------------------------------------------------ streams
    def g(self, x: torch.Tensor) -> torch.Tensor:
        """g-stream scores ``(N, num_classes)`` of the image ``x`` (monotone/convex in ``x``)."""
        return self.g_stream(self.flatten_input(x))

    def h(self, u: torch.Tensor) -> torch.Tensor:
        """h-stream scores ``(N, num_classes)`` of the h-stream's input ``u`` (not of the image).

        ``u = model.h_stream_input(x)``: the **inverted** image ``1 - x`` by default, ``x`` for
        ``h_input="identity"``; ``forward(x) == g(x) - h(h_stream_input(x))``.
        """
        return self.h_stream(self.flatten_input(u))

    def h_stream_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the h-stream reads for image ``x``: ``1 - x`` (``h_input="inverted"``) or ``x`` (``"identity"``)."""
        return 1.0 - x if self.h_input == "inverted" else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``f(x) = g(x) - h(1 - x)`` (``h_input="identity"``: ``g(x) - h(x)``) for images ``x`` in ``[0, 1]``."""
        x = self.flatten_input(x)
        self.check_range(x)
        return self.g_stream(x) - self.h_stream(self.h_stream_input(x))

    # ------------------------------------------------------------------ export
    def as_plain_network(self) -> "PlainDifference":
        """An eval-mode plain torch module computing exactly ``f(x) = g(x) - h(1 - x)`` (or ``g(x) - h(x)``), made only of
        operations with a DC split rule (``hm.decompose``, paper section A.3).

        Every constrained layer becomes an ``nn.Linear`` / ``nn.Conv2d`` whose ordinary parameters hold
        the layer's **effective** weight (``softplus(V)``, ``exp(V)``, or ``V`` for ``clamp``: exactly
        what :meth:`forward` uses, projected or not) and its bias; the streams are the sub-modules
        ``g_stream`` and ``h_stream`` (see :class:`PlainDifference` for the layer names). The export is
        a snapshot: later changes of this model do not reach it. It accepts the same input layouts as
        :meth:`forward` but does **not** check that the inputs lie in ``[0, 1]`` (the check is data-
        dependent control flow, which torch.fx cannot trace); check them with :meth:`check_range`.

        Raises ``ValueError`` for ``activation="softplus"`` (only piecewise-linear ReLU activations have an
        exact DC split) and for ``kind="lmn"`` (GroupSort and Lipschitz-normalised layers have no split rule).
        """
        if self.kind not in STREAM_KIND_OF_MODEL:
            raise ValueError(
                f"as_plain_network supports kinds {tuple(STREAM_KIND_OF_MODEL)}, not kind={self.kind!r}: the "
                "monotonicnetworks streams use GroupSort activations and norm-constrained layers, which have no "
                "DC split rule in hm.decompose. Use stream_gradients(model, x) to explain this model."
            )
        if self.activation_name != "relu":
            raise ValueError(
                f"only ReLU activations have an exact DC split (a ReLU becomes a Maxout of the two streams, paper "
                f"A.2); this model uses activation={self.activation_name!r}, which is not piecewise linear. Train a "
                "model with activation='relu' to use hm.decompose / hm.explain, or explain this one with "
                "stream_gradients(model, x)."
            )
        streams = [_plain_stream(stream) for stream in (self.g_stream, self.h_stream)]
        plain = PlainDifference(*streams, kind=self.kind, architecture=self.architecture,
                                in_features=self.in_features, num_classes=self.num_classes, h_input=self.h_input)
        return plain.eval()

    # ------------------------------------------------------------------ constraints
    def project_(self) -> None:
        """Projection step for ``constraint='clamp'`` (call after every optimiser step)."""
        for stream in (self.g_stream, self.h_stream):
            if isinstance(stream, StreamNetwork):
                stream.project_()

    def constraint_violation(self) -> float:
        """Largest negative entry among weights that must be ``>= 0`` (0.0 when all hold)."""
        return max(
            (stream.constraint_violation() for stream in (self.g_stream, self.h_stream) if isinstance(stream, StreamNetwork)),
            default=0.0,
        )

    @torch.no_grad()
    def initialise_from_data_(self, x: torch.Tensor) -> None:
        """Data-dependent initialisation of both streams on a batch of images ``x`` in [0, 1]
        (see :meth:`.stream_networks.StreamNetwork.initialise_from_data_`); no-op for ``kind='lmn'``."""
        x = self.flatten_input(x)
        self.check_range(x)
        for stream, inputs in ((self.g_stream, x), (self.h_stream, self.h_stream_input(x))):
            if isinstance(stream, StreamNetwork):
                stream.initialise_from_data_(inputs)

    def config(self) -> dict[str, Any]:
        """Constructor arguments (stored in checkpoints, see :func:`.difference_training.load_checkpoint`)."""
        return {
            "kind": self.kind,
            "in_features": self.in_features,
            "num_classes": self.num_classes,
            "hidden": list(self.hidden) if self.hidden is not None else None,
            "architecture": self.architecture,
            "constraint": self.constraint if self.kind in ("dm", "dic") else DEFAULT_CONSTRAINT,
            "activation": self.activation_name,
            "lipschitz_const": self.lipschitz_const,
            "h_input": self.h_input,
        }

    def extra_repr(self) -> str:
        return (f"kind={self.kind!r}, architecture={self.architecture!r}, constraint={self.constraint!r}, "
                f"h_input={self.h_input!r}")


def check_h_input(h_input: object) -> None:
    """Raise ``ValueError`` unless ``h_input`` is one of :data:`H_INPUTS`."""
    if not isinstance(h_input, str) or h_input not in H_INPUTS:
        raise ValueError(
            f"unknown h_input {h_input!r}; choose 'inverted' (f(x) = g(x) - h(1 - x), the default) "
            "or 'identity' (f(x) = g(x) - h(x))"
        )


# ---------------------------------------------------------------------------------------------------------
# Plain (traceable) export: the same function, written with modules that have a DC split rule


class PlainMLPStream(nn.Module):
    """Fully connected stream of a :class:`PlainDifference` (the plain twin of :class:`.stream_networks.MLPStream`).

    ``layers.i`` is ``nn.Linear`` with the effective weight of the source's ``layers[i]``, ``relus.i`` the
    ReLU after it, ``skips.j`` (ICNN only) the input skip connection added before ``relus.{j+1}`` (or to the
    output for the last one), as in :mod:`.stream_networks`.
    """

    def __init__(self, layers: Sequence[nn.Linear], skips: Sequence[nn.Linear]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.relus = nn.ModuleList(nn.ReLU() for _ in range(len(self.layers) - 1))
        self.skips = nn.ModuleList(skips)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x
        last = len(self.layers) - 1
        for stage, layer in enumerate(self.layers):
            z = layer(z)
            if stage > 0 and len(self.skips) > 0:
                z = z + self.skips[stage - 1](x)
            if stage < last:
                z = self.relus[stage](z)
        return z


class PlainConvFeatures(nn.Module):
    """The convolutional part of a :class:`PlainCNNStream`: ``convs.i`` (3x3, 'same' zero padding),
    ``skips.j`` (ICNN only: ``Conv2d(1, C, 3)`` from the input image, added before ``relus.{j+1}``) and
    ``relus.i``. Its own block, so that ``hm.explain(..., "splitcam")`` defaults to a spatial layer."""

    def __init__(self, convs: Sequence[nn.Conv2d], skips: Sequence[nn.Conv2d]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(convs)
        self.skips = nn.ModuleList(skips)
        self.relus = nn.ModuleList(nn.ReLU() for _ in range(len(self.convs)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x
        for stage, conv in enumerate(self.convs):
            z = conv(z)
            if stage > 0 and len(self.skips) > 0:
                z = z + self.skips[stage - 1](x)
            z = self.relus[stage](z)
        return z


class PlainCNNStream(nn.Module):
    """Convolutional stream of a :class:`PlainDifference` (the plain twin of :class:`.stream_networks.CNNStream`):
    ``features`` (:class:`PlainConvFeatures`, source ``layers[:-1]`` and the convolutional ``skips``),
    ``pool`` (``nn.AvgPool2d``; absent for odd image sides), ``flatten``, ``head`` (source ``layers[-1]``)
    and, ICNN only, ``head_skip`` (source ``skips[-1]``, reads the flattened input image)."""

    def __init__(self, features: PlainConvFeatures, pool: int, head: nn.Linear, head_skip: nn.Linear | None) -> None:
        super().__init__()
        self.features = features
        self.pool = nn.AvgPool2d(pool) if pool > 1 else None
        self.flatten = nn.Flatten()
        self.head = head
        self.head_skip = head_skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.features(x)
        if self.pool is not None:
            z = self.pool(z)
        out = self.head(self.flatten(z))
        if self.head_skip is not None:
            out = out + self.head_skip(x.flatten(1))
        return out


class PlainDifference(nn.Module):
    """``f(x) = g_stream(x) - h_stream(1 - x)`` (``h_input="identity"``: ``- h_stream(x)``) in plain torch modules: what
    :meth:`MonotoneDifference.as_plain_network` returns (paper section F; traceable by ``hm.decompose``).

    Inputs: the layouts :meth:`MonotoneDifference.forward` accepts, ``(N, in_features)``, ``(N, side, side)``
    or ``(N, 1, side, side)``; the MLP flattens them, the CNN reshapes them to ``(N, 1, side, side)``. No range
    check (see :meth:`MonotoneDifference.as_plain_network`). So ``hm.explain`` (which wants ``(N, 1, H, W)``)
    works for both architectures when given ``(N, 1, side, side)`` images.

    Layer names in ``hm.decompose(plain).layer_names`` (``s`` = ``g_stream`` or ``h_stream``):
    MLP ``s.layers.i``, ``s.relus.i``, ``s.skips.j``; CNN ``s.features.convs.i``, ``s.features.relus.i``,
    ``s.features.skips.j``, ``s.pool``, ``s.flatten``, ``s.head``, ``s.head_skip``; plus ``input``, the input
    reshape (``flatten`` for the MLP, ``reshape`` for the CNN), ``sub`` (``u = 1 - x``), the ICNN skip additions
    ``add*`` (and, CNN, ``flatten*`` of the head skip's input) and the output ``sub_1`` (``g - h``); with
    ``h_input="identity"`` there is no ``u = 1 - x`` and the output is ``sub``. SplitCAM's
    default layer on a CNN export is the h-stream's last ReLU (``h_stream.features.relus.<last>``, the last
    convolutional block by :func:`hidden_monotonicity.methods.registry.default_layer`); pass
    ``layer=plain.last_activation_layer("g")`` for the g-stream.
    """

    def __init__(
        self, g_stream: nn.Module, h_stream: nn.Module, *, kind: str, architecture: str, in_features: int, num_classes: int,
        h_input: HInput = DEFAULT_H_INPUT,
    ) -> None:
        super().__init__()
        check_h_input(h_input)
        self.kind, self.architecture, self.h_input = kind, architecture, h_input
        self.in_features, self.num_classes = int(in_features), int(num_classes)
        self.side = math.isqrt(self.in_features) if architecture == "cnn" else None
        self.g_stream = g_stream
        self.h_stream = h_stream

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.side is None:
            x = x.flatten(1)
        else:
            x = x.reshape(x.shape[0], 1, self.side, self.side)
        if self.h_input == "identity":  # a constant attribute: torch.fx traces one branch
            return self.g_stream(x) - self.h_stream(x)
        return self.g_stream(x) - self.h_stream(1.0 - x)

    def last_activation_layer(self, stream: str = "g") -> str:
        """Name (as in ``hm.decompose(self).layer_names``) of the last hidden ReLU of stream ``"g"`` or ``"h"``:
        a ``(N, C, side, side)`` layer for the CNN (a SplitCAM layer), ``(N, width)`` for the MLP."""
        if stream not in ("g", "h"):
            raise ValueError(f"stream must be 'g' or 'h', got {stream!r}")
        module = getattr(self, f"{stream}_stream")
        if isinstance(module, PlainCNNStream):
            return f"{stream}_stream.features.relus.{len(module.features.relus) - 1}"
        if len(module.relus) == 0:
            raise ValueError("this MLP stream has no hidden layer, hence no hidden ReLU")
        return f"{stream}_stream.relus.{len(module.relus) - 1}"

    def extra_repr(self) -> str:
        u = "1 - x" if self.h_input == "inverted" else "x"
        return f"kind={self.kind!r}, architecture={self.architecture!r}, f(x) = g_stream(x) - h_stream({u})"


def _plain_linear(layer: ConstrainedLinear) -> nn.Linear:
    """``nn.Linear`` holding the effective weight (and the bias) of ``layer`` as ordinary parameters."""
    weight = layer.effective_weight.detach()
    linear = nn.Linear(
        layer.in_features, layer.out_features, bias=layer.bias is not None, device=weight.device, dtype=weight.dtype
    )
    with torch.no_grad():
        linear.weight.copy_(weight)
        if layer.bias is not None:
            linear.bias.copy_(layer.bias.detach())
    return linear


def _plain_conv(layer: ConstrainedConv2d) -> nn.Conv2d:
    """``nn.Conv2d`` (stride 1, 'same' zero padding) with the effective kernel and the bias of ``layer``."""
    weight = layer.effective_weight.detach()
    conv = nn.Conv2d(
        layer.in_channels, layer.out_channels, layer.kernel_size, padding=layer.kernel_size // 2,
        bias=layer.bias is not None, device=weight.device, dtype=weight.dtype,
    )
    with torch.no_grad():
        conv.weight.copy_(weight)
        if layer.bias is not None:
            conv.bias.copy_(layer.bias.detach())
    return conv


def _plain_stream(stream: nn.Module) -> nn.Module:
    """The plain twin of a :class:`.stream_networks.MLPStream` / :class:`.stream_networks.CNNStream`."""
    if not isinstance(stream, StreamNetwork):
        raise TypeError(f"cannot export a stream of type {type(stream).__name__}")
    if not isinstance(stream.activation, nn.ReLU):
        raise ValueError(
            f"only ReLU activations have an exact DC split; this stream uses {type(stream.activation).__name__}"
        )
    if isinstance(stream, MLPStream):
        layers = [_plain_linear(layer) for layer in stream.layers]
        return PlainMLPStream(layers, [_plain_linear(skip) for skip in stream.skips])
    if isinstance(stream, CNNStream):
        *convs, head = stream.layers
        skips = list(stream.skips)
        head_skip = _plain_linear(skips.pop()) if skips else None
        features = PlainConvFeatures([_plain_conv(conv) for conv in convs], [_plain_conv(skip) for skip in skips])
        return PlainCNNStream(features, stream.pool, _plain_linear(head), head_skip)
    raise TypeError(f"cannot export a stream of type {type(stream).__name__}")  # pragma: no cover
