"""The metric catalogue: Quantus metrics and our own completeness check (paper section D.4).

Each catalogue entry knows its Quantus category, score direction, default hyper-parameters (the
paper's / Quantus 0.6.0 defaults), the ``softmax`` flag it is called with, and whether it needs a
segmentation mask or re-explains through an ``explain_func``. One entry can produce several
*outputs* (table columns): PixelFlipping gives ``AUC@5`` and ``AUC@20``, our completeness gives
``Completeness`` (pass rate) and ``CompletenessError``, MPRT gives ``MPRT`` (fully randomised
model) plus one ``MPRT[layer]`` output per randomised layer.

Quantus pitfalls handled here (ecosystem-notes section 1):

* normalisation is per sample (:func:`normalise_by_max_per_sample`) instead of Quantus's
  batch-wide ``normalise_by_max``, so scores do not depend on the batch composition;
* ``softmax`` is passed explicitly for every call and recorded;
* re-explaining metrics get the ``explain_func`` (``hm.quantus_explain_func`` with the configuration's
  parameters); they receive the precomputed maps as ``a_batch`` only when the profile says
  ``reuse_explanations`` (the runner then passes them), otherwise ``a_batch=None`` and they explain for themselves;
* MPRT's dict result is flattened; PixelFlipping's per-sample curves are integrated by us;
* ``quantus.Completeness`` compares floats exactly (always False), so :class:`ToleranceCompleteness`
  replaces it;
* ``InputInvariance`` shifts the bias of ``named_modules()[1]``: it is skipped, with the reason
  recorded, when that module is not a biased convolution (torchvision VGG: a Sequential;
  torchvision ResNet: a bias-free conv);
* empty masks are dropped by the runner before localisation metrics (``needs_mask``), because
  ``PointingGame`` counts an empty mask as a hit.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from .pixel_flipping import auc_output_name, pixel_flipping_auc, stopping_pixel_flipping  # noqa: F401
from .quantus_shortcuts import reusing_unit_maps, vectorised_attribution_checks

HIGHER = "higher"
LOWER = "lower"
ARROWS = {HIGHER: "\u2191", LOWER: "\u2193"}

CATEGORIES = ("Faithfulness", "Localisation", "Robustness", "Complexity", "Randomisation", "Axiomatic")
#: Outputs whose per-image score is 0 or 1 by definition - a hit (PointingGame, unweighted) or a pass
#: (Completeness) - so that their mean is a proportion (exact binomial interval in the tables).
BINARY_OUTPUTS = frozenset({"PointingGame", "Completeness"})


@dataclass(frozen=True)
class MetricOutput:
    """One column of the result tables."""

    name: str
    category: str
    direction: str  # HIGHER or LOWER
    description: str = ""
    binary: bool = False  # the per-image score is 0 or 1 by the metric's definition (BINARY_OUTPUTS)

    @property
    def arrow(self) -> str:
        return ARROWS[self.direction]


def normalise_by_max_per_sample(a: np.ndarray, normalise_axes: Sequence[int] | None = None) -> np.ndarray:
    """Divide every sample's attribution by its own maximum absolute value.

    Replaces Quantus's default ``normalise_by_max``, which divides by the maximum of the *whole
    batch* (ecosystem-notes 1.2). All-zero samples are returned unchanged instead of becoming NaN.
    ``normalise_axes`` is accepted for signature compatibility and must cover all non-batch axes.
    """
    a = np.asarray(a)
    if normalise_axes is not None and set(normalise_axes) != set(range(1, a.ndim)):
        raise ValueError(
            f"normalise_by_max_per_sample always normalises over all non-batch axes {tuple(range(1, a.ndim))}, "
            f"got normalise_axes={tuple(normalise_axes)}"
        )
    scale = np.abs(a.reshape(a.shape[0], -1)).max(axis=1)
    scale = np.where(scale > 0, scale, 1.0).reshape((-1,) + (1,) * (a.ndim - 1))
    return a / scale


def _direction_of(quantus_class: type) -> str:
    return HIGHER if quantus_class.score_direction.name == "HIGHER" else LOWER


def _category_of(quantus_class: type) -> str:
    return str(quantus_class.evaluation_category.value)


# --------------------------------------------------------------------------------------------
# evaluators
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelContext:
    """What a metric may need to know about the evaluated model."""

    name: str
    num_classes: int


class MetricEvaluator:
    """Base class: computes per-sample scores of one catalogue entry for one batch.

    Built by :func:`build_metric` from a :class:`CatalogueEntry` and its resolved parameters.
    Subclasses check or complete the parameters in :meth:`prepare`, and implement :meth:`outputs`
    and :meth:`compute` (returning ``{output name: array of shape (N,)}``).
    """

    name: str
    category: str
    softmax: bool | None
    needs_mask: bool
    needs_explain_func: bool

    def __init__(self, entry: CatalogueEntry, params: Mapping[str, Any], context: ModelContext | None = None) -> None:
        self.entry = entry
        self.name = entry.name
        self.softmax = entry.softmax
        self.needs_mask = entry.needs_mask
        self.needs_explain_func = entry.needs_explain_func
        self.category = self.entry_category()
        self.params = self.prepare(dict(params), context)

    def entry_category(self) -> str:
        if self.entry.category is None:
            raise ValueError(f"catalogue entry {self.name} needs a category")
        return self.entry.category

    def prepare(self, params: dict[str, Any], context: ModelContext | None) -> dict[str, Any]:
        """Check (and complete) the resolved parameters; the default accepts them as they are."""
        return params

    def outputs(self) -> tuple[MetricOutput, ...]:
        raise NotImplementedError

    def skip_reason(self, model: torch.nn.Module) -> str | None:
        """Why this metric cannot run on ``model`` (None when it can)."""
        return None

    def compute(
        self,
        *,
        model: torch.nn.Module,
        x: np.ndarray,
        y: np.ndarray,
        a: np.ndarray | None,
        s: np.ndarray | None,
        explain_func: Callable[..., np.ndarray] | None,
        explain_func_kwargs: Mapping[str, Any] | None,
        device: str,
    ) -> dict[str, np.ndarray]:
        raise NotImplementedError


def _quantus(class_name: str) -> type:
    import quantus

    return getattr(quantus, class_name)


class QuantusMetric(MetricEvaluator):
    """The Quantus metric class of the entry's name, called directly, one fresh instance per batch, one output."""

    def __init__(self, entry: CatalogueEntry, params: Mapping[str, Any], context: ModelContext | None = None) -> None:
        self.quantus_class = _quantus(entry.name)
        self.output_name = entry.name
        super().__init__(entry, params, context)

    def entry_category(self) -> str:
        return _category_of(self.quantus_class)

    def outputs(self) -> tuple[MetricOutput, ...]:
        return (MetricOutput(self.output_name, self.category, _direction_of(self.quantus_class), self.quantus_class.__name__),)

    def constructor_kwargs(self) -> dict[str, Any]:
        kwargs = dict(self.params)
        kwargs.setdefault("disable_warnings", True)
        kwargs.setdefault("display_progressbar", False)
        if kwargs.get("normalise", False):
            kwargs["normalise_func"] = normalise_by_max_per_sample
        return kwargs

    def call_quantus(self, *, model, x, y, a, s, explain_func, explain_func_kwargs, device) -> Any:
        metric = self.quantus_class(**self.constructor_kwargs())
        call_kwargs: dict[str, Any] = dict(
            model=model,
            x_batch=x,
            y_batch=y,
            a_batch=a,  # None for re-explaining metrics unless the profile reuses explanations
            s_batch=s if self.needs_mask else None,
            channel_first=True,
            softmax=self.softmax,
            device=device,
            batch_size=len(x),
        )
        if self.needs_explain_func:
            if explain_func is None:
                raise ValueError(f"metric {self.name} re-explains and needs an explain_func")
            # with the unit's maps given, a call for the unit's own images returns them (quantus_shortcuts, 2.)
            call_kwargs["explain_func"] = explain_func if a is None else reusing_unit_maps(explain_func, model, x, y, a)
            call_kwargs["explain_func_kwargs"] = dict(explain_func_kwargs or {})
        # NaN / inf results are reported per sample by the runner (status "non-finite"), so numpy's
        # divide/invalid RuntimeWarnings from inside Quantus add nothing
        # Quantus's attribution checks, vectorised (same verdicts and messages): :mod:`.quantus_shortcuts`
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"), vectorised_attribution_checks():
            warnings.simplefilter("ignore", RuntimeWarning)
            self.silence_known_warnings()
            return metric(**call_kwargs)

    def silence_known_warnings(self) -> None:
        """Hook for metric-specific warning filters (called inside the catch_warnings block)."""

    def compute(self, **batch: Any) -> dict[str, np.ndarray]:
        scores = self.call_quantus(**batch)
        return {self.output_name: np.asarray(scores, dtype=np.float64).reshape(-1)}


class PixelFlippingAUC(QuantusMetric):
    """Quantus PixelFlipping curves, integrated over the first 5 % / 20 % of features (AUC@5, AUC@20)."""

    def prepare(self, params: dict[str, Any], context: ModelContext | None) -> dict[str, Any]:
        self.fractions = tuple(float(f) for f in params["auc_fractions"])
        if params.get("return_auc_per_sample", False):
            raise ValueError("PixelFlipping: return_auc_per_sample must stay False (the runner integrates the curves)")
        params["return_auc_per_sample"] = False
        params["auc_fractions"] = self.fractions
        return params

    def constructor_kwargs(self) -> dict[str, Any]:
        kwargs = super().constructor_kwargs()
        kwargs.pop("auc_fractions")
        return kwargs

    def outputs(self) -> tuple[MetricOutput, ...]:
        direction = _direction_of(self.quantus_class)
        return tuple(
            MetricOutput(auc_output_name(f), self.category, direction,
                         f"PixelFlipping AUC over the first {f:.0%} of flipped features")
            for f in self.fractions
        )

    def compute(self, **batch: Any) -> dict[str, np.ndarray]:
        x = batch["x"]
        n_features = int(np.prod(x.shape[1:]))
        step = int(self.params["features_in_step"])
        # the AUCs read the curve up to the largest fraction only: stop flipping there (issue 13.5)
        needed = math.floor((max(self.fractions) + 1e-12) * n_features / step)
        self.quantus_class = stopping_pixel_flipping(max(1, min(needed, math.ceil(n_features / step))))
        curves = np.asarray(self.call_quantus(**batch), dtype=np.float64)
        return {auc_output_name(f): pixel_flipping_auc(curves, f, n_features, step) for f in self.fractions}


class CurveAUC(QuantusMetric):
    """A Quantus metric that returns per-sample curves (Selectivity), reduced to Quantus's own AUC.

    Per sample ``score = trapz(curve, dx=1)`` - exactly what the metric's ``get_auc_score``
    averages (``quantus.helpers.utils.calculate_auc``), so the x-axis counts perturbation steps
    (Selectivity: removed patches) and the value grows with the number of patches per image.
    """

    def compute(self, **batch: Any) -> dict[str, np.ndarray]:
        curves = np.asarray(self.call_quantus(**batch), dtype=np.float64)
        if curves.ndim != 2:
            raise TypeError(f"{self.name} returned scores of shape {curves.shape}, expected per-sample curves (N, steps)")
        return {self.output_name: np.trapezoid(curves, dx=1.0, axis=1)}


class FlattenedMPRT(QuantusMetric):
    """Quantus MPRT; its ``{layer: scores}`` dict is flattened into ``MPRT[layer]`` outputs.

    The headline output ``MPRT`` is the similarity to the explanation of the model randomised
    last in the cascade (the fully randomised model for ``layer_order="top_down"``).
    """

    def prepare(self, params: dict[str, Any], context: ModelContext | None) -> dict[str, Any]:
        for flag in ("return_average_correlation", "return_last_correlation", "return_aggregate"):
            if params.get(flag):
                raise ValueError(f"MPRT: {flag} must stay False, the runner flattens the per-layer dict itself")
        return params

    def compute(self, **batch: Any) -> dict[str, np.ndarray]:
        by_layer = self.call_quantus(**batch)
        if not isinstance(by_layer, dict) or not by_layer:
            raise TypeError(f"MPRT returned {type(by_layer).__name__}, expected a non-empty dict of layer scores")
        result = {f"{self.output_name}[{layer}]": np.asarray(v, dtype=np.float64).reshape(-1) for layer, v in by_layer.items()}
        last_layer = [k for k in by_layer if k != "original"][-1]
        result[self.output_name] = np.asarray(by_layer[last_layer], dtype=np.float64).reshape(-1)
        return result


class PointingGameMetric(QuantusMetric):
    """Quantus PointingGame: a hit (1) or a miss (0) per image - unless ``weighted=True``, which scales hits."""

    def outputs(self) -> tuple[MetricOutput, ...]:
        (output,) = super().outputs()
        return (replace(output, binary=not self.params.get("weighted", False)),)


class AttributionLocalisationMetric(QuantusMetric):
    """Quantus AttributionLocalisation with its ``max_size`` bug silenced and ``weighted=True`` refused.

    Quantus 0.6.0 computes the image size as ``x_batch[2:].size`` (it slices the batch, not the
    spatial axes; ecosystem-notes 1.6), so the size ratio - used only by ``weighted=True`` and by a
    ``max_size`` warning - is wrong (and a division by zero for batches of <= 2 images). The
    unweighted score (mass inside the mask / total mass) does not use it.
    """

    def prepare(self, params: dict[str, Any], context: ModelContext | None) -> dict[str, Any]:
        if params.get("weighted"):
            raise ValueError(
                "AttributionLocalisation(weighted=True) is wrong in Quantus 0.6.0 (its size ratio slices the batch "
                "axis); use weighted=False"
            )
        return params

    def silence_known_warnings(self) -> None:
        warnings.filterwarnings("ignore", message="Ratio is smaller than max size")


class InputInvarianceMetric(QuantusMetric):
    """Quantus InputInvariance, skipped on models whose first named module is not a biased conv."""

    def skip_reason(self, model: torch.nn.Module) -> str | None:
        modules = list(model.named_modules())
        if len(modules) < 2:
            return "InputInvariance needs a model with at least one sub-module"
        name, first = modules[1]
        if not hasattr(first, "out_channels"):
            return (
                f"InputInvariance shifts the bias of named_modules()[1], which is {name!r} "
                f"({type(first).__name__}), not a convolution (Quantus 0.6.0 limitation)"
            )
        if getattr(first, "bias", None) is None:
            return f"InputInvariance shifts the bias of {name!r}, but that convolution has no bias"
        return None


class RandomLogitMetric(QuantusMetric):
    """Quantus RandomLogit; ``num_classes="auto"`` takes the evaluated model's number of classes."""

    def prepare(self, params: dict[str, Any], context: ModelContext | None) -> dict[str, Any]:
        if params.get("num_classes") == "auto":
            if context is None:
                raise ValueError("RandomLogit with num_classes='auto' needs the model context")
            params["num_classes"] = context.num_classes
        return params


class NonSensitivityMetric(QuantusMetric):
    """Quantus NonSensitivity, refused unless ``features_in_step=1`` (the only value Quantus 0.6.0 runs with)."""

    def prepare(self, params: dict[str, Any], context: ModelContext | None) -> dict[str, Any]:
        if params.get("features_in_step") != 1:
            raise ValueError(
                "NonSensitivity in Quantus 0.6.0 only runs with features_in_step=1 (its XOR of per-step and "
                f"per-feature arrays fails otherwise); got features_in_step={params.get('features_in_step')}"
            )
        return params


class ToleranceCompleteness(MetricEvaluator):
    """Completeness with a tolerance (Sundararajan et al. 2017), replacing ``quantus.Completeness``.

    For each sample with attribution ``a`` (raw, not normalised, summed over all pixels) and
    target logit ``f``::

        error = |sum(a) - (f(x) - f(x0))|
        Completeness      = 1 if error <= tolerance * |f(x) - f(x0)| + atol else 0   (higher is better)
        CompletenessError = error / max(|f(x) - f(x0)|, atol)                        (lower is better)

    ``baseline`` ``x0``: ``"zero"`` (all zeros, the reference of input x gradient / IG / LRP with
    zero biases), ``"black"`` (each image's minimum value, Quantus's "black") or a number. Logits,
    not probabilities (``softmax=False``): completeness is stated for the explained output.
    """

    def prepare(self, params: dict[str, Any], context: ModelContext | None) -> dict[str, Any]:
        self.tolerance = float(params["tolerance"])
        self.atol = float(params["atol"])
        self.baseline = params["baseline"]
        if self.tolerance < 0 or self.atol < 0:
            raise ValueError(f"Completeness: tolerance and atol must be >= 0, got {self.tolerance}, {self.atol}")
        if not (self.baseline in ("zero", "black") or isinstance(self.baseline, (int, float))):
            raise ValueError(f"Completeness: baseline must be 'zero', 'black' or a number, got {self.baseline!r}")
        return params

    def outputs(self) -> tuple[MetricOutput, ...]:
        return (
            MetricOutput(self.name, self.category, HIGHER, f"sum(a) = f(x) - f(x0) within {self.tolerance:g} relative",
                         binary=True),
            MetricOutput(f"{self.name}Error", self.category, LOWER, "|sum(a) - (f(x) - f(x0))| / |f(x) - f(x0)|"),
        )

    def baseline_batch(self, x: np.ndarray) -> np.ndarray:
        if self.baseline == "zero":
            return np.zeros_like(x)
        if self.baseline == "black":
            return np.broadcast_to(x.reshape(len(x), -1).min(axis=1).reshape((-1,) + (1,) * (x.ndim - 1)), x.shape).copy()
        return np.full_like(x, float(self.baseline))

    def relative_errors(self, model: torch.nn.Module, x: np.ndarray, y: np.ndarray, a: np.ndarray,
                        device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
        """Return ``(absolute error, |f(x) - f(x0)|)`` per sample."""
        if a is None:
            raise ValueError("Completeness needs the precomputed attributions a")
        parameter = next(model.parameters(), None)
        dtype = parameter.dtype if parameter is not None else torch.float32
        with torch.no_grad():
            both = torch.as_tensor(np.concatenate([x, self.baseline_batch(x)]), dtype=dtype, device=device)
            logits = model(both).double().cpu().numpy()
        rows = np.arange(len(x))
        targets = np.asarray(y, dtype=np.int64)
        delta = logits[rows, targets] - logits[len(x) + rows, targets]
        attribution_sum = np.asarray(a, dtype=np.float64).reshape(len(x), -1).sum(axis=1)
        return np.abs(attribution_sum - delta), np.abs(delta)

    def compute(self, *, model, x, y, a, device, **_: Any) -> dict[str, np.ndarray]:
        error, scale = self.relative_errors(model, x, y, a, device)
        passed = (error <= self.tolerance * scale + self.atol).astype(np.float64)
        return {self.name: passed, f"{self.name}Error": error / np.maximum(scale, max(self.atol, 1e-300))}


# --------------------------------------------------------------------------------------------
# the catalogue
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogueEntry:
    """How to build one metric: defaults (paper / Quantus 0.6.0 values), softmax flag and evaluator class.

    ``evaluator`` is built as ``evaluator(entry, resolved params, model context)``; Quantus evaluators
    call the Quantus class named ``name``. ``category`` is needed only by our own metrics (Quantus
    classes know theirs); ``extra_params`` are accepted keys that are not among the defaults (passed
    through to Quantus).
    """

    name: str
    defaults: Mapping[str, Any]
    softmax: bool | None
    evaluator: type[MetricEvaluator] = QuantusMetric
    needs_mask: bool = False
    needs_explain_func: bool = False
    category: str | None = None
    extra_params: frozenset[str] = frozenset()
    notes: str = ""


_NORMALISED = {"normalise": True}

CATALOGUE: dict[str, CatalogueEntry] = {
    e.name: e
    for e in (
        # ---- faithfulness (paper) ----
        CatalogueEntry("PixelFlipping", {"features_in_step": 1, "perturb_baseline": "black", "abs": False,
                                         **_NORMALISED, "auc_fractions": (0.05, 0.20)},
                       softmax=True, evaluator=PixelFlippingAUC, extra_params=frozenset({"perturb_func_kwargs"}),
                       notes="outputs AUC@<percent> per fraction in auc_fractions"),
        CatalogueEntry("Selectivity", {"patch_size": 8, "perturb_baseline": "black", "abs": False, **_NORMALISED},
                       softmax=True, evaluator=CurveAUC, extra_params=frozenset({"perturb_func_kwargs"}),
                       notes="per-sample curve reduced to trapz(curve, dx=1) as in Selectivity.get_auc_score"),
        # ---- localisation (paper) ----
        CatalogueEntry("AttributionLocalisation", {"weighted": False, "max_size": 1.0, "abs": True, **_NORMALISED},
                       softmax=False, evaluator=AttributionLocalisationMetric, needs_mask=True,
                       extra_params=frozenset({"positive_attributions"})),
        CatalogueEntry("PointingGame", {"weighted": False, "abs": False, **_NORMALISED},
                       softmax=False, evaluator=PointingGameMetric, needs_mask=True),
        # ---- robustness (paper) ----
        CatalogueEntry("MaxSensitivity", {"nr_samples": 200, "lower_bound": 0.2, "abs": False, "normalise": False},
                       softmax=False, needs_explain_func=True,
                       extra_params=frozenset({"upper_bound", "return_nan_when_prediction_changes", "perturb_func_kwargs"})),
        # ---- complexity ----
        CatalogueEntry("Sparseness", {"abs": True, **_NORMALISED}, softmax=False),
        CatalogueEntry("Complexity", {"abs": True, **_NORMALISED}, softmax=False),
        # ---- randomisation ----
        CatalogueEntry("EfficientMPRT", {"layer_order": "bottom_up", "skip_layers": True, "seed": 42,
                                         "abs": False, "normalise": False},
                       softmax=True, needs_explain_func=True,
                       extra_params=frozenset({"complexity_func_kwargs", "compute_extra_scores"})),
        CatalogueEntry("MPRT", {"layer_order": "top_down", "seed": 42, "skip_layers": False, "abs": True,
                                **_NORMALISED},
                       softmax=False, evaluator=FlattenedMPRT, needs_explain_func=True,
                       extra_params=frozenset({"return_sample_correlation"})),
        CatalogueEntry("RandomLogit", {"num_classes": "auto", "seed": 42, "abs": False, **_NORMALISED},
                       softmax=False, evaluator=RandomLogitMetric, needs_explain_func=True),
        # ---- axiomatic ----
        CatalogueEntry("Completeness", {"tolerance": 0.01, "atol": 1e-6, "baseline": "zero"},
                       softmax=False, evaluator=ToleranceCompleteness, category="Axiomatic",
                       notes="our tolerance-based replacement of quantus.Completeness (exact float equality)"),
        CatalogueEntry("InputInvariance", {"input_shift": -1, "abs": False, "normalise": False},
                       softmax=False, evaluator=InputInvarianceMetric, needs_explain_func=True),
        CatalogueEntry("NonSensitivity", {"eps": 1e-5, "features_in_step": 1, "perturb_baseline": "black",
                                          "abs": True, **_NORMALISED},
                       softmax=True, evaluator=NonSensitivityMetric,
                       notes="features_in_step must be 1 in Quantus 0.6.0; one forward pass per input feature"),
    )
}


def catalogue_entry(name: str) -> CatalogueEntry:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; the catalogue has {sorted(CATALOGUE)}") from None


def output_is_binary(name: str) -> bool | None:
    """Whether output ``name`` is 0/1 per image by its metric's definition at the catalogue defaults (True / False);
    None for a name no catalogue metric produces (the tables then look at the data, with a warning)."""
    if name in BINARY_OUTPUTS:
        return True
    known = name.split("[", 1)[0] in CATALOGUE or name.startswith("AUC@") or name.removesuffix("Error") in CATALOGUE
    return False if known else None


def resolve_params(name: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Catalogue defaults of ``name`` updated with ``overrides`` (unknown keys are an error)."""
    entry = catalogue_entry(name)
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(entry.defaults) - entry.extra_params)
    if unknown:
        raise ValueError(
            f"metric {name}: unknown parameter(s) {unknown}; known: {sorted(entry.defaults)}"
        )
    return {**entry.defaults, **overrides}


def build_metric(name: str, overrides: Mapping[str, Any] | None = None,
                 context: ModelContext | None = None) -> MetricEvaluator:
    """Build the evaluator of catalogue entry ``name`` with ``overrides`` of its defaults."""
    entry = catalogue_entry(name)
    return entry.evaluator(entry, resolve_params(name, overrides), context)


def metric_outputs(name: str, overrides: Mapping[str, Any] | None = None) -> tuple[MetricOutput, ...]:
    """The headline outputs (table columns) of a catalogue entry, without needing a model."""
    return build_metric(name, overrides, ModelContext(name="(none)", num_classes=2)).outputs()
