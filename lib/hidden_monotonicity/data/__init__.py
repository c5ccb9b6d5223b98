"""Datasets (digest section D.1): the offline digits localisation benchmark, ImageNet-S-50 and MNIST.

* :func:`digits_benchmark` - real handwritten digits (scikit-learn) on real photographs (scikit-image),
  with stroke masks; ships offline, used by the tests and notebooks.
* :func:`imagenet_s` - ImageNet-S-50 validation images and masks from a local copy (the paper's data).
* :func:`mnist` - torchvision MNIST from a local copy.
* :func:`natural_photos` - the nine photos shipped inside installed packages, in [0, 1];
  :func:`grid_pointing_game` - mosaics of them with exact one-cell masks (localisation on a real ImageNet network).
* :func:`load` - any localisation dataset by name (``"digits"``, ``"imagenet_s"``, ``"grid_pointing_game"``); :data:`LOADERS` maps
  each name to its loader, so a new dataset is one entry there.

:class:`LocalisationDataset` items are ``(image (3,H,W) normalised, label, mask (1,H,W) in {0,1})``.
"""

import numbers
import os
from typing import Any, Callable

from .digits_benchmark import DIGITS_MEAN, DIGITS_STD, digits_benchmark, source_digit_pools
from .imagenet_s import (
    IMAGENET_MEAN,
    IMAGENET_S50_TO_IMAGENET,
    IMAGENET_S50_WNIDS,
    IMAGENET_STD,
    imagenet_s,
    imagenet_s_split,
)
from .localisation import LocalisationDataset
from .mnist import mnist
from .natural import (
    NATURAL_PHOTO_CLASSES,
    NATURAL_PHOTO_SOURCES,
    NaturalPhotos,
    grid_pointing_game,
    load_grid_pointing_game,
    natural_photos,
)


def _load_digits(split: str, n: int | None, data_dir: str | os.PathLike | None, **kwargs: Any) -> LocalisationDataset:
    return digits_benchmark(split, n=n, **kwargs)  # rendered offline; data_dir is not used


def _load_imagenet_s(split: str, n: int | None, data_dir: str | os.PathLike | None, **kwargs: Any) -> LocalisationDataset:
    if data_dir is None:
        raise ValueError(
            "dataset 'imagenet_s' needs data_dir, the folder holding the ImageNet-S-50 copy (on the command line: "
            "--data-dir PATH; see hidden_monotonicity.data.imagenet_s for the layout)"
        )
    full = imagenet_s(data_dir, split, **kwargs)
    return full if n is None or n >= len(full) else full.subset(range(n))


#: Dataset name -> loader ``(split, n, data_dir, **kwargs) -> LocalisationDataset`` (used by :func:`load`).
LOADERS: dict[str, Callable[..., LocalisationDataset]] = {
    "digits": _load_digits,
    "imagenet_s": _load_imagenet_s,
    "grid_pointing_game": load_grid_pointing_game,
}


def load(
    name: str, split: str = "test", *, n: int | None = None, data_dir: str | os.PathLike | None = None, **kwargs: Any
) -> LocalisationDataset:
    """The localisation dataset ``name`` (a key of :data:`LOADERS`): the first ``n`` images of ``split``.

    ``"digits"`` -> :func:`digits_benchmark` ``(split, n=n, **kwargs)`` (``size``, ``seed``, ``mask``,
    ``cache_dir``, ...; offline); ``"imagenet_s"`` -> :func:`imagenet_s` ``(data_dir, split, **kwargs)``
    (``image_size``, ``n_val``, ...), cut to its first ``n`` images. ``n=None``: the whole split (digits:
    the split's default size). Fewer than ``n`` available: all of them.
    """
    try:
        loader = LOADERS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(LOADERS)}") from None
    if n is not None and (isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1):
        raise ValueError(f"n must be a positive number of images or None, got {n!r}")
    return loader(split, n, data_dir, **kwargs)


__all__ = [
    "DIGITS_MEAN",
    "DIGITS_STD",
    "IMAGENET_MEAN",
    "IMAGENET_S50_TO_IMAGENET",
    "IMAGENET_S50_WNIDS",
    "IMAGENET_STD",
    "LOADERS",
    "LocalisationDataset",
    "NATURAL_PHOTO_CLASSES",
    "NATURAL_PHOTO_SOURCES",
    "NaturalPhotos",
    "digits_benchmark",
    "grid_pointing_game",
    "imagenet_s",
    "imagenet_s_split",
    "load",
    "mnist",
    "natural_photos",
    "source_digit_pools",
]
