"""The method registry and the one entry point every explanation goes through.

Every saliency method of the project - the paper's split methods (SplitCAM, SplitGrad, SplitLRP,
paper section C) and the baselines of paper section D.3 - is a plain function

    function(model, x, targets, **params) -> torch.Tensor of shape (N, 1, h, w)

registered under a name with :func:`register_method`. :func:`explain` is the only caller: it
validates everything first (method, parameters, input, targets, model mode, layer name), runs the
function with its defaults merged with the caller's parameters, and then applies the shared
post-processing of :mod:`hidden_monotonicity.methods.postprocess` (upsampling to the input size,
the generic ``abs`` parameter, float32). :func:`quantus_explain_func` adapts :func:`explain` to the
``explain_func`` convention of Quantus.

Layers
    Methods registered with ``needs_layer=True`` take a ``layer`` parameter: a module name as
    listed by ``model.named_modules()`` (e.g. ``"features.28"`` of a torchvision VGG16,
    ``"layer4.1"`` of a ResNet18), a container included (``"layer3"``, ``"features"``: its output; split methods
    read the last split node traced inside it, see :func:`~.layers.resolve_split_layer`). ``layer=None`` (the
    default) means :func:`default_layer`. An unknown name's error suggests the closest names. A sub-module object
    (``model.layer4``) is accepted and replaced by its name; a list of layers is refused (one layer per call).
    CAM baselines refuse a layer whose map is 1×1 (their map would be constant).

Statelessness
    Every call explains exactly the model object it is given, as it is at that moment (Quantus' randomisation
    metrics, MPRT and eMPRT, hand the explain function deep copies with re-initialised layers). The one cache, the
    split network of the split methods (``methods.split.split_of``), is keyed on everything that defines the
    model's function - traced graph, module types and attributes, parameter identity and content - and on the
    decomposition options, so an edited model is decomposed anew.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..decomposition.graph import check_model, output_rule
from ..decomposition.validation import as_target_tensor, check_targets_in_range  # noqa: F401 (re-exported)
from ..decomposition.validation import check_finite_tensors
from .layers import conv_block_output, default_layer, layer_names, resolve_layer  # noqa: F401 (re-exported)
from .layers import layer_as_name
from .postprocess import finalize_maps

#: Method families, in the order :func:`methods` lists them.
FAMILIES: tuple[str, ...] = ("split", "captum", "grad-cam", "zennit")

#: Parameters every method accepts; handled by :func:`explain`, never passed to the method function.
GENERIC_PARAMETERS: dict[str, Any] = {"abs": False}

ExplainFunction = Callable[..., torch.Tensor]


@dataclass(frozen=True, repr=False)
class MethodSpec:
    """A registered explanation method.

    Attributes
        name: the registry key, e.g. ``"gradcam"``.
        label: how figures and tables name the method, e.g. ``"Grad-CAM"`` (the name itself when none was given).
        family: one of :data:`FAMILIES` - ``"split"`` (this paper), ``"captum"``, ``"grad-cam"``
            (pytorch-grad-cam) or ``"zennit"``.
        function: ``function(model, x, targets, **params) -> (N, 1, h, w)`` raw map.
        defaults: the method's own parameters and their defaults (``layer`` included when
            ``needs_layer``); the generic ``abs`` is not in here, see :attr:`parameters`.
        description: one line saying what the method computes.
        paper_section: where the paper describes the method (or lists it as a baseline).
        needs_layer: whether the method explains at a chosen layer (``layer`` parameter).
        own_layers: the method validates ``layer`` itself (split methods: layers of the split network).
    """

    name: str
    family: str
    function: ExplainFunction = field(compare=False)
    defaults: dict[str, Any] = field(default_factory=dict, hash=False)
    description: str = ""
    paper_section: str = ""
    needs_layer: bool = False
    own_layers: bool = False
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.name)

    @property
    def parameters(self) -> dict[str, Any]:
        """Every parameter :func:`explain` accepts for this method, with its default."""
        return {**self.defaults, **GENERIC_PARAMETERS}

    def __repr__(self) -> str:
        parameters = ", ".join(f"{key}={value!r}" for key, value in self.parameters.items())
        section = f", paper_section={self.paper_section!r}" if self.paper_section else ""
        return (
            f"MethodSpec(name={self.name!r}, family={self.family!r}, parameters=({parameters})"
            f"{section}, needs_layer={self.needs_layer}, description={self.description!r})"
        )


_REGISTRY: dict[str, MethodSpec] = {}


def register_method(
    name: str,
    *,
    family: str,
    defaults: dict[str, Any],
    description: str,
    paper_section: str = "",
    needs_layer: bool = False,
    own_layers: bool = False,
    label: str = "",
) -> Callable[[ExplainFunction], ExplainFunction]:
    """Decorator registering ``function(model, x, targets, **params)`` under ``name``.

    ``defaults`` lists every parameter of the method (the function receives all of them on each
    call). ``abs`` is generic (handled by :func:`explain`) and must not appear in it; a method
    with ``needs_layer=True`` gets ``layer=None`` added when ``defaults`` has no ``layer``.
    ``own_layers=True``: the method resolves and validates ``layer`` itself (the split methods name the
    layers of the traced split network, ``"input"`` included, not only modules); ``layer=None`` is passed on.
    ``label``: the method's name in figures and tables (``"SplitCAM"``, ``"Grad-CAM++"``; default: ``name``).
    Raises ``ValueError`` on a duplicate name, an unknown family or a malformed ``defaults``.
    """
    if not isinstance(name, str) or not name or name != name.strip():
        raise ValueError(f"method name must be a non-empty string without surrounding blanks, got {name!r}")
    if name in _REGISTRY:
        raise ValueError(f"a method named {name!r} is already registered ({_REGISTRY[name]!r})")
    if family not in FAMILIES:
        raise ValueError(f"family of {name!r} must be one of {FAMILIES}, got {family!r}")
    if not isinstance(defaults, dict) or not all(isinstance(key, str) for key in defaults):
        raise ValueError(f"defaults of {name!r} must be a dict with string keys, got {defaults!r}")
    clashing = sorted(set(defaults) & set(GENERIC_PARAMETERS))
    if clashing:
        raise ValueError(
            f"defaults of {name!r} must not contain the generic parameter(s) {clashing}; "
            "explain() applies them to every method"
        )
    own_defaults = dict(defaults)
    if needs_layer:
        own_defaults.setdefault("layer", None)
    elif "layer" in own_defaults:
        raise ValueError(f"method {name!r} has a 'layer' default but needs_layer=False")

    def decorator(function: ExplainFunction) -> ExplainFunction:
        if not callable(function):
            raise TypeError(f"register_method({name!r}) must decorate a function, got {function!r}")
        if name in _REGISTRY:
            raise ValueError(f"a method named {name!r} is already registered ({_REGISTRY[name]!r})")
        _REGISTRY[name] = MethodSpec(
            name=name,
            family=family,
            function=function,
            defaults=own_defaults,
            description=description,
            paper_section=paper_section,
            needs_layer=needs_layer,
            own_layers=own_layers,
            label=label,
        )
        return function

    return decorator


def unregister_method(name: str) -> MethodSpec:
    """Remove a registered method and return its spec (for tests and interactive experiments)."""
    return _REGISTRY.pop(get_method(name).name)


def methods() -> dict[str, MethodSpec]:
    """Every registered method, ordered by family (as in :data:`FAMILIES`) and then by name."""
    ordered = sorted(_REGISTRY.values(), key=lambda spec: (FAMILIES.index(spec.family), spec.name))
    return {spec.name: spec for spec in ordered}


def get_method(name: str) -> MethodSpec:
    """The spec registered under ``name``; the error for an unknown name lists every method."""
    if isinstance(name, str) and name in _REGISTRY:
        return _REGISTRY[name]
    listing = ", ".join(methods())
    raise ValueError(f"unknown explanation method {name!r}; the registered methods are: {listing}")


# ------------------------------------------------------------------------------------ validation


def _check_not_meta(x: torch.Tensor) -> None:
    if x.is_meta:
        raise ValueError(
            f"x is on the meta device (no data: a shape {tuple(x.shape)} without values); explanations need the "
            "pixel values: create or load x on 'cpu' or 'cuda' (e.g. torch.randn(..., device='cpu'))"
        )


def _check_input(x: Any) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"x must be a torch.Tensor of shape (N, C, H, W), got {type(x).__name__}; "
            "convert numpy arrays with torch.as_tensor(x, dtype=torch.float32)"
        )
    _check_not_meta(x)
    if x.ndim != 4:
        raise ValueError(f"x must be a 4-D tensor (N, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got dtype {x.dtype}; use x.float()")
    if x.shape[0] == 0:
        raise ValueError("x is an empty batch (N = 0)")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or infinite values")


def _check_device_and_dtype(model: nn.Module, x: torch.Tensor) -> None:
    devices = {tensor.device for tensor in _parameters_and_buffers(model)}
    if devices and devices != {x.device}:
        shown = ", ".join(sorted(str(device) for device in devices))
        raise ValueError(
            f"the model lives on {shown} but x is on {x.device}; explanations run on the input's device, "
            f"so move one of them (model.to({str(x.device)!r}) or x.to(...))"
        )
    dtypes = {parameter.dtype for parameter in model.parameters() if parameter.is_floating_point()}
    if dtypes and x.dtype not in dtypes:
        shown = ", ".join(sorted(str(dtype) for dtype in dtypes))
        raise ValueError(f"x is {x.dtype} but the model's parameters are {shown}; convert x with x.to(<dtype>)")


def _parameters_and_buffers(model: nn.Module) -> Iterator[torch.Tensor]:
    yield from model.parameters()
    yield from model.buffers()


def _number_of_classes(model: nn.Module, x: torch.Tensor) -> int:
    """The model's number of outputs, from a forward pass of the first two images only (the model is in eval mode,
    so an image's output does not depend on the others; a whole-batch pass would cost a full extra forward). Two, not
    one, so that a model that squeezes its batch dimension is still recognised when the batch has two or more."""
    probe = x[:2]
    with torch.no_grad():
        output = model(probe)
    if not isinstance(output, torch.Tensor):
        raise ValueError(output_rule(type(output).__name__))
    if output.ndim != 2 or output.shape[0] != probe.shape[0]:
        shape = tuple(output.shape)
        raise ValueError(
            f"the model must return logits of shape (N, num_classes); for {probe.shape[0]} input image(s) it "
            f"returned {shape}"
        )
    return int(output.shape[1])


_INT64 = np.iinfo(np.int64)


def _target_beyond_int64(targets: Any) -> tuple[int, int] | None:
    """``(image, value)`` of the first target that int64 cannot hold (a uint64 2**63 + 1, a huge Python int), else
    ``None``. Checked on the original dtype: casting first would wrap 2**63 + 1 around to a negative number (and the
    range error would report that number, not the user's)."""
    if isinstance(targets, (bool, np.bool_)):
        return None
    if isinstance(targets, (int, np.integer)):
        value = int(targets)
        return None if _INT64.min <= value <= _INT64.max else (0, value)
    if isinstance(targets, torch.Tensor):
        if targets.dtype != torch.uint64 or targets.is_meta:
            return None
        values = targets.detach().cpu().numpy().reshape(-1).tolist()
    elif isinstance(targets, np.ndarray):
        if targets.dtype != np.uint64:
            return None
        values = targets.reshape(-1).tolist()
    elif isinstance(targets, (list, tuple)):  # element by element: numpy would turn [2**63 + 1, 0] into floats
        values = list(targets)
    else:
        return None
    for index, value in enumerate(values):
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            if not _INT64.min <= int(value) <= _INT64.max:
                return index, int(value)
    return None


def _check_parameters(spec: MethodSpec, params: dict[str, Any]) -> None:
    unknown = sorted(set(params) - set(spec.parameters))
    if unknown:
        accepted = ", ".join(f"{key} (default {value!r})" for key, value in spec.parameters.items())
        raise ValueError(f"method {spec.name!r} has no parameter(s) {unknown}; its parameters are: {accepted}")
    if not isinstance(params.get("abs", False), (bool, np.bool_)):
        raise TypeError(f"abs must be True or False, got {params['abs']!r}")


# ----------------------------------------------------------------------------------------- entry


def explain(
    model: nn.Module,
    x: torch.Tensor,
    targets: int | Iterable[int] | np.ndarray | torch.Tensor,
    method: str,
    **params: Any,
) -> torch.Tensor:
    """Explain ``model``'s logits ``targets`` at the inputs ``x`` with the registered ``method``.

    Returns a detached float32 tensor ``(N, 1, H, W)`` at the input resolution on ``x.device``.

    Steps: validate (method name, parameter names, ``x`` a finite 4-D float tensor with data - not on the meta
    device, model in eval mode, on ``x.device`` and with finite parameters and buffers (a NaN weight would make
    every map NaN), one integer target per image - an int is broadcast - within ``[0, num_classes)`` where
    ``num_classes`` comes from one forward pass of the first two images, the ``layer`` - a name, or a sub-module
    object, which is replaced by its name);
    call the method function with its defaults updated by ``params`` (gradients enabled even
    inside ``torch.no_grad()``); post-process (see :mod:`.postprocess`): bilinear upsampling to
    ``(H, W)``, ``abs`` (default False) takes ``|map|``, float32.
    """
    spec = get_method(method)
    _check_parameters(spec, params)
    check_model(model)
    _check_input(x)
    _check_device_and_dtype(model, x)
    check_finite_tensors(model)
    beyond_int64 = _target_beyond_int64(targets)
    num_classes = _number_of_classes(model, x)
    if beyond_int64 is not None:
        index, value = beyond_int64
        raise ValueError(
            f"target {value} (image {index}) is out of range: the model has {num_classes} outputs, so targets must "
            f"lie in [0, {num_classes})"
        )
    target_tensor = as_target_tensor(targets, x.shape[0], device=x.device)
    check_targets_in_range(target_tensor, num_classes)

    call_params = {**spec.defaults, **params}
    take_abs = bool(call_params.pop("abs", False))
    if spec.needs_layer:
        call_params["layer"] = layer_as_name(model, call_params.get("layer"))  # a module object -> its name
        if not spec.own_layers:
            if call_params["layer"] is None:
                call_params["layer"] = default_layer(model)
            resolve_layer(model, call_params["layer"])

    with torch.enable_grad():
        raw = spec.function(model, x.detach(), target_tensor, **call_params)
    return finalize_maps(
        raw, batch_size=x.shape[0], input_size=tuple(x.shape[-2:]), take_abs=take_abs, method=spec.name
    )


def quantus_explain_func(model: nn.Module, inputs: Any, targets: Any, **kwargs: Any) -> np.ndarray:
    """:func:`explain` in Quantus' ``explain_func`` convention; returns ``(N, 1, H, W)`` float32 numpy.

    The inputs are converted to the model's floating dtype (Quantus hands float32 or float64 arrays), never cast down.

    Use as ``metric(model=model, x_batch=x, y_batch=y, explain_func=hm.quantus_explain_func,
    explain_func_kwargs={"method": "gradcam", "layer": "features.29"}, device=device)``.
    ``kwargs`` holds ``method`` and that method's parameters; the ``device`` Quantus injects is
    where the inputs are put (default: the model's device). Any other key goes to :func:`explain`,
    which rejects what the method does not accept. Stateless: the model object given is the one
    explained (Quantus' randomisation metrics pass re-initialised deep copies).
    """
    options = dict(kwargs)
    if "method" not in options:
        raise ValueError(
            "quantus_explain_func needs the method name: pass explain_func_kwargs={'method': <name>, ...}; "
            f"registered methods: {', '.join(methods())}"
        )
    method = options.pop("method")
    device = options.pop("device", None)
    if device is None:
        tensors = list(_parameters_and_buffers(model)) if isinstance(model, nn.Module) else []
        device = tensors[0].device if tensors else torch.device("cpu")
    if isinstance(inputs, torch.Tensor):
        _check_not_meta(inputs)
    x = torch.as_tensor(inputs.detach().cpu().numpy() if isinstance(inputs, torch.Tensor) else np.asarray(inputs))
    floating = [p.dtype for p in model.parameters() if p.is_floating_point()] if isinstance(model, nn.Module) else []
    dtype = floating[0] if floating else (x.dtype if x.is_floating_point() else torch.float32)
    x = x.to(device=torch.device(device), dtype=dtype)  # the model's precision (float64 models stay float64)
    if isinstance(targets, torch.Tensor):
        targets = targets.detach().cpu()
    elif not isinstance(targets, (int, np.integer)):
        targets = np.asarray(targets).reshape(-1)
    maps = explain(model, x, targets, method, **options)
    return maps.cpu().numpy()
