"""Reading state-dict files for the model zoo: one error type for missing weights, clear errors for wrong files.

A file that :func:`read_state_dict` cannot read is classified before anything is said about it, so that a good
file is never called damaged:

* a ``map_location`` torch does not know (``'tpu'``) or a device this machine lacks (``'cuda'`` without a GPU)
  is reported as such, before the file is opened (:func:`check_map_location`);
* a file that unpickles but holds Python objects besides tensors (``torch.save(model)`` instead of
  ``torch.save(model.state_dict())``, or a checkpoint with an ``argparse.Namespace``) is refused by
  ``weights_only=True``; the message names what it holds and how to convert it;
* only a file that is empty, truncated, fails its zip checks or is no ``torch.save`` file at all raises
  :class:`UnreadableWeightsError` ("damaged").
"""

from __future__ import annotations

import os
import re
import sys
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "UnreadableWeightsError",
    "WeightsNotFoundError",
    "check_map_location",
    "existing_weights_file",
    "load_state_strict",
    "read_state_dict",
]


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights are neither cached nor given as a file (and downloading was not allowed)."""


class UnreadableWeightsError(ValueError):
    """The weights file is damaged (empty, truncated, bad zip record) or was not written by ``torch.save``.

    ``reason`` is the diagnosis alone (e.g. "the file is empty"), for callers that give their own advice.
    """

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


def existing_weights_file(weights: str | os.PathLike[str], name: str) -> Path:
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(
            f"weights file for {name!r} not found: {path} does not exist or is not a file. "
            f"Pass the path of a state_dict saved with torch.save(model.state_dict(), path)."
        )
    return path


def check_map_location(map_location: Any) -> Any:
    """Return ``map_location`` unchanged if torch can map storages there on this machine, else raise ValueError.

    Strings and ``torch.device`` s are checked (a device type torch does not know, or one this machine cannot
    allocate on, such as ``'cuda'`` without a GPU or ``'cuda:3'`` with one GPU); ``None``, dicts and callables are
    passed to ``torch.load`` as they are. Without this check ``torch.load`` fails inside the file and the error
    reads as if the file were damaged.
    """
    if map_location is None or callable(map_location) or isinstance(map_location, Mapping):
        return map_location
    if not isinstance(map_location, (str, torch.device)):
        raise TypeError(
            f"map_location must be a device string such as 'cpu' or 'cuda', a torch.device, a dict or a callable, "
            f"got {type(map_location).__name__}"
        )
    alternatives = "'cpu' or 'cuda'" if torch.cuda.is_available() else "'cpu' (this machine has no usable CUDA device)"
    try:
        device = torch.device(map_location)
    except (RuntimeError, ValueError) as error:
        raise ValueError(
            f"map_location {str(map_location)!r} is not a device torch knows ({_first_line(error)}): use {alternatives}"
        ) from None
    try:
        torch.empty(0, device=device)
    except Exception as error:  # noqa: BLE001 - no driver (RuntimeError), no backend (NotImplementedError), bad ordinal
        raise ValueError(
            f"map_location {str(map_location)!r} is a device torch knows but cannot use on this machine "
            f"({type(error).__name__}: {_first_line(error)}): use {alternatives}"
        ) from None
    return map_location


def read_state_dict(path: Path, map_location: Any) -> Mapping[str, torch.Tensor]:
    """The state dict stored in ``path`` (``torch.load(..., weights_only=True)``; ``{"state_dict": ...}`` accepted).

    Raises:
        ValueError: bad ``map_location``; the file holds a pickled ``nn.Module`` or other Python objects (the
            message says how to convert it); the file holds something that is not a mapping.
        UnreadableWeightsError: the file is damaged or not a ``torch.save`` file.
    """
    path = Path(path)
    map_location = check_map_location(map_location)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - a damaged file fails in many ways (IndexError, EOFError, UnpicklingError, ...)
        raise _explain_load_failure(path, error) from error
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]  # also accept {"state_dict": ..., <metadata>} checkpoints
    if not isinstance(state, Mapping):
        raise ValueError(
            f"{path} does not hold a state_dict (found {type(state).__name__}); save the weights with "
            f"torch.save(model.state_dict(), path)"
        )
    return state


def load_state_strict(model: nn.Module, state: Mapping[str, torch.Tensor], name: str) -> None:
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(f"the weights do not fit the {name!r} architecture: {error}") from error


# ---------------------------------------------------------------------------- diagnosis of a failed torch.load
def _first_line(error: BaseException, limit: int = 200) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:limit]


def _explain_load_failure(path: Path, error: Exception) -> ValueError:
    """The error to raise when ``torch.load(path, weights_only=True)`` failed with ``error``."""
    refused = _refused_globals(path, error)
    if refused:
        convert = (
            f"if you trust the file, load it with torch.load({str(path)!r}, weights_only=False) and save only the "
            f"weights with torch.save(model.state_dict(), path)"
        )
        modules = [name for name in refused if _is_module_class(name)]
        if modules:
            top = next((name for name in refused if not name.startswith("torch.nn.modules.")), modules[0])
            return ValueError(
                f"{path} holds a whole pickled nn.Module ({top}, saved with torch.save(model)), not a state dict; "
                f"{convert}. The file is not damaged."
            )
        shown = ", ".join(refused[:5]) + (" ..." if len(refused) > 5 else "")
        return ValueError(
            f"{path} holds Python objects besides tensors ({shown}), which torch.load(weights_only=True) refuses "
            f"to unpickle; if you trust the file, load it with torch.load({str(path)!r}, weights_only=False) and "
            f"save only the state dict with torch.save(state_dict, path). The file is not damaged."
        )
    damage = _damage(path)
    if damage is not None:
        reason = f"{damage} ({type(error).__name__}: {_first_line(error)})"
        return UnreadableWeightsError(
            f"cannot read {path} as a PyTorch state_dict: the file is damaged: {reason}; delete it and train or download the "
            "weights again",
            reason,
        )
    return ValueError(
        f"cannot read {path} as a PyTorch state_dict ({type(error).__name__}: {_first_line(error)}); the file "
        f"passes the zip checks, so it may come from an incompatible torch version or hold an unexpected object"
    )


def _refused_globals(path: Path, error: Exception) -> list[str]:
    """Classes / functions that ``weights_only=True`` refused to unpickle (empty when that was not the failure)."""
    if "Weights only load failed" not in str(error):
        return []
    try:
        names = list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # noqa: BLE001 - legacy (non-zip) files: read the name from torch's message instead
        names = []
    return names or re.findall(r"GLOBAL ([\w.]+)", str(error))


def _is_module_class(qualified_name: str) -> bool:
    """Whether ``module.Class`` names an ``nn.Module`` subclass (resolved only from already imported modules)."""
    if qualified_name.startswith("torch.nn.modules."):
        return True
    module_name, _, attribute = qualified_name.rpartition(".")
    found = getattr(sys.modules.get(module_name), attribute, None)
    return isinstance(found, type) and issubclass(found, nn.Module)


def _damage(path: Path) -> str | None:
    """Why ``path`` is damaged or no ``torch.save`` file, or None when its container looks intact."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as error:
        return f"the file cannot be read ({error.strerror or error})"
    if size == 0:
        return "the file is empty"
    if head.startswith(b"PK"):  # torch.save's zip format (the default since torch 1.6)
        if not zipfile.is_zipfile(path):
            return "the zip archive has no central directory (the file is truncated)"
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as error:
            return f"the zip archive is damaged ({error})"
        if bad is not None:
            return f"the zip member {bad} fails its CRC check"
        if not any(name.endswith("/data.pkl") for name in names):
            return f"it is a zip archive but not one written by torch.save (no <name>/data.pkl; it holds {names[:3]})"
        return None
    if head.startswith(b"\x80"):  # legacy torch.save format: a pickle stream; it failed, so it is cut or corrupt
        return "the (legacy-format) pickle stream is truncated or corrupt"
    return f"it is not a file written by torch.save (it starts with {head!r})"
