"""Dry runs of a profile and the projected cost of the full run (issue 26: the paper's setting, offline).

The paper profile (ImageNet-S-50, VGG16 and ResNet18 at 224 px, 50 validation / 702 test images, 97 candidates per
model) is a GPU job of many hours. :func:`adapt_profile` makes a *dry run* of it: the same rows, candidates, metrics
and selection - the exact path - on random weights, small images and a few images, so that the whole path can be
checked on any machine (with the fixture of :func:`hidden_monotonicity.data.imagenet_s.write_fixture`), and
:func:`project_cost` turns the dry run's measured seconds into the projected cost of the full run on the same device.

What a dry run changes, and why
    ``weights="random"`` (every model randomly initialised, whatever is cached); ``image_size`` (the crop side);
    ``max_images`` (``n_val = max_images // 2``, ``n_test`` the rest, each at most the profile's own); optionally
    ``models`` / ``methods`` (a subset of the profile's models / row labels, for quick checks); the device becomes
    ``"auto"``. Parameters that count *pixels* are rescaled with the image side, so that every image goes through
    the same number of perturbation steps as at full size (otherwise the pixel ratio below would not describe the
    cost, and PixelFlipping would not even run: Quantus needs ``features_in_step`` to divide H x W):

    * PixelFlipping ``features_in_step`` (an area): times ``(size / full size)^2``, then the nearest divisor of
      ``size^2`` (224 at 224 px -> 16 at 64 px: 768 instead of 672 steps);
    * Selectivity ``patch_size``, the Occlusion ``window`` / ``stride`` and the Feature-ablation ``patch_size``
      (lengths): times ``size / full size``, rounded, at least 1 (Selectivity 8 -> 2 at 64 px: 32 x 32 instead of
      28 x 28 patches; Occlusion windows 16, 32 -> 5, 9).

    The candidates stay one-to-one with the full profile's (a rescaling that would merge two candidates is refused).

Projection (:func:`project_cost`)
    A work unit is (model, split, row, candidate, metric, chunk of images). The full run has, per model and row,
    validation units for every candidate with the selection metrics (rows with one candidate skip the validation
    split) and test units for the chosen configuration with every metric (plus the defaults metrics and the fresh
    split where the profile has them). Per split and metric the dry run measures the mean wall seconds per image of
    a unit (``metadata.json``'s ``seconds["metric/<split>/<metric>"]`` over the images its units held); the
    projection is ``sum over (split, metric) of images x candidates x seconds per image``, counted with the full
    run's images, times the pixel ratio ``(full size / size)^2`` - **an approximation**: it takes the cost of an
    image proportional to its pixel count (true for the convolutions of VGG16 / ResNet18, not for fixed costs, and a
    GPU that small images leave idle makes it an overestimate). Time outside work units (loading, layer resolution,
    tables) is not counted. The full run's image counts: the reference profile's ``n_val`` / ``n_test``, or for
    ImageNet-S-50 (``n_val`` / ``n_test`` None) 50 validation and 702 test images (752 - 50) with
    ``test_filter="all"``, the paper's 566 for the other filters (their true count is only known with the data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pandas as pd

from .fresh_split import fresh_plan
from .metrics import resolve_params
from .profiles import EvaluationProfile, MethodGrid
from .selection import profile_outputs, selection_metric_names

__all__ = ["CostProjection", "adapt_profile", "count_image_units", "full_run_sizes", "project_cost", "reduction"]

#: dataset -> (``dataset_kwargs`` key of the image side, its default). Only these datasets take ``image_size``.
IMAGE_SIZE_KEYS: dict[str, tuple[str, int]] = {"imagenet_s": ("image_size", 224)}
#: ImageNet-S-50: annotated validation images; the paper's test count (its filter is not stated, digest D.1).
IMAGENET_S50_IMAGES = 752
PAPER_TEST_IMAGES = 566
#: Test filters: the loader's two (ImageNet-S only) and the model-dependent one (any dataset, applied per model).
TEST_FILTERS = ("all", "single_class", "correct")
#: Method parameters that are lengths in pixels (rescaled with the image side).
PIXEL_LENGTH_PARAMETERS: dict[str, tuple[str, ...]] = {"occlusion": ("window", "stride"),
                                                        "feature_ablation": ("patch_size",)}
ImageKey = tuple[str, str]  # (split, metric)
MEASURED_COLUMNS = ("split", "metric", "units", "wall_s", "s_per_unit", "image_units", "s_per_image", "full_image_units",
                    "full_units", "projected_s")


# ------------------------------------------------------------------------------------------- the dry-run profile
def _nearest_divisor(total: int, target: float) -> int:
    """The divisor of ``total`` closest to ``target`` on a log scale (ties: the smaller)."""
    divisors = [d for d in range(1, total + 1) if total % d == 0]
    return min(divisors, key=lambda d: (abs(math.log(d / max(target, 1e-9))), d))


def _scaled_length(value: Any, ratio: float) -> Any:
    return value if value is None else max(1, int(round(float(value) * ratio)))


def _scale_metric_params(params: Mapping[str, Mapping[str, Any]], metrics: Sequence[str], size: int, ratio: float,
                         resolved: bool) -> dict[str, dict[str, Any]]:
    """``params`` with the pixel-counting metric parameters rescaled; ``resolved`` adds the catalogue default
    where the profile leaves PixelFlipping's step or Selectivity's patch unset (for the profile's ``metrics``)."""
    scaled = {name: dict(values) for name, values in params.items()}
    for name, key in (("PixelFlipping", "features_in_step"), ("Selectivity", "patch_size")):
        if name not in metrics or (name not in scaled and not resolved):
            continue
        value = resolve_params(name, scaled.get(name))[key]
        new = _nearest_divisor(size * size, value * ratio ** 2) if key == "features_in_step" else _scaled_length(value, ratio)
        scaled.setdefault(name, {})[key] = new
    return scaled


def _scale_grid(grid: MethodGrid, ratio: float) -> MethodGrid:
    keys = PIXEL_LENGTH_PARAMETERS.get(grid.method, ())
    if not keys:
        return grid
    values = {k: tuple(_scaled_length(v, ratio) for v in vs) if k in keys else vs for k, vs in grid.grid.items()}
    for key in keys:
        if key in values and len(set(values[key])) != len(values[key]):
            raise ValueError(f"row {grid.name!r}: {key} {tuple(grid.grid[key])} rescaled to the image size gives "
                             f"{values[key]}, which merges candidates; use a larger image_size")
    fixed = {k: _scaled_length(v, ratio) if k in keys else v for k, v in grid.fixed.items()}
    return MethodGrid(grid.method, grid=values, fixed=fixed, label=grid.label)


def _subset(kind: str, wanted: Sequence[str], available: Sequence[str]) -> list[str]:
    unknown = [name for name in wanted if name not in available]
    if unknown or not wanted:
        raise ValueError(f"{kind} {list(unknown) or 'none'} not in the profile; choose from {', '.join(available)}")
    return [name for name in available if name in wanted]


def adapt_profile(
    profile: EvaluationProfile,
    *,
    weights: str | None = None,
    image_size: int | None = None,
    max_images: int | None = None,
    test_filter: str | None = None,
    models: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
) -> EvaluationProfile:
    """``profile`` with the choices of a dry run (see the module docstring); arguments left ``None`` change nothing.

    Args:
        weights: ``"random"`` (random init), ``"imagenet"`` (the ImageNet weights: only for ImageNet models) or
            ``"default"`` (the profile's own).
        image_size: crop side (ImageNet-S profiles); pixel-counting parameters are rescaled.
        max_images: at most ``max_images // 2`` validation and the rest test images (at least 2).
        test_filter: ``"all"``, ``"single_class"`` (ImageNet-S) or ``"correct"`` (per model, any dataset).
        models, methods: subsets of the profile's models / row labels.
    """
    from ..models import IMAGENET_MODELS

    changes: dict[str, Any] = {}
    notes: list[str] = []
    dataset_kwargs = dict(profile.dataset_kwargs)
    if weights is not None:
        if weights == "imagenet":
            other = [m for m in (models or profile.models) if m not in IMAGENET_MODELS]
            if other:
                raise ValueError(f"weights 'imagenet': the models {other} have no torchvision ImageNet weights; use "
                                 "'random' or the profile's own weights")
            weights = "default"
        if weights not in ("default", "random"):
            raise ValueError(f"weights must be 'imagenet', 'random' or 'default', got {weights!r}")
        changes["weights"] = weights
        if weights == "random":
            notes.append("random weights")
    if test_filter is not None:
        if test_filter not in TEST_FILTERS:
            raise ValueError(f"test_filter must be one of {', '.join(TEST_FILTERS)}, got {test_filter!r}")
        if test_filter != "correct" and profile.dataset not in IMAGE_SIZE_KEYS:
            raise ValueError(f"test_filter {test_filter!r} is a filter of ImageNet-S (the paper profile); profile "
                             f"{profile.name!r} reads {profile.dataset!r} - only 'correct' applies to it")
        dataset_kwargs["test_filter"] = test_filter
    rows = profile.methods
    if methods is not None:  # before the rescaling, which checks only the rows kept
        kept = _subset("methods", list(methods), [g.name for g in rows])
        rows = changes["methods"] = tuple(g for g in rows if g.name in kept)
    if image_size is not None:
        if profile.dataset not in IMAGE_SIZE_KEYS:
            raise ValueError(f"image_size applies to ImageNet-S profiles (the paper profile); profile {profile.name!r} "
                             f"reads {profile.dataset!r}")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
            raise ValueError(f"image_size must be a whole number >= 8, got {image_size!r}")
        key, default = IMAGE_SIZE_KEYS[profile.dataset]
        full = int(dataset_kwargs.get(key, default))
        if image_size != full:  # the profile's own size changes nothing (and keeps its fingerprint)
            dataset_kwargs[key] = image_size
            ratio = image_size / full
            scaled = changes["metric_params"] = _scale_metric_params(profile.metric_params, profile.metrics,
                                                                     image_size, ratio, resolved=True)
            changes["selection_metric_params"] = _scale_metric_params(profile.selection_metric_params, profile.metrics,
                                                                      image_size, ratio, resolved=False)
            changes["methods"] = tuple(_scale_grid(g, ratio) for g in rows)
            rescaled = [f"{name} {key} {scaled[name][key]}" for name, key in
                        (("PixelFlipping", "features_in_step"), ("Selectivity", "patch_size")) if name in scaled]
            notes.append(f"{image_size} px instead of {full} ({', '.join(rescaled + ['pixel-sized method parameters'])} "
                         "rescaled)")
    if max_images is not None:
        if isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 2:
            raise ValueError(f"max_images must be a whole number >= 2 (one validation and one test image), got {max_images!r}")
        n_val, n_test = max_images // 2, max_images - max_images // 2
        changes["n_val"] = n_val if profile.n_val is None else min(n_val, profile.n_val)
        changes["n_test"] = n_test if profile.n_test is None else min(n_test, profile.n_test)
        notes.append(f"at most {changes['n_val']} validation + {changes['n_test']} test images")
    if models is not None:
        changes["models"] = tuple(_subset("models", list(models), profile.models))
        notes.append(f"models {', '.join(changes['models'])}")
    if methods is not None:
        notes.append(f"rows {', '.join(g.name for g in rows)}")
    if dataset_kwargs != dict(profile.dataset_kwargs):
        changes["dataset_kwargs"] = dataset_kwargs
    if notes:
        changes["description"] = f"{profile.description} | dry run: {'; '.join(notes)}"
        changes["device"] = "auto"
    return profile.replace(**changes) if changes else profile


def reduction(profile: EvaluationProfile) -> str:
    """The dry-run note :func:`adapt_profile` added to the description ('' for a profile it did not reduce)."""
    return profile.description.split(" | dry run: ", 1)[1] if " | dry run: " in profile.description else ""


# ------------------------------------------------------------------------------------------------ the projection
def full_run_sizes(reference: EvaluationProfile) -> tuple[int | None, dict[str, int], list[str]]:
    """``(image side, {split: images}, notes)`` of the full run of ``reference`` (see the module docstring)."""
    notes: list[str] = []
    size = None
    if reference.dataset in IMAGE_SIZE_KEYS:
        key, default = IMAGE_SIZE_KEYS[reference.dataset]
        size = int(reference.dataset_kwargs.get(key, default))
    n_val, n_test = reference.n_val, reference.n_test
    if reference.dataset == "imagenet_s":
        held_out = int(reference.dataset_kwargs.get("n_val", 50))
        n_val = held_out if n_val is None else min(n_val, held_out)
        if n_test is None:
            test_filter = reference.dataset_kwargs.get("test_filter", "all")
            n_test = IMAGENET_S50_IMAGES - held_out if test_filter == "all" else PAPER_TEST_IMAGES
            if test_filter != "all":
                notes.append(f"test_filter {test_filter!r}: the test count is taken as the paper's {PAPER_TEST_IMAGES} "
                             "(the true count is printed by the full run)")
    if n_val is None or n_test is None:
        raise ValueError(f"profile {reference.name!r} does not say how many images its full run has (n_val / n_test "
                         "None on a dataset other than ImageNet-S); give them in the profile")
    sizes = {"val": int(n_val), "test": int(n_test)}
    if reference.fresh_test:
        sizes["fresh"] = int(n_test)
    return size, sizes, notes


def count_image_units(profile: EvaluationProfile, candidates: Mapping[tuple[str, str], int],
                      images: Mapping[tuple[str, str], int]) -> dict[ImageKey, int]:
    """Images x candidates per (split, metric) of a run of ``profile``.

    ``candidates[(model, row label)]``: the row's candidate count on that model; ``images[(split, model)]``: the
    images of that split for that model. Validation: every candidate of a row with more than one, with the metrics
    of the selection criterion; test: the chosen configuration with every metric, plus the defaults metrics; fresh:
    the confirmatory rows with their metrics.
    """
    _, selection_metrics = selection_metric_names(profile, profile_outputs(profile))
    fresh_rows, fresh_metrics = fresh_plan(profile)
    counts: dict[ImageKey, int] = {}

    def add(split: str, metrics: Sequence[str], amount: int) -> None:
        for metric in metrics:
            counts[(split, metric)] = counts.get((split, metric), 0) + amount

    for (model, row), n_candidates in candidates.items():
        if n_candidates > 1:
            add("val", selection_metrics, n_candidates * images[("val", model)])
        add("test", profile.metrics, images[("test", model)])
        add("test", profile.defaults_metrics, images[("test", model)])
        if row in fresh_rows:
            add("fresh", fresh_metrics, images[("fresh", model)])
    return counts


@dataclass
class CostProjection:
    """Measured seconds of a dry run and the projected seconds of the full run (:func:`project_cost`)."""

    device: str
    image_size: int | None
    full_image_size: int | None
    images: dict[str, int]  # images per split in the dry run (test: mean over models)
    full_images: dict[str, int]
    measured: pd.DataFrame  # MEASURED_COLUMNS: one row per (split, metric)
    pixel_ratio: float
    notes: list[str] = field(default_factory=list)

    @property
    def measured_seconds(self) -> float:
        return float(self.measured["wall_s"].sum())

    @property
    def projected_seconds(self) -> float:
        return float(self.measured["projected_s"].sum())

    def lines(self) -> list[str]:
        """The report printed at the end of a dry run."""
        frame = self.measured
        size = f" at {self.image_size} px" if self.image_size else ""
        full_size = f" at {self.full_image_size} px" if self.full_image_size else ""
        out = [f"Cost on this device ({self.device}), wall seconds of the work units:",
               f"  {'split':<6}{'metric':<26}{'units':>7}{'s/unit':>10}{'s/image':>10}{'full units':>12}"
               f"{'projected s':>14}"]
        for row in frame.itertuples():
            out.append(f"  {row.split:<6}{row.metric:<26}{row.units:>7}{row.s_per_unit:>10.3f}{row.s_per_image:>10.3f}"
                       f"{row.full_units:>12}{row.projected_s:>14.0f}")
        images = " + ".join(f"{n} {split}" for split, n in self.images.items())
        full = " + ".join(f"{n} {split}" for split, n in self.full_images.items())
        out.append(f"  measured: {self.measured_seconds:.1f} s in {int(frame['units'].sum())} units ({images} images{size})")
        out.append(f"  projected full run ({full} images{full_size}, {int(frame['full_units'].sum())} units): "
                   f"images x candidates x seconds per image and metric x pixel ratio {self.pixel_ratio:.2f} = "
                   f"{self.projected_seconds:.0f} s = {self.projected_seconds / 3600:.1f} h")
        out += [f"  note: {note}" for note in self.notes]
        return out


def _dry_images(metadata: Mapping[str, Any], models: Sequence[str]) -> dict[tuple[str, str], int]:
    data = metadata.get("fingerprint", {}).get("data", {})
    images: dict[tuple[str, str], int] = {}
    for model in models:
        for split, described in data.items():
            images[(split, model)] = int(described["n"])
        recorded = metadata.get("models", {}).get(model, {}).get("test_images")
        if recorded is not None:  # test_filter "correct": the model's own test images
            images[("test", model)] = int(recorded)
    return images


def project_cost(profile: EvaluationProfile, reference: EvaluationProfile, metadata: Mapping[str, Any],
                 selection: pd.DataFrame) -> CostProjection:
    """The projected cost of the full run of ``reference`` from the dry run of ``profile`` (module docstring).

    ``metadata`` and ``selection`` are the dry run's (``EvaluationResult.metadata`` / ``.selection``); the rows
    and models counted are those the dry run evaluated (its ``selection.csv``), with their candidate counts.
    """
    candidates = {(str(m), str(r)): int(n) for (m, r), n in selection.groupby(["model", "method"]).size().items()}
    if not candidates:
        raise ValueError("the run evaluated no row (empty selection.csv): nothing to project")
    models = sorted({m for m, _ in candidates})
    dry_images = _dry_images(metadata, models)
    full_size, full_sizes, notes = full_run_sizes(reference)
    size = IMAGE_SIZE_KEYS.get(profile.dataset, (None, None))
    image_size = int(profile.dataset_kwargs.get(size[0], size[1])) if size[0] else None
    ratio = (full_size / image_size) ** 2 if full_size and image_size else 1.0
    full_images = {(split, model): full_sizes[split] for split, model in dry_images if split in full_sizes}
    chunks = {key: math.ceil(n / profile.chunk_size) for key, n in dry_images.items()}
    full_chunks = {key: math.ceil(n / reference.chunk_size) for key, n in full_images.items()}
    dry_units, dry_counts = (count_image_units(profile, candidates, n) for n in (dry_images, chunks))
    full_units, full_counts = (count_image_units(profile, candidates, n) for n in (full_images, full_chunks))
    seconds = metadata.get("seconds", {})
    rows = []
    for (split, metric), image_units in dry_units.items():
        timing = seconds.get(f"metric/{split}/{metric}")
        if not timing or image_units == 0:
            notes.append(f"no measured seconds for {metric} on the {split} split: left out of the projection")
            continue
        wall = float(timing.get("unit_wall_s", 0.0))
        per_image = wall / image_units
        units = dry_counts[(split, metric)]
        full = full_units[(split, metric)]
        rows.append({"split": split, "metric": metric, "units": units, "wall_s": wall, "s_per_unit": wall / max(units, 1),
                     "image_units": image_units, "s_per_image": per_image, "full_image_units": full,
                     "full_units": full_counts[(split, metric)], "projected_s": full * per_image * ratio})
    if ratio != 1.0:
        notes.append(f"pixel ratio ({full_size}/{image_size})^2 = {ratio:.2f}: the cost of an image is taken "
                     "proportional to its pixels (an approximation; pixel-sized parameters were rescaled so that every "
                     "image gets the full run's number of perturbation steps)")
    if ratio != 1.0 and image_size is not None and image_size < 64:
        notes.append(f"at {image_size} px the fixed cost of every model call dominates, which the pixel ratio scales "
                     "too: the projection overestimates (use 64 px or more for a projection)")
    full_rows = {(m, g.name) for m in reference.models for g in reference.methods}
    if set(candidates) != full_rows:
        notes.append(f"the dry run evaluated {len(candidates)} of the reference's {len(full_rows)} (model, row) pairs: "
                     "the projection covers those only - run without --models / --methods (and shards) for the "
                     "whole profile")
    notes.append("time outside the work units (loading models and data, resolving layers, tables) is not counted")
    runs = metadata.get("runs") or [{}]
    device = str(runs[-1].get("device", "?"))
    per_split = {split: round(sum(n for (s, _), n in dry_images.items() if s == split) / len(models))
                 for split in ("val", "test", "fresh") if any(s == split for s, _ in dry_images)}
    return CostProjection(device=device, image_size=image_size, full_image_size=full_size, images=per_split,
                          full_images=dict(full_sizes), measured=pd.DataFrame(rows, columns=MEASURED_COLUMNS), pixel_ratio=ratio, notes=notes)
