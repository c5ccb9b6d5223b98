"""Where the evaluation's models, data and explanations come from.

:class:`EvaluationBackend` bundles the six functions the runner calls; :func:`default_backend`
wires the library (``hm.models.load``, ``hm.data.load``, ``hm.explain``, the layer candidates of
:mod:`hidden_monotonicity.methods.layers`); tests plug in stand-ins. :class:`Samples` is one split of
a profile's dataset as numpy arrays in Quantus's layout.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..methods.layers import layer_candidates
from .profiles import EvaluationProfile


@dataclass
class EvaluationBackend:
    """The pieces the runner uses; :func:`default_backend` wires the library, tests plug stand-ins.

    ``load_model(name, allow_random_init, seed) -> (model, weights description)``;
    ``load_split(profile, split, data_dir) -> LocalisationDataset`` (``.images``, ``.labels``,
    ``.masks``); ``explain(model, x, targets, method, **params) -> (N,1,H,W) tensor``;
    ``quantus_explain_func(model, inputs, targets, **kwargs) -> (N,1,H,W) array``;
    ``method_spec(name)`` -> object with ``.needs_layer`` and ``.parameters`` (dict, optional);
    ``layer_candidates(model, spec, example) -> [layer names]`` in network order (layer rules resolve
    on it; ``example`` is one input image batch on the model's device).
    """

    load_model: Callable[[str, bool, int], tuple[nn.Module, str]]
    load_split: Callable[[EvaluationProfile, str, str | None], Any]
    explain: Callable[..., torch.Tensor]
    quantus_explain_func: Callable[..., np.ndarray]
    method_spec: Callable[[str], Any]
    layer_candidates: Callable[[nn.Module, Any, torch.Tensor], list[str]]


def load_profile_model(name: str, allow_random_init: bool, seed: int) -> tuple[nn.Module, str]:
    """``hm.models.load(name, allow_random_init=..., seed=...)`` and where its weights came from."""
    from .. import models

    model = models.load(name, allow_random_init=allow_random_init, seed=seed)
    return model, model.weights_source


def load_profile_split(profile: EvaluationProfile, split: str, data_dir: str | None) -> Any:
    """``hm.data.load(profile.dataset, split, n=..., data_dir=..., **profile.dataset_kwargs)``."""
    from .. import data

    n = profile.n_val if split == "val" else profile.n_test
    try:
        return data.load(profile.dataset, split, n=n, data_dir=data_dir, **dict(profile.dataset_kwargs))
    except ValueError as error:
        raise ValueError(f"profile {profile.name!r}: {error}") from error


def default_backend() -> EvaluationBackend:
    """The library's models, data and methods (``hm.models``, ``hm.data``, ``hm.explain``)."""
    from ..methods import registry

    return EvaluationBackend(
        load_model=load_profile_model,
        load_split=load_profile_split,
        explain=registry.explain,
        quantus_explain_func=registry.quantus_explain_func,
        method_spec=registry.get_method,
        layer_candidates=layer_candidates,
    )


@dataclass
class Samples:
    """One split as numpy arrays (Quantus's layout) plus sample indices."""

    split: str
    x: np.ndarray  # (N, 3, H, W) float32
    y: np.ndarray  # (N,) int64
    s: np.ndarray  # (N, 1, H, W) float32 in {0, 1}
    ids: np.ndarray  # (N,) int64, index within the split

    @classmethod
    def from_dataset(cls, dataset: Any, split: str, n: int | None) -> "Samples":
        total = len(dataset.labels)
        if n is not None and n > total:
            warnings.warn(f"the {split} split has {total} images, fewer than the {n} requested; using all", stacklevel=2)
        count = total if n is None else min(n, total)
        if count < total and hasattr(dataset, "subset"):
            dataset = dataset.subset(np.arange(count))
        images = torch.as_tensor(dataset.images)[:count]
        labels = torch.as_tensor(dataset.labels)[:count]
        masks = torch.as_tensor(dataset.masks)[:count]
        if images.ndim != 4 or masks.shape != (count, 1, *images.shape[2:]):
            raise ValueError(
                f"{split} split: images must be (N,C,H,W) and masks (N,1,H,W); got {tuple(images.shape)} and {tuple(masks.shape)}"
            )
        return cls(
            split=split,
            x=images.detach().cpu().numpy().astype(np.float32),
            y=labels.detach().cpu().numpy().astype(np.int64),
            s=masks.detach().cpu().numpy().astype(np.float32),
            ids=np.arange(count, dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.y)
