"""Profiles, parameters and figure bookkeeping shared by the notebooks in ``notebooks/``.

Every notebook starts with a papermill ``parameters`` cell (``profile``, ``model``, ``dataset``, ``data_dir``,
``device``, ``seed``, ``output_dir`` ...) and then calls::

    config = hm.notebook_params.configure("03_saliency_gallery", profile=profile, model=model, ...)

which validates the parameters, fills in what was left ``None`` from the notebook's profile (the sizes that
make a ``smoke`` run take seconds and a ``default`` run show the real picture), seeds every random generator,
picks the device and creates the output folder. ``config.figures`` is a :class:`FigureSaver`; notebooks write
every output file through it, with the file name as a literal::

    config.figures.save(fig, "toy_1d_decomposition.png")
    config.figures.save_table(frame, "stability_reconstruction.csv")

so that ``tests/test_figures_declared.py`` can read which files each notebook writes from its source (see
:func:`declared_outputs`) and the notebook tests can compare that with what a run actually wrote.

Profiles: ``"default"`` (what ``make reproduce`` runs; committed figures) and ``"smoke"`` (what the tests run;
seconds per notebook). Relative output folders are taken relative to the repository root, so a notebook
writes to ``<repository>/figures`` whichever folder Jupyter was started in.
"""

from __future__ import annotations

import ast
import json
import os
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .environment import seed_everything

__all__ = [
    "DATASETS",
    "FIGURE_DPI",
    "NOTEBOOKS",
    "NOTEBOOK_SETTINGS",
    "OUTPUT_EXTENSIONS",
    "PROFILES",
    "FigureSaver",
    "NotebookConfig",
    "PAPER_VGG16_RESULTS",
    "compare_with_paper",
    "paper_table",
    "configure",
    "declared_outputs",
    "display_path",
    "has_imagenet_s",
    "load_images",
    "load_model",
    "markdown_table",
    "matches_declared",
    "native_input_size",
    "repository_root",
    "seed_everything",
]

PROFILES: tuple[str, ...] = ("default", "smoke")
#: torch threads per profile when a notebook's ``threads`` parameter is ``None`` (None: torch's default).
PROFILE_THREADS: dict[str, int | None] = {"default": 1, "smoke": 1}
DATASETS: tuple[str, ...] = ("digits", "imagenet_s")
#: Resolution of every committed PNG (FigureSaver's default, the explorer's preview): modest file sizes.
FIGURE_DPI = 100
#: File types a notebook may write through :class:`FigureSaver`.
OUTPUT_EXTENSIONS: tuple[str, ...] = (".png", ".csv", ".md", ".tex", ".json")

#: Notebook-specific settings: ``"common"`` values, overridden by the profile's values.
NOTEBOOK_SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "00_environment": {"common": {}, "default": {}, "smoke": {}},
    "01_dc_decomposition_toys": {
        "common": {"model": "toy", "dataset": "none", "hidden_1d": (6, 6), "hidden_2d": (8, 8), "check_pairs": 2000},
        "default": {"points_1d": 801, "points_2d": 121},
        "smoke": {"points_1d": 201, "points_2d": 41},
    },
    "02_numerical_stability": {
        "common": {"dataset": "digits", "alphas": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5), "strategies": ("none", "shift", "scale", "threshold")},
        # (model name, input side): torchvision models at random init unless their ImageNet weights are cached
        "default": {"model": "benchmark_vgg", "models": (("benchmark_vgg", 64), ("benchmark_resnet", 64), ("vgg16", 224), ("resnet18", 224)), "n_images": 1},
        "smoke": {"model": "resnet18", "models": (("resnet18", 32),), "n_images": 1},
    },
    "03_saliency_gallery": {
        # image_size: digits benchmark; imagenet_image_size: ImageNet-S crops (smoke: small, for speed)
        "common": {"dataset": "digits", "alphas": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5), "image_size": 64, "imagenet_image_size": 224,
                   "sample_images": 100},
        "default": {
            "model": "benchmark_vgg",
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
        "smoke": {
            "model": "benchmark_vgg",
            "n_images": 2,
            "image_size": 32,
            "imagenet_image_size": 64,
            "alphas": (0.0, 0.25, 0.5),
            "methods": (("SplitCAM", "splitcam", {}), ("SplitLRP", "splitlrp", {}), ("LayerCAM", "layercam", {})),
            "n_layers": 2,
        },
    },
    "04_quantitative_evaluation": {
        # model "all": every model of the evaluation profile
        "common": {"dataset": "digits", "model": "all", "evaluation_overrides": {}},
        "default": {"evaluation_profile": "default"},
        "smoke": {
            "evaluation_profile": "smoke",
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
        "common": {"dataset": "sklearn_digits", "model": "dic"},
        "default": {"seeds": (0, 1, 2), "epochs": 30, "include_cnn": True, "compare_constraints": True, "include_library": True},
        "smoke": {"seeds": (0,), "epochs": 2, "include_cnn": False, "compare_constraints": False, "include_library": False},
    },
    "06_interactive_explorer": {
        "common": {"dataset": "digits", "image_size": 64, "imagenet_image_size": 224},
        "default": {"model": "benchmark_vgg", "models": ("benchmark_vgg", "benchmark_resnet"), "n_images": 12, "metrics": True},
        "smoke": {"model": "benchmark_vgg", "models": ("benchmark_vgg",), "n_images": 2, "image_size": 32,
                  "imagenet_image_size": 64, "metrics": True},
    },
}
NOTEBOOKS: tuple[str, ...] = tuple(NOTEBOOK_SETTINGS)


def repository_root() -> Path:
    """The repository root (the folder with ``pyproject.toml`` above this package's ``lib/`` folder)."""
    return Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------------------- figures
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class FigureSaver:
    """Writes a notebook's output files into one folder and records their names (see the module docstring).

    ``dpi`` keeps committed PNGs modest in size.
    """

    def __init__(self, folder: str | os.PathLike, *, dpi: int = FIGURE_DPI) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.dpi = int(dpi)
        self.written: list[str] = []

    def path(self, name: str) -> Path:
        """Where ``name`` goes; checks that it is a plain file name with a known extension."""
        if not isinstance(name, str) or not _SAFE_NAME.match(name) or "/" in name:
            raise ValueError(
                f"output names must be plain file names like 'toy_1d_decomposition.png' (letters, digits, '_', '-', "
                f"'.'; no folders), got {name!r}"
            )
        if Path(name).suffix not in OUTPUT_EXTENSIONS:
            raise ValueError(f"output {name!r} must end with one of {', '.join(OUTPUT_EXTENSIONS)}")
        return self.folder / name

    def _record(self, name: str) -> Path:
        path = self.path(name)
        if name not in self.written:
            self.written.append(name)
        return path

    def save(self, figure: Any, name: str, *, close: bool = False, optional: bool = False, **savefig_kwargs: Any) -> None:
        """Save a matplotlib figure as ``name`` (PNG at ``self.dpi`` unless given); :meth:`path` says where.
        Returns nothing, so that a notebook cell ending with it shows the figure and no path.

        ``optional=True`` declares (for :func:`declared_outputs`) that a run may legitimately not reach this call,
        e.g. a figure that needs ImageNet-S; it changes nothing at run time."""
        if not hasattr(figure, "savefig"):
            raise TypeError(f"save() needs a matplotlib Figure, got {type(figure).__name__}")
        path = self._record(name)
        savefig_kwargs.setdefault("dpi", self.dpi)
        savefig_kwargs.setdefault("bbox_inches", "tight")
        figure.savefig(path, **savefig_kwargs)
        if close:
            import matplotlib.pyplot as plt

            plt.close(figure)

    def save_table(self, table: Any, name: str, *, optional: bool = False) -> None:
        """Write a DataFrame (``.csv``/``.md``/``.tex``), a string, or a JSON-able object (``.json``) as ``name``
        (``optional`` as in :meth:`save`)."""
        path = self._record(name)
        suffix = path.suffix
        if isinstance(table, str):
            path.write_text(table if table.endswith("\n") else table + "\n", encoding="utf-8")
        elif suffix == ".json":
            path.write_text(json.dumps(table, indent=1, default=str) + "\n", encoding="utf-8")
        elif hasattr(table, "to_csv"):
            if suffix == ".csv":
                table.to_csv(path, index=False, float_format="%.6g")
            elif suffix == ".md":
                path.write_text(markdown_table(table) + "\n", encoding="utf-8")
            elif suffix == ".tex":
                path.write_text(table.to_latex(index=False) + "\n", encoding="utf-8")
            else:
                raise ValueError(f"cannot write a table as {suffix}; use .csv, .md or .tex")
        else:
            raise TypeError(f"save_table() needs a DataFrame, a string or (for .json) a dict, got {type(table).__name__}")

    def produced_by(self, writer: Callable[[Path], Any], *names: str) -> Any:
        """Call ``writer(folder)`` (a library function that writes files itself) and check it wrote ``names``."""
        paths = [self.path(name) for name in names]
        before = {path: path.stat().st_mtime_ns if path.exists() else None for path in paths}
        result = writer(self.folder)
        stale = [path.name for path in paths if not path.exists() or path.stat().st_mtime_ns == before[path]]
        if stale:
            raise RuntimeError(f"{getattr(writer, '__name__', writer)} did not write {stale} into {self.folder}")
        for name in names:
            self._record(name)
        return result


def markdown_table(frame: Any, float_format: str = "{:.4g}") -> str:
    """A DataFrame as a GitHub pipe table (no dependency on ``tabulate``); ``|`` in cells is escaped."""

    def cell(value: Any) -> str:
        text = float_format.format(value) if isinstance(value, float) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    header = [cell(column) for column in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def declared_outputs(notebook: str | os.PathLike | Mapping[str, Any]) -> dict[str, bool]:
    """Output names a notebook writes, read from its code: the string literals given to
    ``figures.save(...)``, ``figures.save_table(...)`` and ``figures.produced_by(...)`` (also through
    ``config.figures``), mapped to ``True`` when required and ``False`` when declared ``optional=True``.
    An f-string becomes a pattern with ``*`` for each substituted part."""
    if isinstance(notebook, Mapping):
        cells = notebook["cells"]
    else:
        cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    names: dict[str, bool] = {}
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in ("save", "save_table", "produced_by"):
                continue
            owner = node.func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
            if owner_name != "figures":
                continue
            optional = any(
                keyword.arg == "optional" and isinstance(keyword.value, ast.Constant) and keyword.value.value is True
                for keyword in node.keywords
            )
            for argument in node.args:
                name = _literal_name(argument)
                if name is not None and Path(name.replace("*", "x")).suffix in OUTPUT_EXTENSIONS:
                    names[name] = names.get(name, False) or not optional
    return names


def matches_declared(name: str, declared: Mapping[str, bool] | set[str]) -> bool:
    """True when ``name`` equals a declared output or matches a declared pattern (``*`` = any text)."""
    for pattern in declared:
        if "*" in pattern:
            if re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), name):
                return True
        elif pattern == name:
            return True
    return False


def _literal_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            parts.append(value.value if isinstance(value, ast.Constant) else "*")
        return "".join(parts)
    return None


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


def display_path(path: str | os.PathLike) -> str:
    """``path`` relative to the repository root when it lies inside it (no machine-specific prefix in the
    committed notebooks), else absolute."""
    resolved = Path(path).expanduser().resolve()
    try:
        return str(resolved.relative_to(repository_root()))
    except ValueError:
        return str(resolved)


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
    repository root. ``threads``: ``torch.set_num_threads``; ``None`` takes the profile's choice (:data:`PROFILE_THREADS`: 1 for
    both, because the benchmark models are small: on one thread they run as fast as on two, and on a busy
    machine up to 100x faster, where competing OpenMP threads spin; pass more threads for 224 px ImageNet models
    on an idle machine).
    ``overrides``: any notebook setting (e.g. ``n_images=8``); unknown names are an error.
    Seeds Python, NumPy and torch with ``seed``.
    """
    if notebook not in NOTEBOOK_SETTINGS:
        raise ValueError(f"unknown notebook {notebook!r}; known: {', '.join(NOTEBOOKS)}")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    table = NOTEBOOK_SETTINGS[notebook]
    settings = {**table["common"], **table[profile]}
    known = set(table["common"]) | set(table["default"]) | set(table["smoke"])
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"{notebook}: unknown setting(s) {unknown}; known settings: {', '.join(sorted(known)) or 'none'}")
    settings.update({key: value for key, value in overrides.items() if value is not None})
    model = model if model is not None else settings.get("model", "-")
    dataset = dataset if dataset is not None else settings.get("dataset", "-")
    if settings.get("dataset") in DATASETS and dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    if dataset == "imagenet_s" and data_dir is None:
        raise ValueError("dataset='imagenet_s' needs data_dir (the folder holding ImageNetS50/)")
    from .environment import select_device

    resolved_device = select_device(device)
    threads = threads if threads is not None else PROFILE_THREADS[profile]
    if threads is not None:
        import torch

        if int(threads) < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(int(threads))
    seed_everything(seed)
    folder = _resolve_folder(output_dir if output_dir is not None else "figures")
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


def _resolve_folder(folder: str | os.PathLike) -> Path:
    path = Path(folder).expanduser()
    return path if path.is_absolute() else repository_root() / path


# ----------------------------------------------------------------------------------------- loading
def load_model(name: str, *, allow_random_init: bool = False, seed: int = 0, device: str = "cpu", warn: bool = True):
    """``hm.models.load(name)`` in eval mode on ``device``; returns ``(model, weights description)``.

    When the weights are missing (benchmark checkpoint not trained yet, ImageNet weights not cached) and
    ``allow_random_init`` is set, a randomly initialised model (seeded) is returned - with a warning unless
    ``warn=False`` - and the description says so; otherwise the loader's error (which names the missing file)
    is raised.
    """
    import torch

    from . import models

    try:
        model = models.load(name)
        description = "ImageNet weights (IMAGENET1K_V1)" if name in models.IMAGENET_MODELS else f"trained checkpoint {models.checkpoint_path(name).name}"
    except models.WeightsNotFoundError as error:
        if not allow_random_init:
            raise
        if warn:
            warnings.warn(f"{error} -- using a randomly initialised {name} (seed {seed}) instead", stacklevel=2)
        torch.manual_seed(seed)
        model = models.load(name, weights=None)
        description = f"random init (seed {seed}; weights not available)"
    return model.to(device).eval(), description


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
    """The first ``n`` images of a localisation dataset (:class:`~hidden_monotonicity.data.LocalisationDataset`).

    ``"digits"``: :func:`hidden_monotonicity.data.digits_benchmark` at ``image_size`` (cached under
    ``data/cache``); ``"imagenet_s"``: :func:`hidden_monotonicity.data.imagenet_s` from ``data_dir``.
    """
    from . import data

    if dataset == "digits":
        return data.digits_benchmark(split, size=image_size, n=n if n is not None else None, seed=seed,
                                     cache_dir=repository_root() / "data" / "cache")
    if dataset == "imagenet_s":
        if data_dir is None:
            raise ValueError("dataset 'imagenet_s' needs data_dir (the folder holding ImageNetS50/)")
        full = data.imagenet_s(data_dir, split, image_size=image_size)
        return full if n is None else full.subset(range(min(n, len(full))))
    raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")


def has_imagenet_s(data_dir: str | os.PathLike | None) -> bool:
    """True when ``data_dir`` holds an ImageNet-S-50 copy in the layout :func:`hidden_monotonicity.data.imagenet_s` reads."""
    if data_dir is None:
        return False
    root = Path(data_dir).expanduser()
    return any((folder / "validation-segmentation").is_dir() for folder in (root, root / "ImageNetS50"))


# ----------------------------------------------------------------------------------------- paper numbers
#: The paper's published VGG16 results on the ImageNet-S-50 test images (paper-digest E.1; mean scores).
#: Keys are this library's method names; ``None`` = not reported.
PAPER_VGG16_RESULTS: dict[str, dict[str, float]] = {
    "splitcam": {"PointingGame": 0.938, "Selectivity": 4.711, "MaxSensitivity": 0.456},
    "splitlrp": {"PointingGame": 0.871, "Selectivity": 5.168, "MaxSensitivity": 0.282},
    "guided_backprop": {"PointingGame": 0.887, "Selectivity": 3.276, "MaxSensitivity": 0.571},
    "layercam": {"PointingGame": 0.855, "Selectivity": 3.128, "MaxSensitivity": 5.508},
    "lrp_gamma": {"PointingGame": 0.680, "Selectivity": 3.189, "MaxSensitivity": 0.519},
    "gradcam_pp": {"PointingGame": 0.827, "Selectivity": 5.955, "MaxSensitivity": 0.401},
    "integrated_gradients": {"PointingGame": 0.797, "Selectivity": 4.838, "MaxSensitivity": 1.069},
}
#: Row labels of the paper's table (digest E.1).
PAPER_ROW_LABELS: dict[str, str] = {
    "splitcam": "SplitCAM (sc, α=0.4, wta)",
    "splitlrp": "SplitLRP (sc, wta)",
    "guided_backprop": "Guided Backprop",
    "layercam": "LayerCAM",
    "lrp_gamma": "LRP γ=0.25",
    "gradcam_pp": "GradCAM++",
    "integrated_gradients": "Integrated Gradients",
}


def paper_table():
    """The paper's VGG16 table (digest E.1) as a DataFrame: one row per method, one column per metric."""
    import pandas as pd

    frame = pd.DataFrame.from_dict(PAPER_VGG16_RESULTS, orient="index")
    frame.insert(0, "paper row", [PAPER_ROW_LABELS[name] for name in frame.index])
    frame.index.name = "method"
    return frame.reset_index()


def compare_with_paper(table, model: str = "vgg16"):
    """Our mean scores next to the paper's (digest E.1) for the methods and metrics both report.

    ``table`` is the ``table.csv`` of an evaluation (columns ``model, method, metric, mean, ...``). Returns
    columns ``method, paper row, metric, paper, ours, difference``; methods or metrics we did not evaluate for
    ``model`` are left out. An empty result means there is nothing to compare (e.g. the digits benchmark).
    """
    import pandas as pd

    needed = {"model", "method", "metric", "mean"}
    if not needed <= set(table.columns):
        raise ValueError(f"table must have the columns {sorted(needed)} (an evaluation's table.csv), got {list(table.columns)}")
    ours = table[table["model"] == model]
    rows = []
    for method, scores in PAPER_VGG16_RESULTS.items():
        for metric, paper_value in scores.items():
            match = ours[(ours["method"] == method) & (ours["metric"] == metric)]
            if match.empty:
                continue
            value = float(match["mean"].iloc[0])
            rows.append((method, PAPER_ROW_LABELS[method], metric, paper_value, value, value - paper_value))
    return pd.DataFrame(rows, columns=["method", "paper row", "metric", "paper", "ours", "difference"])
