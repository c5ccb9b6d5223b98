"""The toy objects of the course and the backward pass on toys (paper B.3, notebook 01 part II).

:func:`backward_by_hand` propagates the four local sensitivities ``δ^{+,g}, δ^{−,g}, δ^{+,h}, δ^{−,h}`` through a
``Linear``/``ReLU`` network with the exact rules written out in numpy (independent of the library), with the α-shift
after every layer (optionally not after the output layer, ``shift_output=False``, as the authors' code);
:func:`invariant_table` checks the pairwise and total invariants; :func:`gradient_loss` measures, per α, how much of
the gradient part ``δ^{+,g} − δ^{+,h} = ∂f/∂a`` survives the common mode in floating point on a deep network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

__all__ = [
    "backward_by_hand",
    "common_mode_table",
    "deep_conv_network",
    "deep_toy_input",
    "deep_toy_network",
    "exercise_network",
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
    from ..plots.toys import toy_relu_network

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


def backward_by_hand(model: nn.Sequential, x: Sequence[float], *, alpha: float = 0.0,
                     shift_output: bool = True) -> dict[str, HandSensitivities]:
    """The four sensitivities of ``g`` and ``h`` (first output) at every layer of a ``Linear``/``ReLU`` network
    for one input ``x``, written out with the exact rules of paper B.3 in numpy (independent of the library):

    * unit seed at the output: ``δ^{+,g} = 1, δ^{−,g} = 0, δ^{+,h} = 0, δ^{−,h} = 1``;
    * Linear ``W = W⁺ − W⁻``: ``δ^{+,·} ← W⁺ᵀ δ^{+,·} + W⁻ᵀ δ^{−,·}``, ``δ^{−,·} ← W⁻ᵀ δ^{+,·} + W⁺ᵀ δ^{−,·}``;
    * ReLU (Maxout in the g-stream, mask ``m = [z ≥ 0]`` of the original pre-activation):
      ``δ^{+,·} ← m δ^{+,·}``, ``δ^{−,·} ← δ^{−,·} + (1 − m) δ^{+,·}``;
    * α-shift after every layer (the seed itself is not shifted): ``s = α(δ^{+,·} + δ^{−,·})``, both ``δ^{±,·} −= s``;
      ``shift_output=False`` skips it after the output layer (as the authors' code; then α = 0.5 is *not* ½ the
      gradient below the first ReLU, notebook 01 section 8).

    Keys: ``"input"`` and the module names of ``model`` (the sensitivity of that module's output), like
    ``split.sensitivities``. The network of exercise 01.5 is refused: its sensitivities are the exercise."""
    if _is_exercise_network(model):
        raise ValueError("backward_by_hand does not run on hm.teaching.exercise_network(): its four sensitivities are "
                         "exercise 01.5 — propagate them by hand with the two rules (notebook 01, part II)")
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
        if shift_output or index < len(modules) - 1:
            shift_g, shift_h = alpha * (pos_g + neg_g), alpha * (pos_h + neg_h)
            pos_g, neg_g, pos_h, neg_h = pos_g - shift_g, neg_g - shift_g, pos_h - shift_h, neg_h - shift_h
        result[names[index]] = HandSensitivities(names[index], pos_g, neg_g, pos_h, neg_h)
    return {name: result[name] for name in names}


def _is_exercise_network(model: nn.Module) -> bool:
    """Whether ``model`` is (a copy of) :func:`exercise_network`: ``Linear(1,1) → ReLU → Linear(1,1)`` with its weights."""
    try:
        layers = list(model.children())
        return (len(layers) == 3 and all(isinstance(m, nn.Linear) and m.weight.numel() == 1 for m in layers[::2])
                and isinstance(layers[1], nn.ReLU)
                and [float(getattr(layers[i], n).detach()) for i, n in ((0, 'weight'), (0, 'bias'), (2, 'weight'), (2, 'bias'))]
                == [-1.0, 1.0, -2.0, 0.0])
    except (TypeError, AttributeError):
        return False


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
    from ..decomposition import decompose

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
