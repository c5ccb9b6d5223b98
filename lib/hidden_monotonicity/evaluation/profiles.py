"""Evaluation profiles: every choice of an evaluation run in one frozen dataclass (paper sections D, E).

A profile names the data, the models, the methods with their selection grids, the metrics with
their hyper-parameters, the selection criterion and the work-unit size. Three profiles ship:

``smoke``
    CI: a handful of 32 px digits, the small benchmark VGG (random init when no checkpoint is
    present), four methods including SplitCAM, tiny perturbation budgets; < 2 min on 2 CPU cores.
``default``
    The offline benchmark: the digits test split, both benchmark models, every method and every
    metric category, budgets sized for <= 20 min on a 2-core CPU: 8 validation / 32 test images at
    64 px, PixelFlipping steps of 256 features (48 steps), Selectivity patches of 8 px,
    MaxSensitivity with 5 samples, cheaper settings for the perturbation baselines
    (:data:`CPU_BASELINE_SETTINGS`). Measured: 7.2 min with 16 test images and 3 MaxSensitivity
    samples on one busy core (``--threads 1``), so about 12-15 min at these settings.
``paper``
    ImageNet-S-50 with VGG16 and ResNet18, 50 validation / remaining test images, the paper's
    metric settings (section D.4 of the digest), meant for a GPU.

Selection protocol (digest D.5): every method's layer and hyper-parameters are chosen on the
validation split from ``MethodGrid.grid``; the test split is evaluated with the chosen
configuration only. The criterion is a parameter (``selection_criterion``), default
``"mean_rank"`` over ``selection_metrics`` (the paper's six columns).

Layer grids may use rules instead of names, resolved per model against the method's valid layers
(for split methods ``hm.decompose(model).layer_names``, for layer baselines the Conv2d modules):
``"@last"``, ``"@first"``, ``"@middle"``, ``"@all"`` and ``"@evenly:k"`` (k evenly spaced layers,
the last one included).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

#: The paper's reported metrics (digest D.4), used by default for the selection criterion.
PAPER_SELECTION_METRICS: tuple[str, ...] = (
    "AUC@5",
    "AUC@20",
    "Selectivity",
    "AttributionLocalisation",
    "PointingGame",
    "MaxSensitivity",
)

#: One metric list for every shipped profile: the paper's metrics plus at least one metric of each remaining
#: Quantus category (complexity, randomisation, axiomatic). NonSensitivity and MPRT are in the catalogue too, but
#: cost one forward pass per input feature / one explanation per layer, so no shipped profile runs them.
EVERY_CATEGORY_METRICS: tuple[str, ...] = (
    "PixelFlipping",
    "Selectivity",
    "AttributionLocalisation",
    "PointingGame",
    "MaxSensitivity",
    "Sparseness",
    "Complexity",
    "EfficientMPRT",
    "RandomLogit",
    "Completeness",
    "InputInvariance",
)

SELECTION_CRITERIA = ("mean_rank",)  # or "metric:<output name>" (best mean of one metric)


@dataclass(frozen=True)
class MethodGrid:
    """One table row: a method, the candidate values it is selected from, and fixed parameters.

    ``grid`` maps a parameter name to the candidate values (the cartesian product is searched on
    the validation split); ``fixed`` parameters are passed unchanged to every candidate.
    ``label`` is the row name in tables (defaults to ``method``); labels must be unique per profile.
    """

    method: str
    grid: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    fixed: Mapping[str, Any] = field(default_factory=dict)
    label: str | None = None

    def __post_init__(self) -> None:
        for name, values in self.grid.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
                raise ValueError(
                    f"MethodGrid({self.method!r}).grid[{name!r}] must be a non-empty tuple of candidate "
                    f"values, got {values!r}; write e.g. {{'{name}': ({values!r},)}}"
                )
        overlap = set(self.grid) & set(self.fixed)
        if overlap:
            raise ValueError(
                f"MethodGrid({self.method!r}): {sorted(overlap)} appear in both grid and fixed; keep each "
                "parameter in one of them"
            )

    @property
    def name(self) -> str:
        """The row label used in scores.csv and the tables."""
        return self.label or self.method

    def may_have_several_candidates(self) -> bool:
        """True unless the grid certainly yields one configuration (layer rules may expand to several)."""
        count = 1
        for values in self.grid.values():
            count *= len(values)
        layer_rules = self.grid.get("layer", ())
        expanding = any(isinstance(r, str) and (r == "@all" or (r.startswith("@evenly:") and r != "@evenly:1"))
                        for r in layer_rules)
        return count > 1 or expanding


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Cartesian product of a grid, in a deterministic order (keys sorted, values as given)."""
    keys = sorted(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(tuple(grid[k]) for k in keys))]


@dataclass(frozen=True)
class EvaluationProfile:
    """All parameters of one evaluation run (see the module docstring for the three shipped ones).

    Attributes
    ----------
    dataset, dataset_kwargs:
        ``"digits"`` -> ``hm.data.digits_benchmark(split, **dataset_kwargs)``;
        ``"imagenet_s"`` -> ``hm.data.imagenet_s(data_dir, split, **dataset_kwargs)``.
    n_val, n_test:
        Number of images used from the validation / test split (``None``: all), taken in order.
    models:
        Names for ``hm.models.load``.
    allow_random_init:
        Use a randomly initialised model when its checkpoint is missing (smoke only).
    methods:
        One :class:`MethodGrid` per table row.
    metrics:
        Names from :data:`hidden_monotonicity.evaluation.metrics.CATALOGUE`.
    metric_params:
        Per-metric overrides of the catalogue defaults (the resolved values are written to
        metadata.json).
    selection_metrics, selection_criterion:
        Outputs and criterion of the validation-split selection (paper D.5).
    selection_metric_params:
        Overrides of ``metric_params`` used on the validation split only (e.g. fewer MaxSensitivity
        samples while searching a large grid); the test split always uses ``metric_params``.
    chunk_size:
        Images per work unit (also the Quantus batch size); units are the resume granularity.
    seed:
        Root of every random choice (per-unit seeds are derived from it).
    """

    name: str
    description: str
    dataset: str
    dataset_kwargs: Mapping[str, Any]
    n_val: int | None
    n_test: int | None
    models: tuple[str, ...]
    methods: tuple[MethodGrid, ...]
    metrics: tuple[str, ...]
    metric_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    selection_metrics: tuple[str, ...] = PAPER_SELECTION_METRICS
    selection_criterion: str = "mean_rank"
    selection_metric_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    chunk_size: int = 8
    seed: int = 0
    device: str = "cpu"
    allow_random_init: bool = False

    def __post_init__(self) -> None:
        labels = [m.name for m in self.methods]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise ValueError(f"profile {self.name!r}: method labels must be unique, repeated: {duplicates}")
        if self.chunk_size < 1:
            raise ValueError(f"profile {self.name!r}: chunk_size must be >= 1, got {self.chunk_size}")
        criterion = self.selection_criterion
        if criterion not in SELECTION_CRITERIA and not criterion.startswith("metric:"):
            raise ValueError(
                f"profile {self.name!r}: selection_criterion {criterion!r} unknown; use 'mean_rank' or "
                "'metric:<output name>'"
            )
        unknown_params = sorted((set(self.metric_params) | set(self.selection_metric_params)) - set(self.metrics))
        if unknown_params:
            raise ValueError(
                f"profile {self.name!r}: metric_params given for metrics not in the profile: {unknown_params}"
            )

    def replace(self, **changes: Any) -> "EvaluationProfile":
        """A copy with some fields changed (validation runs again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (recorded in metadata.json; used to check resume/merge consistency)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=_json_default))

    @classmethod
    def from_dict(cls, described: Mapping[str, Any]) -> "EvaluationProfile":
        """Rebuild a profile from :meth:`to_dict` (``merge`` reads it back from metadata.json)."""
        data = dict(described)
        for key in ("models", "metrics", "selection_metrics"):
            data[key] = tuple(data[key])
        data["methods"] = tuple(
            MethodGrid(m["method"], grid={k: tuple(v) for k, v in m["grid"].items()}, fixed=dict(m["fixed"]),
                       label=m["label"])
            for m in data["methods"]
        )
        return cls(**data)


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot describe {type(value).__name__} in a profile; use plain numbers, strings, tuples")


# --------------------------------------------------------------------------------------------
# method grids shared by the profiles
# --------------------------------------------------------------------------------------------

#: Baselines without a layer parameter (paper D.3 plus the common gradient methods).
PIXEL_BASELINES: tuple[str, ...] = (
    "saliency",
    "saliency_abs",
    "input_x_gradient",
    "guided_backprop",
    "integrated_gradients",
    "deeplift",
    "gradient_shap",
    "occlusion",
    "feature_ablation",
    "lrp_epsilon",
    "lrp_gamma",
    "lrp_epsilon_plus_flat",
)
#: CAM baselines (need a layer).
CAM_BASELINES: tuple[str, ...] = ("gradcam", "gradcam_pp", "layercam", "xgradcam")
#: The paper's methods (section C).
SPLIT_METHODS: tuple[str, ...] = ("splitcam", "splitgrad", "splitlrp")


def _baseline_grids(
    abs_values: tuple[bool, ...],
    cam_layers: tuple[str, ...],
    fixed: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[MethodGrid, ...]:
    """Rows of every baseline: pixel methods select ``abs``, CAMs select the layer; ``fixed`` per method."""
    fixed = fixed or {}
    pixel = tuple(MethodGrid(name, grid={"abs": abs_values}, fixed=dict(fixed.get(name, {}))) for name in PIXEL_BASELINES)
    cams = tuple(MethodGrid(name, grid={"layer": cam_layers}, fixed=dict(fixed.get(name, {}))) for name in CAM_BASELINES)
    return pixel + cams


#: Cost settings of the perturbation / path baselines on the 64 px CPU benchmark (each explanation is
#: repeated nr_samples times by MaxSensitivity and twice more by the randomisation metrics).
CPU_BASELINE_SETTINGS: dict[str, dict[str, Any]] = {
    "integrated_gradients": {"n_steps": 16},
    "gradient_shap": {"n_samples": 8},
    "occlusion": {"window": 16, "stride": 8},  # 7 x 7 windows at 64 px
    "feature_ablation": {"patch_size": 16},  # 4 x 4 patches at 64 px
}


# --------------------------------------------------------------------------------------------
# smoke
# --------------------------------------------------------------------------------------------

SMOKE = EvaluationProfile(
    name="smoke",
    description="CI smoke test: 4+4 digits at 32 px, small benchmark VGG (random init allowed), 4 methods",
    dataset="digits",
    dataset_kwargs={"size": 32, "seed": 0, "mask": "stroke"},
    n_val=4,
    n_test=4,
    models=("benchmark_vgg",),
    allow_random_init=True,
    methods=(
        MethodGrid("saliency", grid={"abs": (False,)}),
        MethodGrid("input_x_gradient", grid={"abs": (False,)}),
        MethodGrid("gradcam", grid={"layer": ("@last",)}),
        MethodGrid(
            "splitcam",
            grid={"layer": ("@evenly:2",), "alpha": (0.4,)},
            fixed={"stabilize": "scale", "maxpool": "wta"},
        ),
    ),
    metrics=EVERY_CATEGORY_METRICS,
    metric_params={
        # 32x32 images: H*W = 1024 must be a multiple of features_in_step; 3*1024/64 = 48 steps,
        # so AUC@5 integrates 2 curve points and AUC@20 9
        "PixelFlipping": {"features_in_step": 64},
        "Selectivity": {"patch_size": 8},
        "MaxSensitivity": {"nr_samples": 3},
    },
    chunk_size=4,
    seed=0,
)

# --------------------------------------------------------------------------------------------
# default (offline benchmark, 2-core CPU)
# --------------------------------------------------------------------------------------------

DEFAULT = EvaluationProfile(
    name="default",
    description=(
        "Offline benchmark: digits test split at 64 px, both benchmark models, every method, all six "
        "Quantus categories; sized for <= 20 min on a 2-core CPU"
    ),
    dataset="digits",
    dataset_kwargs={"size": 64, "seed": 0, "mask": "stroke"},
    n_val=8,
    n_test=32,
    models=("benchmark_vgg", "benchmark_resnet"),
    methods=_baseline_grids(abs_values=(False, True), cam_layers=("@last",), fixed=CPU_BASELINE_SETTINGS)
    + (
        MethodGrid(
            "splitcam",
            grid={"layer": ("@evenly:2",), "alpha": (0.3, 0.4)},
            fixed={"stabilize": "scale", "maxpool": "wta"},
        ),
        MethodGrid(
            "splitgrad",
            grid={"layer": ("@first",), "alpha": (0.4, 0.5)},
            fixed={"stabilize": "scale", "maxpool": "wta"},
        ),
        MethodGrid(
            "splitlrp",
            grid={"layer": ("@first",), "abs": (False, True)},
            fixed={"stabilize": "scale", "maxpool": "wta"},
        ),
    ),
    metrics=EVERY_CATEGORY_METRICS,
    metric_params={
        # 64x64: 3*4096/256 = 48 steps, so AUC@5 integrates 2 curve points and AUC@20 9
        "PixelFlipping": {"features_in_step": 256},
        "Selectivity": {"patch_size": 8},  # 8 x 8 patches of 8 px (VGG16 at 224: 28 x 28)
        "MaxSensitivity": {"nr_samples": 5},
    },
    chunk_size=8,
    seed=0,
)

# --------------------------------------------------------------------------------------------
# paper (ImageNet-S-50, GPU)
# --------------------------------------------------------------------------------------------

PAPER = EvaluationProfile(
    name="paper",
    description=(
        "Paper setting: ImageNet-S-50 (50 validation / remaining test images), VGG16 and ResNet18, "
        "Quantus metrics at the paper's settings (digest D.4); for a GPU"
    ),
    dataset="imagenet_s",
    dataset_kwargs={},
    n_val=None,
    n_test=None,
    models=("vgg16", "resnet18"),
    methods=_baseline_grids(abs_values=(False, True), cam_layers=("@evenly:4",))
    + (
        MethodGrid(
            "splitcam",
            grid={"layer": ("@evenly:5",), "alpha": (0.3, 0.4), "abs": (False, True), "stabilize": ("scale", "shift")},
            fixed={"maxpool": "wta"},
        ),
        MethodGrid(
            "splitgrad",
            grid={"layer": ("input", "@evenly:2"), "alpha": (0.3, 0.4, 0.5), "abs": (False, True)},
            fixed={"stabilize": "scale", "maxpool": "wta"},
        ),
        MethodGrid(
            "splitlrp",
            grid={"layer": ("input", "@evenly:2"), "abs": (False, True), "stabilize": ("scale", "shift")},
            fixed={"maxpool": "wta"},
        ),
    ),
    metrics=EVERY_CATEGORY_METRICS,
    metric_params={
        # 224x224: 3*224*224/224 = 672 steps (the Quantus ImageNet tutorial's step); AUC@5 = 34 points
        "PixelFlipping": {"features_in_step": 224},
        "Selectivity": {"patch_size": 8},
        "MaxSensitivity": {"nr_samples": 200, "lower_bound": 0.2},
        "RandomLogit": {"num_classes": 1000},
    },
    # the grid search runs MaxSensitivity for every candidate (splitcam: 40) on the 50 validation images
    selection_metric_params={"MaxSensitivity": {"nr_samples": 20}},
    chunk_size=16,
    seed=0,
    device="cuda",
)

PROFILES: dict[str, EvaluationProfile] = {p.name: p for p in (SMOKE, DEFAULT, PAPER)}


def get_profile(profile: str | EvaluationProfile, **overrides: Any) -> EvaluationProfile:
    """Return a shipped profile by name (or the given one), with field overrides applied."""
    if isinstance(profile, EvaluationProfile):
        base = profile
    else:
        try:
            base = PROFILES[profile]
        except KeyError:
            raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)}") from None
    return base.replace(**overrides) if overrides else base

# --------------------------------------------------------------------------------------------
# natural (EfficientNet-Lite0 on the grid pointing game, offline, 2-core CPU)
# --------------------------------------------------------------------------------------------

#: Parameters measured in pixels; the natural profile scales them from the default profile's 64 px to 224 px.
PIXEL_SIZED_PARAMETERS: tuple[str, ...] = ("window", "stride", "patch_size")


def _rows_at_image_size(rows: Sequence[MethodGrid], factor: float) -> tuple[MethodGrid, ...]:
    """The same rows (methods, candidates, layer rules) with every pixel-sized parameter multiplied by ``factor``."""

    def scaled(name: str, value: Any) -> Any:
        return int(round(value * factor)) if name in PIXEL_SIZED_PARAMETERS and isinstance(value, int) else value

    return tuple(
        MethodGrid(
            row.method,
            grid={name: tuple(scaled(name, v) for v in values) for name, values in row.grid.items()},
            fixed={name: scaled(name, value) for name, value in row.fixed.items()},
            label=row.label,
        )
        for row in rows
    )


#: EfficientNet-Lite0 on the grid pointing game. Cost, measured on the shared 2-core machine (CPU time of one
#: evaluate() call with n_val = n_test = 1, method saliency): building the two splits (9 photo + 32 view
#: classifications each at 224 px) 33 CPU s; one validation candidate on one image (the five selection metrics)
#: about 28 CPU s. With 36 candidates (this branch's default grids), 2 validation and 8 test images and 19 methods
#: that projects to roughly 3 CPU hours; the 8-minute target of issue 14 is not met on a 2-core CPU.
NATURAL = EvaluationProfile(
    name="natural",
    description=(
        "Natural photos offline: EfficientNet-Lite0 (ImageNet weights) on the 2x2 grid pointing game at 224 px "
        "(mosaics of the few shipped photos it classifies correctly), every method under the default profile's "
        "selection protocol, all metric categories. Measured cost: ~28 CPU s per validation candidate and image for "
        "the cheapest method (saliency), so about 3 CPU hours in all: far over the 8-minute target on 2 cores; "
        "meant for a GPU, or shard it (--num-shards) over several machines"
    ),
    dataset="grid_pointing_game",
    dataset_kwargs={"model": "efficientnet_lite0", "seed": 0, "grid": 2, "size": 224},
    n_val=2,
    n_test=8,
    models=("efficientnet_lite0",),
    # the default profile's rows (methods, candidate grids, layer rules, cost settings), with windows and patches
    # scaled from 64 to 224 px so that they cover the same fraction of the image
    methods=_rows_at_image_size(DEFAULT.methods, 224 / 64),
    metrics=EVERY_CATEGORY_METRICS,
    metric_params={
        # 224x224: 3*50176/3136 = 48 steps as in the default profile (AUC@5: 2 curve points, AUC@20: 9)
        "PixelFlipping": {"features_in_step": 3136},
        "Selectivity": {"patch_size": 28},  # 8 x 8 patches, as the default's 8 px patches at 64 px
        "MaxSensitivity": {"nr_samples": 3},
    },
    selection_metric_params={"MaxSensitivity": {"nr_samples": 2}},
    chunk_size=8,
    seed=0,
)
PROFILES[NATURAL.name] = NATURAL
