"""``LocalisationDataset``: images + class labels + binary object masks, the input of every localisation metric.

Item ``i`` is ``(image, label, mask)``: ``image`` float32 ``(3, H, W)`` normalised with the per-channel
``mean`` / ``std`` of the dataset (so that both DC input streams ``relu(x)`` and ``relu(-x)`` are non-zero,
digest A.2 item 2), ``label`` an ``int`` class index and ``mask`` float32 ``(1, H, W)`` with values in {0, 1}
(1 = the labelled object; the Quantus ``s_batch`` layout).

A dataset holds its tensors in memory (``images=...``) or reads items on demand through a loader
(``loader=..., length=...``), as the ImageNet-S loader does; ``.images`` / ``.masks`` then read everything
once, on first access.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["LocalisationDataset"]

ItemLoader = Callable[[int], tuple[torch.Tensor, torch.Tensor]]


class LocalisationDataset(Dataset):
    """Images, labels and object masks for localisation benchmarks (see the module docstring).

    Args:
        images: ``(N, 3, H, W)`` float32 normalised images, or ``None`` with ``loader``.
        labels: ``(N,)`` class indices.
        masks: ``(N, 1, H, W)`` {0, 1} masks, or ``None`` with ``loader``.
        mean, std: per-channel normalisation constants that ``images`` were normalised with.
        class_names: name of every class index (``class_names[label]``).
        meta: provenance (seed, generator parameters, split, source, ...).
        loader: ``loader(i) -> (image, mask)`` for lazily read datasets (index into the full dataset).
        sample_info: per-sample numpy arrays of length N (e.g. source file, digit position); they follow
            :meth:`subset`.
    """

    def __init__(
        self,
        images: torch.Tensor | None,
        labels: torch.Tensor | Sequence[int],
        masks: torch.Tensor | None,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        class_names: Sequence[str],
        meta: dict[str, Any] | None = None,
        loader: ItemLoader | None = None,
        sample_info: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.labels = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
        n = len(self.labels)
        if (images is None or masks is None) and loader is None:
            raise ValueError("give images and masks, or a loader that reads them item by item")
        if images is not None:
            if images.ndim != 4 or images.shape[0] != n or images.shape[1] != 3:
                raise ValueError(f"images must be (N={n}, 3, H, W), got {tuple(images.shape)}")
            # one memory layout whatever produced the images (a freshly rendered split is channels-last, a cached one
            # is not): strided conv kernels round differently, which can flip max-pool ties and thus the explanations
            images = images.to(torch.float32).contiguous()
        if masks is not None:
            expected = (n, 1, *images.shape[2:]) if images is not None else None
            if masks.ndim != 4 or masks.shape[0] != n or masks.shape[1] != 1 or (
                expected is not None and tuple(masks.shape) != expected
            ):
                raise ValueError(f"masks must be (N={n}, 1, H, W) like the images, got {tuple(masks.shape)}")
            masks = masks.to(torch.float32).contiguous()
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f"mean and std need one value per RGB channel, got {mean} and {std}")
        self._images = images
        self._masks = masks
        self._loader = loader
        self._indices = np.arange(n)  # positions in the loader's numbering
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)
        self.class_names = list(class_names)
        self.meta = dict(meta or {})
        self.sample_info = {key: np.asarray(value) for key, value in (sample_info or {}).items()}
        for key, value in self.sample_info.items():
            if len(value) != n:
                raise ValueError(f"sample_info[{key!r}] has {len(value)} entries for {n} samples")

    # ------------------------------------------------------------------ torch Dataset protocol
    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, torch.Tensor]:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} samples")
        if self._images is not None and self._masks is not None:
            return self._images[index], int(self.labels[index]), self._masks[index]
        assert self._loader is not None
        image, mask = self._loader(int(self._indices[index]))
        return image, int(self.labels[index]), mask

    # ------------------------------------------------------------------ whole-dataset tensors
    @property
    def images(self) -> torch.Tensor:
        """``(N, 3, H, W)`` float32 normalised images (read on first access when lazy)."""
        if self._images is None:
            self._materialise()
        assert self._images is not None
        return self._images

    @property
    def masks(self) -> torch.Tensor:
        """``(N, 1, H, W)`` float32 masks in {0, 1} (read on first access when lazy)."""
        if self._masks is None:
            self._materialise()
        assert self._masks is not None
        return self._masks

    @property
    def targets(self) -> torch.Tensor:
        """The class each mask belongs to (the ``labels``; "targets" in pointing-game terms)."""
        return self.labels

    @property
    def is_lazy(self) -> bool:
        """True while images are read from disk item by item."""
        return self._images is None

    def _materialise(self) -> None:
        assert self._loader is not None
        pairs = [self._loader(int(i)) for i in self._indices]
        if not pairs:
            raise ValueError("the dataset is empty")
        self._images = torch.stack([image for image, _ in pairs]).to(torch.float32)
        self._masks = torch.stack([mask for _, mask in pairs]).to(torch.float32)

    # ------------------------------------------------------------------ helpers
    def denormalise(self, images: torch.Tensor) -> torch.Tensor:
        """Undo the normalisation: ``images * std + mean`` clipped to [0, 1] (for display).

        Accepts ``(3, H, W)`` or ``(N, 3, H, W)`` tensors (or numpy arrays).
        """
        tensor = torch.as_tensor(images, dtype=torch.float32)
        shape = (3, 1, 1) if tensor.ndim == 3 else (1, 3, 1, 1)
        mean = torch.tensor(self.mean, dtype=tensor.dtype).reshape(shape)
        std = torch.tensor(self.std, dtype=tensor.dtype).reshape(shape)
        return (tensor * std + mean).clamp(0.0, 1.0)

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """Apply the dataset's normalisation to images in [0, 1] (inverse of :meth:`denormalise`)."""
        tensor = torch.as_tensor(images, dtype=torch.float32)
        shape = (3, 1, 1) if tensor.ndim == 3 else (1, 3, 1, 1)
        mean = torch.tensor(self.mean, dtype=tensor.dtype).reshape(shape)
        std = torch.tensor(self.std, dtype=tensor.dtype).reshape(shape)
        return (tensor - mean) / std

    def subset(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> LocalisationDataset:
        """The samples at ``indices`` (in that order) as a new dataset; ``meta['subset']`` records them."""
        index = np.asarray(torch.as_tensor(indices).cpu(), dtype=np.int64).reshape(-1)
        if index.size and (index.min() < -len(self) or index.max() >= len(self)):
            raise IndexError(f"subset indices must lie in [0, {len(self)}), got {index.min()}..{index.max()}")
        index = index % max(len(self), 1)
        torch_index = torch.from_numpy(index)
        meta = copy.deepcopy(self.meta)
        meta["subset"] = index.tolist()
        if self._images is not None and self._masks is not None:
            subset = LocalisationDataset(
                self._images[torch_index],
                self.labels[torch_index],
                self._masks[torch_index],
                mean=self.mean,
                std=self.std,
                class_names=self.class_names,
                meta=meta,
                sample_info={key: value[index] for key, value in self.sample_info.items()},
            )
        else:
            subset = LocalisationDataset(
                None,
                self.labels[torch_index],
                None,
                mean=self.mean,
                std=self.std,
                class_names=self.class_names,
                meta=meta,
                loader=self._loader,
                sample_info={key: value[index] for key, value in self.sample_info.items()},
            )
            subset._indices = self._indices[index]
        return subset

    def __repr__(self) -> str:
        shape = "lazy" if self.is_lazy else f"{tuple(self._images.shape[1:])}"  # type: ignore[union-attr]
        return (
            f"LocalisationDataset(n={len(self)}, images={shape}, classes={len(self.class_names)}, "
            f"split={self.meta.get('split')!r}, source={self.meta.get('source')!r})"
        )
