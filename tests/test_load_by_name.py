"""Loading by name: ``hm.models.load(name, allow_random_init=...)`` and ``hm.data.load(name, split, ...)``."""

from __future__ import annotations

import pytest
import torch

from hidden_monotonicity import data, models


def test_missing_weights_raise_unless_random_init_is_allowed(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "CHECKPOINT_DIR", tmp_path)  # no committed checkpoint here
    with pytest.raises(models.WeightsNotFoundError, match="benchmark_vgg"):
        models.load("benchmark_vgg")
    state_before = torch.random.get_rng_state()
    with pytest.warns(UserWarning, match="randomly initialised benchmark_vgg \\(seed 3\\)"):
        model = models.load("benchmark_vgg", allow_random_init=True, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state_before)  # the global random state is untouched
    assert model.weights_source == "random init (seed 3; weights not available)" and not model.training
    with pytest.warns(UserWarning):
        again = models.load("benchmark_vgg", allow_random_init=True, seed=3)
        other = models.load("benchmark_vgg", allow_random_init=True, seed=4)
    first = next(iter(model.state_dict().values()))
    assert torch.equal(first, next(iter(again.state_dict().values())))
    assert not torch.equal(first, next(iter(other.state_dict().values())))


def test_weights_source_says_where_the_weights_came_from(tmp_path):
    assert models.load("benchmark_vgg").weights_source == "trained checkpoint benchmark_vgg.pt"
    assert models.load("benchmark_vgg", weights=None).weights_source == "random init (weights=None)"
    path = tmp_path / "vgg.pt"
    torch.save(models.load("benchmark_vgg", weights=None).state_dict(), path)
    assert models.load("benchmark_vgg", weights=path).weights_source == f"weights file {path}"


def test_data_load_dispatches_on_the_dataset_name(tmp_path):
    digits = data.load("digits", "val", n=3, size=32, seed=0)
    direct = data.digits_benchmark("val", n=3, size=32, seed=0)
    assert torch.equal(torch.as_tensor(digits.images), torch.as_tensor(direct.images))
    assert list(digits.labels) == list(direct.labels)
    with pytest.raises(ValueError, match="needs data_dir"):
        data.load("imagenet_s", "test", n=1)
    with pytest.raises(ValueError, match="unknown dataset 'cifar'; choose one of digits, imagenet_s"):
        data.load("cifar", "test")
    with pytest.raises(ValueError, match="positive number of images"):
        data.load("digits", "test", n=0)
    assert set(data.LOADERS) >= {"digits", "imagenet_s"}
