"""models.load says what is wrong with a weights file or a map_location; only a damaged file is called damaged
(issue 24: a bad map_location or a whole pickled model used to be reported as a damaged file to delete)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

from hidden_monotonicity import models


@pytest.fixture()
def good_file(tmp_path: Path) -> Path:
    path = tmp_path / "vgg.pt"
    torch.save(models.benchmark_vgg().state_dict(), path)
    return path


def _assert_not_blamed_on_the_file(message: str) -> None:
    assert "damaged" not in message.replace("not damaged", "") and "delete" not in message


@pytest.mark.parametrize("location", ["tpu", "tpu:0", "gpu"])
def test_unknown_map_location_is_named_and_the_file_is_not_blamed(good_file: Path, location: str) -> None:
    with pytest.raises(ValueError, match=rf"map_location '{location}' is not a device torch knows \(.*\): use 'cpu'") as error:
        models.load("benchmark_vgg", weights=good_file, map_location=location)
    _assert_not_blamed_on_the_file(str(error.value))
    # the committed checkpoint too, and the file still loads with a valid location
    with pytest.raises(ValueError, match="map_location 'tpu' is not a device torch knows"):
        models.load("benchmark_vgg", map_location="tpu")
    assert models.load("benchmark_vgg", weights=good_file, map_location="cpu").weights_source == f"weights file {good_file}"


def test_unusable_device_is_named(good_file: Path) -> None:
    # no machine has 100 CUDA devices: without a GPU torch finds no driver, with one the ordinal is invalid
    with pytest.raises(ValueError, match=r"map_location 'cuda:99' is a device torch knows but cannot use on this machine") as error:
        models.load("benchmark_vgg", weights=good_file, map_location="cuda:99")
    _assert_not_blamed_on_the_file(str(error.value))
    with pytest.raises(ValueError, match="map_location 'tpu'"):
        models.load("efficientnet_lite0", weights=good_file, map_location="tpu")


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_whole_pickled_model_says_how_to_convert_it(tmp_path: Path, zip_format: bool) -> None:
    model = models.benchmark_vgg()
    path = tmp_path / "whole.pt"
    torch.save(model, path, _use_new_zipfile_serialization=zip_format)
    for name in ("benchmark_vgg", "efficientnet_lite0"):  # the packaged model's loader does not say "reinstall" either
        with pytest.raises(ValueError) as error:
            models.load(name, weights=path)
        message = str(error.value)
        assert str(path) in message and "pickled nn.Module" in message and "BenchmarkVGG" in message
        assert "weights_only=False" in message and "torch.save(model.state_dict(), path)" in message
        assert "reinstall" not in message and not isinstance(error.value, models.UnreadableWeightsError)
        _assert_not_blamed_on_the_file(message)
    # following the advice gives a file that loads
    converted = tmp_path / "converted.pt"
    torch.save(torch.load(path, weights_only=False).state_dict(), converted)
    loaded = models.load("benchmark_vgg", weights=converted)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))


def test_checkpoint_with_other_objects_names_them(tmp_path: Path) -> None:
    path = tmp_path / "with_args.pt"
    torch.save({"state_dict": models.benchmark_vgg().state_dict(), "args": argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(ValueError, match=r"Python objects besides tensors \(argparse\.Namespace\).*weights_only=False") as error:
        models.load("benchmark_vgg", weights=path)
    _assert_not_blamed_on_the_file(str(error.value))


def test_only_a_damaged_file_is_called_damaged(good_file: Path, tmp_path: Path) -> None:
    data = good_file.read_bytes()
    cases = {
        "truncated.pt": (data[: len(data) // 2], "truncated"),
        "empty.pt": (b"", "empty"),
        "text.pt": (b"hello, not weights", "not a file written by torch.save"),
        "arrays.npz": (None, "zip archive but not one written by torch.save"),
    }
    for file_name, (content, reason) in cases.items():
        path = tmp_path / file_name
        if content is None:  # a zip archive of another kind
            np.savez(path, weights=np.zeros(3))
        else:
            path.write_bytes(content)
        with pytest.raises(models.UnreadableWeightsError, match=reason) as error:
            models.load("benchmark_vgg", weights=path)
        assert str(path) in str(error.value) and "delete it" in str(error.value)
