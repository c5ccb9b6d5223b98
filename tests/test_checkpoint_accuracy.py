"""The committed checkpoints' accuracies recomputed from the data, independently of the training code: our own
forward passes and arg-max count on the test splits, compared with a fixed floor and with the numbers the training
code recorded (which could otherwise be wrong together with the code that wrote them)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hidden_monotonicity import models
from hidden_monotonicity.data import digits_benchmark
from hidden_monotonicity.monotone import load_checkpoint

CHECKPOINTS = models.checkpoint_path("benchmark_vgg").parent


def _count_correct(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int = 250) -> int:
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), batch):
            logits = model(images[start : start + batch])
            correct += int((logits.argmax(dim=1) == labels[start : start + batch]).sum())
    return correct


@pytest.mark.parametrize("name", ["benchmark_vgg", "benchmark_resnet"])
def test_benchmark_checkpoint_accuracy_on_the_whole_test_split(name):
    record = json.loads(models.checkpoint_path(name).with_suffix(".json").read_text())
    settings = record["data"]["test"]
    data = digits_benchmark("test", n=settings["n"], seed=settings["seed"], size=settings["generator"]["size"],
                            mask=settings["mask"])
    images = torch.as_tensor(np.asarray(data.images), dtype=torch.float32)
    labels = torch.as_tensor(np.asarray(data.labels)).long()
    assert len(labels) == 1000 and set(labels.tolist()) == set(range(10))
    accuracy = _count_correct(models.load(name), images, labels) / len(labels)
    assert accuracy >= 0.95, f"{name}: {accuracy:.3f} on the digits test split"
    assert record["test_accuracy"] == pytest.approx(accuracy, abs=0.5 / len(labels))


@pytest.mark.parametrize("name", ["monotone_dm_mlp_seed0", "monotone_dic_mlp_seed0", "monotone_dm_cnn_seed0",
                                  "monotone_dic_cnn_seed0"])
def test_monotone_checkpoint_accuracy_on_the_sklearn_digits_test_split(name):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    path = CHECKPOINTS / f"{name}.pt"
    if not path.is_file():
        pytest.skip(f"{path} not generated (run hm.monotone.run_experiment())")
    digits = load_digits()
    _, x_test, _, y_test = train_test_split(digits.data / 16.0, digits.target, test_size=0.3, random_state=0,
                                            stratify=digits.target)
    images = torch.as_tensor(x_test, dtype=torch.float32)
    labels = torch.as_tensor(y_test).long()
    model, metadata = load_checkpoint(path)
    accuracy = _count_correct(model, images, labels) / len(labels)
    assert len(labels) == 540
    assert accuracy >= 0.95, f"{name}: {accuracy:.3f} on the 8x8 digits test split"
    assert metadata["test_accuracy"] == pytest.approx(accuracy, abs=0.5 / len(labels))
