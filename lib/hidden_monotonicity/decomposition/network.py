"""SplitNetwork: the DC decomposition ``f = g − h`` of a ReLU network (paper A, B).

``hm.decompose(model)`` traces the model once and returns a :class:`SplitNetwork` that

* runs the split forward (``split(x)`` → ``.g``, ``.h``, ``g − h = model(x)``; Theorem 1),
* stabilises it (B.2, ``stabilize=...``),
* returns the four α-shifted sensitivities and the stream activations at any layers (B.3,
  ``split.sensitivities(...)``),
* and propagates ε-LRP relevance through the non-negative split network (C.3, ``split.relevance(...)``).

A split is a snapshot: it holds its own copy of every weight, in ``dtype``, taken when it is built, and refuses to
run once the model has changed (:class:`ModelChangedError`); build a new split after changing the model
(``hm.explain`` always does).
"""

from __future__ import annotations

import inspect
import itertools
import weakref
from dataclasses import dataclass
from typing import Iterable, Sequence

import torch
import torch.fx as fx
import torch.nn as nn

from .fingerprint import ModelFingerprint, fingerprint
from .graph import PlannedNode, UnsupportedModelError, check_model, closest_names, hooks_message, plan
from .rules import SplitRule
from .stabilize import Stabilizer
from .validation import as_target_tensor, check_alpha, check_finite_tensors, check_targets_in_range, real_number
from .split_values import Relevance, Sensitivities, Streams

INPUT_SPLITS = ("center", "positive")
ALPHA_MODES = ("iterative", "closed_form")
SEEDS = ("unit", "half")


@dataclass
class SplitOutput:
    """The two monotone, convex output streams; ``g − h`` equals the model's logits (Theorem 1)."""

    g: torch.Tensor
    h: torch.Tensor

    @property
    def f(self) -> torch.Tensor:
        return self.g - self.h


@dataclass
class LayerRecord:
    """Stream activations and the four local sensitivities of one layer's output, for one target per sample.

    ``delta_pos_g = ∂g/∂a⁺``, ``delta_neg_g = ∂g/∂a⁻``, ``delta_pos_h = ∂h/∂a⁺``, ``delta_neg_h = ∂h/∂a⁻`` (paper B.3),
    α-shifted as requested. Pairwise invariants: ``delta_pos_g − delta_pos_h = c·∂f/∂a`` and
    ``delta_neg_g − delta_neg_h = −c·∂f/∂a`` with ``c = 1`` for the unit seed (``c = ½`` for the half seed).
    """

    name: str
    a_pos: torch.Tensor
    a_neg: torch.Tensor
    delta_pos_g: torch.Tensor
    delta_neg_g: torch.Tensor
    delta_pos_h: torch.Tensor
    delta_neg_h: torch.Tensor

    @property
    def gradient(self) -> torch.Tensor:
        """``(δ^{+,g} − δ^{−,g}) − (δ^{+,h} − δ^{−,h})``: the total backward invariant (2·∂f/∂a with the unit seed)."""
        return (self.delta_pos_g - self.delta_neg_g) - (self.delta_pos_h - self.delta_neg_h)


@dataclass
class SensitivityResult:
    """What :meth:`SplitNetwork.sensitivities` returns: outputs of the targets and the per-layer records."""

    g: torch.Tensor
    h: torch.Tensor
    layers: dict[str, LayerRecord]

    def __getitem__(self, name: str) -> LayerRecord:
        return self.layers[name]


@dataclass
class RelevanceResult:
    """SplitLRP relevance ``R⁺`` (on the + stream) and ``R⁻`` (on the − stream) at the requested layers."""

    g: torch.Tensor
    layers: dict[str, Relevance]

    def __getitem__(self, name: str) -> Relevance:
        return self.layers[name]


class ModelChangedError(RuntimeError):
    """The model was edited after :func:`hidden_monotonicity.decompose` built a split of it (the split is a snapshot)."""


class SplitNetwork:
    """The split ``f = g − h`` of a traced ReLU network. Build it with :func:`hidden_monotonicity.decompose`.

    A split is a snapshot of the model at the moment it is built: it copies every weight and buffer it needs (folded
    batch norms, ``dtype`` copies of the weights; never a view of the model's tensors, float64 models included) and
    records a fingerprint of the model (:func:`~.fingerprint.fingerprint`: module types and public attributes, the
    shape, dtype, device and content of every parameter and buffer, forward hooks). Every pass (``split(x)``,
    :meth:`forward_streams`, :meth:`activations`, :meth:`sensitivities`, :meth:`relevance`) first compares the model
    with that fingerprint and raises :class:`ModelChangedError`, naming what changed, if it was edited since (weights
    or batch-norm statistics changed in place or through ``.data``, ``load_state_dict``, a module replaced, an
    attribute such as ``eps`` or ``stride`` set, the model moved to another device or dtype): results of a stale split
    would silently disagree with the model. Build a new split then: ``hm.decompose(model)``. A forward hook
    registered since raises :class:`~.graph.UnsupportedModelError` as at decomposition. ``model.train()``/``eval()``
    is not a change (the split computes the eval-mode function). The split holds the model weakly: once the model is
    gone nothing is checked, and the snapshot keeps working.

    Refused at decomposition, each with what to do: a model in training mode, with NaN or Inf in a parameter or
    buffer (:func:`~.validation.check_finite_tensors`), with forward hooks or forward pre-hooks (on any module, or
    global; the trace cannot see what they compute; backward hooks do not change ``f`` and are allowed), or with an
    operation that has no split rule (:class:`~.graph.UnsupportedModelError`).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        dtype: torch.dtype = torch.float64,
        stabilize: str = "scale",
        theta: float = 0.1,
        threshold: float = 10.0,
        stabilize_when: str = "always",
        maxpool: str = "wta",
        input_split: str = "center",
    ):
        check_model(model)
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        if input_split not in INPUT_SPLITS:
            raise ValueError(f"unknown input_split {input_split!r}; choose one of {', '.join(INPUT_SPLITS)}")
        self.dtype = dtype
        self.stabilizer = Stabilizer(stabilize, theta, threshold, stabilize_when)
        self.maxpool = maxpool
        self.input_split = input_split
        check_finite_tensors(model)
        self.graph_module, self.nodes = plan(model, maxpool)
        self._source = weakref.ref(model)  # weak: the split cache of hm.explain is keyed weakly on the model
        self._fingerprint: ModelFingerprint = fingerprint(model)
        tensors = itertools.chain(model.parameters(), model.buffers())
        self._device: torch.device = next((t.device for t in tensors), torch.device("cpu"))
        for p in self.nodes:
            if p.rule is not None:
                p.rule.to(self._device, self.dtype)
        self._output_node = self.nodes[-1].inputs[0]
        self.layer_names: list[str] = [p.name for p in self.nodes if p.role in ("input", "split")]
        self._by_layer = {p.name: p for p in self.nodes if p.role in ("input", "split")}

    # ------------------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return (
            f"SplitNetwork({len(self.layer_names)} layers, dtype={self.dtype}, stabilize={self.stabilizer.strategy!r}, "
            f"theta={self.stabilizer.theta}, threshold={self.stabilizer.threshold}, "
            f"stabilize_when={self.stabilizer.when!r}, maxpool={self.maxpool!r}, "
            f"input_split={self.input_split!r})"
        )

    def check_model_unchanged(self) -> None:
        """Raise :class:`ModelChangedError` if the model was edited since this split was built (the split is a
        snapshot: see the class docstring), :class:`~.graph.UnsupportedModelError` if a forward hook was registered
        since. Every pass calls it; it costs one pass of three sums over the model's parameters and buffers."""
        model = self._source()
        if model is None:
            return
        now = fingerprint(model)
        if now == self._fingerprint:
            return
        hooks = [hook for hook in now.hooks if hook not in self._fingerprint.hooks]
        if hooks:
            raise UnsupportedModelError(f"{hooks_message(hooks)} (registered after hm.decompose(model) built this split)")
        changes = self._fingerprint.changes(now) or ["its fingerprint (types, attributes, weights)"]
        raise ModelChangedError(
            f"the model changed after hm.decompose(model) built this split: {'; '.join(changes)}. A SplitNetwork is a "
            "snapshot of the model when it was decomposed (its own copy of every weight), so it would no longer "
            "explain the model: call hm.decompose(model) again"
        )

    def _prepare(self, x: torch.Tensor) -> None:
        self.check_model_unchanged()
        if self._device != x.device:
            for p in self.nodes:
                if p.rule is not None:
                    p.rule.to(x.device, self.dtype)
            self._device = x.device

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"expected a torch.Tensor input, got {type(x).__name__}")
        if not torch.is_floating_point(x):
            raise TypeError(f"expected a floating-point input tensor, got dtype {x.dtype}")
        if x.ndim < 2:
            raise ValueError(
                f"expected a batch of inputs (N, ...), got shape {tuple(x.shape)}; for a single input add the batch "
                "dimension: x[None] or x.unsqueeze(0)"
            )
        if not torch.isfinite(x).all():
            bad = (~torch.isfinite(x)).sum().item()
            raise ValueError(f"the input contains {bad} NaN/Inf values; the decomposition needs finite inputs")
        return x.to(self.dtype)

    def input_streams(self, x: torch.Tensor) -> Streams:
        """The input split (paper A.2 eq. 2): "center" ``x⁺ = ReLU(x)``, ``x⁻ = ReLU(−x)``; "positive" ``(x, 0)``."""
        if self.input_split == "center":
            return Streams(x, x.abs())
        return Streams(x, x.clone())

    def check_layers(self, layers: Iterable[str]) -> list[str]:
        layers = [layers] if isinstance(layers, str) else list(layers)
        unknown = [name for name in layers if name not in self._by_layer]
        if unknown:
            hints = {name: closest_names(name, self.layer_names) for name in unknown}
            shown = "; ".join(f"{name!r}: did you mean {', '.join(map(repr, close))}?" if close else f"{name!r}: no similar name"
                              for name, close in hints.items())
            raise KeyError(
                f"unknown layer(s) {unknown} ({shown}); valid layer names are listed in split.layer_names "
                f"({len(self.layer_names)} names), and split.layers_inside(module) lists those inside a module"
            )
        return layers

    def layers_inside(self, module: str) -> list[str]:
        """The split layers traced inside the module named ``module`` (a container such as ResNet's ``"layer3"``
        or VGG's ``"features"``, a block, or a leaf module), in network order; the last one is the output of the
        module's split. Empty if no split node lies inside it."""
        return [p.name for p in self.nodes if p.role == "split" and module in p.scope]

    # ------------------------------------------------------------------------------------------------
    def _forward(self, streams: Streams, *, keep: set[str] | None = None, relevance_contexts: bool = False):
        """Run the split forward. Returns the output streams, the per-node contexts and the activations of the
        layers in ``keep``. ``relevance_contexts``: also store each rule's raw output and input in its context (what
        the SplitLRP rules read)."""
        env: dict[str, object] = {}
        contexts: dict[str, dict] = {}
        kept: dict[str, Streams] = {}
        keep = keep or set()
        for p in self.nodes:
            node = p.node
            if p.role == "input":
                env[node.name] = streams
            elif p.role == "meta":
                args = fx.node.map_arg(node.args, lambda n: _plain(env[n.name]))
                kwargs = fx.node.map_arg(node.kwargs, lambda n: _plain(env[n.name]))
                env[node.name] = _evaluate_meta(node, args, kwargs, self.graph_module)
            elif p.role == "split":
                args = fx.node.map_arg(node.args, lambda n: env[n.name])
                kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n.name])
                ctx: dict = {}
                inputs = [env[name] for name in p.inputs]
                stabilize = p.rule.stabilizes and node.name != self._output_node and self.stabilizer.strategy != "none"
                fused = stabilize and p.rule.fuses_stabilization
                kwargs = {k: v for k, v in kwargs.items() if k != "inplace"}
                out = p.rule.forward(ctx, inputs, args, kwargs, self.stabilizer if fused else None)
                if relevance_contexts:
                    ctx["output_raw"] = out  # before stabilisation (fused rules need no raw output for relevance)
                    if "input" not in ctx and len(inputs) == 1:
                        ctx["input"] = inputs[0]
                if stabilize and not fused:
                    out = Streams(out.d, self.stabilizer(out.d, out.s))
                contexts[node.name] = ctx
                env[node.name] = out
            if p.name in keep and p.role != "output":
                kept[p.name] = env[node.name]
        output = env[self._output_node]
        return output, contexts, kept

    def forward_streams(self, x_pos: torch.Tensor, x_neg: torch.Tensor) -> SplitOutput:
        """Evaluate ``g`` and ``h`` on an arbitrary pair of input streams ``(x⁺, x⁻)`` (paper Theorem 1:
        ``g(x⁺, x⁻) − h(x⁺, x⁻) = f(x⁺ − x⁻)``; g and h are monotone in both arguments and convex)."""
        x_pos, x_neg = self._check_input(x_pos), self._check_input(x_neg)
        self._prepare(x_pos)
        with torch.no_grad():
            out, _, _ = self._forward(Streams.from_pos_neg(x_pos, x_neg))
        return SplitOutput(out.pos, out.neg)

    def __call__(self, x: torch.Tensor) -> SplitOutput:
        """Split forward: ``g`` and ``h`` of shape (N, classes) with ``g − h = model(x)``."""
        x = self._check_input(x)
        self._prepare(x)
        with torch.no_grad():
            out, _, _ = self._forward(self.input_streams(x))
        if out.d.ndim != 2:
            raise ValueError(f"the model output has shape {tuple(out.d.shape)}; expected (N, classes) logits")
        return SplitOutput(out.pos, out.neg)

    def activations(self, x: torch.Tensor, layers: Sequence[str]) -> dict[str, Streams]:
        """Stream activations ``(a⁺, a⁻)`` (as :class:`Streams`) after the stabilisation at ``layers``."""
        layers = self.check_layers(layers)
        x = self._check_input(x)
        self._prepare(x)
        with torch.no_grad():
            _, _, kept = self._forward(self.input_streams(x), keep=set(layers))
        return kept

    # ------------------------------------------------------------------------------------------------
    def _targets(self, targets, output: torch.Tensor) -> torch.Tensor:
        """One validation for every entry point (``hm.explain`` too): integer class indices, one per sample or one
        for all, within the model's classes."""
        target_tensor = as_target_tensor(targets, output.shape[0], device=output.device)
        check_targets_in_range(target_tensor, output.shape[1])
        return target_tensor

    def sensitivities(
        self,
        x: torch.Tensor,
        targets,
        layers: Sequence[str] = ("input",),
        *,
        alpha: float = 0.0,
        alpha_mode: str = "iterative",
        shift_output: bool = True,
        seed: str = "unit",
        allow_large_alpha: bool = False,
    ) -> SensitivityResult:
        """The four local sensitivities and stream activations at ``layers`` for one target logit per sample
        (paper B.3).

        ``alpha``: the α-shift ("iterative offset reduction"): after the backward of every shifting layer (Linear,
        Conv2d, BatchNorm, ReLU family, MaxPool, residual Add) ``α·(δ⁺ + δ⁻)`` is subtracted from both members of each
        pair, which multiplies the common mode by ``1 − 2α``; the seed itself is not shifted. α = 0 is the true split
        gradient; α = 0.5 (with ``shift_output=True``) gives ``δ^{+,g} = ½·∂f/∂a`` for the unit seed.

        ``alpha_mode="closed_form"``: the shift is applied **once**, after the topmost shifting layer (the output
        layer with ``shift_output=True``, else the first shifting layer below it; in a graph, once on every path
        from the output), and the exact (α = 0) rules propagate the shifted sensitivities below it. The common mode
        at layer l is then shifted by ``α·∏_{k>l}|W^(k)|ᵀ·1`` (the [PN] wording of B.3, constant α), and the result
        is affine in α: ``δ(α) = (1 − 2α)·δ(0) + 2α·δ(½)``, where ``δ(½)`` is the same in both modes. So both modes
        meet the paper's two end points, α = 0 (true split gradient) and α = 0.5 (gradient multiple); between them
        the iterative mode damps the common mode geometrically with depth (``(1 − 2α)^k``), the closed form by the
        single factor ``1 − 2α``. (A shift applied once at the *read-out* layer instead cannot reach the α = 0.5
        end point: a common shift never changes ``δ⁺ − δ⁻``, and below a Maxout that difference has taken in the
        unshifted common mode at every inactive unit, ``δ_u^− = δ⁻ + (1 − m)·δ⁺``; that was this mode before issue
        26.9, and it gave ``δ^{+,g} = ½(δ^{+,g} − δ^{−,g})_{α=0}``, e.g. ``−½|W|`` at a dead unit of a one-hidden-layer
        net, in exact arithmetic.)

        ``shift_output=False``: no shift after the output layer (as the authors' code). ``seed``: "unit"
        (``δ^{+,g} = δ^{−,h} = 1`` on the target logit) or "half" (½ on both, so that the total invariant equals
        ∂f/∂a exactly). α outside the paper's [0, 0.5] is refused unless ``allow_large_alpha=True`` (then up to 1).
        """
        if alpha_mode not in ALPHA_MODES:
            raise ValueError(f"unknown alpha_mode {alpha_mode!r}; choose one of {', '.join(ALPHA_MODES)}")
        if seed not in SEEDS:
            raise ValueError(f"unknown seed {seed!r}; choose one of {', '.join(SEEDS)}")
        alpha = check_alpha(alpha, allow_large_alpha)
        layers = self.check_layers(layers)
        x = self._check_input(x)
        self._prepare(x)
        with torch.no_grad():
            output, contexts, kept = self._forward(self.input_streams(x), keep=set(layers))
            if output.d.ndim != 2:
                raise ValueError(f"the model output has shape {tuple(output.d.shape)}; expected (N, classes) logits")
            targets = self._targets(targets, output.d)
            value = 0.5 if seed == "half" else 1.0
            one_hot = torch.zeros_like(output.d).scatter_(1, targets[:, None], value)
            seed_sens = Sensitivities(torch.cat([2.0 * one_hot, one_hot]), one_hot)
            factor = 1.0 - 2.0 * float(alpha)
            grads = self._backward(seed_sens, contexts, set(layers), factor, shift_output, once=alpha_mode == "closed_form")
        records = {}
        for name in layers:
            fx_name = self._by_layer[name].node.name
            sens = grads[fx_name]
            streams = kept[name]
            pg, ng, ph, nh = sens.four()
            records[name] = LayerRecord(name, streams.pos, streams.neg, pg, ng, ph, nh)
        g = output.pos.gather(1, targets[:, None]).squeeze(1)
        h = output.neg.gather(1, targets[:, None]).squeeze(1)
        return SensitivityResult(g, h, records)

    def _backward(self, seed: Sensitivities, contexts, wanted: set[str], factor: float, shift_output: bool,
                  once: bool = False):
        """Reverse pass over the graph with the exact rules; the α-shift multiplies the common mode by ``factor``
        after every shifting layer, or (``once``: ``alpha_mode="closed_form"``) only after the first shifting layer
        on each path from the output."""

        def shifts_after(p) -> bool:
            return p.rule.shifts and factor != 1.0 and (shift_output or p.node.name != self._output_node)

        wanted_fx = {self._by_layer[name].node.name for name in wanted}
        if not once or factor == 1.0:

            def step(p, ctx, sens: Sensitivities) -> list[Sensitivities | None]:
                input_sens = p.rule.backward(ctx, sens)
                if not shifts_after(p):
                    return input_sens
                return [None if s is None else s.scaled(factor) for s in input_sens]

            return self._reverse_pass(seed, contexts, wanted_fx, step)

        def step_once(p, ctx, value: _ShiftedOnce) -> list[_ShiftedOnce | None]:
            fresh = p.rule.backward(ctx, value.fresh) if value.fresh is not None else None
            done = p.rule.backward(ctx, value.done) if value.done is not None else None
            count = len(fresh if fresh is not None else done)
            fresh, done = fresh or [None] * count, done or [None] * count
            if shifts_after(p):  # the not yet shifted part is shifted here, once
                return [_ShiftedOnce.of(None, _plus(None if f is None else f.scaled(factor), d)) for f, d in zip(fresh, done)]
            return [_ShiftedOnce.of(f, d) for f, d in zip(fresh, done)]

        found = self._reverse_pass(_ShiftedOnce(seed, None), contexts, wanted_fx, step_once)
        return {name: value.total() for name, value in found.items()}

    def _reverse_pass(self, seed, contexts, wanted_fx: set[str], step) -> dict:
        """Walk the graph from the output towards the input, summing what ``step(planned, ctx, value)`` returns for
        each input of a node, and return the value reaching each node in ``wanted_fx`` (by fx name). Nodes are
        visited in reverse topological order, so a node's value is complete when it is reached, and the walk stops
        as soon as every wanted value is: nothing below the shallowest requested layer is computed."""
        pending = {self._output_node: seed}
        found = {}
        for p in reversed(self.nodes):
            name = p.node.name
            if p.role not in ("split", "input") or name not in pending:
                continue
            value = pending.pop(name)
            if name in wanted_fx:
                found[name] = value
                if len(found) == len(wanted_fx):
                    break
            if p.role == "input":
                continue
            for source, contribution in zip(p.inputs, step(p, contexts[name], value)):
                if contribution is not None:
                    pending[source] = pending[source] + contribution if source in pending else contribution
            contexts.pop(name, None)
        return found

    # ------------------------------------------------------------------------------------------------
    def relevance(self, x: torch.Tensor, targets, layers: Sequence[str] = ("input",), *, epsilon: float = 1e-6) -> RelevanceResult:
        """SplitLRP (paper C.3): ε-LRP on the non-negative split network, seeded with the target's ``g``.

        The relevance of the target's g-output, ``R = g`` (and 0 on h), is propagated with the ε-rule through the
        non-negative split layers, to the winner through each Maxout and WTA max-pool, proportionally through sums;
        forward-stabilisation shifts pass relevance unchanged. Relevance is conserved layer by layer up to the
        share absorbed by the biases ``b^±`` and by ε: ``Σ(R⁺ + R⁻)`` at the input equals ``g`` for a bias-free
        network as ε → 0.
        """
        epsilon = real_number("epsilon", epsilon, low=0.0, low_open=True)
        layers = self.check_layers(layers)
        x = self._check_input(x)
        self._prepare(x)
        with torch.no_grad():
            output, contexts, _ = self._forward(self.input_streams(x), relevance_contexts=True)
            targets = self._targets(targets, output.d)
            g = output.pos.gather(1, targets[:, None])
            seed = Relevance(torch.zeros_like(output.d).scatter_(1, targets[:, None], g), torch.zeros_like(output.d))
            wanted = {self._by_layer[name].node.name: name for name in layers}

            def step(p, ctx, rel: Relevance) -> list[Relevance | None]:
                return p.rule.relevance(ctx, rel, epsilon)

            found = {wanted[fx_name]: rel for fx_name, rel in self._reverse_pass(seed, contexts, set(wanted), step).items()}
        return RelevanceResult(g.squeeze(1), found)


def _plus(a: Sensitivities | None, b: Sensitivities | None) -> Sensitivities | None:
    if a is None:
        return b
    return a if b is None else a + b


class _ShiftedOnce:
    """``alpha_mode="closed_form"``: a sensitivity as the part not shifted yet (``fresh``, between the output and
    the first shifting layer of its path) and the part shifted once (``done``), so that every path is shifted
    exactly once however the paths of a graph join."""

    __slots__ = ("fresh", "done")

    def __init__(self, fresh: Sensitivities | None, done: Sensitivities | None):
        self.fresh, self.done = fresh, done

    @classmethod
    def of(cls, fresh: Sensitivities | None, done: Sensitivities | None) -> "_ShiftedOnce | None":
        return None if fresh is None and done is None else cls(fresh, done)

    def __add__(self, other: "_ShiftedOnce") -> "_ShiftedOnce":
        return _ShiftedOnce(_plus(self.fresh, other.fresh), _plus(self.done, other.done))

    def total(self) -> Sensitivities:
        return _plus(self.fresh, self.done)


def _plain(value):
    """Shape queries see the original activation ``d``."""
    return value.d if isinstance(value, Streams) else value


def _evaluate_meta(node: fx.Node, args, kwargs, graph_module: fx.GraphModule):
    if node.op == "call_function":
        return node.target(*args, **kwargs)
    if node.op == "call_method":
        self_obj, *rest = args
        return getattr(self_obj, node.target)(*rest, **kwargs)
    if node.op == "call_module":
        return graph_module.get_submodule(node.target)(*args, **kwargs)
    raise RuntimeError(f"cannot evaluate node {node.name}")


def decompose(model: nn.Module, **options) -> SplitNetwork:
    """Decompose a trained ReLU network into ``f = g − h`` with g, h monotone and convex (paper A, B).

    ``model``: an ``nn.Module`` in eval mode made of supported operations (see ``graph.SUPPORTED_OPERATIONS``).
    ``options`` (keyword only, defaults in one place: :class:`SplitNetwork`; see :data:`DECOMPOSITION_OPTIONS`):

    * ``dtype``: precision of the split passes (default float64, as the paper, B.2);
    * ``stabilize``: forward stabilisation "none" | "shift" | "scale" | "threshold" (B.2; see ``stabilize.py``);
    * ``theta``: fraction of the common mode kept by "scale"/"threshold" (paper: 0.1);
    * ``threshold``: Θ of "threshold" and of ``stabilize_when="above_threshold"`` (paper: 10);
    * ``stabilize_when``: when the stabilisation runs, "always" (after every stabilised layer; a reading [I], the
      default) or "above_threshold" (per layer and sample, only where a stream exceeds Θ: the paper's "whenever
      they exceed a threshold", B.2, read as a per-layer trigger [I]; see ``stabilize.py``);
    * ``maxpool``: "wta" (winner from the original activation, as in the paper) or "dc" (exact DC form);
    * ``input_split``: "center" (``x⁺ = ReLU(x)``, ``x⁻ = ReLU(−x)``) or "positive" (``(x, 0)``).

    The split is a snapshot of the model now: it raises :class:`ModelChangedError` once the model is edited (call
    ``decompose`` again then). Refused with what to do: NaN/Inf weights or buffers, forward hooks and pre-hooks, and
    operations without a split rule (see :class:`SplitNetwork`).
    """
    unknown = sorted(set(options) - set(DECOMPOSITION_OPTIONS))
    if unknown:
        raise TypeError(f"decompose() got unknown option(s) {unknown}; the options are {', '.join(DECOMPOSITION_OPTIONS)}")
    return SplitNetwork(model, **options)


#: The keyword options of :func:`decompose` and their defaults (read from :class:`SplitNetwork`, where they live).
DECOMPOSITION_OPTIONS: dict[str, object] = {
    name: parameter.default
    for name, parameter in inspect.signature(SplitNetwork.__init__).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY
}
decompose.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [inspect.Parameter("model", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=nn.Module)]
    + [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=value) for name, value in DECOMPOSITION_OPTIONS.items()]
)
