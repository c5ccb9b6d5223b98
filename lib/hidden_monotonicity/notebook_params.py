"""The notebooks' settings: profiles, parameters and the per-notebook sizes of ``notebooks/``.

Every notebook starts with a papermill ``parameters`` cell (``profile``, ``model``, ``dataset``, ``data_dir``,
``device``, ``seed``, ``output_dir`` ...) and then calls::

    config = hm.notebook_params.configure("03_saliency_gallery", profile=profile, model=model, ...)

which validates the parameters, fills in what was left ``None`` from the notebook's profile (the sizes that
make a ``smoke`` run take seconds and a ``default`` run show the real picture), seeds every random generator,
picks the device and creates the output folder. ``config.figures`` is a
:class:`~hidden_monotonicity.outputs.FigureSaver` (module :mod:`hidden_monotonicity.outputs`); notebooks write
every output file through it, with the file name as a literal.

Profiles (:data:`PROFILES`): ``"default"`` (what ``make reproduce`` runs; committed figures; the lecturer's
preparation), ``"classroom"`` (every notebook's lesson at laptop speed: notebook 04 loads the default run's per-image
results shipped in ``figures/`` instead of recomputing them, 05 trains every main model including the DM CNN for one
seed, 02 shows the benchmark models; its figures go to :data:`PROFILE_OUTPUT_DIRS` unless ``output_dir`` is set, never
into the committed ``figures/``) and ``"smoke"`` (what CI runs to see that every cell works; seconds per notebook, not
meant for teaching: reduced images, epochs and models). Notebook 04 also takes ``"paper"`` (:data:`NOTEBOOK_EXTRA_PROFILES`): the paper's ImageNet-S-50
evaluation, which needs ``data_dir`` and a GPU - or, offline, a dry run on the fixture of
``python -m hidden_monotonicity fixture imagenet-s DIR`` with ``weights="random"``, ``image_size=64``,
``max_images=4`` (``papermill -p profile paper -p data_dir DIR -p weights random -p image_size 64 -p max_images 4``). Relative output folders are taken relative to the repository root, so a notebook
writes to ``<repository>/figures`` whichever folder Jupyter was started in.

Two loading helpers are the notebooks' conveniences over the library's loaders: :func:`load_model` (the model in eval
mode on a device, with its weights description) and :func:`load_images` (the digits cached under ``data/cache``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .environment import seed_everything
from .outputs import FigureSaver, display_path, repository_root

__all__ = [
    "DATASETS",
    "DATA_DIR_NEEDED",
    "NOTEBOOKS",
    "NOTEBOOK_DATASETS",
    "NOTEBOOK_EXTRA_PROFILES",
    "NOTEBOOK_SETTINGS",
    "PROFILES",
    "PROFILE_OUTPUT_DIRS",
    "PROFILE_THREADS",
    "NotebookConfig",
    "configure",
    "profile_settings",
    "has_imagenet_s",
    "native_input_size",
    "seed_everything",
    "load_images",
    "load_model",
]

PROFILES: tuple[str, ...] = ("default", "classroom", "smoke")
#: torch threads per profile when a notebook's ``threads`` parameter is ``None`` (None: torch's default).
PROFILE_THREADS: dict[str, int | None] = {"default": 1, "classroom": 1, "smoke": 1, "paper": None}
#: Where a profile's figures go when the notebook's ``output_dir`` is left at ``"figures"`` (relative to the
#: repository root): a classroom run must not overwrite the committed default figures.
PROFILE_OUTPUT_DIRS: dict[str, str] = {"classroom": "results/classroom/figures"}
DATASETS: tuple[str, ...] = ("digits", "imagenet_s")
#: Notebooks whose data sets differ from :data:`DATASETS`: notebook -> the values its ``dataset`` parameter accepts.
#: 05: the sklearn 8x8 digits (offline) or MNIST from a local torchvision copy (``data_dir`` holds ``MNIST/raw/``).
NOTEBOOK_DATASETS: dict[str, tuple[str, ...]] = {"05_self_explaining_models": ("digits", "mnist")}
#: What a data set needs in ``data_dir`` (the message when it is missing).
DATA_DIR_NEEDED: dict[str, str] = {
    "imagenet_s": "the folder holding ImageNetS50/",
    "mnist": "a torchvision MNIST root: the folder holding MNIST/raw/train-images-idx3-ubyte and the other IDX files",
}

#: Notebook-specific settings: ``"common"`` values, overridden by the profile's values.
NOTEBOOK_SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "00_environment": {"common": {}, "default": {}, "classroom": {}, "smoke": {}},
    "01_dc_decomposition_toys": {
        "common": {"model": "toy", "dataset": "none", "hidden_1d": (6, 6), "hidden_2d": (8, 8), "check_pairs": 2000},
        "default": {"points_1d": 801, "points_2d": 121},
        "classroom": {"points_1d": 801, "points_2d": 121},
        "smoke": {"points_1d": 201, "points_2d": 41},
    },
    "02_numerical_stability": {
        "common": {"dataset": "digits", "alphas": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5), "strategies": ("none", "shift", "scale", "threshold")},
        # (model name, input side): torchvision models at random init unless their ImageNet weights are cached
        # threads: VGG16 / ResNet18 at 224 px keep both cores of the 2-core machine busy (make reproduce runs one notebook
        # at a time)
        "default": {"model": "benchmark_vgg", "models": (("benchmark_vgg", 64), ("benchmark_resnet", 64), ("vgg16", 224), ("resnet18", 224)), "n_images": 1,
                    "threads": 2},
        # classroom: the two trained benchmark models the text discusses, without the 224 px torchvision models (a
        # minute of the default run on 2 cores; their blow-up is in the committed figures)
        "classroom": {"model": "benchmark_vgg", "models": (("benchmark_vgg", 64), ("benchmark_resnet", 64)), "n_images": 1},
        "smoke": {"model": "resnet18", "models": (("resnet18", 32),), "n_images": 1},
    },
    "03_saliency_gallery": {
        # image_size: digits benchmark; imagenet_image_size: ImageNet-S crops (smoke: small, for speed)
        # photo_size / photo_names: the EfficientNet-Lite0 section's shipped photos (hm.data.natural_photos)
        "common": {"dataset": "digits", "alphas": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5), "image_size": 64, "imagenet_image_size": 224,
                   "sample_images": 100, "photo_size": 224, "photo_names": ("chelsea", "coffee", "camera", "motorcycle")},
        "default": {
            "model": "benchmark_vgg",
            "threads": 2,  # its photo section runs EfficientNet-Lite0 at 224 px (both cores; one notebook at a time)
            "n_images": 4,
            "methods": (
                ("SplitCAM", "splitcam", {}),
                ("SplitGrad", "splitgrad", {}),
                ("SplitLRP", "splitlrp", {}),
                ("LayerCAM", "layercam", {}),
                ("Grad-CAM++", "gradcam_pp", {}),
                ("Guided Backprop", "guided_backprop", {}),
                ("Integrated Gradients", "integrated_gradients", {"n_steps": 16}),
                ("LRP-γ", "lrp_gamma", {}),
                ("Saliency", "saliency", {}),
            ),
            "n_layers": 5,
        },
        # classroom: the default gallery; the EfficientNet-Lite0 section on two of the four photos (chelsea, coffee)
        "classroom": {"based_on": "default", "photo_names": ("chelsea", "coffee")},
        "smoke": {
            "model": "benchmark_vgg",
            "n_images": 2,
            "image_size": 32,
            "imagenet_image_size": 64,
            "alphas": (0.0, 0.25, 0.5),
            "methods": (("SplitCAM", "splitcam", {}), ("SplitLRP", "splitlrp", {}), ("LayerCAM", "layercam", {})),
            "n_layers": 2,
            "photo_size": 64,
            "photo_names": ("chelsea", "coffee"),
        },
    },
    "04_quantitative_evaluation": {
        # model "all": every model of the evaluation profile; weights / image_size / max_images / test_filter None:
        # the evaluation profile's own (set them for a dry run: hidden_monotonicity.evaluation.cost.adapt_profile)
        # workers: evaluation processes ("auto": one per CPU core; hm.evaluate(workers=...), evaluation.parallel)
        "common": {"dataset": "digits", "model": "all", "evaluation_overrides": {}, "weights": None, "image_size": None,
                   "max_images": None, "test_filter": None, "workers": "auto", "shipped_results": False},
        "default": {"evaluation_profile": "default"},
        # classroom: the default evaluation, its per-image results loaded from figures/ (evaluation.results.shipped_result)
        # together with the class-sensitivity and alpha-ablation tables: seconds instead of 15 minutes
        "classroom": {"evaluation_profile": "default", "shipped_results": True},
        "smoke": {
            "evaluation_profile": "smoke",
            "workers": 1,  # seconds of work: starting worker processes would cost more
            # the smoke evaluation profile, cut to the paper's three categories and two images per split
            "evaluation_overrides": {
                "n_val": 2,
                "n_test": 2,
                "metrics": ("PixelFlipping", "Selectivity", "AttributionLocalisation", "PointingGame", "MaxSensitivity"),
                "metric_params": {"PixelFlipping": {"features_in_step": 64}, "Selectivity": {"patch_size": 8},
                                  "MaxSensitivity": {"nr_samples": 2}},
            },
        },
    },
    "05_self_explaining_models": {
        # dataset: "digits" or "mnist" (NOTEBOOK_DATASETS); dm_forms: the DM rows in both forms, g(x) - h(1 - x) and
        # g(x) - h(x) (monotone.experiment.default_variants; a DM MLP more in smoke, two DM models x seeds in default)
        "common": {"dataset": "digits", "model": "dic", "dm_forms": ("inverted", "identity")},
        "default": {"seeds": (0, 1, 2), "epochs": 30, "include_cnn": True, "compare_constraints": True, "include_library": True},
        # classroom: the default training (30 epochs) of every main-table model, the DM CNN included, for the first seed
        # (about 30 s on 2 cores); the constraint comparison and the other seeds stay in the committed table
        "classroom": {"seeds": (0,), "epochs": 30, "include_cnn": True, "compare_constraints": False, "include_library": True},
        "smoke": {"seeds": (0,), "epochs": 2, "include_cnn": False, "compare_constraints": False, "include_library": False},
    },
    "06_interactive_explorer": {
        "common": {"dataset": "digits", "image_size": 64, "imagenet_image_size": 224},
        "default": {"model": "benchmark_vgg", "models": ("benchmark_vgg", "benchmark_resnet"), "n_images": 12, "metrics": True},
        "classroom": "default",
        "smoke": {"model": "benchmark_vgg", "models": ("benchmark_vgg",), "n_images": 2, "image_size": 32,
                  "imagenet_image_size": 64, "metrics": True},
    },
    "07_natural_photo_evaluation": {
        # threads: a 160 px ImageNet network keeps both cores busy (explanations 1.4-1.7x faster than on one thread)
        # workers: the evaluation's processes, each with threads // workers torch threads (evaluation.parallel)
        "common": {"model": "efficientnet_lite0", "dataset": "grid_pointing_game", "threads": 2, "gallery_mosaic": 0,
                   "workers": "auto"},
        "default": {"evaluation_profile": "natural"},
        # classroom: 07 is optional reading (its committed outputs); a classroom run only checks that its cells work
        "classroom": "smoke",
        "smoke": {"evaluation_profile": "natural_smoke", "workers": 1},
    },
}
NOTEBOOKS: tuple[str, ...] = tuple(NOTEBOOK_SETTINGS)
#: Profiles only some notebooks have, beside :data:`PROFILES`: notebook -> profile -> settings (over ``"common"``).
#: ``"paper"``: notebook 04 on the paper's evaluation profile (ImageNet-S-50, VGG16 and ResNet18; needs data_dir).
NOTEBOOK_EXTRA_PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "04_quantitative_evaluation": {"paper": {"evaluation_profile": "paper", "dataset": "imagenet_s"}},
}

# ----------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class NotebookConfig:
    """The resolved parameters of one notebook run; notebook-specific settings are attributes too."""

    notebook: str
    profile: str
    model: str
    dataset: str
    data_dir: Path | None
    device: str
    seed: int
    output_dir: Path
    settings: Mapping[str, Any] = field(default_factory=dict)
    figures: FigureSaver | None = field(default=None, compare=False, repr=False)

    def __getattr__(self, name: str) -> Any:
        settings = object.__getattribute__(self, "settings")
        if name in settings:
            return settings[name]
        raise AttributeError(
            f"{object.__getattribute__(self, 'notebook')} has no setting {name!r}; settings: {', '.join(sorted(settings))}"
        )

    @property
    def smoke(self) -> bool:
        return self.profile == "smoke"

    def describe(self):
        """The parameters as a two-column ``pandas.DataFrame`` (for display at the top of a notebook)."""
        import pandas as pd

        rows = [
            ("notebook", self.notebook),
            ("profile", self.profile),
            ("model", self.model),
            ("dataset", self.dataset),
            ("data_dir", str(self.data_dir) if self.data_dir else "-"),
            ("device", self.device),
            ("seed", self.seed),
            ("torch threads", _torch_threads()),
            ("output_dir", display_path(self.output_dir)),
        ]
        rows += [(key, _short(value)) for key, value in self.settings.items() if key not in ("model", "dataset")]
        return pd.DataFrame(rows, columns=["parameter", "value"]).astype({"value": str})


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def configure(
    notebook: str,
    profile: str = "default",
    *,
    model: str | None = None,
    dataset: str | None = None,
    data_dir: str | os.PathLike | None = None,
    device: str | None = "auto",
    seed: int = 0,
    output_dir: str | os.PathLike | None = "figures",
    threads: int | None = None,
    **overrides: Any,
) -> NotebookConfig:
    """Validate a notebook's parameters and fill in its profile's settings (see the module docstring).

    ``model`` / ``dataset`` ``None``: the profile's choice. ``output_dir``: relative paths are relative to the
    repository root. ``threads``: ``torch.set_num_threads``; ``None`` takes the notebook's ``threads`` setting if it has
    one (07: 2), else the profile's choice (:data:`PROFILE_THREADS`: 1 for both, because the benchmark models are
    small: on one thread they run as fast as on two, and on a busy machine up to 100x faster, where competing OpenMP
    threads spin; pass more threads for 224 px ImageNet models on an idle machine).
    ``overrides``: any notebook setting (e.g. ``n_images=8``); unknown names are an error.
    Seeds Python, NumPy and torch with ``seed``.
    """
    if notebook not in NOTEBOOK_SETTINGS:
        raise ValueError(f"unknown notebook {notebook!r}; known: {', '.join(NOTEBOOKS)}")
    extra = NOTEBOOK_EXTRA_PROFILES.get(notebook, {})
    if profile not in PROFILES and profile not in extra:
        others = sorted({name for profiles in NOTEBOOK_EXTRA_PROFILES.values() for name in profiles})
        where = "; ".join(f"{name!r} only for {', '.join(n for n, p in NOTEBOOK_EXTRA_PROFILES.items() if name in p)}"
                          for name in others)
        raise ValueError(f"unknown profile {profile!r} for {notebook}; choose one of {', '.join(PROFILES)}"
                         f"{f' ({where})' if where else ''}")
    table = {**NOTEBOOK_SETTINGS[notebook], **extra}
    settings = {**table["common"], **profile_settings(notebook, profile)}
    known = set().union(*(set(values) - {"based_on"} for values in table.values() if isinstance(values, Mapping)))
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"{notebook}: unknown setting(s) {unknown}; known settings: {', '.join(sorted(known)) or 'none'}")
    settings.update({key: value for key, value in overrides.items() if value is not None})
    model = model if model is not None else settings.get("model", "-")
    dataset = dataset if dataset is not None else settings.get("dataset", "-")
    accepted = NOTEBOOK_DATASETS.get(notebook, DATASETS if settings.get("dataset") in DATASETS else None)
    if accepted is not None and dataset not in accepted:
        raise ValueError(f"dataset must be one of {', '.join(accepted)} for {notebook}, got {dataset!r}")
    if dataset in DATA_DIR_NEEDED and data_dir is None:
        raise ValueError(f"dataset={dataset!r} needs data_dir ({DATA_DIR_NEEDED[dataset]})")
    from .environment import select_device

    resolved_device = select_device(device)
    threads = threads if threads is not None else settings.get("threads", PROFILE_THREADS[profile])
    if threads is not None:
        import torch

        if int(threads) < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(int(threads))
    seed_everything(seed)
    if output_dir is None or Path(output_dir) == Path("figures"):  # the parameter's default: the profile's own folder
        output_dir = PROFILE_OUTPUT_DIRS.get(profile, "figures")
    folder = _resolve_folder(output_dir)
    return NotebookConfig(
        notebook=notebook,
        profile=profile,
        model=str(model),
        dataset=str(dataset),
        data_dir=Path(data_dir).expanduser() if data_dir is not None else None,
        device=resolved_device,
        seed=int(seed),
        output_dir=folder,
        settings=settings,
        figures=FigureSaver(folder),
    )


def profile_settings(notebook: str, profile: str) -> dict[str, Any]:
    """The settings ``profile`` sets for ``notebook`` (over its ``"common"`` ones). A profile entry that is a string
    names another profile of the same notebook whose settings it shares (e.g. ``"classroom": "default"``); a dict
    with ``"based_on": "default"`` takes that profile's settings and changes some."""
    table = {**NOTEBOOK_SETTINGS[notebook], **NOTEBOOK_EXTRA_PROFILES.get(notebook, {})}
    entry, seen, changes = table[profile], [profile], []
    while isinstance(entry, str) or (isinstance(entry, Mapping) and "based_on" in entry):
        if not isinstance(entry, str):
            changes.append({key: value for key, value in entry.items() if key != "based_on"})
            entry = entry["based_on"]
        if entry in seen or entry not in table:
            raise ValueError(f"{notebook}: profile {profile!r} refers to {entry!r}, which is "
                             f"{'a cycle' if entry in seen else 'not a profile'}")
        seen.append(entry)
        entry = table[entry]
    settings = dict(entry)
    for change in reversed(changes):
        settings.update(change)
    return settings


def _resolve_folder(folder: str | os.PathLike) -> Path:
    path = Path(folder).expanduser()
    return path if path.is_absolute() else repository_root() / path


# ----------------------------------------------------------------------------------------- loading
def load_model(name: str, *, allow_random_init: bool = False, seed: int = 0, device: str = "cpu", warn: bool = True):
    """``(model, weights description)``: :func:`hidden_monotonicity.models.load` in eval mode on ``device``; the
    description is the model's ``weights_source``. ``warn=False`` hides the random-init warning."""
    from . import models

    with warnings.catch_warnings():
        if not warn:
            warnings.filterwarnings("ignore", message=".*using a randomly initialised")
        model = models.load(name, allow_random_init=allow_random_init, seed=seed)
    return model.to(device).eval(), model.weights_source


def native_input_size(name: str) -> int:
    """The input side a model is made for: 224 for the ImageNet models, 64 for the benchmark models."""
    from . import models

    if name in models.IMAGENET_MODELS:
        return 224
    if name in ("benchmark_vgg", "benchmark_resnet"):
        return 64
    raise ValueError(f"unknown model {name!r}; choose one of {models.available()}")


def load_images(
    dataset: str,
    *,
    split: str = "test",
    n: int | None = None,
    image_size: int = 64,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
):
    """The first ``n`` images of a localisation dataset at ``image_size``: :func:`hidden_monotonicity.data.load`
    (digits: ``size=image_size, seed=seed``, cached in ``<repository>/data/cache``; ImageNet-S: ``data_dir``,
    ``image_size``)."""
    from . import data

    if dataset == "digits":
        return data.load("digits", split, n=n, size=image_size, seed=seed, cache_dir=repository_root() / "data" / "cache")
    return data.load(dataset, split, n=n, data_dir=data_dir, image_size=image_size)


def has_imagenet_s(data_dir: str | os.PathLike | None) -> bool:
    """True when ``data_dir`` holds an ImageNet-S-50 copy in the layout :func:`hidden_monotonicity.data.imagenet_s` reads."""
    if data_dir is None:
        return False
    root = Path(data_dir).expanduser()
    return any((folder / "validation-segmentation").is_dir() for folder in (root, root / "ImageNetS50"))
