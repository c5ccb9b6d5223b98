"""Cheap fingerprints of what defines the function a model computes: its module tree (types, classes' ``forward``,
public attributes), its parameters and buffers (shape, dtype, device and content) and its forward hooks.

Two users: a :class:`~.network.SplitNetwork` records the fingerprint of its model when it is built and compares it
before every pass (a split is a snapshot: an edited model must be decomposed again, never explained with stale
weights), and the split cache of the split methods (``methods.split.split_of``) keys on it.

The content of a tensor is summarised by three numbers (:func:`tensor_statistics`), computed on the tensor's own
device and fetched in one transfer per device: a change of values beyond the rounding of the tensor's own dtype, and
a swap of channels (rows or columns), changes them. A change that keeps all three sums is not seen (it takes a
deliberate edit of three or more values); a write that leaves the values as they were (``load_state_dict`` of the same
state, a canonizer that merges and restores a batch norm) is not a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.fx
import torch.nn as nn

#: module attributes that do not change the function of a model in eval mode (``training``: the split computes the
#: eval-mode function, and ``hm.explain`` refuses a model in training mode anyway)
_IGNORED_ATTRIBUTES = frozenset({"training"})


def tensor_statistics(tensors: list[torch.Tensor]) -> list[tuple[float, float, float]]:
    """Sum, and row- and column-position-weighted sums of each tensor seen as a (first dim, rest) matrix.

    The row and column sums are taken in the tensor's dtype (float32 for half precision and integer tensors; float64
    accumulation would cost 20x on a CPU), weighted in float64. All numbers of one device are fetched at once, so a
    model on a GPU costs one synchronisation, not three per tensor."""
    by_device: dict[torch.device, list[int]] = {}
    pending: list[torch.Tensor | None] = []
    for index, tensor in enumerate(tensors):
        tensor = tensor.detach()
        if tensor.is_meta or tensor.is_complex():
            pending.append(None)
            continue
        if tensor.dtype not in (torch.float32, torch.float64):
            tensor = tensor.float()
        if tensor.numel() == 0:
            stats = tensor.new_zeros(3, dtype=torch.float64)
        elif tensor.ndim == 0:
            stats = torch.stack([tensor.double(), tensor.new_zeros((), dtype=torch.float64),
                                 tensor.new_zeros((), dtype=torch.float64)])
        else:
            matrix = tensor.reshape(tensor.shape[0], -1)
            rows, columns = matrix.sum(1).double(), matrix.sum(0).double()
            row_weights = torch.arange(1, rows.numel() + 1, device=tensor.device, dtype=torch.float64)
            column_weights = torch.arange(1, columns.numel() + 1, device=tensor.device, dtype=torch.float64)
            stats = torch.stack([rows.sum(), rows @ row_weights, columns @ column_weights])
        pending.append(stats)
        by_device.setdefault(stats.device, []).append(index)
    results: list[tuple[float, float, float]] = [(float("nan"),) * 3] * len(tensors)
    for indices in by_device.values():
        values = torch.stack([pending[i] for i in indices]).tolist()  # one transfer per device
        for i, row in zip(indices, values):
            results[i] = tuple(row)
    return results


def frozen_value(value: Any) -> Any:
    """A comparable stand-in for a module attribute (tensors by shape and content, the unhashable by repr)."""
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), value.dtype, tensor_statistics([value])[0])
    if isinstance(value, (tuple, list)):
        return tuple(frozen_value(item) for item in value)
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


_TENSOR_OR_NONE = "<a tensor or None>"


def _holds_tensor(value: Any, depth: int = 3) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    if depth and isinstance(value, (tuple, list, set, frozenset)):
        return any(_holds_tensor(item, depth - 1) for item in value)
    if depth and isinstance(value, dict):
        return any(_holds_tensor(item, depth - 1) for item in value.values())
    return False


def module_structure(model: nn.Module, ignored: frozenset[str] = _IGNORED_ATTRIBUTES,
                     tensor_attributes: bool = False) -> dict[str, tuple]:
    """Every module by name: its type, its class's ``forward`` and its public attributes (stride, padding, eps,
    negative_slope, inplace, an instance ``forward``, ...), except those in ``ignored``.

    Attributes that hold tensors (other than parameters and buffers, which :func:`named_tensors` lists) or None are
    all recorded as one value unless ``tensor_attributes``: a model that keeps its last activations in one
    (``self.features = x``, None before the first call) would otherwise change with every call, and the split never
    reads them (a traced ``forward`` that reads a plain tensor attribute is refused by :func:`~.graph.plan`)."""
    def frozen(value: Any) -> Any:
        if not tensor_attributes and (value is None or isinstance(value, torch.fx.Proxy) or _holds_tensor(value)):
            return _TENSOR_OR_NONE  # None too: such attributes start as None (and a Proxy while torch.fx traces)
        return frozen_value(value)

    return {
        name: (type(module), type(module).forward,
               tuple(sorted((key, frozen(value)) for key, value in vars(module).items()
                            if not key.startswith("_") and key not in ignored)))
        for name, module in model.named_modules()
    }


def named_tensors(model: nn.Module) -> list[tuple[str, str, torch.Tensor]]:
    """``(kind, name, tensor)`` of every parameter and buffer, kind ``"parameter"`` or ``"buffer"``."""
    return [*(("parameter", name, t) for name, t in model.named_parameters()),
            *(("buffer", name, t) for name, t in model.named_buffers())]


def _hook_name(hook: Any) -> str:
    name = getattr(hook, "__qualname__", None) or getattr(hook, "__name__", None) or type(hook).__name__
    return name.replace(".<locals>", "")


def forward_hooks(model: nn.Module) -> list[str]:
    """Every forward hook and forward pre-hook that runs when ``model`` is called, described for an error message:
    those registered on any of its modules (``module.register_forward_hook`` / ``register_forward_pre_hook``, also
    what the old ``torch.nn.utils.weight_norm`` and ``spectral_norm`` register) and the global ones
    (``torch.nn.modules.module.register_module_forward_hook`` / ``register_module_forward_pre_hook``) but those of
    torch's own module trackers, which only observe.

    Backward hooks are not listed: they change the gradients autograd reports, never the function ``f`` the model
    computes, and the split computes its own sensitivities of ``f`` (paper B.3), which no backward hook touches."""
    found = []
    for name, module in model.named_modules():
        where = f"module {name!r} ({type(module).__name__})" if name else f"the model itself ({type(module).__name__})"
        for kind, hooks in (("forward pre-hook", module._forward_pre_hooks), ("forward hook", module._forward_hooks)):
            for hook in hooks.values():
                found.append(f"{where} has a {kind} ({_hook_name(hook)})")
    from torch.nn.modules import module as module_module

    for kind, attribute in (("forward pre-hook", "_global_forward_pre_hooks"), ("forward hook", "_global_forward_hooks")):
        for hook in getattr(module_module, attribute, {}).values():
            if _observes_only(hook):
                continue
            found.append(f"a global {kind} ({_hook_name(hook)}) is registered for every module")
    return found


def _observes_only(hook: Any) -> bool:
    """A global hook of torch's own module trackers (``torch.utils.module_tracker``, used by ``FlopCounterMode``):
    they record which module runs and return nothing, so profiling a split is not refused."""
    return (getattr(hook, "__module__", None) or "").startswith(("torch.utils.", "torch.distributed._tools."))


@dataclass(frozen=True)
class ModelFingerprint:
    """What defines the function of a model in eval mode, as recorded by :func:`fingerprint`."""

    structure: dict[str, tuple]
    tensors: dict[tuple[str, str], tuple]  # (kind, name) -> (shape, dtype, device, statistics)
    hooks: tuple[str, ...]

    def changes(self, now: "ModelFingerprint", limit: int = 5) -> list[str]:
        """What differs in ``now`` from this fingerprint, in words (at most ``limit`` items, then a count)."""
        found: list[str] = []
        for name in [*self.structure, *(n for n in now.structure if n not in self.structure)]:
            shown = f"module {name!r}" if name else "the model itself"
            if name not in now.structure:
                found.append(f"{shown} was removed")
            elif name not in self.structure:
                found.append(f"{shown} ({now.structure[name][0].__name__}) was added")
            else:
                (old_type, old_forward, old_attributes), (new_type, new_forward, new_attributes) = (
                    self.structure[name], now.structure[name])
                if old_type is not new_type:
                    found.append(f"{shown} was replaced ({old_type.__name__} → {new_type.__name__})")
                elif old_forward is not new_forward:
                    found.append(f"the forward of {old_type.__name__} ({shown}) was replaced")
                elif old_attributes != new_attributes:
                    old, new = dict(old_attributes), dict(new_attributes)
                    keys = sorted(key for key in old.keys() | new.keys() if old.get(key, None) != new.get(key, None)
                                  or (key in old) != (key in new))
                    found.append(f"attribute(s) {', '.join(keys)} of {shown} changed")
        for key in [*self.tensors.keys(), *(k for k in now.tensors.keys() if k not in self.tensors)]:
            kind, name = key
            if key not in now.tensors:
                found.append(f"{kind} {name!r} was removed")
            elif key not in self.tensors:
                found.append(f"{kind} {name!r} was added")
            else:
                (old_shape, old_dtype, old_device, old_stats), (new_shape, new_dtype, new_device, new_stats) = (
                    self.tensors[key], now.tensors[key])
                if old_shape != new_shape:
                    found.append(f"{kind} {name!r} changed shape {old_shape} → {new_shape}")
                elif old_dtype != new_dtype:
                    found.append(f"{kind} {name!r} changed dtype {old_dtype} → {new_dtype}")
                elif old_device != new_device:
                    found.append(f"{kind} {name!r} moved from {old_device} to {new_device}")
                elif old_stats != new_stats:
                    found.append(f"{kind} {name!r} changed values")
        found += [f"{hook} (registered since)" for hook in now.hooks if hook not in self.hooks]
        if len(found) > limit:
            found = [*found[:limit], f"... and {len(found) - limit} more"]
        return found


def fingerprint(model: nn.Module) -> ModelFingerprint:
    """The :class:`ModelFingerprint` of ``model`` now: one pass of three sums over each parameter and buffer."""
    tensors = named_tensors(model)
    statistics = tensor_statistics([t for _, _, t in tensors])
    return ModelFingerprint(
        structure=module_structure(model),
        tensors={(kind, name): (tuple(t.shape), t.dtype, str(t.device), stats)
                 for (kind, name, t), stats in zip(tensors, statistics)},
        hooks=tuple(forward_hooks(model)),
    )
