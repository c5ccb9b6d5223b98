"""The ``natural`` and ``natural_smoke`` evaluation profiles: EfficientNet-Lite0 on the grid pointing game built from
the photos inside installed packages (notebook 07). They reuse the default profile's rows, candidates, metrics and
selection, with pixel-sized parameters scaled to the mosaics; :data:`.profiles.PROFILES` holds them once this module
is imported (``profiles`` imports it at its end)."""

from __future__ import annotations

from typing import Any, Sequence

from .profiles import DEFAULT, EVERY_CATEGORY_METRICS, PROFILES, EvaluationProfile, MethodGrid

# --------------------------------------------------------------------------------------------
# natural (EfficientNet-Lite0 on the grid pointing game, offline, 2-core CPU)
# --------------------------------------------------------------------------------------------

#: Parameters measured in pixels; the natural profile scales them from the default profile's 64 px to its own size.
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


#: Image size of the natural profile's mosaics (2 x 2 cells of 80 px; EfficientNet-Lite0's TF padding is exact at
#: multiples of 32). At 224 px (112 px cells) the same run costs about twice as much (measured without reused
#: explanations: 184 s per validation and 85 s per test mosaic for all 19 rows, wall, 2 cores); the same four photos
#: survive as confidently classified cells at 128, 160 and 224 px (and five at 192).
NATURAL_SIZE = 160

#: EfficientNet-Lite0 on the grid pointing game, sized for <= 8 minutes wall on the 2-core CPU (issue 14): the
#: default profile's rows, metrics and selection criterion; the only cost changes against the default profile are
#: the image size (:data:`NATURAL_SIZE`), the number of images and one MaxSensitivity sample per candidate on the
#: validation mosaics (the default: 2), where 73 candidates are each re-explained per sample. Measured (2 threads,
#: 2 cores): 310 s for 2 validation + 6 test mosaics (validation 117 s, 6 test mosaics 185 s), so about 6 min
#: for the 8 test mosaics.
NATURAL = EvaluationProfile(
    name="natural",
    description=(
        f"Natural photos offline: EfficientNet-Lite0 (ImageNet weights) on the 2x2 grid pointing game at {NATURAL_SIZE} px "
        "(mosaics of the four shipped photos it classifies confidently as cells), 2 validation / 8 test mosaics, "
        "every method under the default profile's selection protocol, all metric categories; <= 8 min on 2 CPU cores"
    ),
    dataset="grid_pointing_game",
    dataset_kwargs={"model": "efficientnet_lite0", "seed": 0, "grid": 2, "size": NATURAL_SIZE},
    n_val=2,
    n_test=8,
    models=("efficientnet_lite0",),
    # the default profile's rows (methods, candidate grids, layer rules, cost settings), with windows and patches
    # scaled from 64 px to NATURAL_SIZE so that they cover the same fraction of the image
    methods=_rows_at_image_size(DEFAULT.methods, NATURAL_SIZE / 64),
    metrics=EVERY_CATEGORY_METRICS,
    metric_params={
        # 3 * 160 * 160 / 1600 = 48 steps as in the default profile (AUC@5: 2 curve points, AUC@20: 9)
        "PixelFlipping": {"features_in_step": 3 * NATURAL_SIZE * NATURAL_SIZE // 48},
        # 4 x 4 patches, as the default profile's 16 px patches at 64 px
        "Selectivity": {"patch_size": NATURAL_SIZE // 4},
        "MaxSensitivity": {"nr_samples": 3},
    },
    selection_metric_params={"MaxSensitivity": {"nr_samples": 1}},
    chunk_size=8,
    seed=0,
    qualitative=(
        "Qualitative sanity check, not evidence: the validation and test mosaics are views of the same four photos, "
        "so the selection saw the test photos and the effective number of independent test images is at most four "
        "(the intervals treat the mosaics as independent and are too narrow); no winner is marked."
    ),
)
PROFILES[NATURAL.name] = NATURAL

#: The natural profile cut to seconds (notebook 07 under the smoke profile, make test): 128 px mosaics (the same four
#: photos survive), one validation and two test mosaics, three methods - a selected saliency, LayerCAM and SplitCAM at
#: the last layer - and every category with the cheapest settings.
NATURAL_SMOKE_SIZE = 128
NATURAL_SMOKE = NATURAL.replace(
    name="natural_smoke",
    description=(f"Seconds-long check of the natural profile: {NATURAL_SMOKE_SIZE} px grid pointing game, 1 + 2 mosaics, "
                 "3 methods"),
    dataset_kwargs={"model": "efficientnet_lite0", "seed": 0, "grid": 2, "size": NATURAL_SMOKE_SIZE, "views_per_photo": 2},
    n_val=1,
    n_test=2,
    methods=(
        MethodGrid("saliency", grid={"abs": (False, True)}),
        MethodGrid("layercam", grid={"layer": ("@last",)}),
        MethodGrid("splitcam", grid={"layer": ("@last",)}, fixed={"alpha": 0.4, "stabilize": "scale", "maxpool": "wta"}),
    ),
    # one metric of every category; the cheap randomisation metric (RandomLogit: one explanation per chunk)
    metrics=tuple(m for m in EVERY_CATEGORY_METRICS if m != "EfficientMPRT"),
    metric_params={"PixelFlipping": {"features_in_step": 3 * NATURAL_SMOKE_SIZE * NATURAL_SMOKE_SIZE // 48},
                   "Selectivity": {"patch_size": NATURAL_SMOKE_SIZE // 4}, "MaxSensitivity": {"nr_samples": 1}},
    selection_metric_params={},
)
PROFILES[NATURAL_SMOKE.name] = NATURAL_SMOKE
