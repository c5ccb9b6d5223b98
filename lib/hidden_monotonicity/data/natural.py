"""Natural photos that ship inside installed packages, and the grid pointing game built from them (offline).

* :func:`natural_photos` - the colour (and one grey) photographs that really are inside installed wheels:
  scikit-image's ``chelsea`` (a cat), ``coffee`` (a cup of espresso), ``rocket``, ``astronaut`` (Eileen Collins),
  ``camera`` (the grey "cameraman", replicated to RGB) and the left view of ``stereo_motorcycle``; scikit-learn's
  ``china`` (a temple) and ``flower``; matplotlib's ``grace_hopper``. Nine photos in all - the rest of those data
  folders are textures, microscopy, astronomy, text or drawings. Deterministic: shorter side resized to ``size``
  (bilinear, antialiased), centre crop.
* :func:`grid_pointing_game` - the grid pointing game (Böhle et al., "B-cos Networks", CVPR 2022; Rao et al.,
  "Towards Better Understanding Attribution Methods", CVPR 2022): a ``grid x grid`` mosaic of photos of distinct
  classes, each classified confidently by the model when shown alone; the target is the class of one cell and
  the ground-truth mask is exactly that cell, so an attribution's localisation is scored without human masks.

**How few photos.** Only the photos the model classifies confidently can be used (for EfficientNet-Lite0 at the
default ``min_confidence`` about six of the nine), so a 2x2 mosaic draws 4 of ~6 photos: every mosaic repeats
photos seen in other mosaics, only in new positions, crops and flips. Scores over n mosaics are therefore
correlated (far fewer independent samples than n), class-specific effects cannot be averaged out, and
differences between methods smaller than the spread over the few photos mean nothing. It is a sanity check of
localisation on real photos and a real ImageNet network, not an ImageNet benchmark.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models import imagenet_class_names
from .localisation import LocalisationDataset

__all__ = ["NATURAL_PHOTO_CLASSES", "NATURAL_PHOTO_SOURCES", "NaturalPhotos", "grid_pointing_game", "natural_photos"]

MIN_PHOTO_SIZE = 32


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def read() -> np.ndarray:
        import skimage.data

        return getattr(skimage.data, name)()

    return read


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    def read() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(name)

    return read


def _motorcycle() -> np.ndarray:
    import skimage.data

    return skimage.data.stereo_motorcycle()[0]  # left view; the right view is the same scene


def _grace_hopper() -> np.ndarray:
    import matplotlib.cbook
    import matplotlib.image

    return matplotlib.image.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


#: Photo name -> (package it ships in, reader returning an (H, W) or (H, W, 3) uint8 array).
NATURAL_PHOTO_SOURCES: dict[str, tuple[str, Callable[[], np.ndarray]]] = {
    "chelsea": ("scikit-image", _skimage("chelsea")),
    "coffee": ("scikit-image", _skimage("coffee")),
    "rocket": ("scikit-image", _skimage("rocket")),
    "astronaut": ("scikit-image", _skimage("astronaut")),
    "camera": ("scikit-image", _skimage("camera")),
    "motorcycle": ("scikit-image", _motorcycle),
    "china": ("scikit-learn", _sklearn("china.jpg")),
    "flower": ("scikit-learn", _sklearn("flower.jpg")),
    "grace_hopper": ("matplotlib", _grace_hopper),
}


#: ImageNet-1k classes that correctly describe each photo (a human judgement, written once): a cat photo is any of
#: the five domestic-cat classes 281-285, the coffee photo espresso 967 or cup 968, and so on. ``astronaut`` (a
#: portrait in a space suit) has no fitting ImageNet class. :func:`grid_pointing_game` only uses photos whose
#: top-1 class is one of these.
NATURAL_PHOTO_CLASSES: dict[str, tuple[int, ...]] = {
    "chelsea": (281, 282, 283, 284, 285),  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    "coffee": (967, 968),  # espresso, cup
    "rocket": (657, 744, 812),  # missile, projectile, space shuttle
    "astronaut": (),
    "camera": (759, 872),  # reflex camera, tripod
    "motorcycle": (665, 670),  # moped, motor scooter
    "china": (698, 832),  # palace, stupa
    "flower": (985,),  # daisy
    "grace_hopper": (652,),  # military uniform
}


@dataclass(frozen=True)
class NaturalPhotos:
    """``images`` (N, 3, S, S) float32 in [0, 1], ``names`` (N photo names), ``sources`` (the package of each)."""

    images: torch.Tensor
    names: list[str]
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, name: str) -> torch.Tensor:
        """The (3, S, S) image of the photo called ``name``."""
        if name not in self.names:
            raise KeyError(f"no photo {name!r}; the photos are {self.names}")
        return self.images[self.names.index(name)]


@lru_cache(maxsize=None)
def _photo_array(name: str) -> np.ndarray:
    """The original photo as (3, H, W) float32 in [0, 1] (read once per process)."""
    array = np.asarray(NATURAL_PHOTO_SOURCES[name][1]())
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    array = array[..., :3]
    scale = 255.0 if array.dtype == np.uint8 else 1.0
    return np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32) / np.float32(scale)


def _resize(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear, antialiased resize of (3, H, W) to (3, height, width), clipped to [0, 1]."""
    resized = F.interpolate(image[None], size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return resized[0].clamp(0.0, 1.0)


def _square_crop(image: torch.Tensor, size: int, top: int, left: int, side: int, flip: bool) -> torch.Tensor:
    """The ``side`` x ``side`` crop at (top, left), flipped left-right if asked, resized to ``size``."""
    crop = image[:, top : top + side, left : left + side]
    if flip:
        crop = crop.flip(-1)
    return _resize(crop, size, size)


def _check_size(size: int, what: str = "size") -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < MIN_PHOTO_SIZE:
        raise ValueError(f"{what} must be an integer of at least {MIN_PHOTO_SIZE} pixels, got {size!r}")
    return int(size)


def natural_photos(size: int = 224, names: Sequence[str] | None = None) -> NaturalPhotos:
    """The photos shipped inside installed packages (module docstring), shorter side resized to ``size``, centre crop.

    Args:
        size: side of the square images (at least 32).
        names: a subset of :data:`NATURAL_PHOTO_SOURCES` (default: all nine, in that order).
    """
    size = _check_size(size)
    chosen = list(NATURAL_PHOTO_SOURCES) if names is None else list(names)
    unknown = [name for name in chosen if name not in NATURAL_PHOTO_SOURCES]
    if unknown or not chosen:
        raise ValueError(f"unknown photo names {unknown or chosen}; choose from {list(NATURAL_PHOTO_SOURCES)}")
    images = []
    for name in chosen:
        photo = torch.from_numpy(_photo_array(name))
        height, width = photo.shape[1:]
        scale = size / min(height, width)
        new_height, new_width = max(size, round(height * scale)), max(size, round(width * scale))
        resized = _resize(photo, new_height, new_width)
        top, left = (new_height - size) // 2, (new_width - size) // 2
        images.append(resized[:, top : top + size, left : left + size])
    return NaturalPhotos(torch.stack(images), chosen, [NATURAL_PHOTO_SOURCES[name][0] for name in chosen])


def _normalisation(model: nn.Module, mean: Sequence[float] | None, std: Sequence[float] | None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The model's input normalisation: explicit ``mean``/``std``, else the model's ``input_mean``/``input_std``
    (EfficientNet-Lite), else the ImageNet statistics of the torchvision models."""
    from .imagenet_s import IMAGENET_MEAN, IMAGENET_STD

    mean = mean if mean is not None else getattr(model, "input_mean", IMAGENET_MEAN)
    std = std if std is not None else getattr(model, "input_std", IMAGENET_STD)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


@torch.no_grad()
def _probabilities(model: nn.Module, images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None else torch.float32
    logits = model(((images - mean) / std).to(device=device, dtype=dtype))
    return logits.softmax(-1).cpu().to(torch.float32)


def grid_pointing_game(
    model: nn.Module,
    n: int,
    grid: int = 2,
    size: int = 224,
    seed: int = 0,
    *,
    min_confidence: float = 0.25,
    min_crop: float = 0.7,
    views_per_photo: int = 8,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    class_names: Sequence[str] | None = None,
) -> LocalisationDataset:
    """``n`` mosaics of ``grid x grid`` photos of distinct classes; target = the class of one cell, mask = that cell.

    Protocol (all draws from ``numpy.random.default_rng([seed, grid, size])``):

    1. Eligible photos: each of :func:`natural_photos` at ``size`` whose top-1 class under ``model`` is one of its
       correct classes (:data:`NATURAL_PHOTO_CLASSES`) with probability >= ``min_confidence``; that class is the
       photo's class. Of photos with the same class only the more confident is kept, so all classes are distinct.
       Fewer than ``grid**2`` eligible photos -> ``ValueError`` (listing every photo's top-1 probability).
    2. Views: for each eligible photo ``views_per_photo`` random square crops (side ``min_crop``..1 of the shorter
       side, random position), each flipped left-right with probability 1/2, resized to the cell
       (``size // grid`` px). A view is kept when the model, shown it alone (resized to ``size``), gives the
       photo's class as top-1 with probability >= ``min_confidence``; a photo with no kept view leaves the pool.
    3. Each mosaic draws ``grid**2`` photos of the pool without replacement into random cells, one kept view each;
       the target cell is drawn uniformly; ``labels`` (alias ``targets``) is its photo's class and the mask is 1
       exactly on that cell.

    Images are normalised with the model's input normalisation (``mean``/``std``, else the model's ``input_mean``
    / ``input_std``, else ImageNet's), as in every :class:`LocalisationDataset`; ``denormalise`` gives [0, 1].
    ``sample_info`` holds per mosaic the target cell (``target_row``, ``target_col``), the photo in every cell
    (``cell_photos``, row-major, joined by ``,``), their classes (``cell_classes``) and flips (``cell_flips``).
    ``size`` must be a multiple of ``grid``. See the module docstring for how few source photos there are.
    """
    size = _check_size(size)
    for value, what in ((grid, "grid"), (n, "n"), (views_per_photo, "views_per_photo")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{what} must be a positive integer, got {value!r}")
    if size % grid:
        raise ValueError(f"size {size} is not a multiple of grid {grid}; choose e.g. size={size - size % grid}")
    if not 0.0 < min_crop <= 1.0:
        raise ValueError(f"min_crop must lie in (0, 1], got {min_crop}")
    if model.training:
        raise ValueError("the model is in training mode; call model.eval() first (BatchNorm/Dropout change outputs)")
    mean_values, std_values = _normalisation(model, mean, std)
    mean_t = torch.tensor(mean_values).reshape(1, 3, 1, 1)
    std_t = torch.tensor(std_values).reshape(1, 3, 1, 1)
    cell = size // grid
    rng = np.random.default_rng([seed, grid, size])

    photos = natural_photos(size)
    probabilities = _probabilities(model, photos.images, mean_t, std_t)
    confidence, classes = probabilities.max(-1)
    by_class: dict[int, int] = {}
    for index, name in enumerate(photos.names):
        label = int(classes[index])
        if label in NATURAL_PHOTO_CLASSES[name] and confidence[index] >= min_confidence:
            if label not in by_class or confidence[index] > confidence[by_class[label]]:
                by_class[label] = index

    pool: dict[int, list[tuple[torch.Tensor, bool]]] = {}  # photo index -> kept (view, flipped)
    for index in sorted(by_class.values()):
        candidates = _random_views(photos.names[index], cell, views_per_photo, min_crop, rng)
        alone = torch.stack([_resize(view, size, size) for view, _ in candidates])
        check = _probabilities(model, alone, mean_t, std_t)
        label = int(classes[index])
        kept = [c for c, p in zip(candidates, check) if int(p.argmax()) == label and float(p[label]) >= min_confidence]
        if kept:
            pool[index] = kept
    if len(pool) < grid * grid:
        found = ", ".join(f"{name} -> class {int(classes[i])} {float(confidence[i]):.2f}"
                          for i, name in enumerate(photos.names))
        raise ValueError(
            f"only {len(pool)} photos of distinct classes are classified correctly with probability >= "
            f"{min_confidence} (alone and as cell-sized views) by this model (top-1: {found}); a {grid}x{grid} grid "
            f"needs {grid * grid}. Lower min_confidence or grid."
        )

    eligible = sorted(pool)
    images = torch.zeros(n, 3, size, size)
    masks = torch.zeros(n, 1, size, size)
    labels, target_rows, target_cols, cell_photos, cell_classes, cell_flips = [], [], [], [], [], []
    for sample in range(n):
        chosen = [int(i) for i in rng.choice(eligible, size=grid * grid, replace=False)]
        flips = []
        for position, photo_index in enumerate(chosen):
            row, col = divmod(position, grid)
            view, flipped = pool[photo_index][int(rng.integers(len(pool[photo_index])))]
            images[sample, :, row * cell : (row + 1) * cell, col * cell : (col + 1) * cell] = view
            flips.append(str(int(flipped)))
        target = int(rng.integers(grid * grid))
        row, col = divmod(target, grid)
        masks[sample, 0, row * cell : (row + 1) * cell, col * cell : (col + 1) * cell] = 1.0
        labels.append(int(classes[chosen[target]]))
        target_rows.append(row)
        target_cols.append(col)
        cell_photos.append(",".join(photos.names[i] for i in chosen))
        cell_classes.append(",".join(str(int(classes[i])) for i in chosen))
        cell_flips.append(",".join(flips))

    if class_names is None:
        n_classes = probabilities.shape[-1]
        class_names = imagenet_class_names() if n_classes == 1000 else [str(i) for i in range(n_classes)]
    meta = {
        "source": "grid_pointing_game",
        "split": "test",
        "seed": seed,
        "grid": grid,
        "size": size,
        "n": n,
        "min_confidence": min_confidence,
        "min_crop": min_crop,
        "views_per_photo": views_per_photo,
        "pool": {photos.names[i]: {"class": int(classes[i]), "views": len(pool[i])} for i in eligible},
        "photo_confidence": {name: float(c) for name, c in zip(photos.names, confidence)},
    }
    return LocalisationDataset(
        (images - mean_t) / std_t,
        labels,
        masks,
        mean=mean_values,
        std=std_values,
        class_names=class_names,
        meta=meta,
        sample_info={
            "target_row": np.asarray(target_rows),
            "target_col": np.asarray(target_cols),
            "cell_photos": np.asarray(cell_photos),
            "cell_classes": np.asarray(cell_classes),
            "cell_flips": np.asarray(cell_flips),
        },
    )


def _random_views(name: str, cell: int, count: int, min_crop: float, rng: np.random.Generator) -> list[tuple[torch.Tensor, bool]]:
    """``count`` random square crops of photo ``name`` (side ``min_crop``..1 of the shorter side), each flipped
    left-right with probability 1/2, resized to ``cell`` pixels; with the flip of each."""
    photo = torch.from_numpy(_photo_array(name))
    height, width = photo.shape[1:]
    shorter = min(height, width)
    views = []
    for _ in range(count):
        side = int(round(shorter * rng.uniform(min_crop, 1.0)))
        top = int(rng.integers(0, height - side + 1))
        left = int(rng.integers(0, width - side + 1))
        flip = bool(rng.integers(2))
        views.append((_square_crop(photo, cell, top, left, side, flip), flip))
    return views


#: Split name -> offset of the mosaic seed (``3 * seed + offset``), so the splits draw different mosaics.
#: They cannot draw different photos: the few source photos (module docstring) appear in every split.
GRID_SPLIT_OFFSETS: dict[str, int] = {"train": 0, "val": 1, "test": 2}


def load_grid_pointing_game(
    split: str, n: int | None, data_dir: str | os.PathLike | None, *, model: str = "efficientnet_lite0", seed: int = 0,
    **kwargs,
) -> LocalisationDataset:
    """``hm.data.load("grid_pointing_game", split, n=..., model=..., seed=..., grid=..., size=...)``: the mosaics of
    :func:`grid_pointing_game` for the model named ``model`` (``hm.models.load``), seed ``3 * seed + offset`` of the
    split (:data:`GRID_SPLIT_OFFSETS`); ``n=None`` -> 16 mosaics. ``data_dir`` is not used (everything ships)."""
    from ..models import load as load_model

    if split not in GRID_SPLIT_OFFSETS:
        raise ValueError(f"unknown split {split!r} for the grid pointing game; choose one of {list(GRID_SPLIT_OFFSETS)}")
    dataset = grid_pointing_game(load_model(model), 16 if n is None else n, seed=3 * seed + GRID_SPLIT_OFFSETS[split], **kwargs)
    dataset.meta.update(split=split, model=model, split_seed_offset=GRID_SPLIT_OFFSETS[split])
    return dataset
