"""Model zoo: benchmark architectures are torchvision VGG/ResNet; weight loading never hangs offline."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.models import VGG, ResNet, resnet18
from torchvision.models.resnet import BasicBlock

from hidden_monotonicity import models
from hidden_monotonicity.data import digits_benchmark
from hidden_monotonicity.training import evaluate_accuracy


@pytest.fixture()
def empty_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache, and a download function that fails the test if it is ever called."""
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))

    def no_download(*args, **kwargs):
        raise AssertionError("load() must not try to download without download=True")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    yield tmp_path / "hub"
    torch.hub.set_dir(previous)


def test_benchmark_vgg_is_a_torchvision_vgg() -> None:
    model = models.benchmark_vgg()
    assert isinstance(model, VGG) and type(model).forward is VGG.forward
    names = dict(model.named_modules())
    assert isinstance(names["features.0"], nn.Conv2d) and isinstance(names["features.1"], nn.ReLU)
    assert any(isinstance(m, nn.MaxPool2d) for m in model.features)
    assert isinstance(names["classifier.6"], nn.Linear) and names["classifier.6"].out_features == 10
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)
    # the last feature map is 2x2, so the adaptive average pool is a no-op as in VGG16 at 224x224
    assert model.features(torch.randn(1, 3, 64, 64)).shape[-2:] == (2, 2)


def test_benchmark_resnet_is_a_torchvision_resnet_with_basic_blocks() -> None:
    model = models.benchmark_resnet(num_classes=7)
    assert isinstance(model, ResNet) and type(model).forward is ResNet.forward
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 4  # one per stage
    assert blocks[0].downsample is None and all(b.downsample is not None for b in blocks[1:])
    names = dict(model.named_modules())
    for name in ("conv1", "bn1", "relu", "maxpool", "layer1.0.conv1", "layer2.0.downsample.0", "layer4.0.bn2", "fc"):
        assert name in names
    assert isinstance(names["layer1.0.relu"], nn.ReLU)
    assert len([m for m in models.benchmark_resnet(blocks=(2, 2, 2, 2)).modules() if isinstance(m, BasicBlock)]) == 8
    assert model(torch.randn(3, 3, 64, 64)).shape == (3, 7)


def test_benchmark_models_are_small() -> None:
    for build in (models.benchmark_vgg, models.benchmark_resnet):
        parameters = sum(p.numel() for p in build().parameters())
        assert parameters * 4 < 5e6  # float32 checkpoint below ~5 MB


def test_offline_imagenet_weights_fail_at_once_with_instructions(empty_hub: Path) -> None:
    for name, file_name in (("vgg16", "vgg16-397923af.pth"), ("resnet18", "resnet18-f37072fd.pth")):
        start = time.perf_counter()
        with pytest.raises(models.WeightsNotFoundError) as error:
            models.load(name)
        assert time.perf_counter() - start < 1.0  # checks the file before building the model; no network
        message = str(error.value)
        assert file_name in message and str(empty_hub / "checkpoints") in message and "download=True" in message
        assert models.imagenet_weights_path(name) == empty_hub / "checkpoints" / file_name


def test_imagenet_weights_from_cache_and_from_explicit_file(empty_hub: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    reference = resnet18()
    explicit = tmp_path / "my_resnet18.pth"
    torch.save(reference.state_dict(), explicit)
    loaded = models.load("resnet18", weights=explicit)
    assert not loaded.training
    for (name, a), (_, b) in zip(reference.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    cached = models.imagenet_weights_path("resnet18")
    cached.parent.mkdir(parents=True)
    explicit.rename(cached)
    from_cache = models.load("resnet18")
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(from_cache(x), reference.eval()(x))


def test_download_is_only_used_when_asked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    calls = []
    state = resnet18().state_dict()

    def fake_download(url, **kwargs):
        calls.append(url)
        return state

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    try:
        models.load("resnet18", download=True)
    finally:
        torch.hub.set_dir(previous)
    assert calls == ["https://download.pytorch.org/models/resnet18-f37072fd.pth"]


def test_bad_names_and_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown model"):
        models.load("alexnet")
    with pytest.raises(models.WeightsNotFoundError, match="does not exist"):
        models.load("benchmark_vgg", weights=tmp_path / "missing.pt")
    wrong = tmp_path / "wrong.pt"
    torch.save(models.benchmark_resnet().state_dict(), wrong)
    with pytest.raises(ValueError, match="do not fit"):
        models.load("benchmark_vgg", weights=wrong)
    assert not models.load("benchmark_resnet", weights=None).training


@pytest.mark.parametrize("name", ["benchmark_vgg", "benchmark_resnet"])
def test_committed_checkpoints_load_and_classify_the_test_split(name: str) -> None:
    path = models.checkpoint_path(name)
    assert path.is_file(), f"missing committed checkpoint {path}"
    assert path.stat().st_size < 5.5e6
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["model"] == name and record["test_accuracy"] >= 0.95
    model = models.load(name)
    assert not model.training
    test = digits_benchmark("test", n=200, seed=record["data"]["test"]["seed"])
    assert evaluate_accuracy(model, test) >= 0.9
