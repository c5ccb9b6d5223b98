"""Training of the benchmark classifiers (seeded Adam, early stopping on validation accuracy).

``train_classifier`` trains any classifier on ``(image, label, ...)`` datasets; ``train_benchmark_model``
trains ``benchmark_vgg`` / ``benchmark_resnet`` on the digits benchmark and writes the checkpoint
(``data/checkpoints/<name>.pt``, a plain ``state_dict``) and a JSON record next to it (accuracies, seed,
epochs, wall time, data parameters). Command line::

    python -m hidden_monotonicity.training --model benchmark_vgg
    python -m hidden_monotonicity train --model all        # same, through the package CLI
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .environment import seed_everything

__all__ = [
    "evaluate_accuracy",
    "main",
    "predict",
    "predict_logits",
    "random_affine_and_channel_permutation",
    "seed_everything",
    "train_benchmark_model",
    "train_classifier",
]


def _tensors(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(images, labels)`` of an in-memory dataset (LocalisationDataset, TensorDataset), else None."""
    images = getattr(dataset, "images", None)
    labels = getattr(dataset, "labels", None)
    if isinstance(images, torch.Tensor) and isinstance(labels, torch.Tensor):
        return images, labels
    tensors = getattr(dataset, "tensors", None)
    if isinstance(tensors, tuple) and len(tensors) >= 2:
        return tensors[0], tensors[1]
    return None


def _batches(dataset: Dataset, batch_size: int, *, shuffle: bool = False, generator: torch.Generator | None = None):
    """Yield ``(images, labels)`` batches; in-memory datasets are sliced directly (no per-item overhead)."""
    tensors = _tensors(dataset)
    if tensors is not None:
        images, labels = tensors
        order = torch.randperm(len(labels), generator=generator) if shuffle else torch.arange(len(labels))
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            yield images[index], labels[index]
        return
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)
    for batch in loader:
        yield batch[0], torch.as_tensor(batch[1])


@torch.no_grad()
def predict_logits(
    model: nn.Module, data: Dataset | torch.Tensor, *, batch_size: int = 256, device: str | torch.device | None = None
) -> torch.Tensor:
    """Logits of ``model`` on ``data`` in eval mode (switched back afterwards), in batches of ``batch_size``.

    ``data`` is an input tensor ``(N, ...)`` or a dataset with items ``(image, label, ...)``. The one home of
    "run a classifier over a data set" for the benchmark classifiers and the monotone models. ``device``: where
    the inputs go (default: the device of the model's first parameter, else the input's). Returns the logits
    on the CPU.
    """
    if device is None:
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else None
    if isinstance(data, torch.Tensor):
        batches = (data[start : start + batch_size] for start in range(0, len(data), batch_size))
    else:
        batches = (images for images, _ in _batches(data, batch_size))
    was_training = model.training
    model.eval()
    try:
        logits = [model(images if device is None else images.to(device)).cpu() for images in batches]
    finally:
        model.train(was_training)
    if not logits:
        return torch.empty(0, 0)
    return torch.cat(logits)


def predict(model: nn.Module, data: Dataset | torch.Tensor, *, batch_size: int = 256, device: str | torch.device | None = None) -> torch.Tensor:
    """Predicted class of every sample (arg-max of :func:`predict_logits`), int64 on the CPU."""
    logits = predict_logits(model, data, batch_size=batch_size, device=device)
    return logits.argmax(dim=1) if len(logits) else torch.empty(0, dtype=torch.int64)


def evaluate_accuracy(
    model: nn.Module,
    data: Dataset | torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> float:
    """Top-1 accuracy of ``model`` in eval mode on a dataset (items ``(image, label, ...)``) or on an input tensor
    with its ``labels``."""
    if isinstance(data, torch.Tensor):
        if labels is None or len(labels) != len(data):
            raise ValueError("an input tensor needs labels of the same length: evaluate_accuracy(model, x, y)")
        truth = torch.as_tensor(labels).cpu()
    else:
        if labels is not None:
            raise ValueError("labels are taken from the dataset's items; pass labels only with an input tensor")
        truth = torch.cat([torch.as_tensor(y) for _, y in _batches(data, batch_size)]) if len(data) else torch.empty(0)
    if len(truth) == 0:
        raise ValueError("cannot evaluate accuracy on an empty dataset")
    return int((predict(model, data, batch_size=batch_size, device=device) == truth).sum()) / len(truth)


def random_affine_and_channel_permutation(
    max_rotation_deg: float = 12.0,
    scale_range: tuple[float, float] = (0.9, 1.1),
    max_shear: float = 0.15,
    max_shift: float = 0.15,
) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    """Batch augmentation for the digits benchmark: a random affine warp per image (rotation, scale,
    shear, shift as a fraction of the half-width; bilinear, border padding) and a random permutation of
    its RGB channels (a colour swap that keeps the digit/background contrast). The warp varies the digit
    shapes, which is what generalising to unseen writers needs."""

    def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, channels, height, width = images.shape

        def uniform(low: float, high: float) -> torch.Tensor:
            return low + (high - low) * torch.rand(n, generator=generator)

        angle = uniform(-max_rotation_deg, max_rotation_deg) * torch.pi / 180
        scale = uniform(*scale_range)
        shear = uniform(-max_shear, max_shear)
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack(
            [
                torch.stack([cos, -sin + shear * cos, uniform(-max_shift, max_shift)], dim=1),
                torch.stack([sin, cos + shear * sin, uniform(-max_shift, max_shift)], dim=1),
            ],
            dim=1,
        ).to(images.dtype)
        grid = F.affine_grid(theta, [n, channels, height, width], align_corners=False)
        warped = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
        order = torch.argsort(torch.rand(n, channels, generator=generator), dim=1)
        return torch.gather(warped, 1, order[:, :, None, None].expand(-1, -1, height, width))

    return augment


def train_classifier(
    model: nn.Module,
    train_set: Dataset | Callable[[int], Dataset],
    val_set: Dataset,
    *,
    epochs: int = 12,
    lr: float = 2e-3,
    batch_size: int = 64,
    seed: int = 0,
    patience: int = 3,
    device: str | torch.device = "cpu",
    checkpoint: str | Path | None = None,
    test_set: Dataset | None = None,
    weight_decay: float = 1e-4,
    max_time_s: float | None = None,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    label_smoothing: float = 0.0,
    channels_last: bool = False,
    progress: bool = True,
    verbose: bool = True,
) -> dict[str, Any]:
    """Train ``model`` with AdamW (one-cycle cosine schedule peaking at ``lr``) and cross-entropy.

    After every epoch the validation accuracy is measured; the weights of the best epoch are restored
    at the end, and training stops early after ``patience`` epochs without improvement, or when
    ``max_time_s`` is exceeded. Everything random (batch order, augmentation, dropout) is seeded with
    ``seed``; the initial weights are the caller's.

    Args:
        train_set: items ``(image, label, ...)``; or ``epoch -> dataset`` for freshly drawn training data
            every epoch (epochs count from 1).
        augment: ``augment(images, generator) -> images`` applied to every training batch, e.g.
            :func:`random_affine_and_channel_permutation`.
        channels_last: train in channels-last memory format (faster on CPU); the returned model is
            converted back.
        progress / verbose: tqdm bar per epoch / one summary line per epoch on stderr.

    Returns:
        ``{"history": [per-epoch dict], "best_epoch", "epochs_run", "val_accuracy", "test_accuracy"
        (None without ``test_set``), "wall_time_s", "seed", "lr", "batch_size", "stopped"}``.
    """
    if epochs < 1 or batch_size < 1 or patience < 1:
        raise ValueError(f"epochs, batch_size and patience must be positive, got {epochs}, {batch_size}, {patience}")
    from tqdm.auto import tqdm

    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    model.to(device)
    if channels_last:  # faster convolutions on CPU (oneDNN); undone before returning
        model.to(memory_format=torch.channels_last)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    first_train_set = train_set(1) if callable(train_set) and not isinstance(train_set, Dataset) else train_set
    n_train = len(first_train_set)  # type: ignore[arg-type]
    steps_per_epoch = max(1, -(-n_train // batch_size))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.15, anneal_strategy="cos"
    )
    best_accuracy, best_epoch, best_state = -1.0, 0, None
    history: list[dict[str, float]] = []
    stopped = "epochs"
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        epoch_start = time.perf_counter()
        loss_sum = correct = seen = 0.0
        epoch_set = first_train_set if epoch == 1 or first_train_set is train_set else train_set(epoch)  # type: ignore[operator]
        bar = tqdm(total=n_train, desc=f"epoch {epoch}/{epochs}", disable=not progress, leave=False, unit="img")
        for images, labels in _batches(epoch_set, batch_size, shuffle=True, generator=generator):
            if augment is not None:
                images = augment(images, generator)
            images, labels = images.to(device), labels.to(device)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            logits = model(images)
            loss = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            loss_sum += float(loss.detach()) * len(labels)
            correct += float((logits.argmax(dim=1) == labels).sum())
            seen += len(labels)
            bar.update(len(labels))
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}")
        bar.close()
        val_accuracy = evaluate_accuracy(model, val_set, device=device)
        record = {
            "epoch": epoch,
            "train_loss": loss_sum / max(seen, 1),
            "train_accuracy": correct / max(seen, 1),
            "val_accuracy": val_accuracy,
            "seconds": time.perf_counter() - epoch_start,
        }
        history.append(record)
        if verbose:
            print(
                f"epoch {epoch}: loss {record['train_loss']:.4f}  train acc {record['train_accuracy']:.4f}  "
                f"val acc {val_accuracy:.4f}  ({record['seconds']:.1f} s)",
                file=sys.stderr,
            )
        if val_accuracy > best_accuracy:
            best_accuracy, best_epoch = val_accuracy, epoch
            best_state = {key: value.detach().clone() for key, value in model.state_dict().items()}
        elif epoch - best_epoch >= patience:
            stopped = "early_stopping"
            break
        if max_time_s is not None and time.perf_counter() - start > max_time_s:
            stopped = "time_limit"
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    model.eval()
    wall_time = time.perf_counter() - start
    result: dict[str, Any] = {
        "history": history,
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "val_accuracy": best_accuracy,
        "test_accuracy": evaluate_accuracy(model, test_set, device=device) if test_set is not None else None,
        "wall_time_s": wall_time,
        "seed": seed,
        "lr": lr,
        "batch_size": batch_size,
        "weight_decay": weight_decay,
        "stopped": stopped,
    }
    if checkpoint is not None:
        path = Path(checkpoint)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({key: value.cpu() for key, value in model.state_dict().items()}, path)
        result["checkpoint"] = str(path)
    return result


#: Training recipe of the committed checkpoints (per model; the data are the default digits splits).
#: ``augment`` holds the arguments of :func:`random_affine_and_channel_permutation`.
_AUGMENT = {"max_rotation_deg": 10.0, "scale_range": (0.9, 1.1), "max_shear": 0.1, "max_shift": 0.1}
BENCHMARK_RECIPES: dict[str, dict[str, Any]] = {
    "benchmark_vgg": {
        "epochs": 35, "lr": 2e-3, "batch_size": 64, "patience": 10, "weight_decay": 1e-4,
        "augment": _AUGMENT, "channels_last": True,
    },
    "benchmark_resnet": {
        "epochs": 35, "lr": 2e-3, "batch_size": 64, "patience": 10, "weight_decay": 1e-4,
        "augment": _AUGMENT, "channels_last": True,
    },
}


def train_benchmark_model(
    name: str,
    *,
    seed: int = 0,
    out_dir: str | Path | None = None,
    data_seed: int = 0,
    cache_dir: str | Path | None = None,
    threads: int | None = 1,
    progress: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """Train ``benchmark_vgg`` or ``benchmark_resnet`` on the default digits splits; write ``.pt`` + ``.json``.

    ``overrides`` replace entries of :data:`BENCHMARK_RECIPES` (``epochs``, ``lr``, ``batch_size``,
    ``patience``, ``weight_decay``, ``augment`` (None = off), ``channels_last``, ``max_time_s``). Returns
    the record that is written as JSON.

    One thread is the default on purpose: on a CPU shared with other jobs, two OpenMP threads that
    spin-wait on each other made training up to 15x slower than one thread in our measurements.
    """
    from . import models
    from .data import digits_benchmark

    if name not in BENCHMARK_RECIPES:
        raise ValueError(f"unknown benchmark model {name!r}; choose one of {sorted(BENCHMARK_RECIPES)}")
    if threads is not None:
        torch.set_num_threads(int(threads))
    recipe = {**BENCHMARK_RECIPES[name], **overrides}
    load_before = _load_average()
    data_start = time.perf_counter()
    splits = {split: digits_benchmark(split, seed=data_seed, cache_dir=cache_dir) for split in ("train", "val", "test")}
    data_seconds = time.perf_counter() - data_start
    seed_everything(seed)
    model = models.load(name, weights=None)  # the registered builder, randomly initialised (train_classifier trains it)
    checkpoint = models.checkpoint_path(name) if out_dir is None else Path(out_dir) / f"{name}.pt"
    training_options = dict(recipe)
    augment_options = training_options.pop("augment", None)
    result = train_classifier(
        model,
        splits["train"],
        splits["val"],
        seed=seed,
        checkpoint=checkpoint,
        test_set=splits["test"],
        progress=progress,
        augment=None if augment_options is None else random_affine_and_channel_permutation(**augment_options),
        **training_options,
    )
    record = {
        "model": name,
        "test_accuracy": result["test_accuracy"],
        "val_accuracy": result["val_accuracy"],
        "best_epoch": result["best_epoch"],
        "epochs_run": result["epochs_run"],
        "stopped": result["stopped"],
        "train_wall_time_s": round(result["wall_time_s"], 1),
        "data_generation_s": round(data_seconds, 1),
        "seed": seed,
        "recipe": recipe,
        "history": result["history"],
        "parameters": sum(p.numel() for p in model.parameters()),
        "checkpoint_bytes": checkpoint.stat().st_size,
        "data": {
            split: {key: dataset.meta[key] for key in ("source", "split", "seed", "n", "mask", "generator_version", "generator", "normalisation")}
            for split, dataset in splits.items()
        },
        "normalisation": {"mean": list(splits["train"].mean), "std": list(splits["train"].std)},
        "environment": {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "load_average_1min_before": load_before,
            "load_average_1min_after": _load_average(),
        },
    }
    checkpoint.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def _load_average() -> float | None:
    """1-minute system load (other jobs on the CPU slow training down), None where unavailable."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: train the benchmark models (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="hidden_monotonicity.training", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="all", choices=[*BENCHMARK_RECIPES, "all"], help="model to train")
    parser.add_argument("--seed", type=int, default=0, help="training seed (initial weights, batch order)")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the digits benchmark")
    parser.add_argument("--out", default=None, help="output folder (default: data/checkpoints)")
    parser.add_argument("--cache-dir", default=None, help="cache folder for the rendered benchmark (e.g. data/cache)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a shared CPU)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--patience", type=int, default=None)
    parser.add_argument("--max-time", type=float, default=None, help="stop after this many seconds of training")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(list(argv) if argv is not None else None)
    overrides = {
        key: value
        for key, value in {
            "epochs": args.epochs,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "patience": args.patience,
            "max_time_s": args.max_time,
        }.items()
        if value is not None
    }
    names = list(BENCHMARK_RECIPES) if args.model == "all" else [args.model]
    for name in names:
        record = train_benchmark_model(
            name,
            seed=args.seed,
            out_dir=args.out,
            data_seed=args.data_seed,
            cache_dir=args.cache_dir,
            threads=args.threads,
            progress=not args.quiet,
            **overrides,
        )
        print(
            f"{name}: test accuracy {record['test_accuracy']:.4f}, val accuracy {record['val_accuracy']:.4f}, "
            f"{record['epochs_run']} epochs, {record['train_wall_time_s']} s training"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
