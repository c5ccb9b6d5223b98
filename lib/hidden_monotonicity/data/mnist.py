"""MNIST through torchvision, from a local copy only (digest section F, the monotone-network experiment).

Expected files (torchvision's layout; the ``.gz`` archives are not needed)::

    <root>/MNIST/raw/train-images-idx3-ubyte   <root>/MNIST/raw/train-labels-idx1-ubyte
    <root>/MNIST/raw/t10k-images-idx3-ubyte    <root>/MNIST/raw/t10k-labels-idx1-ubyte

Images come as float32 ``(1, 28, 28)`` tensors in [0, 1] (no mean/std normalisation: the monotone models
use ``x`` and ``1 - x`` as their two non-negative inputs).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

__all__ = ["MNIST_FILES", "mnist"]

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def mnist(
    root: str | Path,
    split: Literal["train", "test"] = "train",
    *,
    transform: Callable[[Any], Any] | None = None,
    download: bool = False,
):
    """``torchvision.datasets.MNIST`` for ``split`` read from ``root`` (items ``(image, label)``).

    Args:
        root: folder that contains ``MNIST/raw/`` (see the module docstring).
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000).
        transform: applied to the PIL image; default ``ToTensor()`` (float32 in [0, 1]).
        download: let torchvision download the files when they are missing (needs internet).

    Raises:
        FileNotFoundError: the raw files are missing (the message lists them and where they go).
    """
    from torchvision import datasets, transforms

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    raw = Path(root).expanduser() / "MNIST" / "raw"
    missing = [name for name in MNIST_FILES if not (raw / name).is_file()]
    if missing and not download:
        raise FileNotFoundError(
            f"MNIST is not available under {Path(root)}: missing {', '.join(missing)} in {raw}. "
            f"Copy the four uncompressed IDX files there (torchvision's layout), or call "
            f"mnist(root, split, download=True) on a machine with internet access."
        )
    return datasets.MNIST(
        str(Path(root).expanduser()),
        train=split == "train",
        transform=transforms.ToTensor() if transform is None else transform,
        download=download,
    )
