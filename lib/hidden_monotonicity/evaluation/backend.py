"""Where the evaluation's models, data and explanations come from.

:class:`EvaluationBackend` bundles the functions the runner calls; :func:`default_backend`
wires the library (``hm.models.load``, ``hm.data.load``, ``hm.explain``, the layer candidates of
:mod:`hidden_monotonicity.methods.layers`); tests plug in stand-ins. :class:`Samples` is one split of
a profile's dataset as numpy arrays in Quantus's layout.

Two choices of a profile are applied here: its ``weights`` (``"random"``: every model randomly initialised,
:func:`profile_model`) and the model-dependent test filter ``dataset_kwargs["test_filter"] == "correct"``
(:func:`correctly_classified`: each model is scored on the test images it classifies correctly).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..methods.layers import layer_candidates
from .profiles import EvaluationProfile
from .store import EvaluationSetupError


@dataclass
class EvaluationBackend:
    """The pieces the runner uses; :func:`default_backend` wires the library, tests plug stand-ins.

    ``load_model(name, allow_random_init, seed) -> (model, weights description)``;
    ``load_split(profile, split, data_dir) -> LocalisationDataset`` (``.images``, ``.labels``,
    ``.masks``); ``explain(model, x, targets, method, **params) -> (N,1,H,W) tensor``;
    ``quantus_explain_func(model, inputs, targets, **kwargs) -> (N,1,H,W) array``;
    ``method_spec(name)`` -> object with ``.needs_layer`` and ``.parameters`` (dict, optional);
    ``layer_candidates(model, spec, example) -> [layer names]`` in network order (layer rules resolve
    on it; ``example`` is one input image batch on the model's device);
    ``load_random_model(name, seed) -> (model, weights description)``: the model randomly initialised, used when
    the profile's ``weights`` is ``"random"`` (default: the library's models).
    """

    load_model: Callable[[str, bool, int], tuple[nn.Module, str]]
    load_split: Callable[[EvaluationProfile, str, str | None], Any]
    explain: Callable[..., torch.Tensor]
    quantus_explain_func: Callable[..., np.ndarray]
    method_spec: Callable[[str], Any]
    layer_candidates: Callable[[nn.Module, Any, torch.Tensor], list[str]]
    load_random_model: Callable[[str, int], tuple[nn.Module, str]] | None = None


def load_profile_model(name: str, allow_random_init: bool, seed: int) -> tuple[nn.Module, str]:
    """``hm.models.load(name, allow_random_init=..., seed=...)`` and where its weights came from."""
    from .. import models

    model = models.load(name, allow_random_init=allow_random_init, seed=seed)
    return model, model.weights_source


def load_random_profile_model(name: str, seed: int) -> tuple[nn.Module, str]:
    """``hm.models.load(name, weights=None)`` initialised under ``torch.manual_seed(seed)`` (the global random state is
    left alone): the model of a dry run (profile ``weights="random"``), whatever weights are cached."""
    from .. import models

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = models.load(name, weights=None)
    model.weights_source = f"random init (seed {seed}; profile weights='random', a dry run)"
    return model, model.weights_source


def profile_model(backend: EvaluationBackend, profile: EvaluationProfile, name: str) -> tuple[nn.Module, str]:
    """Model ``name`` with the weights ``profile.weights`` asks for: ``"default"`` -> ``backend.load_model`` (the
    published weights; ``allow_random_init`` falls back to random init when they are missing), ``"random"`` ->
    ``backend.load_random_model`` (random init with the profile's seed, even when weights are cached)."""
    if profile.weights == "random":
        return (backend.load_random_model or load_random_profile_model)(name, profile.seed)
    return backend.load_model(name, profile.allow_random_init, profile.seed)


#: Test filters that need the model (applied per model by the runner, not by the data loader).
MODEL_TEST_FILTERS: frozenset[str] = frozenset({"correct"})


def model_test_filter(profile: EvaluationProfile) -> str | None:
    """The profile's model-dependent test filter (``"correct"``) or None."""
    chosen = dict(profile.dataset_kwargs).get("test_filter")
    return chosen if chosen in MODEL_TEST_FILTERS else None


def loader_profile(profile: EvaluationProfile) -> EvaluationProfile:
    """``profile`` as the data loader sees it: a model-dependent ``test_filter`` is removed from ``dataset_kwargs``
    (the loader reads the unfiltered split; :func:`correctly_classified` filters it per model)."""
    if model_test_filter(profile) is None:
        return profile
    return profile.replace(dataset_kwargs={k: v for k, v in profile.dataset_kwargs.items() if k != "test_filter"})


def correctly_classified(model: nn.Module, samples: "Samples", n: int | None, device: str, model_name: str,
                         batch_size: int = 16) -> "Samples":
    """The first ``n`` (None: all) images of ``samples`` that ``model`` classifies correctly (argmax of the logits ==
    label), with their original sample ids; the count is printed.

    This is the guess "images the model classifies correctly" for the paper's 566 test images (digest D.1, H.9). It
    depends on the model, so it is applied per model: each model is scored on its own correctly classified images,
    the first ``n_test`` of them (the loader's other filters also run before the ``n_test`` cut). Comparisons pair
    methods within a model, so they stay paired. The fresh split (``fresh_test``) is not filtered. Raises ``EvaluationSetupError`` when no image is left (e.g. random
    weights, which classify almost nothing correctly: use ``test_filter`` ``"all"`` for a dry run).
    """
    predictions = []
    with torch.no_grad():
        for start in range(0, len(samples), batch_size):
            x = torch.as_tensor(samples.x[start:start + batch_size], device=device)
            predictions.append(model(x).argmax(dim=1).cpu().numpy())
    correct = np.flatnonzero(np.concatenate(predictions) == samples.y) if len(samples) else np.zeros(0, dtype=np.int64)
    kept = correct if n is None else correct[:n]
    print(f"test_filter='correct': {model_name} classifies {len(correct)} of {len(samples)} test images correctly; "
          f"scoring {len(kept)}")
    if len(kept) == 0:
        raise EvaluationSetupError(
            f"test_filter='correct': {model_name} classifies none of the {len(samples)} test images correctly, so "
            "nothing is left to score; random weights classify almost nothing correctly - use test_filter 'all' "
            "(--test-filter all) for a dry run"
        )
    return samples.select(kept)


def load_profile_split(profile: EvaluationProfile, split: str, data_dir: str | None) -> Any:
    """``hm.data.load(profile.dataset, split, n=..., data_dir=..., **profile.dataset_kwargs)``."""
    from .. import data

    n = profile.n_val if split == "val" else profile.n_test
    try:
        return data.load(profile.dataset, split, n=n, data_dir=data_dir, **dict(profile.dataset_kwargs))
    except ValueError as error:
        raise ValueError(f"profile {profile.name!r}: {error}") from error


def check_data_dir(profile: EvaluationProfile, data_dir: str | os.PathLike | None) -> None:
    """Raise a one-line error when ``profile``'s dataset is read from a folder that is not given or absent."""
    from .. import data

    if profile.dataset not in data.NEEDS_DATA_DIR:
        return
    if data_dir is None:
        raise EvaluationSetupError(
            f"profile {profile.name!r} evaluates the dataset {profile.dataset!r}, which is read from a local copy: "
            "pass its folder with --data-dir PATH (data_dir=...)"
        )
    if not Path(data_dir).expanduser().is_dir():
        raise EvaluationSetupError(f"the data folder {data_dir} (--data-dir) does not exist or is not a folder")


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
        load_random_model=load_random_profile_model,
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

    def select(self, positions: np.ndarray) -> "Samples":
        """The samples at ``positions`` (array indices), keeping their ids (the index within the unfiltered split)."""
        positions = np.asarray(positions, dtype=np.int64)
        return Samples(split=self.split, x=self.x[positions], y=self.y[positions], s=self.s[positions],
                       ids=self.ids[positions])
