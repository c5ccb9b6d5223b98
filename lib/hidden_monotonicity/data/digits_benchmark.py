"""Offline localisation benchmark: real handwritten digits on real photographs, with pixel masks.

ImageNet-S (the paper's data, digest D.1) cannot be downloaded on the development and CI machines, so
the notebooks and tests use this stand-in. Everything it is made of ships with the installed packages:

* **digits**: scikit-learn's copy of the UCI "optdigits" scans (:func:`sklearn.datasets.load_digits`,
  1797 handwritten digits, 8x8 pixels, 17 grey levels). The 1797 scans are split per class into disjoint
  train / val / test pools (70 / 10 / 20 %, seeded by ``split_seed``), so test images show digits that no
  training image contains.
* **backgrounds**: random crops of the photographs and textures shipped inside scikit-image
  (:data:`BACKGROUND_PHOTOS`, :data:`BACKGROUND_TEXTURES`; grey textures get a random tint), with their
  contrast around the mean scaled by ``background_contrast`` (0.6).
* **clutter**: 1-3 fragments (2x2 to 3x3 scan pixels) of other digits of the same pool, drawn in
  contrasting colours at least 2 pixels away from the target's stroke, in the spirit of Cluttered MNIST.

Rendering of one image (``size`` x ``size``, all draws from ``numpy.random.default_rng([seed, split,
version])``): crop a background and resize it; scale the scan bilinearly (pixel centres) to a height of
``digit_size`` x ``size`` (50-70 %) and a width of ``aspect_ratio`` (0.85) x that height, at a random
position; turn the grey level ``v`` in [0, 1] into opacity ``alpha = clip((v - alpha_threshold) / alpha_ramp,
0, 1)`` (0.25, 0.35: sharper strokes than the blurry scan); pick a random-hue colour whose luminance differs
from the mean background luminance under the stroke by at least ``min_contrast`` (0.45; bright digits on dark
backgrounds, dark digits on bright ones); alpha-blend; add the fragments; quantise to 8 bit. The **mask**
is the digit's stroke, ``alpha > 0`` (every pixel the digit changes), or its tight bounding box
(``mask="bbox"``). All parameters are fields of :class:`DigitsGeneratorConfig`, recorded in
``meta["generator"]``. Generation takes roughly a second per thousand images on one core; ``cache_dir``
stores the uint8 result as ``.npz``, with a SHA-256 integrity record checked on every read.

The defaults were chosen so that the two benchmark classifiers (:mod:`hidden_monotonicity.models`) reach
more than 95 % test accuracy within about three CPU minutes; more clutter, smaller digits or free aspect
ratios make the task markedly harder to learn from the 1258 training scans.

**Normalisation**: fixed per-channel constants :data:`DIGITS_MEAN` / :data:`DIGITS_STD`, measured once on
the default train split (seed 0, 64x64, 5000 images) and used for every split and seed, as the ImageNet
pipeline uses fixed ImageNet statistics. The normalised images have both signs, so both DC input
streams ``relu(x)`` and ``relu(-x)`` are non-zero (digest A.2 item 2).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
import zlib
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from .localisation import LocalisationDataset

__all__ = [
    "BACKGROUND_PHOTOS",
    "BACKGROUND_TEXTURES",
    "DEFAULT_SIZES",
    "DIGITS_MEAN",
    "DIGITS_STD",
    "DigitsGeneratorConfig",
    "GENERATOR_VERSION",
    "digits_benchmark",
    "render_digit_alpha",
    "source_digit_pools",
]

#: Bumped whenever the rendering changes (part of the cache key and of ``meta``).
GENERATOR_VERSION = 1
#: Default number of images per split.
DEFAULT_SIZES = {"train": 5000, "val": 500, "test": 1000}
SPLITS = ("train", "val", "test")
#: Colour photographs shipped with scikit-image (names of ``skimage.data`` functions).
BACKGROUND_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "stereo_motorcycle",
)
#: Grey-level photographs and textures shipped with scikit-image; they are tinted with a random colour.
BACKGROUND_TEXTURES = ("brick", "grass", "gravel", "camera", "coins", "moon")
#: Per-channel mean / std of the default train split in [0, 1] units (see the module docstring).
DIGITS_MEAN = (0.4599, 0.3873, 0.3621)
DIGITS_STD = (0.2673, 0.2334, 0.2331)
CLASS_NAMES = [str(d) for d in range(10)]
#: Shorter side (pixels) to which every background photograph is scaled once, before cropping.
BACKGROUND_SIDE = 160
_LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class DigitsGeneratorConfig:
    """Rendering parameters of :func:`digits_benchmark` (all recorded in ``meta['generator']``)."""

    size: int = 64
    digit_size: tuple[float, float] = (0.5, 0.7)  # digit height as a fraction of the image side
    aspect_ratio: tuple[float, float] = (0.85, 0.85)  # digit width / height
    alpha_threshold: float = 0.25  # scan grey level (fraction of 16) below which the digit is transparent
    alpha_ramp: float = 0.35  # grey-level range over which it becomes opaque
    n_distractors: tuple[int, int] = (1, 3)  # inclusive range of clutter fragments per image
    fragment_pixels: tuple[int, int] = (2, 3)  # inclusive range of a fragment's side in scan pixels
    min_contrast: float = 0.45  # luminance distance between a stroke colour and its background
    crop_fraction: tuple[float, float] = (0.25, 0.75)  # background crop side / shorter photo side
    background_contrast: float = 0.6  # background deviations from their mean are scaled by this
    split_fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)  # train / val / test share of the scans
    split_seed: int = 0

    def validate(self) -> None:
        if self.size < 16:
            raise ValueError(f"size must be at least 16 pixels, got {self.size}")
        lo, hi = self.digit_size
        if not 0.1 <= lo <= hi <= 1.0:
            raise ValueError(f"digit_size must satisfy 0.1 <= low <= high <= 1, got {self.digit_size}")
        if not 0.3 <= self.aspect_ratio[0] <= self.aspect_ratio[1] <= 1.5:
            raise ValueError(f"aspect_ratio must satisfy 0.3 <= low <= high <= 1.5, got {self.aspect_ratio}")
        if not 0 <= self.n_distractors[0] <= self.n_distractors[1]:
            raise ValueError(f"n_distractors must be an increasing pair of counts, got {self.n_distractors}")
        if not 1 <= self.fragment_pixels[0] <= self.fragment_pixels[1] <= 8:
            raise ValueError(f"fragment_pixels must lie in [1, 8], got {self.fragment_pixels}")
        if not (0.0 <= self.alpha_threshold < 1.0 and 0.0 < self.alpha_ramp <= 1.0):
            raise ValueError(f"alpha_threshold must lie in [0, 1) and alpha_ramp in (0, 1], got {self.alpha_threshold}, {self.alpha_ramp}")
        if not 0.0 <= self.background_contrast <= 1.0:
            raise ValueError(f"background_contrast must lie in [0, 1], got {self.background_contrast}")
        if not 0.0 <= self.min_contrast <= 0.5:
            raise ValueError(f"min_contrast must lie in [0, 0.5] (so a colour always exists), got {self.min_contrast}")
        fractions = self.split_fractions
        if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1.0) > 1e-9:
            raise ValueError(f"split_fractions must be three positive shares summing to 1, got {fractions}")


def digits_benchmark(
    split: Literal["train", "val", "test"] = "train",
    *,
    size: int = 64,
    n: int | None = None,
    seed: int = 0,
    mask: Literal["stroke", "bbox"] = "stroke",
    cache_dir: str | Path | None = None,
    **generator_options: Any,
) -> LocalisationDataset:
    """The cluttered-digits localisation benchmark (see the module docstring for how it is made).

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``; the splits use disjoint pools of source scans.
        size: image side in pixels.
        n: number of images (default :data:`DEFAULT_SIZES`: 5000 / 500 / 1000); classes are balanced
            (every class gets ``n // 10`` or one more image).
        seed: seed of the rendering (same seed and arguments -> identical tensors).
        mask: ``"stroke"`` (pixels the digit covers) or ``"bbox"`` (their tight bounding box).
        cache_dir: folder for an ``.npz`` cache of the rendered uint8 images (e.g. ``data/cache``). Each file
            holds an integrity record (the arguments and a SHA-256 per array), checked on every read: a file that
            fails it, or cannot be read, is rendered again and rewritten, with a warning naming it. A cache_dir
            that is a file or cannot be written is reported before rendering, and the split is used uncached.
        **generator_options: fields of :class:`DigitsGeneratorConfig` (``digit_size``, ``n_distractors``,
            ``fragment_pixels``, ``min_contrast``, ``background_contrast``, ``alpha_threshold``, ...,
            and ``split_seed``, the seed of the train / val / test partition of the 1797 scans: keep it
            equal across splits used together, otherwise the pools may overlap).

    Returns:
        A :class:`LocalisationDataset` normalised with :data:`DIGITS_MEAN` / :data:`DIGITS_STD`; its
        ``sample_info`` has per image ``source_index`` (row of ``load_digits()``), ``digit_box``
        (top, left, height, width of the placed scan), ``colour``, ``background`` and ``n_distractors``.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if mask not in ("stroke", "bbox"):
        raise ValueError(f"mask must be 'stroke' or 'bbox', got {mask!r}")
    count = DEFAULT_SIZES[split] if n is None else int(n)
    if count < 1:
        raise ValueError(f"n must be positive, got {n}")
    known = {field.name for field in fields(DigitsGeneratorConfig)} - {"size"}
    unknown = sorted(set(generator_options) - known)
    if unknown:
        raise TypeError(f"unknown generator option(s) {unknown}; valid options: {sorted(known)}")
    config = DigitsGeneratorConfig(size=int(size), **_as_config_values(generator_options))
    config.validate()

    rendered = _load_cache(cache_dir, split, count, seed, config)
    if rendered is None:
        problem = None if cache_dir is None else _cache_write_problem(cache_dir)
        if problem is not None:  # said before the (slow) rendering, not after it
            warnings.warn(f"{problem}: rendering the {split} split without a cache", RuntimeWarning, stacklevel=2)
            cache_dir = None
        rendered = _render_split(split, count, seed, config)
        _save_cache(cache_dir, split, count, seed, config, rendered)

    images_uint8 = torch.from_numpy(rendered["images"])
    stroke = torch.from_numpy(rendered["masks"]).to(torch.bool)
    masks = stroke if mask == "stroke" else _bounding_box_masks(stroke)
    mean = torch.tensor(DIGITS_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(DIGITS_STD).reshape(1, 3, 1, 1)
    images = (images_uint8.to(torch.float32) / 255.0 - mean) / std
    pools = source_digit_pools(config.split_seed, config.split_fractions)
    meta = {
        "source": "sklearn.datasets.load_digits (UCI optdigits, 8x8 scans) on skimage.data photographs",
        "split": split,
        "seed": int(seed),
        "n": count,
        "mask": mask,
        "generator_version": GENERATOR_VERSION,
        "generator": asdict(config),
        "normalisation": "fixed constants DIGITS_MEAN/DIGITS_STD (default train split, seed 0, 64x64)",
        "source_digits": pools[split].tolist(),
        "backgrounds": list(BACKGROUND_PHOTOS + BACKGROUND_TEXTURES),
    }
    sample_info = {key: rendered[key] for key in ("source_index", "digit_box", "colour", "background", "n_distractors")}
    return LocalisationDataset(
        images,
        torch.from_numpy(rendered["labels"]),
        masks.unsqueeze(1).to(torch.float32),
        mean=DIGITS_MEAN,
        std=DIGITS_STD,
        class_names=CLASS_NAMES,
        meta=meta,
        sample_info=sample_info,
    )


def _as_config_values(options: dict[str, Any]) -> dict[str, Any]:
    """Lists -> tuples (so a config read back from JSON compares equal and hashes for the cache key)."""
    return {key: tuple(value) if isinstance(value, list) else value for key, value in options.items()}


# ---------------------------------------------------------------------------- source material
@lru_cache(maxsize=1)
def _digit_scans() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 scans as float32 grey levels in [0, 1] (8x8) and their labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images / 16.0).astype(np.float32), digits.target.astype(np.int64)


@lru_cache(maxsize=8)
def source_digit_pools(split_seed: int = 0, fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)) -> dict[str, np.ndarray]:
    """Disjoint train / val / test pools of ``load_digits()`` row indices, stratified by class."""
    _, targets = _digit_scans()
    rng = np.random.default_rng([int(split_seed), 7919])
    pools: dict[str, list[int]] = {name: [] for name in SPLITS}
    for digit in range(10):
        rows = rng.permutation(np.flatnonzero(targets == digit))
        n_train = int(round(fractions[0] * len(rows)))
        n_val = int(round(fractions[1] * len(rows)))
        pools["train"] += rows[:n_train].tolist()
        pools["val"] += rows[n_train : n_train + n_val].tolist()
        pools["test"] += rows[n_train + n_val :].tolist()
    return {name: np.sort(np.asarray(rows, dtype=np.int64)) for name, rows in pools.items()}


@lru_cache(maxsize=1)
def _backgrounds() -> tuple[tuple[np.ndarray, bool], ...]:
    """Every background image as a float64 (H, W, 3) array in [0, 1] + 'tint me'.

    The photographs are stored with their shorter side scaled to :data:`BACKGROUND_SIDE` pixels, so the
    crops (25-75 % of it) need at most a 1.9x bilinear downscale to 64x64 and no anti-aliasing pass.
    """
    import skimage.data

    loaded = []
    for name, grey in [(n, False) for n in BACKGROUND_PHOTOS] + [(n, True) for n in BACKGROUND_TEXTURES]:
        image = getattr(skimage.data, name)()
        if isinstance(image, tuple):  # stereo_motorcycle -> (left, right, disparity)
            image = image[0]
        array = np.asarray(image, dtype=np.float32)
        array = array / 255.0 if np.asarray(image).dtype == np.uint8 else array
        if array.ndim == 2:
            array = np.repeat(array[:, :, None], 3, axis=2)
        tensor = torch.from_numpy(np.ascontiguousarray(array[:, :, :3].transpose(2, 0, 1)))
        scale = BACKGROUND_SIDE / min(tensor.shape[1:])
        new_size = (round(tensor.shape[1] * scale), round(tensor.shape[2] * scale))
        tensor = F.interpolate(tensor[None], size=new_size, mode="bilinear", antialias=True, align_corners=False)[0]
        loaded.append((np.ascontiguousarray(tensor.clamp(0, 1).numpy().transpose(1, 2, 0), dtype=np.float64), grey))
    return tuple(loaded)


# ---------------------------------------------------------------------------- rendering
@lru_cache(maxsize=4096)
def _bilinear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Taps of 1-D bilinear resampling at pixel centres (``align_corners=False``): lower, upper, weight.

    Output pixel ``j`` samples the input at ``(j + 0.5) * n_in / n_out - 0.5`` clamped to ``[0, n_in - 1]``,
    i.e. ``(1 - weight) * x[lower] + weight * x[upper]``, as
    ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)`` does without anti-aliasing.
    """
    position = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0, n_in - 1)
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, n_in - 1)
    weight = position - lower
    return lower, upper, weight


def _resize_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Separable bilinear resize of an ``(H, W)`` or ``(H, W, C)`` array (no anti-aliasing)."""
    lower, upper, weight = _bilinear_taps(image.shape[0], int(height))
    weight = weight.reshape((-1,) + (1,) * (image.ndim - 1))
    rows = image[lower] * (1.0 - weight) + image[upper] * weight
    lower, upper, weight = _bilinear_taps(image.shape[1], int(width))
    weight = weight.reshape((1, -1) + (1,) * (image.ndim - 2))
    return rows[:, lower] * (1.0 - weight) + rows[:, upper] * weight


def render_digit_alpha(scan: np.ndarray, height: int, width: int, threshold: float = 0.4, ramp: float = 0.3) -> np.ndarray:
    """Opacity map of a scan (grey levels in [0, 1]) scaled bilinearly to ``height`` x ``width``.

    ``alpha = clip((v - threshold) / ramp, 0, 1)`` of the bilinear grey level ``v`` sampled at pixel
    centres (:func:`_resize_bilinear`).
    """
    scaled = _resize_bilinear(np.asarray(scan, dtype=np.float64), height, width)
    return ((scaled - threshold) / ramp).clip(0.0, 1.0)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ _LUMA


def _contrasting_colour(rng: np.random.Generator, background_luminance: float, min_contrast: float) -> np.ndarray:
    """A random-hue RGB colour whose luminance is at least ``min_contrast`` away from the background's."""
    base = rng.uniform(0.0, 1.0, size=3)
    if background_luminance <= 0.5:
        target = rng.uniform(min(background_luminance + min_contrast, 1.0), 1.0)
    else:
        target = rng.uniform(0.0, max(background_luminance - min_contrast, 0.0))
    current = float(_luminance(base))
    if target >= current:  # blend towards white: luminance is linear in the blend weight
        weight = (target - current) / max(1.0 - current, 1e-12)
        return base + (1.0 - base) * weight
    return base * (target / max(current, 1e-12))  # scale towards black


def _background_patch(rng: np.random.Generator, config: DigitsGeneratorConfig) -> tuple[np.ndarray, int]:
    backgrounds = _backgrounds()
    index = int(rng.integers(len(backgrounds)))
    image, grey = backgrounds[index]
    height, width = image.shape[:2]
    shorter = min(height, width)
    side = int(round(rng.uniform(*config.crop_fraction) * shorter))
    side = max(min(side, shorter), min(config.size // 2, shorter))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    crop = image[top : top + side, left : left + side]
    patch_np = _resize_bilinear(crop, config.size, config.size).clip(0.0, 1.0)
    if rng.random() < 0.5:
        patch_np = patch_np[:, ::-1]
    if grey:
        tint = rng.uniform(0.3, 1.0, size=3)
        patch_np = patch_np * tint
    if config.background_contrast != 1.0:
        mean = patch_np.mean(axis=(0, 1), keepdims=True)
        patch_np = mean + config.background_contrast * (patch_np - mean)
    return np.ascontiguousarray(patch_np, dtype=np.float64), index


def _render_image(
    rng: np.random.Generator, label: int, pool_by_class: list[np.ndarray], pool: np.ndarray, config: DigitsGeneratorConfig
) -> dict[str, np.ndarray | int]:
    scans, _ = _digit_scans()
    size = config.size
    canvas, background = _background_patch(rng, config)

    source = int(rng.choice(pool_by_class[label]))
    height = int(round(rng.uniform(*config.digit_size) * size))
    width = int(round(height * rng.uniform(*config.aspect_ratio)))
    top = int(rng.integers(0, size - height + 1))
    left = int(rng.integers(0, size - width + 1))
    alpha = np.zeros((size, size))
    alpha[top : top + height, left : left + width] = render_digit_alpha(scans[source], height, width, config.alpha_threshold, config.alpha_ramp)
    stroke = alpha > 0
    weights = alpha / alpha.sum()
    background_luminance = float((_luminance(canvas) * weights).sum())
    colour = _contrasting_colour(rng, background_luminance, config.min_contrast)
    canvas = canvas * (1.0 - alpha[:, :, None]) + colour * alpha[:, :, None]

    # keep-out zone: the stroke grown by 2 pixels, so fragments never touch the target digit
    padded = np.pad(stroke, 2)
    keep_out = np.zeros_like(stroke)
    for dy in range(5):
        for dx in range(5):
            keep_out |= padded[dy : dy + size, dx : dx + size]
    n_fragments = int(rng.integers(config.n_distractors[0], config.n_distractors[1] + 1))
    placed = 0
    for _ in range(n_fragments):
        for _attempt in range(10):
            other = scans[int(rng.choice(pool))]
            rows, cols = (int(rng.integers(config.fragment_pixels[0], config.fragment_pixels[1] + 1)) for _ in range(2))
            r0, c0 = int(rng.integers(0, 9 - rows)), int(rng.integers(0, 9 - cols))
            piece = other[r0 : r0 + rows, c0 : c0 + cols]
            if piece.max() < 0.6:  # an (almost) empty corner of the scan: draw again
                continue
            piece_h = max(2, int(round(rows * height / 8)))
            piece_w = max(2, int(round(cols * width / 8)))
            piece_alpha = render_digit_alpha(piece, piece_h, piece_w, config.alpha_threshold, config.alpha_ramp)
            p_top = int(rng.integers(0, size - piece_h + 1))
            p_left = int(rng.integers(0, size - piece_w + 1))
            region = (slice(p_top, p_top + piece_h), slice(p_left, p_left + piece_w))
            if (keep_out[region] & (piece_alpha > 0)).any() or piece_alpha.sum() == 0:
                continue
            local = canvas[region]
            piece_weights = piece_alpha / piece_alpha.sum()
            piece_colour = _contrasting_colour(rng, float((_luminance(local) * piece_weights).sum()), config.min_contrast)
            canvas[region] = local * (1.0 - piece_alpha[:, :, None]) + piece_colour * piece_alpha[:, :, None]
            placed += 1
            break

    image = np.round(canvas.clip(0.0, 1.0) * 255.0).astype(np.uint8).transpose(2, 0, 1)
    return {
        "image": image,
        "mask": stroke,
        "source_index": source,
        "digit_box": np.array([top, left, height, width], dtype=np.int64),
        "colour": colour.astype(np.float32),
        "background": background,
        "n_distractors": placed,
    }


def _render_split(split: str, count: int, seed: int, config: DigitsGeneratorConfig) -> dict[str, np.ndarray]:
    _, targets = _digit_scans()
    pool = source_digit_pools(config.split_seed, config.split_fractions)[split]
    pool_by_class = [pool[targets[pool] == digit] for digit in range(10)]
    rng = np.random.default_rng([int(seed), SPLITS.index(split), GENERATOR_VERSION])
    labels = np.arange(count, dtype=np.int64) % 10
    rng.shuffle(labels)
    samples = [_render_image(rng, int(label), pool_by_class, pool, config) for label in labels]
    return {
        "images": np.stack([s["image"] for s in samples]),
        "masks": np.stack([s["mask"] for s in samples]),
        "labels": labels,
        "source_index": np.array([s["source_index"] for s in samples], dtype=np.int64),
        "digit_box": np.stack([s["digit_box"] for s in samples]),
        "colour": np.stack([s["colour"] for s in samples]),
        "background": np.array([s["background"] for s in samples], dtype=np.int64),
        "n_distractors": np.array([s["n_distractors"] for s in samples], dtype=np.int64),
    }


def _bounding_box_masks(stroke: torch.Tensor) -> torch.Tensor:
    """Tight bounding box of every (N, H, W) boolean stroke mask."""
    rows = stroke.any(dim=2)  # (N, H)
    cols = stroke.any(dim=1)  # (N, W)
    return rows[:, :, None] & cols[:, None, :]


# ---------------------------------------------------------------------------- cache
#: Name of the integrity record inside a cache file: JSON with the cache key and, per array, its dtype, shape
#: and SHA-256 (stored as a unicode array, so reading it needs no pickle).
_RECORD = "__integrity__"
#: Arrays a cache file holds (the keys of :func:`_render_split`'s result).
_CACHED_ARRAYS = ("images", "masks", "labels", "source_index", "digit_box", "colour", "background", "n_distractors")


def _cache_key(split: str, count: int, seed: int, config: DigitsGeneratorConfig) -> dict[str, Any]:
    """The arguments that determine a cache file's content (its name is a hash of them)."""
    key = {"version": GENERATOR_VERSION, "split": split, "n": count, "seed": int(seed), "config": asdict(config)}
    return json.loads(json.dumps(key, sort_keys=True))  # via JSON: tuples become the lists a record reads back


def _cache_file(cache_dir: str | Path, split: str, count: int, seed: int, config: DigitsGeneratorConfig) -> Path:
    key = json.dumps(_cache_key(split, count, seed, config), sort_keys=True)
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return Path(cache_dir) / f"digits_{split}_{count}_{digest}.npz"


def _array_digest(array: np.ndarray) -> str:
    """SHA-256 of an array's bytes (C order); dtype and shape are recorded next to it."""
    return hashlib.sha256(np.ascontiguousarray(array).data.cast("B")).hexdigest()


def _integrity_record(key: dict[str, Any], rendered: dict[str, np.ndarray]) -> str:
    arrays = {
        name: {"dtype": array.dtype.str, "shape": list(array.shape), "sha256": _array_digest(array)}
        for name, array in sorted(rendered.items())
    }
    return json.dumps({"format": 1, "key": key, "arrays": arrays}, sort_keys=True)


def _integrity_problem(arrays: dict[str, np.ndarray], key: dict[str, Any]) -> str | None:
    """What is wrong with the arrays read from a cache file (None: they are exactly what was written)."""
    if _RECORD not in arrays:
        return "has no integrity record (written by an older version, or not by digits_benchmark)"
    try:
        record = json.loads(str(arrays[_RECORD][()]))
        expected = record["arrays"]
        recorded_key = record["key"]
    except (ValueError, TypeError, KeyError, IndexError) as error:
        return f"has an unreadable integrity record ({type(error).__name__}: {error})"
    if recorded_key != key:
        return "was written for other arguments than its name says (the integrity record's key differs)"
    names = sorted(set(arrays) - {_RECORD})
    if names != sorted(expected) or names != sorted(_CACHED_ARRAYS):
        return f"holds the arrays {names}, expected {sorted(_CACHED_ARRAYS)}"
    for name in names:
        array, entry = arrays[name], expected[name]
        if array.dtype.str != entry.get("dtype") or list(array.shape) != entry.get("shape"):
            return (f"array {name!r} is {array.dtype.str} {list(array.shape)}, the integrity record says "
                    f"{entry.get('dtype')} {entry.get('shape')}")
        if _array_digest(array) != entry.get("sha256"):
            return f"array {name!r} does not match its SHA-256 in the integrity record (the file was changed)"
    count, size = key["n"], key["config"]["size"]
    if arrays["images"].shape != (count, 3, size, size) or arrays["labels"].shape != (count,):
        return f"holds images {arrays['images'].shape} and labels {arrays['labels'].shape}, expected {count} images of {size}x{size}"
    return None


def _load_cache(
    cache_dir: str | Path | None, split: str, count: int, seed: int, config: DigitsGeneratorConfig
) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when there is no cache file or it fails its integrity check (with a warning).

    Any problem with an existing file (unreadable, truncated, bad CRC, edited array, missing or mismatching
    integrity record) makes :func:`digits_benchmark` render the split again and overwrite the file.
    """
    if cache_dir is None:
        return None
    path = _cache_file(cache_dir, split, count, seed, config)
    if not path.exists():
        return None
    try:
        with path.open("rb") as handle, np.load(handle, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        problem = f"cannot be read ({type(error).__name__}: {error})"
    else:
        problem = _integrity_problem(arrays, _cache_key(split, count, seed, config))
    if problem is not None:
        warnings.warn(f"digits cache file {path} {problem}; rendering the split again and rewriting the file",
                      RuntimeWarning, stacklevel=3)
        return None
    del arrays[_RECORD]
    return arrays


def _cache_write_problem(cache_dir: str | Path) -> str | None:
    """Why rendered data could not be stored in ``cache_dir`` (None: it can); checked before rendering."""
    folder = Path(cache_dir).expanduser()
    if folder.exists() and not folder.is_dir():
        return f"cache_dir {folder} is a file, not a folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"cache_dir {folder} cannot be created ({type(error).__name__}: {error.strerror or error})"
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as error:
        return f"cache_dir {folder} is not writable ({type(error).__name__}: {error.strerror or error})"
    return None


def _save_cache(
    cache_dir: str | Path | None, split: str, count: int, seed: int, config: DigitsGeneratorConfig, rendered: dict[str, np.ndarray]
) -> None:
    """Write the arrays and their integrity record (atomically: a temporary file is renamed)."""
    if cache_dir is None:
        return
    path = _cache_file(cache_dir, split, count, seed, config)
    temporary = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    record = _integrity_record(_cache_key(split, count, seed, config), rendered)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(temporary, **rendered, **{_RECORD: np.array(record)})
        temporary.replace(path)
    except OSError as error:  # e.g. disk full, or the folder became read-only after the check
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass
        warnings.warn(f"could not write the digits cache file {path} ({type(error).__name__}: {error}); "
                      f"the rendered split is used without a cache", RuntimeWarning, stacklevel=3)
