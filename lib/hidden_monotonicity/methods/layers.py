"""The one home of layer logic: which layers a method may explain, and how a layer name is resolved.

* :func:`layer_names`, :func:`resolve_layer` - module names of a model and the module behind one name;
* :func:`default_layer`, :func:`conv_block_output`, :func:`conv_block_outputs` - "the activation of a
  convolution" (the CAM layers), the last of which is the default layer of every layer method;
* :func:`split_layer_candidates`, :func:`layer_candidates` - the layers a split method or a CAM baseline may explain
  (used by the evaluation's layer grids, the plots and the explorer);
* :func:`resolve_layer_rule` - ``@last``, ``@first``, ``@middle``, ``@all``, ``@evenly:k`` over a candidate list.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import torch
from torch import nn

from ..decomposition.graph import closest_names


def layer_names(model: nn.Module) -> list[str]:
    """Names of every sub-module of ``model`` (``model.named_modules()`` without the root)."""
    return [name for name, _ in model.named_modules() if name]


def layer_as_name(model: nn.Module, layer: Any) -> Any:
    """``layer`` as a layer name: a sub-module object of ``model`` (``model.layer4``) becomes its name in
    ``model.named_modules()`` (``"layer4"``); a name or ``None`` is returned as it is (names are checked by
    :func:`resolve_layer`). Refused, each with what to do: a list or tuple (one layer per call), the model itself, and
    a module that is not part of ``model`` (e.g. a module of another copy: Quantus' randomisation metrics explain deep
    copies, so pass names, which hold for every copy)."""
    if isinstance(layer, (list, tuple)):
        names = {id(module): name for name, module in model.named_modules() if name}
        shown = [names.get(id(item), type(item).__name__) if isinstance(item, nn.Module) else item for item in layer]
        example = shown[0] if shown else default_layer_or_none(model)
        raise ValueError(
            f"layer must be one layer name, got a {type(layer).__name__} of {len(layer)} ({shown!r}); explain one "
            f"layer per call, e.g. layer={example!r}"
        )
    if not isinstance(layer, nn.Module):
        return layer
    if layer is model:
        raise ValueError(
            f"layer is the model itself ({type(model).__name__}), not one of its layers; pass a layer name such as "
            f"{default_layer_or_none(model)!r}"
        )
    for name, module in model.named_modules(remove_duplicate=False):
        if module is layer and name:
            return name
    raise ValueError(
        f"layer {type(layer).__name__}(...) is a module object that is not part of this {type(model).__name__} (not "
        "in model.named_modules(); a module of another copy of the model?); pass the layer's name instead, e.g. "
        f"{default_layer_or_none(model)!r} - names also hold for the copies Quantus' randomisation metrics explain"
    )


def default_layer_or_none(model: nn.Module) -> str | None:
    """:func:`default_layer`, or ``None`` for a model without convolutions (for error messages)."""
    try:
        return default_layer(model)
    except ValueError:
        return None


def resolve_layer(model: nn.Module, layer: str | nn.Module) -> nn.Module:
    """The sub-module named ``layer`` (any module, a container such as ResNet's ``"layer3"`` or VGG's ``"features"``
    included: its output is the activation explained). A sub-module object is accepted too (:func:`layer_as_name`).
    The error for an unknown name suggests the closest names."""
    layer = layer_as_name(model, layer)
    modules = dict(model.named_modules())
    if not isinstance(layer, str) or not layer or layer not in modules:
        raise ValueError(unknown_layer_message(layer, layer_names(model), f"{type(model).__name__}", "model.named_modules()"))
    return modules[layer]


def unknown_layer_message(layer: Any, valid: Sequence[str], owner: str, listing: str) -> str:
    """``unknown layer 'x' for <owner>; did you mean 'a', 'b'? (all N names: <listing>)`` - the closest few names
    (difflib), never the whole list."""
    suggestions = closest_names(layer, valid)
    hint = f"did you mean {', '.join(map(repr, suggestions))}?" if suggestions else "no similar name exists;"
    return f"unknown layer {layer!r} for {owner}; {hint} (all {len(valid)} valid layer names: {listing})"


_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_ELEMENTWISE_FOLLOWERS = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Hardtanh,
    nn.Tanh,
    nn.Sigmoid,
    nn.modules.batchnorm._BatchNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.Identity,
)


def default_layer(model: nn.Module) -> str:
    """The layer explained when a layer method gets ``layer=None``: the last convolutional block.

    Rule (structural, no forward pass, deterministic):

    1. take the last ``nn.Conv2d`` in ``model.named_modules()`` order;
    2. if it sits inside a block with its own ``forward`` (an ancestor below the root that is not
       an ``nn.Sequential``/``ModuleList``/``ModuleDict``, e.g. a torchvision ``BasicBlock`` or
       ``Bottleneck``), the answer is the innermost such block: torchvision ResNet18 ->
       ``"layer4.1"`` (the block output after the residual add and its ReLU);
    3. otherwise (a plain stack as in VGG's ``features``) the answer is the last module of the
       run of element-wise modules (activation, normalisation) that directly follows that
       convolution among its siblings, or the convolution itself when none follows:
       torchvision VGG16 -> ``"features.29"`` (the ReLU after the last conv, 14x14 at 224 px),
       VGG16-BN -> ``"features.42"``.

    This is the usual Grad-CAM/LayerCAM choice, "the activations of the last convolutional
    layer". Raises ``ValueError`` for a model without ``nn.Conv2d``.
    """
    modules = dict(model.named_modules())
    conv_names = [name for name, module in modules.items() if isinstance(module, nn.Conv2d)]
    if not conv_names:
        raise ValueError(
            f"{type(model).__name__} has no nn.Conv2d, so there is no default layer; pass layer=<name>, "
            f"one of: {', '.join(layer_names(model))}"
        )
    return conv_block_output(model, conv_names[-1], modules)


def conv_block_output(model: nn.Module, conv_name: str, modules: dict[str, nn.Module] | None = None) -> str:
    """The layer whose output is "the activation of" the convolution ``conv_name`` (rules 2 and 3 of
    :func:`default_layer`): its innermost enclosing block with its own ``forward``, else the convolution followed by
    its run of element-wise siblings (activation, normalisation)."""
    modules = dict(model.named_modules()) if modules is None else modules
    parts = conv_name.split(".")
    ancestors = [".".join(parts[:depth]) for depth in range(1, len(parts))]  # outermost first
    blocks = [name for name in ancestors if not isinstance(modules[name], _CONTAINERS)]
    if blocks:
        return blocks[-1]
    parent_name = ".".join(parts[:-1])
    siblings = list(modules[parent_name].named_children())
    position = [child for child, _ in siblings].index(parts[-1])
    chosen = conv_name
    for child_name, child in siblings[position + 1 :]:
        if not isinstance(child, _ELEMENTWISE_FOLLOWERS):
            break
        chosen = f"{parent_name}.{child_name}" if parent_name else child_name
    return chosen



def conv_block_outputs(model: nn.Module) -> list[str]:
    """Layers a CAM baseline may explain, in network order: the output of every convolution block.

    For a convolution inside a block with its own ``forward`` (e.g. a ResNet ``BasicBlock``) that is
    the innermost such block; otherwise the convolution followed by its run of element-wise siblings
    (VGG: the ReLU after each conv) - :func:`conv_block_output` for every convolution, so the
    last entry is ``default_layer(model)``.
    """
    modules = dict(model.named_modules())
    convolutions = [name for name, module in modules.items() if isinstance(module, nn.Conv2d)]
    return list(dict.fromkeys(conv_block_output(model, name, modules) for name in convolutions))


def spatial_modules(model: nn.Module, example: torch.Tensor) -> set[str]:
    """Names of the modules whose output on ``example`` is a 4-D (N, C, H, W) feature map."""
    return set(spatial_sizes(model, example))


def spatial_sizes(model: nn.Module, example: torch.Tensor) -> dict[str, tuple[int, int]]:
    """``{name: (h, w)}`` of every module whose (first) output on ``example`` is a 4-D (N, C, h, w) feature map."""
    found: dict[str, tuple[int, int]] = {}

    def record(name: str, output: Any) -> None:
        if torch.is_tensor(output) and output.ndim == 4 and name not in found:
            found[name] = (int(output.shape[-2]), int(output.shape[-1]))

    handles = [
        module.register_forward_hook(lambda m, i, o, name=name: record(name, o))
        for name, module in model.named_modules()
        if name
    ]
    try:
        with torch.no_grad():
            model(example[:1])
    finally:
        for handle in handles:
            handle.remove()
    return found


def split_layer_candidates(model: nn.Module, example: torch.Tensor) -> list[str]:
    """Layers a split method may explain: ``"input"`` and every ReLU-family activation (ReLU, ReLU6, LeakyReLU,
    Hardtanh) with a spatial output.

    Names come from ``hm.decompose(model).layer_names`` (a repeated use of one ReLU module is
    listed as ``name#2``); ReLUs of the classifier head (non-spatial outputs) are left out.
    """
    from ..decomposition import decompose

    modules = dict(model.named_modules())
    spatial = spatial_modules(model, example)
    keep = []
    for name in decompose(model).layer_names:
        base = re.sub(r"#\d+$", "", name)
        if name == "input" or (isinstance(modules.get(base), (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Hardtanh)) and base in spatial):
            keep.append(name)
    return keep


def layer_candidates(model: nn.Module, spec: Any, example: torch.Tensor) -> list[str]:
    """Layers the method ``spec`` (a :class:`~hidden_monotonicity.methods.registry.MethodSpec`) may explain on ``model``:
    split layers for the split family, ``"input"`` and every convolution-block output for the LRP (zennit) family,
    convolution-block outputs for every other layer method - without those whose
    map is 1×1 at ``example``'s size (a CAM there is constant and refused; see ``grad_cam.check_spatial_extent``),
    unless every one is (then all are returned, and explaining one gives the error saying what to do)."""
    if getattr(spec, "family", None) == "split":
        return split_layer_candidates(model, example)
    if getattr(spec, "family", None) == "zennit":  # LRP: the pixels, or the relevance at a convolution block output
        return ["input", *conv_block_outputs(model)]
    blocks = conv_block_outputs(model)
    sizes = spatial_sizes(model, example)
    with_extent = [name for name in blocks if sizes.get(name) != (1, 1)]
    return with_extent or blocks



def resolve_layer_rule(rule: str, candidates: Sequence[str]) -> list[str]:
    """Resolve a layer name or rule (``@last``, ``@first``, ``@middle``, ``@all``, ``@evenly:k``).

    >>> resolve_layer_rule("@evenly:2", ["a", "b", "c", "d"])
    ['b', 'd']
    """
    candidates = list(candidates)
    if not candidates:
        raise ValueError("no valid layers to choose from: the method reported an empty layer list")
    if not isinstance(rule, str) or not rule.startswith("@"):
        if rule not in candidates:
            raise ValueError(f"layer {rule!r} is not valid for this model and method; valid layers: {candidates}")
        return [rule]
    if rule == "@last":
        return [candidates[-1]]
    if rule == "@first":
        return [candidates[0]]
    if rule == "@middle":
        return [candidates[(len(candidates) - 1) // 2]]
    if rule == "@all":
        return candidates
    if rule.startswith("@evenly:"):
        try:
            k = int(rule.split(":", 1)[1])
        except ValueError:
            k = 0
        if k < 1:
            raise ValueError(f"layer rule {rule!r}: write '@evenly:k' with an integer k >= 1")
        k = min(k, len(candidates))
        n = len(candidates)
        # k evenly spaced positions ending at the last layer: n*(i+1)/k - 1
        picks = sorted({max(0, round(n * (i + 1) / k) - 1) for i in range(k)})
        return [candidates[i] for i in picks]
    raise ValueError(
        f"unknown layer rule {rule!r}; use a layer name or one of @last, @first, @middle, @all, @evenly:k"
    )


#: Where each split method reads the split network when ``layer=None``: ``"@cam"`` is the split layer of
#: :func:`default_layer` (the last convolutional block, as LayerCAM), any other value a split layer name.
SPLIT_DEFAULT_LAYER: dict[str, str] = {"splitcam": "@cam", "splitgrad": "input", "splitlrp": "input"}


def resolve_split_layer(split: Any, model: nn.Module, layer: str | None, default: str) -> str:
    """The split-network layer a split method reads (``split`` is the model's :class:`SplitNetwork`).

    * ``layer`` a split layer name (``split.layer_names``: ``"input"``, a module called once, ``"layer2.0.relu#2"``
      for a module's second call, a traced function such as ``"add_3"``): that layer;
    * ``layer`` the name of any other module of ``model`` - a container or a block (``"layer3"`` of a ResNet,
      ``"features"`` of a VGG, ``"layer4.1"``): the **last split node traced inside that module**
      (``split.layers_inside(layer)[-1]``), i.e. the module's output - ``"layer3"`` → ``"layer3.1.relu#2"`` (the
      block's ReLU after the residual add), ``"features"`` of VGG16 → ``"features.30"`` (its last max-pool), as
      pytorch-grad-cam reads a container's output;
    * ``layer=None``: ``default`` (``"@cam"``: the same rule applied to :func:`default_layer`, the last convolutional
      block, as LayerCAM).

    An unknown name raises ``ValueError`` suggesting the closest split-layer and module names."""
    if layer is None:
        if default != "@cam":
            return default
        layer = default_layer(model)
    if layer in split.layer_names:
        return layer
    modules = dict(model.named_modules())
    if isinstance(layer, str) and layer in modules and layer:
        inside = split.layers_inside(layer)
        if not inside:
            raise ValueError(f"module {layer!r} of {type(model).__name__} holds no split node (it is never called in "
                             "forward, or only on shapes); choose another layer")
        return inside[-1]
    valid = list(dict.fromkeys([*split.layer_names, *layer_names(model)]))
    raise ValueError(unknown_layer_message(layer, valid, f"the split network of {type(model).__name__}",
                                           "split.layer_names and model.named_modules()"))


def method_default_layer(model: nn.Module, method: str) -> str | None:
    """The layer ``method`` explains on ``model`` when called with ``layer=None`` (``None`` for methods without a layer):
    the one rule the explorer, the plots and the evaluation ask."""
    from .registry import get_method

    spec = get_method(method)
    if not spec.needs_layer:
        return None
    if spec.defaults.get("layer") is not None:  # a method with its own default layer (the LRP methods: "input")
        return spec.defaults["layer"]
    if spec.family == "split":
        from ..decomposition import decompose

        return resolve_split_layer(decompose(model), model, None, SPLIT_DEFAULT_LAYER.get(method, "input"))
    return default_layer(model)
