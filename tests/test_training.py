"""Training loop: learns a separable problem, is seeded, stops early, writes checkpoints; the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from hidden_monotonicity import training
from hidden_monotonicity.training import evaluate_accuracy, predict, train_classifier


def _blobs(n: int, seed: int) -> TensorDataset:
    """Two classes of 3x8x8 images: bright top half (0) or bright bottom half (1), plus noise."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    images = 0.3 * torch.randn(n, 3, 8, 8, generator=generator)
    images[labels == 0, :, :4] += 1.0
    images[labels == 1, :, 4:] += 1.0
    return TensorDataset(images, labels)


class _ItemDataset(Dataset):
    """A dataset without tensors attributes (forces the DataLoader path), items (image, label, extra)."""

    def __init__(self, base: TensorDataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        image, label = self.base[i]
        return image, int(label), torch.zeros(1)


def _model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Dropout(0.1), nn.Flatten(), nn.Linear(256, 2))


def test_learns_a_separable_problem_and_restores_the_best_epoch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _model()
    train, val, test = _blobs(256, 0), _blobs(64, 1), _blobs(64, 2)
    assert evaluate_accuracy(model, val) < 0.9
    result = train_classifier(
        model, train, val, epochs=4, lr=1e-2, batch_size=32, seed=0, patience=3, checkpoint=tmp_path / "m.pt",
        test_set=test, progress=False, verbose=False,
    )
    assert result["test_accuracy"] >= 0.95 and result["val_accuracy"] >= 0.95
    best = max(h["val_accuracy"] for h in result["history"])
    assert result["val_accuracy"] == best == evaluate_accuracy(model, val)  # the best epoch's weights are kept
    assert not model.training
    assert set(result) >= {"history", "best_epoch", "val_accuracy", "test_accuracy", "wall_time_s", "seed"}
    restored = _model()
    restored.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    assert evaluate_accuracy(restored, val) == result["val_accuracy"]


def test_same_seed_gives_identical_weights_and_another_seed_does_not() -> None:
    def run(seed: int) -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = _model()
        train_classifier(model, _blobs(64, 0), _blobs(32, 1), epochs=2, lr=1e-2, batch_size=16, seed=seed, progress=False, verbose=False)
        return [p.detach().clone() for p in model.parameters()]

    first, second, other = run(3), run(3), run(4)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_early_stopping_when_validation_accuracy_stalls() -> None:
    torch.manual_seed(0)
    model = _model()
    result = train_classifier(
        model, _blobs(64, 0), _blobs(32, 1), epochs=10, lr=1e-12, batch_size=32, seed=0, patience=2, progress=False, verbose=False
    )
    assert result["stopped"] == "early_stopping"
    assert result["epochs_run"] == 3 and result["best_epoch"] == 1


def test_evaluation_matches_a_manual_count_on_the_dataloader_path() -> None:
    torch.manual_seed(1)
    model = _model().eval()
    data = _blobs(50, 3)
    with torch.no_grad():
        manual = float((model(data.tensors[0]).argmax(1) == data.tensors[1]).float().mean())
    assert evaluate_accuracy(model, _ItemDataset(data), batch_size=7) == pytest.approx(manual)
    assert torch.equal(predict(model, _ItemDataset(data), batch_size=9), model(data.tensors[0]).argmax(1))
    with pytest.raises(ValueError, match="empty"):
        evaluate_accuracy(model, _blobs(0, 0))


def test_one_evaluation_home_for_tensors_datasets_and_the_monotone_models() -> None:
    from hidden_monotonicity import monotone

    assert monotone.evaluate_accuracy is evaluate_accuracy and monotone.predict_logits is training.predict_logits
    torch.manual_seed(2)
    model = nn.Sequential(nn.Flatten(), nn.Linear(192, 2), nn.Dropout(0.5)).train()  # dropout: eval mode matters
    data = _blobs(21, 4)
    x, y = data.tensors
    logits = training.predict_logits(model, x, batch_size=4)
    assert model.training, "the training mode is restored"
    with torch.no_grad():
        torch.testing.assert_close(logits, model.eval()(x))
    model.train()
    torch.testing.assert_close(training.predict_logits(model, _ItemDataset(data), batch_size=5), logits)
    manual = int((logits.argmax(1) == y).sum()) / len(y)
    assert evaluate_accuracy(model, x, y, batch_size=3) == manual == evaluate_accuracy(model, data)
    with pytest.raises(ValueError, match="labels"):
        evaluate_accuracy(model, x)
    with pytest.raises(ValueError, match="labels"):
        evaluate_accuracy(model, data, y)


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        train_classifier(_model(), _blobs(8, 0), _blobs(8, 1), epochs=0, progress=False)


def test_command_line_passes_its_options(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calls = []

    def fake_train(name, **kwargs):
        calls.append((name, kwargs))
        return {"test_accuracy": 0.97, "val_accuracy": 0.96, "epochs_run": 3, "train_wall_time_s": 1.0}

    monkeypatch.setattr(training, "train_benchmark_model", fake_train)
    assert training.main(["--model", "all", "--seed", "5", "--epochs", "3", "--quiet"]) == 0
    assert [name for name, _ in calls] == ["benchmark_vgg", "benchmark_resnet"]
    assert calls[0][1]["seed"] == 5 and calls[0][1]["epochs"] == 3 and calls[0][1]["progress"] is False
    assert "test accuracy 0.9700" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        training.main(["--model", "alexnet"])
