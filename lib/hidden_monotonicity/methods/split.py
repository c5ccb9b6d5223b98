"""SplitCAM, SplitGrad and SplitLRP: saliency from the DC split of the explained network (paper section C).

All three decompose the model they are given (``hm.decompose``; never a split of another model, see
:func:`split_of`) and read the split network at a layer ``l``, named as in ``split.layer_names``: a module name
of the original model (``"features.28"``, ``"layer3.1.conv2"``), a traced function node (``"add_3"``,
``"flatten"``) or ``"input"``. Every choice the paper leaves open is a parameter:

=================  ==========================================================================================
parameter          meaning (default)
=================  ==========================================================================================
``layer``          where to read the split network (SplitCAM: the last convolutional block, as LayerCAM;
                   SplitGrad and SplitLRP: ``"input"``)
``stream``         ``"pos"`` reads ``a^{(l,+)}``/``δ^{(l,+,·)}``, ``"neg"`` the − stream (``"pos"``)
``output``         ``"g"`` or ``"h"``: sensitivities of which output stream (``"g"``)
``alpha``          the α-shift of the sensitivities, B.3 (0.4, the paper's best SplitCAM)
``alpha_mode``     ``"iterative"`` (after every layer) or ``"closed_form"`` (once per path, after the output layer)
``shift_output``   apply the α-shift after the output layer too (True)
``stabilize``      forward stabilisation, B.2: ``"none"|"shift"|"scale"|"threshold"`` (``"scale"``, the "sc" rows)
``theta``,         constants of the stabilisation (0.1, 10)
``threshold``
``stabilize_when`` when it runs: ``"always"`` (after every layer, a reading) or ``"above_threshold"`` (per layer and
                   sample, only where a stream exceeds ``threshold``) (``"always"``)
``maxpool``        ``"wta"`` (the paper's rows) or ``"dc"``
``dtype``          precision of the split passes (``"float64"``, as in the paper)
``input_split``    ``"center"`` or ``"positive"``
=================  ==========================================================================================

The generic ``abs`` of :func:`hidden_monotonicity.explain` takes ``|map|`` ("absolute value usage" is a selected
hyper-parameter in the paper); maps are otherwise signed — no ReLU anywhere (paper C.1).
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import nn

from ..decomposition import DECOMPOSITION_OPTIONS, SplitNetwork, decompose
from ..decomposition.fingerprint import module_structure, named_tensors, tensor_statistics
from .layers import SPLIT_DEFAULT_LAYER, resolve_split_layer
from .registry import register_method

#: the decomposition options of ``hm.decompose`` with its defaults (the dtype written as a name, "float64")
_DECOMPOSITION_DEFAULTS: dict[str, Any] = {
    name: str(value).removeprefix("torch.") if isinstance(value, torch.dtype) else value
    for name, value in DECOMPOSITION_OPTIONS.items()
}
_SENSITIVITY_DEFAULTS: dict[str, Any] = {"alpha": 0.4, "alpha_mode": "iterative", "shift_output": True}
_STREAMS = ("pos", "neg")
_OUTPUTS = ("g", "h")
_RELEVANCE_MAPS = ("pos-neg", "pos", "neg")

_CACHE: "weakref.WeakKeyDictionary[nn.Module, tuple[tuple, SplitNetwork]]" = weakref.WeakKeyDictionary()


def _dtype(value: Any) -> torch.dtype:
    if isinstance(value, torch.dtype):
        return value
    names = {"float64": torch.float64, "double": torch.float64, "float32": torch.float32, "float": torch.float32}
    if value not in names:
        raise ValueError(f"dtype must be 'float64' or 'float32' (or a torch dtype), got {value!r}")
    return names[value]


def function_key(model: nn.Module) -> tuple:
    """Everything that defines the function ``model`` computes, for the split cache:

    * the traced graph (``torch.fx`` code: which modules and functions are called on what, with which constants);
    * every module's name, type, class ``forward`` and public attributes (stride, padding, eps, negative_slope,
      inplace, ... - an edit such as ``m.features[1] = nn.LeakyReLU(0.5)`` or ``bn.eps = 0.1`` changes it);
    * every parameter and buffer: identity (storage, shape, dtype, device, version counter) and content (sum and two
      position-weighted sums, :func:`~hidden_monotonicity.decomposition.fingerprint.tensor_statistics`, so that a
      change through ``.data`` - which leaves the version alone - and a channel swap show up).
    """
    code = torch.fx.symbolic_trace(model).code
    structure = tuple(module_structure(model, ignored=frozenset(), tensor_attributes=True).items())
    tensors = named_tensors(model)
    identity = tuple((kind, name, t.data_ptr(), tuple(t.shape), t.dtype, str(t.device), t._version)
                     for kind, name, t in tensors)
    content = tuple(tensor_statistics([t for _, _, t in tensors]))
    return code, structure, identity, content


def split_of(model: nn.Module, *, stabilize, theta, threshold, stabilize_when, maxpool, dtype, input_split) -> SplitNetwork:
    """The split network of exactly this ``model`` with these options.

    Building a split (tracing, and copying the weights into ``dtype``) costs about a third of a SplitCAM call
    (vgg11, 64 px, batch 8, one thread: 2.4 s CPU per call with the cache, 3.6 s without; the key costs 0.12 s), so the last split of each model object
    is kept (weakly: it goes with the model) and reused only while :func:`function_key` - graph, module types and
    attributes, parameter and buffer identity and content - and every option are unchanged; a deep copy (Quantus
    MPRT), a re-initialised or an edited model, or other options, are decomposed anew. (The split itself checks its
    model again before each pass, :meth:`~hidden_monotonicity.decomposition.SplitNetwork.check_model_unchanged`.)
    """
    options = (stabilize, float(theta), float(threshold), stabilize_when, maxpool, _dtype(dtype), input_split)
    try:
        key = (options, function_key(model))
    except Exception:  # noqa: BLE001 - untraceable: decompose() raises the explained error
        key = None
    cached = _CACHE.get(model)
    if key is not None and cached is not None and cached[0] == key:
        return cached[1]
    split = decompose(
        model, dtype=options[5], stabilize=stabilize, theta=theta, threshold=threshold, stabilize_when=stabilize_when,
        maxpool=maxpool, input_split=input_split,
    )
    _CACHE[model] = (key, split)
    return split


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def _record(model, x, targets, layer, default_layer_name, stream, output, params):
    _check_choice("stream", stream, _STREAMS)
    _check_choice("output", output, _OUTPUTS)
    decomposition = {k: params.pop(k) for k in _DECOMPOSITION_DEFAULTS}
    split = split_of(model, **decomposition)
    layer = resolve_split_layer(split, model, layer, default_layer_name)
    result = split.sensitivities(x, targets, [layer], **params)
    record = result[layer]
    activation = record.a_pos if stream == "pos" else record.a_neg
    sensitivity = getattr(record, f"delta_{stream}_{output}")
    return layer, activation, sensitivity


def _channel_map(values: torch.Tensor, layer: str, method: str, reduction: str = "sum") -> torch.Tensor:
    """The (N, C, H, W) tensor ``values`` reduced over channels (``"sum"`` or ``"mean"``) to an (N, 1, H, W) map;
    a clear error for non-spatial layers."""
    if values.ndim != 4:
        raise ValueError(
            f"{method} needs a spatial layer (N, C, H, W); layer {layer!r} has shape {tuple(values.shape)}: "
            "choose a convolutional layer or 'input'"
        )
    return values.sum(1, keepdim=True) if reduction == "sum" else values.mean(1, keepdim=True)


def _register_sensitivity_method(name: str, label: str, description: str, paper_section: str):
    """Register a method that reads one stream and one output's α-shifted sensitivities at a split layer."""
    return register_method(
        name, label=label, family="split",
        defaults={"stream": "pos", "output": "g", **_SENSITIVITY_DEFAULTS, **_DECOMPOSITION_DEFAULTS},
        description=description, paper_section=paper_section, needs_layer=True, own_layers=True,
    )


@_register_sensitivity_method(
    "splitcam", "SplitCAM",
    "SplitCAM^(l,±,g/h) = Σ_c δ_shift,c^(l,±,·) ⊙ a_c^(l,±): split-stream activations times α-shifted sensitivities, "
    "no ReLU",
    "C.1",
)
def splitcam(model, x, targets, *, layer, stream, output, **params) -> torch.Tensor:
    """SplitCAM (paper C.1): ``Σ_c δ^{(l,s,o)}_{shift,c} ⊙ a^{(l,s)}_c`` at layer ``l`` for stream ``s`` and output ``o``.

    With α = 0.5 and full recentering (``stabilize="shift"``) at a post-ReLU layer it equals
    ``½ Σ_c (∂f/∂a_c) ⊙ a_c`` (LayerCAM without ReLUs, up to the factor ½ of the unit seed)."""
    layer, activation, sensitivity = _record(model, x, targets, layer, SPLIT_DEFAULT_LAYER["splitcam"], stream, output, params)
    return _channel_map(sensitivity * activation, layer, "splitcam")


@_register_sensitivity_method(
    "splitgrad", "SplitGrad",
    "SplitGrad^(l,±,g/h) = (1/C) Σ_c δ_shift,c^(l,±,·): channel mean of the α-shifted sensitivity (at 'input' a "
    "pixel map)",
    "C.2",
)
def splitgrad(model, x, targets, *, layer, stream, output, **params) -> torch.Tensor:
    """SplitGrad (paper C.2): the channel mean of ``δ^{(l,s,o)}_{shift}``; α = 0.5 gives ½ of the gradient's
    channel mean (unit seed), α = 0 the true split gradient."""
    layer, _, sensitivity = _record(model, x, targets, layer, SPLIT_DEFAULT_LAYER["splitgrad"], stream, output, params)
    return _channel_map(sensitivity, layer, "splitgrad", reduction="mean")


@register_method(
    "splitlrp",
    label="SplitLRP",
    family="split",
    defaults={"relevance": "pos-neg", "epsilon": 1e-6, **_DECOMPOSITION_DEFAULTS},
    description="SplitLRP: ε-LRP (ε=1e-6, γ=0) on the non-negative split network seeded with the target's g; "
    "map Σ_c R⁺ − R⁻ (or R⁺ / R⁻ alone)",
    paper_section="C.3",
    needs_layer=True,
    own_layers=True,
)
def splitlrp(model, x, targets, *, layer, relevance, epsilon, **params) -> torch.Tensor:
    """SplitLRP (paper C.3): relevance ``R = g`` of the target's g-output propagated with the ε-rule through the
    split network (``SplitNetwork.relevance``), summed over channels at layer ``l``: ``R⁺ − R⁻`` (default), ``R⁺``
    or ``R⁻``. Conservation: ``Σ (R⁺ + R⁻) = g`` minus the share of the biases ``b^±`` and of ε."""
    _check_choice("relevance", relevance, _RELEVANCE_MAPS)
    split = split_of(model, **{k: params.pop(k) for k in _DECOMPOSITION_DEFAULTS})
    layer = resolve_split_layer(split, model, layer, SPLIT_DEFAULT_LAYER["splitlrp"])
    result = split.relevance(x, targets, [layer], epsilon=epsilon)[layer]
    values = {"pos-neg": result.pos - result.neg, "pos": result.pos, "neg": result.neg}[relevance]
    return _channel_map(values, layer, "splitlrp")
