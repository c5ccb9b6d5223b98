"""Reading state-dict files for the model zoo: one error type for missing weights, clear errors for wrong files."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

__all__ = ["WeightsNotFoundError", "existing_weights_file", "load_state_strict", "read_state_dict"]


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights are neither cached nor given as a file (and downloading was not allowed)."""


def existing_weights_file(weights: str | os.PathLike[str], name: str) -> Path:
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(
            f"weights file for {name!r} not found: {path} does not exist or is not a file. "
            f"Pass the path of a state_dict saved with torch.save(model.state_dict(), path)."
        )
    return path


def read_state_dict(path: Path, map_location: str | torch.device) -> Mapping[str, torch.Tensor]:
    state = torch.load(path, map_location=map_location, weights_only=True)
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]  # also accept {"state_dict": ..., <metadata>} checkpoints
    if not isinstance(state, Mapping):
        raise ValueError(f"{path} does not hold a state_dict (found {type(state).__name__})")
    return state


def load_state_strict(model: nn.Module, state: Mapping[str, torch.Tensor], name: str) -> None:
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(f"the weights do not fit the {name!r} architecture: {error}") from error
