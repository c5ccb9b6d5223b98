"""Handwritten-digit data for the self-explaining models of paper section F, scaled to [0, 1].

* :func:`load_digits_split` (default): the 1,797 8x8 digits shipped with scikit-learn
  (``sklearn.datasets.load_digits``, UCI optical recognition of handwritten digits), available
  offline. Intensities 0..16 are divided by 16. Fixed stratified split: 30 % test with
  ``split_seed=0`` (1,257 train / 540 test images), independent of the training seed.
* :func:`load_mnist_split`: MNIST (the paper's data set [PN]) from a **local** copy in
  torchvision's layout ``<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``;
  nothing is downloaded. Intensities 0..255 are divided by 255; the official train/test split.

Both return a :class:`DigitSplit` of flat float32 tensors (``x`` in [0, 1], ``y`` int64).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class DigitSplit:
    """A train/test split of flattened images ``(N, side*side)`` in [0, 1] and labels ``(N,)``."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    image_shape: tuple[int, int]

    @property
    def in_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def num_classes(self) -> int:
        return int(torch.cat([self.y_train, self.y_test]).max()) + 1

    def __post_init__(self) -> None:
        for part in ("x_train", "x_test"):
            x = getattr(self, part)
            if x.ndim != 2 or x.shape[1] != self.image_shape[0] * self.image_shape[1]:
                raise ValueError(f"{part} must have shape (N, {self.image_shape[0] * self.image_shape[1]}), got {tuple(x.shape)}")
            if x.numel() and (float(x.min()) < 0 or float(x.max()) > 1):
                raise ValueError(f"{part} must be scaled to [0, 1], got [{float(x.min())}, {float(x.max())}]")
        if len(self.x_train) != len(self.y_train) or len(self.x_test) != len(self.y_test):
            raise ValueError("images and labels differ in length")


def load_digits_split(test_fraction: float = 0.3, split_seed: int = 0) -> DigitSplit:
    """The scikit-learn 8x8 digits, divided by 16, stratified split with a fixed seed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    digits = load_digits()
    images = (digits.data / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=test_fraction, random_state=split_seed, stratify=digits.target
    )
    return DigitSplit(
        "digits",
        torch.from_numpy(x_train),
        torch.from_numpy(y_train.astype(np.int64)),
        torch.from_numpy(x_test),
        torch.from_numpy(y_test.astype(np.int64)),
        (8, 8),
    )


def load_mnist_split(
    root: str | os.PathLike = "data", train_limit: int | None = None, test_limit: int | None = None
) -> DigitSplit:
    """MNIST from a local torchvision copy at ``root`` (never downloads), divided by 255.

    Read through :func:`hidden_monotonicity.data.mnist` and flattened. ``train_limit``/``test_limit`` keep the
    first n images (for quick runs). Raises ``FileNotFoundError`` naming the missing files and where they go.
    """
    from ..data.mnist import mnist  # the one home of reading a local MNIST copy (file check, torchvision)

    train, test = mnist(root, "train"), mnist(root, "test")

    def flat(dataset, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = dataset.data, dataset.targets
        if limit is not None:
            images, labels = images[:limit], labels[:limit]
        return images.reshape(len(images), -1).float() / 255.0, labels.long()

    x_train, y_train = flat(train, train_limit)
    x_test, y_test = flat(test, test_limit)
    side = int(train.data.shape[-1])
    return DigitSplit("mnist", x_train, y_train, x_test, y_test, (side, side))


def load_dataset(name: str = "digits", root: str | os.PathLike = "data", **kwargs) -> DigitSplit:
    """``"digits"`` -> :func:`load_digits_split`, ``"mnist"`` -> :func:`load_mnist_split`."""
    if name == "digits":
        return load_digits_split(**kwargs)
    if name == "mnist":
        return load_mnist_split(root, **kwargs)
    raise ValueError(f"unknown dataset {name!r}; choose 'digits' (offline, default) or 'mnist' (local copy)")
