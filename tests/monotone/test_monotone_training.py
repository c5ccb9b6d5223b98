"""Training on the real sklearn digits, seeding, checkpoints and the data loaders."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from hidden_monotonicity.monotone import (
    DigitSplit,
    evaluate_accuracy,
    load_checkpoint,
    load_dataset,
    load_digits_split,
    load_mnist_split,
    make_model,
    train_model,
)
from hidden_monotonicity.monotone.experiment import zero_weight_fraction


@pytest.mark.parametrize(
    ("kind", "constraint", "architecture", "epochs", "minimum"),
    [
        ("dm", "clamp", "mlp", 8, 0.85),
        ("dic", "softplus", "mlp", 4, 0.90),
        ("dm", "exp", "cnn", 3, 0.60),
    ],
)
def test_short_training_beats_chance_by_a_wide_margin(digits, kind, constraint, architecture, epochs, minimum):
    """Chance is 0.1 (10 balanced classes); a few epochs must reach far above it, with the
    constraints intact after every projected step."""
    model = make_model(0, kind=kind, constraint=constraint, architecture=architecture)
    result = train_model(model, digits, epochs=epochs, seed=0, progress=False)
    assert result.test_accuracy >= minimum, result.test_accuracy
    assert result.test_accuracy == pytest.approx(evaluate_accuracy(model, digits.x_test, digits.y_test))
    assert model.constraint_violation() == 0.0
    assert len(result.history) == epochs
    assert result.history[-1]["loss"] < result.history[0]["loss"]


def test_projection_produces_exact_zeros_and_reparameterisation_does_not(digits):
    clamp = train_model(make_model(0, kind="dm", constraint="clamp"), digits, epochs=2, seed=0, progress=False).model
    soft = train_model(make_model(0, kind="dm", constraint="softplus"), digits, epochs=2, seed=0, progress=False).model
    assert zero_weight_fraction(clamp) > 0.01
    assert zero_weight_fraction(soft) == 0.0
    assert np.isnan(zero_weight_fraction(make_model(0, kind="unconstrained")))


def test_training_is_reproducible_for_a_seed_and_differs_across_seeds(digits):
    small = DigitSplit("digits", digits.x_train[:300], digits.y_train[:300], digits.x_test[:100], digits.y_test[:100], (8, 8))
    runs = [train_model(make_model(s, kind="dic", hidden=(16, 16)), small, epochs=2, seed=s, progress=False) for s in (1, 1, 2)]
    first, again, other = (r.model(small.x_test).detach() for r in runs)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("kind", ("dic", "lmn"))
def test_checkpoint_round_trip(digits, tmp_path, kind):
    path = tmp_path / "nested" / f"monotone_{kind}.pt"
    model = make_model(0, kind=kind, hidden=(16, 16))
    result = train_model(model, digits, epochs=1, seed=0, progress=False, checkpoint_path=path, checkpoint_every=1)
    assert result.checkpoint == path and path.is_file()
    loaded, metadata = load_checkpoint(path)
    assert metadata["epoch"] == 1 and metadata["dataset"] == "digits"
    assert metadata["test_accuracy"] == pytest.approx(result.test_accuracy)
    assert loaded.config() == model.config()
    torch.testing.assert_close(loaded(digits.x_test), model(digits.x_test), rtol=0, atol=0)


def test_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a MonotoneDifference checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_training_rejects_mismatched_data(digits):
    with pytest.raises(ValueError, match="expects 784 features"):
        train_model(make_model(0, in_features=784), digits, epochs=1, progress=False)
    with pytest.raises(ValueError, match="learning_rate"):
        train_model(make_model(0), digits, epochs=1, learning_rate=-1.0, progress=False)


# ---------------------------------------------------------------------- data
def test_digits_split_is_fixed_stratified_and_scaled(digits):
    assert (len(digits.x_train), len(digits.x_test)) == (1257, 540)
    assert digits.in_features == 64 and digits.num_classes == 10 and digits.image_shape == (8, 8)
    assert float(digits.x_train.min()) == 0.0 and float(digits.x_train.max()) == 1.0
    assert digits.x_train.dtype == torch.float32 and digits.y_train.dtype == torch.int64
    again = load_digits_split()
    assert torch.equal(again.x_test, digits.x_test) and torch.equal(again.y_test, digits.y_test)
    counts = torch.bincount(digits.y_test, minlength=10).double()
    totals = counts + torch.bincount(digits.y_train, minlength=10).double()
    assert bool(((counts - 0.3 * totals).abs() <= 1).all())  # stratified: 30 % of every class
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits_split(test_fraction=1.5)
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("cifar")


def _write_idx(path, array: np.ndarray) -> None:
    """Write an array in the IDX format of the MNIST files (magic: 0x08 = ubyte, ndim)."""
    with open(path, "wb") as handle:
        handle.write(struct.pack(">HBB", 0, 0x08, array.ndim))
        handle.write(struct.pack(f">{array.ndim}I", *array.shape))
        handle.write(array.astype(np.uint8).tobytes())


def test_local_mnist_copy_in_torchvision_layout(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    train_images, test_images = rng.integers(0, 256, (12, 28, 28)), rng.integers(0, 256, (5, 28, 28))
    train_images[0, 0, 0], train_images[0, 0, 1] = 0, 255
    _write_idx(raw / "train-images-idx3-ubyte", train_images)
    _write_idx(raw / "train-labels-idx1-ubyte", np.arange(12) % 10)
    _write_idx(raw / "t10k-images-idx3-ubyte", test_images)
    _write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(5))
    split = load_mnist_split(tmp_path, train_limit=10)
    assert split.x_train.shape == (10, 784) and split.x_test.shape == (5, 784)
    assert split.image_shape == (28, 28) and split.name == "mnist"
    assert float(split.x_train[0, 0]) == 0.0 and float(split.x_train[0, 1]) == 1.0
    np.testing.assert_allclose(split.x_test.numpy(), test_images.reshape(5, -1) / 255.0, rtol=1e-6)
    assert split.y_train.tolist() == list(np.arange(10) % 10)
    # a 28x28 DIC CNN trains on it end to end
    model = make_model(0, kind="dic", in_features=784, architecture="cnn", hidden=(2, 2))
    assert 0.0 <= train_model(model, split, epochs=1, progress=False).test_accuracy <= 1.0


def test_missing_mnist_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist_split(tmp_path)


def test_digit_split_validates_its_tensors():
    x = torch.rand(4, 64)
    y = torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match=r"scaled to \[0, 1\]"):
        DigitSplit("bad", x * 16, y, x, y, (8, 8))
    with pytest.raises(ValueError, match="shape"):
        DigitSplit("bad", x, y, x[:, :60], y, (8, 8))
    with pytest.raises(ValueError, match="differ in length"):
        DigitSplit("bad", x, y[:3], x, y, (8, 8))


REPO = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["monotone_dm_mlp_seed0.pt", "monotone_dic_mlp_seed0.pt", "monotone_dm_cnn_seed0.pt"])
def test_shipped_checkpoints_reproduce_their_recorded_accuracy(digits, name):
    """The checkpoints written by run_experiment load and give the accuracy stored in them."""
    path = REPO / "data" / "checkpoints" / name
    if not path.is_file():
        pytest.skip(f"{path} not generated (run hm.monotone.run_experiment())")
    model, metadata = load_checkpoint(path)
    assert metadata["dataset"] == "digits" and metadata["epoch"] == 30
    assert evaluate_accuracy(model, digits.x_test, digits.y_test) == pytest.approx(metadata["test_accuracy"], abs=1e-6)
    assert model.constraint_violation() == 0.0
