"""Datasets (digest section D.1): the offline digits localisation benchmark, ImageNet-S-50 and MNIST.

* :func:`digits_benchmark` - real handwritten digits (scikit-learn) on real photographs (scikit-image),
  with stroke masks; ships offline, used by the tests and notebooks.
* :func:`imagenet_s` - ImageNet-S-50 validation images and masks from a local copy (the paper's data).
* :func:`mnist` - torchvision MNIST from a local copy.
* :func:`natural_photos` - the nine photos shipped inside installed packages, in [0, 1];
  :func:`grid_pointing_game` - mosaics of them with exact one-cell masks (localisation on a real ImageNet network).

:class:`LocalisationDataset` items are ``(image (3,H,W) normalised, label, mask (1,H,W) in {0,1})``.
"""

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
from .natural import NATURAL_PHOTO_CLASSES, NATURAL_PHOTO_SOURCES, NaturalPhotos, grid_pointing_game, natural_photos

__all__ = [
    "DIGITS_MEAN",
    "DIGITS_STD",
    "IMAGENET_MEAN",
    "IMAGENET_S50_TO_IMAGENET",
    "IMAGENET_S50_WNIDS",
    "IMAGENET_STD",
    "LocalisationDataset",
    "NATURAL_PHOTO_CLASSES",
    "NATURAL_PHOTO_SOURCES",
    "NaturalPhotos",
    "digits_benchmark",
    "grid_pointing_game",
    "imagenet_s",
    "imagenet_s_split",
    "mnist",
    "natural_photos",
    "source_digit_pools",
]
