"""Teaching helpers of the course (``COURSE.md``): self-checked exercises and the backward pass on toys.

**Exercises.** Every exercise of the teaching notebooks ends with ``hm.teaching.check("01.2", answer)``, which
prints *right* or *not yet* with a hint and returns ``True``/``False``. It never prints the expected value, and
the student notebooks hold no expected values either: each checker *computes* the expected answer at check time
from the library (``hm.decompose``, ``hm.explain``, ``hm.monotone``) on the exercise's own objects (built here, or
passed by the notebook as keyword arguments such as ``model=``), then compares with a tolerance. A reader who
wants the answer must therefore do the computation (or open ``notebooks/solutions/``). ``EXERCISES`` lists every
key with its question in one line.

**The backward pass on toys** (paper B.3, notebook 01 part II): :func:`backward_by_hand` propagates the four local
sensitivities ``δ^{+,g}, δ^{−,g}, δ^{+,h}, δ^{−,h}`` through a ``Linear``/``ReLU`` network with the exact rules
written out in numpy (independent of the library), with the α-shift after every layer; :func:`invariant_table`
checks the pairwise and total invariants; :func:`gradient_loss` measures, per α, how much of the gradient part
``δ^{+,g} − δ^{+,h} = ∂f/∂a`` survives the common mode in floating point on a deep network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

__all__ = [
    "EXERCISES",
    "Exercise",
    "backward_by_hand",
    "check",
    "common_mode_table",
    "deep_conv_network",
    "deep_toy_input",
    "deep_toy_network",
    "exercise_network",
    "exercises_table",
    "gradient_loss",
    "invariant_table",
    "layer_input",
    "small_conv_input",
    "small_conv_network",
]

ALPHAS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


# ================================================================================================= toy objects
def exercise_network() -> nn.Sequential:
    """The one-neuron network of exercise 01.1: ``f(x) = −2 ReLU(1 − x)`` (float64)."""
    net = nn.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1)).double().eval()
    with torch.no_grad():
        net[0].weight.fill_(-1.0)
        net[0].bias.fill_(1.0)
        net[2].weight.fill_(-2.0)
        net[2].bias.fill_(0.0)
    return net


#: exercise 01.2: one split layer by hand (weights, bias, input)
LAYER_WEIGHT = ((1.0, -2.0), (0.5, 3.0), (-1.0, -0.5))
LAYER_BIAS = (-1.0, 0.5, 2.0)
LAYER_INPUT = (1.0, -2.0)


def layer_input() -> tuple[nn.Linear, torch.Tensor]:
    """The ``Linear(2, 3)`` layer and the input ``x`` (shape (1, 2)) of exercise 01.2 (float64)."""
    layer = nn.Linear(2, 3).double().eval()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(LAYER_WEIGHT, dtype=torch.float64))
        layer.bias.copy_(torch.tensor(LAYER_BIAS, dtype=torch.float64))
    return layer, torch.tensor([LAYER_INPUT], dtype=torch.float64)


def deep_toy_input(seed: int = 0, in_features: int = 16) -> torch.Tensor:
    """One seeded input ``(1, in_features)`` for :func:`deep_toy_network` (float64, standard normal)."""
    return torch.randn(1, int(in_features), generator=torch.Generator().manual_seed(int(seed) + 7), dtype=torch.float64)


def deep_toy_network(depth: int = 24, width: int = 32, *, seed: int = 0, in_features: int = 16) -> nn.Sequential:
    """A deep ``Linear → ReLU`` MLP (He initialisation, float64): the common mode of its split grows by about
    ×6 per layer, so at depth 24 it exceeds ``10^16 · |∂f/∂x|`` at the input for α ≤ 0.1 (notebook 02)."""
    from .plots.toys import toy_relu_network

    return toy_relu_network(in_features, (int(width),) * int(depth), seed=seed, weight_scale=math.sqrt(2.0))


def deep_conv_network(depth: int = 8, channels: int = 8, *, in_channels: int = 3, classes: int = 10, seed: int = 0) -> nn.Sequential:
    """An untrained ``depth``-layer ReLU conv net (3×3, He initialisation, global average pool, linear head) in
    float32: deep enough that the α-shift visibly changes SplitGrad at the input (notebook 02)."""
    generator = torch.Generator().manual_seed(int(seed))
    layers: list[nn.Module] = []
    previous = in_channels
    for _ in range(int(depth)):
        conv = nn.Conv2d(previous, channels, 3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * math.sqrt(2.0 / (previous * 9)))
            conv.bias.copy_(torch.randn(channels, generator=generator) * 0.05)
        layers += [conv, nn.ReLU()]
        previous = channels
    head = nn.Linear(channels, classes)
    with torch.no_grad():
        head.weight.copy_(torch.randn(head.weight.shape, generator=generator) / math.sqrt(channels))
        head.bias.zero_()
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), head).eval()


def small_conv_network(seed: int = 0) -> nn.Sequential:
    """A small conv net for SplitCAM by hand (exercise 01.4): ``conv(1→4) → ReLU → conv(4→4) → ReLU → avgpool →
    linear(4→3)``, float64, seeded; no pooling between the convolutions, so the layer maps have the input size."""
    generator = torch.Generator().manual_seed(int(seed))
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).double().eval()
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=torch.float64) * 0.6)
    return net


def small_conv_input(seed: int = 0, side: int = 8) -> torch.Tensor:
    """Two seeded ``1×side×side`` images for :func:`small_conv_network` (float64)."""
    generator = torch.Generator().manual_seed(int(seed) + 1)
    return torch.randn(2, 1, side, side, generator=generator, dtype=torch.float64)


# ================================================================================================= backward by hand
@dataclass
class HandSensitivities:
    """The four local sensitivities at one layer (numpy, shape (units,)), computed by :func:`backward_by_hand`."""

    layer: str
    pos_g: np.ndarray
    neg_g: np.ndarray
    pos_h: np.ndarray
    neg_h: np.ndarray

    @property
    def common_mode(self) -> np.ndarray:
        """``δ^{+,g} + δ^{−,g}`` (equal to ``δ^{+,h} + δ^{−,h}``)."""
        return self.pos_g + self.neg_g


def backward_by_hand(model: nn.Sequential, x: Sequence[float], *, alpha: float = 0.0) -> dict[str, HandSensitivities]:
    """The four sensitivities of ``g`` and ``h`` (first output) at every layer of a ``Linear``/``ReLU`` network
    for one input ``x``, written out with the exact rules of paper B.3 in numpy (independent of the library):

    * unit seed at the output: ``δ^{+,g} = 1, δ^{−,g} = 0, δ^{+,h} = 0, δ^{−,h} = 1``;
    * Linear ``W = W⁺ − W⁻``: ``δ^{+,·} ← W⁺ᵀ δ^{+,·} + W⁻ᵀ δ^{−,·}``, ``δ^{−,·} ← W⁻ᵀ δ^{+,·} + W⁺ᵀ δ^{−,·}``;
    * ReLU (Maxout in the g-stream, mask ``m = [z ≥ 0]`` of the original pre-activation):
      ``δ^{+,·} ← m δ^{+,·}``, ``δ^{−,·} ← δ^{−,·} + (1 − m) δ^{+,·}``;
    * α-shift after every layer (the seed itself is not shifted): ``s = α(δ^{+,·} + δ^{−,·})``, both ``δ^{±,·} −= s``.

    Keys: ``"input"`` and the module names of ``model`` (the sensitivity of that module's output), like
    ``split.sensitivities``."""
    modules = list(model.named_children())
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    pre_activations = {}
    for name, module in modules:  # forward pass of the original network: the ReLU masks
        if isinstance(module, nn.Linear):
            a = module.weight.detach().double().numpy() @ a + module.bias.detach().double().numpy()
        elif isinstance(module, nn.ReLU):
            pre_activations[name] = a
            a = np.maximum(a, 0.0)
        else:
            raise TypeError(f"backward_by_hand handles Linear and ReLU only, got {type(module).__name__} ({name!r})")
    out = a.size
    pos_g, neg_g = np.eye(out)[0], np.zeros(out)
    pos_h, neg_h = np.zeros(out), np.eye(out)[0]
    names = ["input", *[name for name, _ in modules]]
    result = {names[-1]: HandSensitivities(names[-1], pos_g, neg_g, pos_h, neg_h)}
    for index in range(len(modules) - 1, -1, -1):
        name, module = modules[index]
        if isinstance(module, nn.Linear):
            weight = module.weight.detach().double().numpy()
            w_pos, w_neg = np.maximum(weight, 0.0), np.maximum(-weight, 0.0)
            pos_g, neg_g = w_pos.T @ pos_g + w_neg.T @ neg_g, w_neg.T @ pos_g + w_pos.T @ neg_g
            pos_h, neg_h = w_pos.T @ pos_h + w_neg.T @ neg_h, w_neg.T @ pos_h + w_pos.T @ neg_h
        else:
            mask = (pre_activations[name] >= 0).astype(np.float64)
            pos_g, neg_g = mask * pos_g, neg_g + (1 - mask) * pos_g
            pos_h, neg_h = mask * pos_h, neg_h + (1 - mask) * pos_h
        shift_g, shift_h = alpha * (pos_g + neg_g), alpha * (pos_h + neg_h)
        pos_g, neg_g, pos_h, neg_h = pos_g - shift_g, neg_g - shift_g, pos_h - shift_h, neg_h - shift_h
        result[names[index]] = HandSensitivities(names[index], pos_g, neg_g, pos_h, neg_h)
    return {name: result[name] for name in names}


def _gradients(model: nn.Sequential, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """``∂f_0/∂a`` at the input and at every module output of ``model`` (autograd, float64)."""
    x = torch.as_tensor(x, dtype=torch.float64).reshape(1, -1).clone().requires_grad_(True)
    kept = {"input": x}
    value = x
    for name, module in model.named_children():
        value = module(value)
        value.retain_grad()
        kept[name] = value
    value[0, 0].backward()
    return {name: tensor.grad[0].detach() for name, tensor in kept.items()}


def invariant_table(model: nn.Sequential, x: Sequence[float], alphas: Sequence[float] = ALPHAS) -> pd.DataFrame:
    """Worst violation, over the layers, of the pairwise and total invariants (paper B.3) for each α, with the
    sensitivities of :func:`backward_by_hand` and ``∂f/∂a`` from autograd (unit seed):

    * pairwise: ``δ^{+,g} − δ^{+,h} = ∂f/∂a`` and ``δ^{−,g} − δ^{−,h} = −∂f/∂a``;
    * total: ``(δ^{+,g} − δ^{−,g}) − (δ^{+,h} − δ^{−,h}) = 2 ∂f/∂a``;
    * equal common modes: ``δ^{+,g} + δ^{−,g} = δ^{+,h} + δ^{−,h}``.
    """
    gradients = {name: value.numpy() for name, value in _gradients(model, torch.as_tensor(x)).items()}
    rows = []
    for alpha in alphas:
        records = backward_by_hand(model, x, alpha=float(alpha))
        worst = dict.fromkeys(("pairwise +", "pairwise −", "total", "common modes equal"), 0.0)
        for name, rec in records.items():
            grad = gradients[name]
            checks = {
                "pairwise +": rec.pos_g - rec.pos_h - grad,
                "pairwise −": rec.neg_g - rec.neg_h + grad,
                "total": (rec.pos_g - rec.neg_g) - (rec.pos_h - rec.neg_h) - 2 * grad,
                "common modes equal": rec.common_mode - (rec.pos_h + rec.neg_h),
            }
            for key, value in checks.items():
                worst[key] = max(worst[key], float(np.abs(value).max()))
        rows.append({"alpha": float(alpha), **worst})
    return pd.DataFrame(rows).set_index("alpha")


def common_mode_table(model: nn.Sequential, x: Sequence[float], alphas: Sequence[float] = ALPHAS) -> pd.DataFrame:
    """Mean ``|δ^{+,g} + δ^{−,g}|`` at every layer and α (:func:`backward_by_hand`), next to the prediction
    ``(1 − 2α)^k × (the α = 0 common mode)`` with ``k`` = the number of layers between the output and this one
    (each applies one shift). Columns: ``alpha, layer, shifts, common_mode, predicted``."""
    exact = backward_by_hand(model, x, alpha=0.0)
    names = list(exact)
    rows = []
    for alpha in alphas:
        records = backward_by_hand(model, x, alpha=float(alpha))
        for position, name in enumerate(names):
            shifts = len(names) - 1 - position
            rows.append({
                "alpha": float(alpha), "layer": name, "shifts": shifts,
                "common_mode": float(np.abs(records[name].common_mode).mean()),
                "predicted": float(np.abs(exact[name].common_mode).mean() * (1 - 2 * alpha) ** shifts),
            })
    return pd.DataFrame(rows)


def gradient_loss(model: nn.Module, x: torch.Tensor, alphas: Sequence[float] = ALPHAS, *, target: int = 0,
                  dtype: torch.dtype = torch.float64, stabilize: str = "scale") -> pd.DataFrame:
    """How much of the gradient survives the α-shift in floating point, at the input layer, per α.

    Columns: ``alpha``; ``common_mode`` (mean ``|δ^{+,g} + δ^{−,g}|``); ``gradient`` (mean ``|∂f/∂x|``, autograd in
    float64); ``ratio`` = common_mode / gradient; ``relative_error`` of the pairwise invariant
    ``max |(δ^{+,g} − δ^{+,h}) − ∂f/∂x⁺| / max |∂f/∂x|`` (1 = nothing of the gradient left: with a ratio beyond
    about 1e16 float64 cannot hold both); ``corr`` = correlation of ``δ^{+,g}`` with the gradient (1 at α = 0.5,
    where ``δ^{+,g} = ½ ∂f/∂x``). ``x`` is fed with the "positive" input split ``(x, 0)`` so that ``∂/∂x⁺ = ∂/∂x``.
    """
    from .decomposition import decompose

    reference = _float64_copy(model)
    x64 = x.detach().double().clone().requires_grad_(True)
    reference(x64)[:, target].sum().backward()
    gradient = x64.grad.detach()
    split = decompose(model, dtype=dtype, stabilize=stabilize, input_split="positive")
    rows = []
    scale = float(gradient.abs().max()) or 1.0
    for alpha in alphas:
        record = split.sensitivities(x.to(dtype), target, ["input"], alpha=float(alpha))["input"]
        pos_g, pos_h, neg_g = (t.double() for t in (record.delta_pos_g, record.delta_pos_h, record.delta_neg_g))
        common = float((pos_g + neg_g).abs().mean())
        error = float(((pos_g - pos_h) - gradient).abs().max()) / scale
        corr = float(np.corrcoef(pos_g.flatten().numpy(), gradient.flatten().numpy())[0, 1]) if pos_g.numel() > 1 else float("nan")
        rows.append({"alpha": float(alpha), "common_mode": common, "gradient": float(gradient.abs().mean()),
                     "ratio": common / float(gradient.abs().mean()), "relative_error": min(error, 1.0), "corr": corr})
    return pd.DataFrame(rows)


def _float64_copy(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model).double().eval()


# ================================================================================================= checkers
@dataclass(frozen=True)
class Exercise:
    """One self-checked exercise: its question (one line), a hint, and how to compute the expected answer."""

    key: str
    question: str
    hint: str
    expected: Callable[..., Any]
    compare: Callable[[Any, Any], bool]
    needs: tuple[str, ...] = ()


def _close(rtol: float = 1e-6, atol: float = 1e-9) -> Callable[[Any, Any], bool]:
    def compare(answer: Any, expected: Any) -> bool:
        answer = np.asarray(_numpy(answer), dtype=np.float64)
        expected = np.asarray(_numpy(expected), dtype=np.float64)
        if answer.size != expected.size:
            return False
        answer = answer.reshape(expected.shape)
        return bool(np.all(np.isfinite(answer)) and np.allclose(answer, expected, rtol=rtol, atol=atol))

    return compare


def _numpy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], torch.Tensor):
        return np.stack([_numpy(v) for v in value])
    return value


def _functions_on_grid(answer: Any) -> np.ndarray:
    g, h = answer
    grid = np.linspace(-3.0, 3.0, 61)
    return np.stack([np.asarray(g(grid), dtype=np.float64), np.asarray(h(grid), dtype=np.float64)])


def _expected_01_1() -> np.ndarray:
    from .plots.toys import decompose_on_grid

    dec = decompose_on_grid(exercise_network(), np.linspace(-3.0, 3.0, 61), input_split="positive")
    return np.stack([dec.g, dec.h])


def _expected_01_2() -> np.ndarray:
    from .decomposition import decompose

    layer, x = layer_input()
    streams = decompose(nn.Sequential(layer).eval(), stabilize="none", input_split="center").activations(x, ["0"])["0"]
    return np.stack([streams.pos[0].numpy(), streams.neg[0].numpy()])


def _expected_01_3(model: nn.Module, x: torch.Tensor) -> float:
    from .decomposition import decompose

    split = decompose(model, stabilize="none", input_split="positive")
    common = []
    for alpha in (0.0, 0.3):
        record = split.sensitivities(torch.as_tensor(x, dtype=torch.float64).reshape(1, -1), 0, ["input"], alpha=alpha)["input"]
        common.append((record.delta_pos_g + record.delta_neg_g).abs().sum())
    return float(common[1] / common[0])


def _expected_01_4() -> np.ndarray:
    from .methods import explain

    return explain(small_conv_network(), small_conv_input(), [0, 2], "splitcam", layer="3", alpha=0.4)[:, 0].numpy()


def _expected_02_1() -> float:
    from .decomposition import decompose

    net, x = deep_toy_network(), deep_toy_input()
    split = decompose(net, stabilize="none", input_split="positive")
    relus = [name for name, module in net.named_children() if isinstance(module, nn.ReLU)]
    kept = split.activations(x, relus)
    first, last = float(kept[relus[0]].s.mean()), float(kept[relus[-1]].s.mean())
    return (last / first) ** (1.0 / (len(relus) - 1))


def _expected_02_2() -> float:
    table = gradient_loss(deep_toy_network(), deep_toy_input())
    return float(table.loc[table["relative_error"] < 1e-6, "alpha"].min())


def _expected_02_3() -> float:
    from .decomposition import decompose

    net, x = deep_toy_network(depth=6), deep_toy_input()
    record = decompose(net, input_split="positive").sensitivities(x, 0, ["input"], alpha=0.5)["input"]
    return float((record.delta_pos_g / (record.delta_pos_g - record.delta_pos_h)).mean())


def _expected_05_1(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    from .monotone import stream_gradients

    return stream_gradients(model, x).f.detach().double().numpy()


def _expected_05_2(model: nn.Module, x: torch.Tensor) -> float:
    from .monotone import stream_gradients
    from .monotone.explanations import stream_mass_shares

    return stream_mass_shares(stream_gradients(model, x), x)["g_lift"]


def _expected_03_1(model: nn.Module, x: torch.Tensor, targets) -> np.ndarray:
    from .methods import explain

    return explain(model, x, targets, "splitgrad", layer="input", alpha=0.5)[:, 0].numpy()


def _expected_03_2(model: nn.Module, x: torch.Tensor, targets, layer: str) -> np.ndarray:
    from .decomposition import decompose

    record = decompose(model).sensitivities(x, targets, [layer], alpha=0.4)[layer]
    return (record.delta_pos_g * record.a_pos).sum(1).double().numpy()


def _expected_04_1(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    maps, masks = np.asarray(maps), np.asarray(masks).astype(bool)
    flat = maps.reshape(len(maps), -1)
    return masks.reshape(len(masks), -1)[np.arange(len(flat)), flat.argmax(axis=1)].astype(np.float64)


def _expected_04_2(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    maps, masks = np.abs(np.asarray(maps, dtype=np.float64)), np.asarray(masks).astype(bool)
    return (maps * masks).reshape(len(maps), -1).sum(1) / maps.reshape(len(maps), -1).sum(1)


EXERCISES: dict[str, Exercise] = {exercise.key: exercise for exercise in (
    Exercise("01.1", "g and h of f(x) = −2 ReLU(1 − x) with the positive split, as two functions (g, h) of x",
             "write z⁺, z⁻ with W⁺ = 0, W⁻ = 1, b⁺ = 1; then a⁺ = max(z⁺, z⁻), a⁻ = z⁻; the output weight −2 puts 2a⁻ "
             "into g and 2a⁺ into h. Your functions must accept numpy arrays.",
             _expected_01_1, lambda answer, expected: _close()(_functions_on_grid(answer), expected)),
    Exercise("01.2", "(z⁺, z⁻) of the layer hm.teaching.layer_input() for its input x with the center split",
             "center split: x⁺ = ReLU(x), x⁻ = ReLU(−x); z⁺ = W⁺x⁺ + W⁻x⁻ + b⁺ and z⁻ = W⁻x⁺ + W⁺x⁻ + b⁻. "
             "Answer with a pair (z_pos, z_neg) of length-3 vectors.",
             _expected_01_2, _close()),
    Exercise("01.3", "the factor by which α = 0.3 shrinks the common mode at the input of the backward toy",
             "each layer between the output and the input applies one shift, multiplying the common mode by "
             "(1 − 2α); count the modules of the network (Linear and ReLU).",
             _expected_01_3, _close(rtol=1e-9), needs=("model", "x")),
    Exercise("01.4", "SplitCAM^(l,+,g) at layer '3' of hm.teaching.small_conv_network() by hand (α = 0.4, targets [0, 2])",
             "take the record of split.sensitivities at layer '3' with alpha=0.4 and sum δ^{+,g} ⊙ a⁺ over the "
             "channel axis (dim 1); the map has shape (2, 8, 8).",
             _expected_01_4, _close(rtol=1e-5, atol=1e-8)),
    Exercise("02.1", "the average growth factor per ReLU of the unstabilised common mode a⁺ + a⁻ of the deep toy",
             "(mean common mode after the last ReLU / after the first ReLU) ** (1 / (number of ReLUs − 1)), split with "
             "stabilize='none', input_split='positive', input hm.teaching.deep_toy_input().",
             _expected_02_1, _close(rtol=1e-3)),
    Exercise("02.2", "the smallest α of {0, 0.1, …, 0.5} at which the gradient part survives float64 on the deep toy",
             "look at the relative error of the pairwise invariant per α (hm.teaching.gradient_loss): "
             "'survives' means relative error < 1e-6.",
             _expected_02_2, _close(rtol=0, atol=1e-9)),
    Exercise("02.3", "δ^{+,g} at α = 0.5 divided by the ordinary gradient ∂f/∂x (unit seed)",
             "at α = 0.5 the common mode vanishes, so δ^{+,g} = −δ^{−,g}; combine with the pairwise invariant "
             "δ^{+,g} − δ^{+,h} = ∂f/∂x and δ^{+,h} = −δ^{+,g}.",
             _expected_02_3, _close(rtol=1e-6)),
    Exercise("03.1", "SplitGrad at the input with α = 0.5, computed with torch.autograd only",
             "SplitGrad at α = 0.5 is ½ of the gradient (unit seed), averaged over the colour channels; use "
             "model(x).gather(1, targets[:, None]).sum().backward().",
             _expected_03_1, _close(rtol=1e-4, atol=1e-7), needs=("model", "x", "targets")),
    Exercise("03.2", "SplitCAM^(l,+,g) at the given layer by hand from split.sensitivities (α = 0.4), before upsampling",
             "hm.decompose(model).sensitivities(x, targets, [layer], alpha=0.4)[layer] holds a_pos and delta_pos_g; "
             "multiply and sum over the channels.",
             _expected_03_2, _close(rtol=1e-5, atol=1e-8), needs=("model", "x", "targets", "layer")),
    Exercise("04.1", "the Pointing Game hit (1 or 0) of each map: is its largest value inside the mask?",
             "flatten each map, take argmax, and look the index up in the flattened mask.",
             _expected_04_1, _close(rtol=0, atol=0), needs=("maps", "masks")),
    Exercise("04.2", "Attribution Localisation of each map: share of |map| inside the mask",
             "sum |map| over the mask pixels and divide by the sum of |map| over the whole image.",
             _expected_04_2, _close(rtol=1e-6), needs=("maps", "masks")),
    Exercise("05.1", "∂f/∂x of the self-explaining model from its two stream maps ∂g/∂x and ∂h/∂u",
             "f(x) = g(x) − h(u) with u = 1 − x: apply the chain rule, ∂u/∂x = −1.",
             _expected_05_1, _close(rtol=1e-4, atol=1e-6), needs=("model", "x")),
    Exercise("05.2", "the g-lift of the model on the images: share of |∂g/∂x| on stroke pixels / share of stroke pixels",
             "stroke pixels: intensity > 0.5 (hm.monotone.stroke_mask); take the per-image share of |∂g/∂x| on the "
             "strokes, average over images (torch.nanmean: a map that is all zero has no share), and divide by the "
             "mean fraction of stroke pixels.",
             _expected_05_2, _close(rtol=1e-4), needs=("model", "x")),
)}


def check(key: str, answer: Any, *, quiet: bool = False, **context: Any) -> bool:
    """Check the answer to exercise ``key``; prints *right* or *not yet* with a hint (never the solution) and
    returns whether it is right. ``context``: the objects the exercise is about (e.g. ``model=``, ``x=``), as
    named in its ``needs`` (``hm.teaching.EXERCISES[key].needs``)."""
    if key not in EXERCISES:
        raise KeyError(f"unknown exercise {key!r}; the exercises are {', '.join(EXERCISES)}")
    exercise = EXERCISES[key]
    missing = [name for name in exercise.needs if name not in context]
    if missing:
        raise TypeError(f"exercise {key} needs {', '.join(f'{n}=...' for n in missing)} (the objects of the exercise)")
    unknown = sorted(set(context) - set(exercise.needs))
    if unknown:
        raise TypeError(f"exercise {key} takes only {', '.join(exercise.needs) or 'no extra arguments'}, got {unknown}")
    try:
        right = bool(exercise.compare(answer, exercise.expected(**context)))
    except (TypeError, ValueError, IndexError) as error:  # a malformed answer is a wrong answer, with the reason
        right = False
        hint = f"the answer could not be compared ({type(error).__name__}: {error}). {exercise.hint}"
    else:
        hint = exercise.hint
    if not quiet:
        print(f"✓ {key}: right." if right else f"✗ {key}: not yet. Hint: {hint}")
    return right


def exercises_table() -> pd.DataFrame:
    """Every exercise with its question and the keyword arguments its check needs."""
    return pd.DataFrame([(e.key, e.question, ", ".join(e.needs)) for e in EXERCISES.values()],
                        columns=["key", "question", "check needs"]).set_index("key")

