"""Datasets (digest section D.1): the offline digits localisation benchmark, ImageNet-S-50 and MNIST.

* :func:`digits_benchmark` - real handwritten digits (scikit-learn) on real photographs (scikit-image),
  with stroke masks; ships offline, used by the tests and notebooks.
* :func:`imagenet_s` - ImageNet-S-50 validation images and masks from a local copy (the paper's data).
* :func:`mnist` - torchvision MNIST from a local copy.

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

__all__ = [
    "DIGITS_MEAN",
    "DIGITS_STD",
    "IMAGENET_MEAN",
    "IMAGENET_S50_TO_IMAGENET",
    "IMAGENET_S50_WNIDS",
    "IMAGENET_STD",
    "LocalisationDataset",
    "digits_benchmark",
    "imagenet_s",
    "imagenet_s_split",
    "mnist",
    "source_digit_pools",
]
