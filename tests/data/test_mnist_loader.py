"""MNIST loader: clear error without a local copy, and reading IDX files in torchvision's layout."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from hidden_monotonicity.data import mnist
from hidden_monotonicity.data.mnist import MNIST_FILES


def _write_idx(path: Path, array: np.ndarray) -> None:
    """IDX format: magic (0, 0, 0x08 = ubyte, ndim), big-endian int32 sizes, raw bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _write_fixture(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    data = {}
    for prefix, n in (("train", 7), ("t10k", 3)):
        images = rng.integers(0, 256, size=(n, 28, 28))
        labels = rng.integers(0, 10, size=n)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        data[prefix] = (images, labels)
    return data


def test_missing_copy_names_the_files_and_the_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as error:
        mnist(tmp_path, "train")
    message = str(error.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    assert all(name in message for name in MNIST_FILES)
    assert "download=True" in message


def test_reads_a_local_copy(tmp_path: Path) -> None:
    expected = _write_fixture(tmp_path)
    train, test = mnist(tmp_path, "train"), mnist(tmp_path, "test")
    assert len(train) == 7 and len(test) == 3
    image, label = test[2]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    np.testing.assert_allclose(image[0].numpy(), expected["t10k"][0][2] / 255.0, atol=1e-6)
    assert label == int(expected["t10k"][1][2])


def test_bad_split_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="split"):
        mnist(tmp_path, "validation")
