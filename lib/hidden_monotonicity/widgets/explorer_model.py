"""The explorer's model: its state (one value per control) and the computation behind one view (no widgets).

:class:`ExplorerModel` holds the models, the images and the current :class:`ExplorerState`; :meth:`ExplorerModel.compute`
explains one image with the state's choices and returns an :class:`ExplorerView`. Nothing here imports ipywidgets, so
every rule of the explorer (which settings apply to a method, which layers it may explain, what a method change resets,
what a failed update reports) is testable headless; :mod:`.controls` only shows it.

Rules (all asked from :mod:`hidden_monotonicity.methods`, never guessed here):

* the layers a method may explain: :func:`~hidden_monotonicity.methods.layers.layer_candidates`; a method or model change
  resets the layer to :func:`~hidden_monotonicity.methods.layers.method_default_layer`;
* a setting applies to a method exactly when the method has that parameter (``MethodSpec.parameters``);
* a computation that fails never raises out of :meth:`ExplorerModel.compute`: the view carries the reason
  (:attr:`ExplorerView.error`) and no map; a per-image score that Quantus refuses reads ``"n/a (reason)"``;
* the models are used in eval mode (dropout off, batch norm with its running statistics: the split of paper
  section 3 is defined for the inference network) but the caller's models keep their mode: :func:`eval_mode` sets
  eval only while the explorer computes and restores every module's ``training`` flag afterwards;
* the dataset's labels and a class-index target are checked against each model's number of classes, counted from
  the model's output, so a label the model has no logit for is refused with its image named (not an ``IndexError``);
* scores are computed only against the mask of the explained class: the dataset's mask belongs to the image's label,
  so a view that explains another class (or an image loaded with :meth:`ExplorerModel.load_image`, which has no mask)
  carries no scores and says why (:attr:`ExplorerView.scores_note`);
* a map with non-finite values is a failure whose hint names the fix that was tried and works (raise α, choose a
  stabilisation, or both: which one depends on the layer, so it is computed, not guessed; :attr:`ExplorerView.fix`);
  a finite map within a factor 1e8 of the float32 limit is shown with a warning (:attr:`ExplorerView.warning`);
* logits, g/h, maps and layer profiles are cached per model, image and settings (the models are taken as fixed;
  :meth:`ExplorerModel.clear_cache` after changing one), so going back to a view costs nothing and a setting change
  recomputes only what it touches. The per-layer profile is off by default (one more backward pass per update).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import re
import time
from pathlib import Path
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar

import numpy as np
import torch
from torch import nn

__all__ = [
    "COMPARISONS",
    "DEFAULT_METHODS",
    "DEFAULT_METRICS",
    "NO_LAYER",
    "STABILISATIONS",
    "ExplorerModel",
    "ExplorerState",
    "ExplorerView",
    "LayerProfile",
    "METHOD_MEANING",
    "OVERFLOW_WARNING",
    "eval_mode",
    "friendly_layer",
    "read_image",
    "short_reason",
]

#: Methods offered by default (the paper's three, then the baselines of section D.3).
DEFAULT_METHODS: tuple[str, ...] = (
    "splitcam",
    "splitgrad",
    "splitlrp",
    "layercam",
    "gradcam",
    "gradcam_pp",
    "guided_backprop",
    "integrated_gradients",
    "lrp_gamma",
    "saliency",
)
#: Metrics scored per image (none of them re-explains, so an update stays interactive).
DEFAULT_METRICS: tuple[str, ...] = ("PointingGame", "AttributionLocalisation", "Selectivity", "Sparseness")
STABILISATIONS: tuple[str, ...] = ("scale", "shift", "threshold", "none")
#: The stabilisation of the split network's g and h when the method has no ``stabilize`` parameter (the library default).
DEFAULT_STABILISATION = "scale"
NO_LAYER = "(input resolution)"
#: Side-by-side views: ``"none"`` one map; ``"method"`` a second method; the others the two values of one setting.
COMPARISONS: dict[str, str] = {
    "none": "single map",
    "method": "two methods",
    "output": "g | h | g − h",
    "stream": "a⁺ vs a⁻",
    "relevance": "R⁺ vs R⁻",
}
#: The two values each setting comparison shows (left, right).
_COMPARED_VALUES: dict[str, tuple[Any, Any]] = {"output": ("g", "h"), "stream": ("pos", "neg"), "relevance": ("pos", "neg")}
_VALUE_LABELS: dict[str, str] = {"pos": "a⁺", "neg": "a⁻", "g": "g", "h": "h", "pos-neg": "R⁺ − R⁻"}
_RELEVANCE_LABELS: dict[str, str] = {"pos": "R⁺", "neg": "R⁻", "pos-neg": "R⁺ − R⁻"}
#: Settings that are method parameters (shown only for methods that have them).
METHOD_SETTINGS: tuple[str, ...] = ("layer", "alpha", "stream", "output", "relevance", "stabilize")
TARGET_CHOICES: tuple[str, ...] = ("true", "predicted")
#: A finite map whose largest |value| exceeds this is shown with a warning: float32 ends at 3.4e38, so such maps are
#: within 1e8 of overflowing (the α-shift keeps the sensitivities' common mode small, paper B.3).
OVERFLOW_WARNING = 1e30
#: What a method's map is, in one line (shown under the map). Methods not listed use their registry description.
METHOD_MEANING: dict[str, str] = {
    "splitcam": "SplitCAM (C.1): Σ_c δ·a at the layer, split stream and output chosen: where the stream's activation "
                "raises (red) or lowers (blue) the output g or h",
    "splitgrad": "SplitGrad (C.2): channel mean of the α-shifted sensitivity δ of g or h to the chosen stream",
    "splitlrp": "SplitLRP (C.3): ε-LRP relevance of g through the non-negative split network; R⁺ evidence present, "
                "R⁻ evidence against",
    "layercam": "LayerCAM: ReLU(∂logit/∂A)·A summed over channels (non-negative)",
    "gradcam": "Grad-CAM: ReLU(Σ_c mean(∂logit/∂A_c)·A_c), upsampled (non-negative)",
    "gradcam_pp": "Grad-CAM++: Grad-CAM with second-order channel weights (non-negative)",
    "guided_backprop": "Guided Backprop: gradient with negative gradients cut at every ReLU, channel sum",
    "integrated_gradients": "Integrated Gradients: (x − baseline)·mean gradient along the path, channel sum",
    "lrp_gamma": "LRP-γ (zennit): relevance of the logit, channel sum",
    "saliency": "Saliency: |∂logit/∂x| (non-negative)",
}


@dataclass(frozen=True)
class ExplorerState:
    """The explorer's choices (one value per control).

    ``target``: the explained class - ``"true"`` (the image's label), ``"predicted"`` or a class index.
    ``compare``: a key of :data:`COMPARISONS`; ``compare_method`` is the second method of ``compare="method"``.
    ``profile``: also compute the per-layer stream and sensitivity magnitudes (:class:`LayerProfile`); off by default
    (it is a second backward pass per update, doubling a photo update).
    ``shared_scale``: side-by-side maps on one colour scale (default: each panel its own scale and colourbar - maps of
    different methods differ by orders of magnitude). ``opacity``: of the map over the image (display only).
    """

    image: int = 0
    model: str = ""
    method: str = "splitcam"
    layer: str | None = None
    alpha: float = 0.4
    stream: str = "pos"
    output: str = "g"
    relevance: str = "pos-neg"
    stabilize: str = "scale"
    absolute: bool = False
    target: str | int = "true"
    compare: str = "none"
    compare_method: str = "layercam"
    profile: bool = False
    shared_scale: bool = False
    opacity: float = 0.85


@dataclass
class LayerProfile:
    """Mean magnitudes per split layer for one image and class: the streams ``a⁺``, ``a⁻`` and the four sensitivities
    ``δ^{+,g}, δ^{−,g}, δ^{+,h}, δ^{−,h}`` (paper B.3) at ``alpha`` and ``stabilisation`` (the state's; α = 0 for a
    method without α, which the figure's title states)."""

    layers: list[str]
    magnitudes: dict[str, np.ndarray]  # label -> (len(layers),)
    current: str | None  # the explained layer when it is a split layer
    alpha: float = 0.0
    stabilisation: str = DEFAULT_STABILISATION


@dataclass
class ExplorerView:
    """What one update computed. ``error`` is set (and ``saliency`` is ``None``) when the map could not be computed."""

    state: ExplorerState
    target: int
    true_class: int
    predicted: int
    logits: np.ndarray  # (classes,)
    parameters: dict[str, Any] = field(default_factory=dict)
    saliency: np.ndarray | None = None  # (H, W)
    panels: list[tuple[str, np.ndarray]] = field(default_factory=list)  # the maps shown (titles name what each is)
    g: float = float("nan")  # nan for methods outside the split family (g and h mean nothing for them)
    h: float = float("nan")
    stabilisation: str = DEFAULT_STABILISATION
    scores: dict[str, float | str] = field(default_factory=dict)
    scores_note: str = ""  # "scores vs the mask of class X", or why there are none
    profile: LayerProfile | None = None
    error: str | None = None
    warning: str | None = None  # a current map that is suspicious (values near overflow)
    fix: dict[str, Any] | None = None  # after non-finite values: the changes found to give a finite map
    seconds: float = float("nan")  # compute time of this view

    @property
    def probabilities(self) -> np.ndarray:
        """Softmax of the logits."""
        shifted = np.exp(self.logits - np.max(self.logits))
        return shifted / shifted.sum()

    def top_classes(self, k: int = 5) -> list[tuple[int, float]]:
        """The ``k`` most probable classes with their probabilities, most probable first."""
        probabilities = self.probabilities
        order = np.argsort(-probabilities, kind="stable")[:k]
        return [(int(c), float(probabilities[c])) for c in order]

    @property
    def split_family(self) -> bool:
        """Whether g and h belong to this view (a split method); False for the baselines."""
        return bool(np.isfinite(self.g) and np.isfinite(self.h))

    @property
    def f(self) -> float:
        """``g − h`` (Theorem 1: equals the explained logit)."""
        return self.g - self.h

    @property
    def current(self) -> bool:
        """Whether the view shows a map computed with its state (False after a failed update)."""
        return self.error is None and self.saliency is not None


def _listing(indices: Sequence[int], shown: int = 8) -> str:
    """``"3, 4, 9"`` or ``"3, 4, ... (12 in all)"``."""
    text = ", ".join(str(i) for i in indices[:shown])
    return text if len(indices) <= shown else f"{text}, ... ({len(indices)} in all)"


def short_reason(error: BaseException, limit: int = 160) -> str:
    """``"ErrorType: first line of the message"``, at most ``limit`` characters."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    reason = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


def friendly_layer(name: str) -> str:
    """A short readable layer name for titles and axis labels: ``"_blocks.3._expand_relu"`` -> ``"B3 expand"``,
    ``"_stem_relu"`` -> ``"stem"``, ``"layer2.0.relu#2"`` -> ``"L2.0 relu#2"``; other names unchanged."""
    words: list[str] = []
    for part in (piece.strip("_") for piece in name.split(".")):
        part = {"depthwise_relu": "dw", "expand_relu": "expand"}.get(part, re.sub(r"_relu6?$", "", part))
        part = re.sub(r"^layer(\d+)$", r"L\1", part)
        if words and part.isdigit():
            words[-1] = f"B{part}" if words[-1] == "blocks" else f"{words[-1]}.{part}"
        else:
            words.append(part)
    return " ".join(word for word in words if word) or name


@contextlib.contextmanager
def eval_mode(models: Iterable[nn.Module]) -> Iterator[None]:
    """Put ``models`` in eval mode for the ``with`` block, then give every module back its own ``training`` flag.

    The explorer explains the inference network (dropout off, batch norm with its running statistics; the split
    network refuses a model in training mode), yet the models are the caller's: one still being trained stays in
    train mode after a map was computed. Nested blocks are fine (an inner block restores eval for the outer one).
    """
    models = list(models)
    flags = {id(module): (module, module.training) for model in models for module in model.modules()}
    try:
        for model in models:
            model.eval()
        yield
    finally:
        for module, training in flags.values():
            module.training = training


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _in_eval_mode(method: _Method) -> _Method:
    """Run an :class:`ExplorerModel` method with its models in eval mode (see :func:`eval_mode`)."""

    @functools.wraps(method)
    def wrapper(self: "ExplorerModel", *args: Any, **kwargs: Any) -> Any:
        with eval_mode(self.models.values()):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def method_label(method: str) -> str:
    """The method's display label (``MethodSpec.label`` when the registry has one, else its name)."""
    from ..methods import get_method

    spec = get_method(method)
    return str(getattr(spec, "label", None) or spec.name)


class ExplorerModel:
    """State and computation of the explorer over ``models`` and the images of a
    :class:`~hidden_monotonicity.data.LocalisationDataset`.

    Args:
        models: ``{name: model}``, moved to ``device``. They are used in eval mode while the explorer computes and
            keep their own mode otherwise (:func:`eval_mode`): the explorer never leaves a model in another mode.
        dataset: images, labels and masks (its ``mean``/``std`` are used to display the images).
        methods: registered method names offered in the method menu.
        metrics: catalogue metric names scored per image (see ``hm.evaluation.CATALOGUE``); ``()`` for none.
        metric_params: per-metric overrides (default: Selectivity patches of 1/8 of the image side).
        device: where models and images live.
        state: the initial choices (default: :class:`ExplorerState` with the first model).
        sources: Python expressions that rebuild the models and the dataset for :meth:`code` (``{model name: expr,
            "dataset": expr, "imports": extra import lines}``, evaluated after ``import hidden_monotonicity as hm``);
            default: ``hm.models.load(name)``
            for the registered models, and ``dataset.meta["source_code"]`` when the dataset has it.
    """

    def __init__(
        self,
        models: Mapping[str, nn.Module],
        dataset: Any,
        *,
        methods: Sequence[str] = DEFAULT_METHODS,
        metrics: Sequence[str] = DEFAULT_METRICS,
        metric_params: Mapping[str, Mapping[str, Any]] | None = None,
        device: str = "cpu",
        state: ExplorerState | None = None,
        sources: Mapping[str, str] | None = None,
    ) -> None:
        from ..methods import methods as registered

        if not models:
            raise ValueError("the explorer needs at least one model: models={'name': model}")
        if len(dataset) == 0:
            raise ValueError("the explorer needs a dataset with at least one image")
        known = registered()
        unknown = [name for name in methods if name not in known]
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; registered: {', '.join(known)}")
        self.models = {name: model.to(device) for name, model in models.items()}
        self.dataset = dataset
        self.methods = tuple(methods)
        self.metrics = tuple(metrics)
        side = int(dataset.images.shape[-1])
        self.metric_params = {"Selectivity": {"patch_size": max(2, side // 8)}, **dict(metric_params or {})}
        self.device = device
        self._splits: dict[tuple[str, str], Any] = {}
        self._layers: dict[tuple[str, str], list[str]] = {}
        self._defaults: dict[tuple[str, str], str] = {}
        self._classes: dict[str, int] = {}
        self.sources = dict(sources or {})
        #: image index -> file of the images added with :meth:`load_image` (``None``: given as an array)
        self.uploaded: dict[int, str | None] = {}
        self._cache: collections.OrderedDict[tuple, Any] = collections.OrderedDict()
        for name in self.models:
            self.check_labels(name)
        initial = state or ExplorerState()
        initial = replace(initial, model=initial.model or next(iter(self.models)))
        if initial.compare_method not in self.methods:
            initial = replace(initial, compare_method=next((m for m in self.methods if m != initial.method), initial.method))
        self.state = self.resolve(initial)
        self.view: ExplorerView | None = None

    # ------------------------------------------------------------------------------------- choices
    @staticmethod
    def spec(method: str):
        from ..methods import get_method

        return get_method(method)

    def num_classes(self, model_name: str) -> int:
        """The number of classes of ``model_name``: the length of its output for the first image (counted once)."""
        if model_name not in self._classes:
            logits = self.logits(model_name, 0)
            if logits.ndim != 1:
                raise ValueError(f"model {model_name!r} returns an output of shape {(1, *logits.shape)} for one image; "
                                 "the explorer needs class logits of shape (images, classes)")
            self._classes[model_name] = int(logits.shape[0])
        return self._classes[model_name]

    def check_labels(self, model_name: str) -> None:
        """Raise ``ValueError`` when a label of the dataset is not a class of ``model_name`` (the explained class
        ``"true"`` would index a logit the model does not have)."""
        classes = self.num_classes(model_name)
        labels = torch.as_tensor(self.dataset.labels).reshape(-1)
        outside = [int(i) for i in torch.nonzero((labels < 0) | (labels >= classes)).reshape(-1)]
        if outside:
            first = outside[0]
            others = f"; {len(outside)} images have such labels: {_listing(outside)}" if len(outside) > 1 else ""
            raise ValueError(f"label {int(labels[first])} of image {first} is outside the model's {classes} classes "
                             f"(0..{classes - 1}; model {model_name!r}, counted from its output){others}: the labels "
                             f"must be class indices of this model; use a dataset labelled for it")

    def example(self) -> torch.Tensor:
        return self.dataset.images[:1].to(self.device)

    @_in_eval_mode
    def layer_options(self, model_name: str, method: str) -> list[str]:
        """Layers ``method`` can explain on ``model_name`` (``methods.layers.layer_candidates``); ``[NO_LAYER]`` for
        methods without a layer."""
        from ..methods.layers import layer_candidates

        spec = self.spec(method)
        if not spec.needs_layer:
            return [NO_LAYER]
        key = (model_name, spec.family)  # the candidates depend on the family only (methods.layers.layer_candidates)
        if key not in self._layers:
            self._layers[key] = layer_candidates(self.models[model_name], spec, self.example())
        return self._layers[key]

    def layer_choices(self, model_name: str, method: str) -> list[tuple[str, str]]:
        """The layer menu's ``(label, layer)`` pairs: the labels are the short names of :func:`friendly_layer`
        (``"B3 expand"``, ``"head"``; the titles use them too), the values the real module names that ``hm.explain``
        takes. A short name that two layers share keeps the real name beside it, so every label is unique."""
        layers = self.layer_options(model_name, method)
        labels = [friendly_layer(name) for name in layers]
        shared = {label for label in labels if labels.count(label) > 1}
        return [(f"{label} ({name})" if label in shared else label, name) for label, name in zip(labels, layers)]

    @_in_eval_mode
    def default_layer(self, model_name: str, method: str) -> str:
        """The layer ``method`` explains when none is chosen (``methods.layers.method_default_layer``)."""
        from ..methods.layers import method_default_layer

        key = (model_name, method)
        if key not in self._defaults:
            layer = method_default_layer(self.models[model_name], method)
            self._defaults[key] = NO_LAYER if layer is None else layer
        return self._defaults[key]

    def applicable_settings(self, method: str) -> set[str]:
        """The settings of :data:`METHOD_SETTINGS` that ``method`` has as a parameter (the others are hidden)."""
        parameters = self.spec(method).parameters
        return {name for name in METHOD_SETTINGS if name in parameters}

    def comparison_options(self, method: str) -> list[str]:
        """Side-by-side views that apply to ``method``: none, a second method, and each two-valued setting it has."""
        settings = self.applicable_settings(method)
        return ["none", "method", *[name for name in ("output", "stream", "relevance") if name in settings]]

    #: entries of the cache of logits, g/h, maps and profiles (least recently used dropped first)
    CACHE_SIZE = 256

    def _cached(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per ``key`` (an LRU cache of :attr:`CACHE_SIZE` entries); exceptions are not cached."""
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        value = compute()
        self._cache[key] = value
        while len(self._cache) > self.CACHE_SIZE:
            self._cache.popitem(last=False)
        return value

    def clear_cache(self) -> None:
        """Forget the cached logits, g/h, maps and profiles (after changing a model's weights)."""
        self._cache.clear()

    def image_tensor(self, image: int) -> torch.Tensor:
        return self.dataset.images[image : image + 1].to(self.device)

    def logits(self, model_name: str, image: int) -> np.ndarray:
        """The logits of ``model_name`` for image ``image`` (computed once per model and image)."""

        @_in_eval_mode
        def compute(self: "ExplorerModel") -> np.ndarray:
            with torch.no_grad():
                return self.models[model_name](self.image_tensor(image))[0].double().cpu().numpy()

        return self._cached(("logits", model_name, image), lambda: compute(self))

    def class_name(self, index: int) -> str:
        names = getattr(self.dataset, "class_names", None)
        return str(names[index]) if names is not None and 0 <= index < len(names) else str(index)

    def class_names(self, model_name: str | None = None) -> list[str]:
        """The name of every class of ``model_name`` (default: the current model), index order."""
        return [self.class_name(c) for c in range(self.num_classes(model_name or self.state.model))]

    def find_class(self, text: str, model_name: str | None = None) -> int:
        """The class index whose name is ``text`` (case-insensitive; ``"281"`` or ``"281: tabby"`` name an index too);
        ``ValueError`` listing close names otherwise."""
        names = self.class_names(model_name)
        query = text.strip()
        number = re.match(r"^(\d+)(:|$)", query)
        if number and int(number.group(1)) < len(names):
            return int(number.group(1))
        lowered = [name.lower() for name in names]
        if query.lower() in lowered:
            return lowered.index(query.lower())
        close = [names[i] for i, name in enumerate(lowered) if query.lower() in name][:5]
        hint = f"; did you mean {', '.join(close)}?" if close else "; type part of a class name and pick one"
        raise ValueError(f"no class named {text!r}{hint}")

    def is_uploaded(self, image: int) -> bool:
        return image in self.uploaded

    def has_label(self, image: int) -> bool:
        """Whether ``image`` has a known class (shipped images; not those of :meth:`load_image`)."""
        return image not in self.uploaded

    def explained_class(self, state: ExplorerState, logits: np.ndarray | None = None) -> int:
        """The class index ``state.target`` names for its image and model (``"true"`` on an image without a label,
        one added with :meth:`load_image`, explains the predicted class)."""
        if state.target == "true" and self.has_label(state.image):
            return int(self.dataset.labels[state.image])
        if state.target in TARGET_CHOICES:  # "predicted", or "true" on an image without a label
            logits = self.logits(state.model, state.image) if logits is None else logits
            return int(np.argmax(logits))
        return int(state.target)

    def check(self, state: ExplorerState) -> None:
        """Raise ``ValueError`` naming the bad choice and the valid ones."""
        if state.model not in self.models:
            raise ValueError(f"unknown model {state.model!r}; the explorer has {list(self.models)}")
        for name in ("method", "compare_method"):
            if getattr(state, name) not in self.methods:
                raise ValueError(f"unknown method {getattr(state, name)!r} ({name}); the explorer offers {list(self.methods)}")
        if not 0 <= state.image < len(self.dataset):
            raise ValueError(f"image index {state.image} out of range: the dataset has {len(self.dataset)} images")
        if not 0.0 <= state.alpha <= 0.5:
            raise ValueError(f"alpha must lie in [0, 0.5], got {state.alpha}")
        if not 0.0 <= state.opacity <= 1.0:
            raise ValueError(f"opacity must lie in [0, 1], got {state.opacity}")
        if state.stabilize not in STABILISATIONS:
            raise ValueError(f"stabilize must be one of {STABILISATIONS}, got {state.stabilize!r}")
        if state.stream not in ("pos", "neg") or state.output not in ("g", "h"):
            raise ValueError(f"stream must be 'pos'/'neg' and output 'g'/'h', got {state.stream!r}, {state.output!r}")
        if state.relevance not in ("pos-neg", "pos", "neg"):
            raise ValueError(f"relevance must be 'pos-neg', 'pos' or 'neg', got {state.relevance!r}")
        if state.compare not in COMPARISONS:
            raise ValueError(f"compare must be one of {list(COMPARISONS)}, got {state.compare!r}")
        classes = self.num_classes(state.model)
        if state.target not in TARGET_CHOICES:
            if (not isinstance(state.target, (int, np.integer)) or isinstance(state.target, bool)
                    or not 0 <= state.target < classes):
                raise ValueError(f"target must be 'true', 'predicted' or a class index of model {state.model!r} in "
                                 f"0..{classes - 1} (its {classes} classes), got {state.target!r}")
        elif state.target == "true" and self.has_label(state.image) and not 0 <= int(self.dataset.labels[state.image]) < classes:
            label = int(self.dataset.labels[state.image])
            raise ValueError(f"label {label} of image {state.image} is outside the model's {classes} classes "
                             f"(0..{classes - 1}; model {state.model!r}): explain target='predicted' or a class index, "
                             "or use a dataset labelled for this model")
        if state.layer not in self.layer_options(state.model, state.method):
            raise ValueError(f"layer {state.layer!r} is not one {state.method} can explain on {state.model}; "
                             f"choose one of {self.layer_options(state.model, state.method)}")

    def resolve(self, state: ExplorerState, previous: ExplorerState | None = None, *, layer_chosen: bool = False) -> ExplorerState:
        """``state`` made consistent, then checked: a new method or model (unless the same change chooses a layer) or no
        layer gets the method's default layer; a comparison the method does not have falls back to ``"none"``. A layer
        chosen explicitly that the method cannot explain raises ``ValueError``."""
        if state.model not in self.models or state.method not in self.methods:
            self.check(state)  # raises with the list of valid choices
        moved = previous is not None and (state.model, state.method) != (previous.model, previous.method)
        if state.layer is None or (moved and not layer_chosen):
            state = replace(state, layer=self.default_layer(state.model, state.method))
        if state.compare not in self.comparison_options(state.method) and state.compare in COMPARISONS:
            state = replace(state, compare="none")
        if isinstance(state.target, (np.integer,)):
            state = replace(state, target=int(state.target))
        if state.target == "true" and not self.has_label(state.image):  # your image has no label
            state = replace(state, target="predicted")
        self.check(state)
        return state

    def with_changes(self, **changes: Any) -> ExplorerState:
        """The current state with ``changes`` (any :class:`ExplorerState` field) applied and resolved."""
        unknown = sorted(set(changes) - set(ExplorerState.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown explorer setting(s) {unknown}; settings: {', '.join(ExplorerState.__dataclass_fields__)}")
        return self.resolve(replace(self.state, **changes), previous=self.state, layer_chosen="layer" in changes)

    def method_parameters(self, state: ExplorerState, method: str | None = None) -> dict[str, Any]:
        """The ``hm.explain`` parameters of ``state`` that ``method`` (default: the state's method) accepts; another
        method than the state's explains at its own default layer."""
        method = method or state.method
        spec = self.spec(method)
        layer = state.layer if method == state.method else self.default_layer(state.model, method)
        candidates = {
            "layer": None if layer == NO_LAYER else layer,
            "alpha": float(state.alpha),
            "stream": state.stream,
            "output": state.output,
            "relevance": state.relevance,
            "stabilize": state.stabilize,
            "abs": bool(state.absolute),
        }
        return {key: value for key, value in candidates.items() if key in spec.parameters}

    def split_stabilisation(self, state: ExplorerState) -> str:
        """The stabilisation of the split network whose g and h are shown: the state's when the method has that
        parameter, else the library default."""
        return state.stabilize if "stabilize" in self.spec(state.method).parameters else DEFAULT_STABILISATION

    # ------------------------------------------------------------------------------------- compute
    @_in_eval_mode
    def split(self, model_name: str, stabilize: str):
        from ..decomposition import decompose

        key = (model_name, stabilize)
        if key not in self._splits:
            self._splits[key] = decompose(self.models[model_name], stabilize=stabilize)
        return self._splits[key]

    def split_output(self, model_name: str, stabilize: str, image: int) -> tuple[np.ndarray, np.ndarray]:
        """``(g, h)`` of every class for one image (paper section 3; computed once per model, stabilisation, image)."""

        @_in_eval_mode
        def compute(self: "ExplorerModel") -> tuple[np.ndarray, np.ndarray]:
            out = self.split(model_name, stabilize)(self.image_tensor(image))
            return out.g[0].double().cpu().numpy(), out.h[0].double().cpu().numpy()

        return self._cached(("split", model_name, stabilize, image), lambda: compute(self))

    def _parameters_key(self, state: ExplorerState, target: int, method: str, parameters: Mapping[str, Any]) -> tuple:
        return (state.model, state.image, target, method, tuple(sorted(parameters.items())))

    def _explain(self, state: ExplorerState, x: torch.Tensor, target: int, method: str, **overrides: Any) -> np.ndarray:
        """The map of ``method`` (``hm.explain`` with the state's parameters and ``overrides``), computed once per model,
        image, class, method and parameters."""
        from ..methods import explain

        parameters = {**self.method_parameters(state, method), **overrides}

        @_in_eval_mode
        def compute(self: "ExplorerModel") -> np.ndarray:
            return explain(self.models[state.model], x, target, method, **parameters)[0, 0].detach().cpu().numpy()

        return self._cached(("map", *self._parameters_key(state, target, method, parameters)), lambda: compute(self))

    def panel_title(self, state: ExplorerState, method: str, **overrides: Any) -> str:
        parameters = {**self.method_parameters(state, method), **overrides}
        details = []
        if "layer" in parameters and parameters["layer"] is not None:
            details.append(f"at {friendly_layer(parameters['layer'])}")
        if "stream" in parameters:
            details.append(f"{_VALUE_LABELS[parameters['stream']]}, {parameters['output']}")
        if "relevance" in parameters:
            details.append(_RELEVANCE_LABELS[parameters["relevance"]])
        if "alpha" in parameters:
            details.append(f"α={parameters['alpha']:g}")
        if parameters.get("abs"):
            details.append("|map|")
        return method_label(method) + ("\n" + ", ".join(details) if details else "")

    #: α that the failure hint of a non-finite map tries first (paper B.3: α ≥ 0.3 keeps the shifted sensitivities
    #: small), and the stabilisation it tries when the state's has none or another one.
    FIX_ALPHA = 0.3
    FIX_STABILISATION = DEFAULT_STABILISATION

    def fix_candidates(self, state: ExplorerState) -> list[dict[str, Any]]:
        """The changes :meth:`nonfinite_fix` tries for ``state``, in order (see there)."""
        parameters = self.spec(state.method).parameters
        changes: list[dict[str, Any]] = []
        if "alpha" in parameters and state.alpha < self.FIX_ALPHA:
            changes.append({"alpha": self.FIX_ALPHA})
        if "stabilize" in parameters and state.stabilize != self.FIX_STABILISATION:
            changes.append({"stabilize": self.FIX_STABILISATION})
        if len(changes) == 2:
            changes.append({**changes[0], **changes[1]})
        return changes

    def nonfinite_fix(self, state: ExplorerState, x: torch.Tensor, target: int) -> dict[str, Any] | None:
        """The change of α and/or stabilisation that turns the non-finite maps of ``state`` into finite ones below
        :data:`OVERFLOW_WARNING`, found by computing them (cached, so following the hint costs nothing); ``None`` when
        no candidate does. Candidates, in order: α raised to :attr:`FIX_ALPHA`; stabilisation
        :attr:`FIX_STABILISATION`; both. Which one works depends on the layer: without the α-shift the sensitivities'
        common mode overflows at the input whatever the stabilisation, while unstabilised streams overflow at a deep
        layer whatever α (paper B.2-B.3)."""
        for change in self.fix_candidates(state):
            candidate = replace(state, **change)
            try:
                saliency = self._explain(candidate, x, target, candidate.method)
                panels = self._panels(candidate, x, target, saliency)
            except Exception:  # noqa: BLE001 - a candidate that fails is no fix
                continue
            if all(np.isfinite(values).all() and float(np.abs(values).max()) <= OVERFLOW_WARNING
                   for _, values in panels):
                return change
        return None

    def nonfinite_hint(self, state: ExplorerState, fix: Mapping[str, Any] | None) -> str:
        """The failure message of a map with non-finite values, naming the fix that was found to work (``fix``, see
        :meth:`nonfinite_fix`) - or saying that none of them did."""
        parameters = self.spec(state.method).parameters
        now = ", ".join([*([f"α = {state.alpha:g}"] if "alpha" in parameters else []),
                         *([f"stabilisation {state.stabilize!r}"] if "stabilize" in parameters else [])])
        text = "the map has non-finite values" + (f" at {now}" if now else "")
        if fix:
            steps = [*([f"raise α to {fix['alpha']:g}"] if "alpha" in fix else []),
                     *([f"choose stabilisation {fix['stabilize']!r}"] if "stabilize" in fix else [])]
            why = []
            if "alpha" in fix:
                why.append("without enough α-shift the sensitivities' common mode grows layer by layer and overflows")
            if "stabilize" in fix:
                why.append("unstabilised streams overflow float32 in deep layers whatever α")
            return f"{text}: {' and '.join(steps)} - that gives a finite map ({'; '.join(why)}; paper B.2-B.3)"
        tried = self.fix_candidates(state)
        if tried:
            last = tried[-1]  # the widest change tried
            also = " and ".join([*([f"α = {last['alpha']:g}"] if "alpha" in last else []),
                                 *([f"stabilisation {last['stabilize']!r}"] if "stabilize" in last else [])])
            return f"{text}, also with {also}: choose another layer or method"
        if "alpha" in parameters or "stabilize" in parameters:
            return f"{text}: choose another layer or method"
        return text

    def overflow_warning(self, state: ExplorerState, peak: float) -> str | None:
        """A warning when a finite map reaches :data:`OVERFLOW_WARNING` (near the float32 limit 3.4e38)."""
        if not peak > OVERFLOW_WARNING:
            return None
        fix = "raise α" if "alpha" in self.spec(state.method).parameters else "try another stabilisation"
        return f"values reach {peak:.1e}, near the float32 overflow at 3.4e38: the map may be noise; {fix}"

    @_in_eval_mode
    def compute(self, state: ExplorerState | None = None) -> ExplorerView:
        """Explain one image with the choices of ``state`` (default: the current state).

        Invalid choices raise ``ValueError`` (see :meth:`check`); a failure of the computation itself does not raise:
        the returned view has ``error`` set and no map. Scores that a metric refuses read ``"n/a (reason)"``; scores
        are only computed against the mask of the explained class (see :attr:`ExplorerView.scores_note`).
        """
        start = time.perf_counter()
        state = state or self.state
        self.check(state)
        x = self.image_tensor(state.image)
        logits = self.logits(state.model, state.image)
        true_class = int(self.dataset.labels[state.image]) if self.has_label(state.image) else -1
        view = ExplorerView(state=state, target=self.explained_class(state, logits), true_class=true_class,
                            predicted=int(np.argmax(logits)), logits=logits, parameters=self.method_parameters(state),
                            stabilisation=self.split_stabilisation(state))
        try:
            self._compute_into(view, x)
        finally:
            view.seconds = time.perf_counter() - start
        return view

    def _compute_into(self, view: ExplorerView, x: torch.Tensor) -> None:
        state = view.state
        if self.spec(state.method).family == "split":  # g and h belong to the split methods only
            try:
                g, h = self.split_output(state.model, view.stabilisation, state.image)
                view.g, view.h = float(g[view.target]), float(h[view.target])
            except Exception as error:  # noqa: BLE001 - shown in the view, never raised into the frontend
                view.error = f"split network: {short_reason(error)}"
                return
        try:
            view.saliency = self._explain(state, x, view.target, state.method)
            view.panels = self._panels(state, x, view.target, view.saliency)
        except Exception as error:  # noqa: BLE001
            view.saliency, view.panels = None, []
            view.error = short_reason(error)
            return
        if not all(np.isfinite(values).all() for _, values in view.panels):
            view.saliency, view.panels = None, []
            view.fix = self.nonfinite_fix(state, x, view.target)
            view.error = self.nonfinite_hint(state, view.fix)
            return
        view.warning = self.overflow_warning(state, max(float(np.abs(values).max()) for _, values in view.panels))
        view.scores, view.scores_note = self.view_scores(state, x, view)
        if state.profile:
            try:
                view.profile = self.layer_profile(state, x, view.target)
            except Exception:  # noqa: BLE001 - the profile is optional; the map stays current
                view.profile = None

    def view_scores(self, state: ExplorerState, x: torch.Tensor, view: ExplorerView) -> tuple[dict[str, float | str], str]:
        """The scores of the view and the note saying which mask they are against - or why there are none: the mask
        is the image's label's, so a view explaining another class (or an image without a mask) has no scores."""
        if not self.metrics:
            return {}, ""
        if not self.has_label(state.image):
            return {}, "no scores: this image has no object mask"
        true_name = self.class_name(view.true_class)
        if view.target != view.true_class:
            return {}, (f"no scores: the mask is of class {true_name}, the explained class "
                        f"{self.class_name(view.target)} has no mask")
        parameters = self.method_parameters(state)
        key = ("scores", *self._parameters_key(state, view.target, state.method, parameters))
        scores = self._cached(key, lambda: self.scores(state, x, view.target, view.saliency))
        return dict(scores), f"scores vs the mask of class {true_name}"

    def _panels(self, state: ExplorerState, x: torch.Tensor, target: int, saliency: np.ndarray) -> list[tuple[str, np.ndarray]]:
        if state.compare == "none":
            return [(self.panel_title(state, state.method), saliency)]
        if state.compare == "method":
            second = self._explain(state, x, target, state.compare_method)
            return [(self.panel_title(state, state.method), saliency), (self.panel_title(state, state.compare_method), second)]
        setting = state.compare
        panels = []
        for value in _COMPARED_VALUES[setting]:
            panel = saliency if getattr(state, setting) == value else self._explain(state, x, target, state.method, **{setting: value})
            panels.append((self.panel_title(state, state.method, **{setting: value}), panel))
        if setting == "output":  # the triptych g | h | g − h: the map of f = g − h (Theorem 1)
            title = panels[0][0].replace(", g", ", g − h = f")
            panels.append((title, panels[0][1] - panels[1][1]))
        return panels

    @_in_eval_mode
    def scores(self, state: ExplorerState, x: torch.Tensor, target: int, saliency: np.ndarray) -> dict[str, float | str]:
        """Per-image scores of :attr:`metrics` (``"n/a (reason)"`` where the metric refuses the map or the image)."""
        from ..evaluation.metrics import ModelContext, build_metric

        model = self.models[state.model]
        mask = self.dataset.masks[state.image : state.image + 1]
        context = ModelContext(state.model, int(self.logits(state.model, state.image).shape[0]))
        scores: dict[str, float | str] = {}
        for name in self.metrics:
            metric = build_metric(name, self.metric_params.get(name), context)
            keys = [f"{output.name} {output.arrow}" for output in metric.outputs()]
            if metric.needs_mask and float(mask.sum()) == 0:
                scores.update({key: "n/a (the image has an empty object mask)" for key in keys})
                continue
            try:
                result = metric.compute(model=model, x=x.cpu().numpy(), y=np.array([target]), a=saliency[None, None],
                                        s=mask.cpu().numpy(), explain_func=None, explain_func_kwargs=None, device=self.device)
            except Exception as error:  # noqa: BLE001 - Quantus' input checks raise AssertionError
                scores.update({key: f"n/a ({short_reason(error, 90)})" for key in keys})
                continue
            for output, key in zip(metric.outputs(), keys):
                scores[key] = float(np.asarray(result[output.name]).reshape(-1)[0])
        return scores

    def profile_alpha(self, state: ExplorerState) -> float:
        """The α of the layer profile: the state's for a method with α, else 0 (the true split sensitivities)."""
        return float(state.alpha) if "alpha" in self.spec(state.method).parameters else 0.0

    @_in_eval_mode
    def layer_profile(self, state: ExplorerState, x: torch.Tensor, target: int) -> LayerProfile:
        """Mean |a⁺|, |a⁻| and the four mean |sensitivities| at every split layer (α and stabilisation of the view;
        computed once per model, image, class, α and stabilisation)."""
        from ..methods.layers import split_layer_candidates

        alpha, stabilisation = self.profile_alpha(state), self.split_stabilisation(state)

        @_in_eval_mode
        def compute(self: "ExplorerModel") -> tuple[list[str], dict[str, np.ndarray]]:
            model = self.models[state.model]
            layers = split_layer_candidates(model, x)
            split = self.split(state.model, stabilisation)
            result = split.sensitivities(x, [target], layers, alpha=alpha)
            labels = {"a⁺": "a_pos", "a⁻": "a_neg", "δ⁺ᵍ": "delta_pos_g", "δ⁻ᵍ": "delta_neg_g", "δ⁺ʰ": "delta_pos_h",
                      "δ⁻ʰ": "delta_neg_h"}
            return layers, {label: np.array([float(getattr(result[name], attribute).abs().mean()) for name in layers])
                            for label, attribute in labels.items()}

        layers, magnitudes = self._cached(("profile", state.model, state.image, target, alpha, stabilisation),
                                          lambda: compute(self))
        current = state.layer if state.layer in layers and self.spec(state.method).family == "split" else None
        return LayerProfile(layers=list(layers), magnitudes=dict(magnitudes), current=current, alpha=alpha,
                            stabilisation=stabilisation)

    def update(self, **changes: Any) -> ExplorerView:
        """Apply ``changes`` (see :meth:`with_changes`), compute and keep the view; returns it."""
        self.state = self.with_changes(**changes)
        self.view = self.compute(self.state)
        return self.view

    # ------------------------------------------------------------------------------------- your image
    def image_label(self, image: int) -> str:
        """The image menu's label: ``"3: cat"``, or ``"3: yours (photo.png)"`` for an image of :meth:`load_image`."""
        if image in self.uploaded:
            return f"{image}: yours ({self._upload_names.get(image, 'array')})"
        return f"{image}: {self.class_name(int(self.dataset.labels[image]))}"

    def load_image(self, source: Any, *, name: str | None = None) -> int:
        """Add your own image and return its index (then ``update(image=index)``).

        ``source``: a file path, the file's bytes, a PIL image, or an ``(H, W, 3)`` / ``(H, W)`` array (uint8, or
        floats in [0, 1]). It is centre-cropped to a square, resized to the dataset's image size and normalised with
        its ``mean``/``std`` (:func:`read_image`) - the input the models were made for. It has no label (``"true"``
        explains the predicted class) and no mask (no scores).
        """
        from ..data import LocalisationDataset

        dataset = self.dataset
        size = tuple(int(v) for v in dataset.images.shape[-2:])
        x = read_image(source, size=size, mean=dataset.mean, std=dataset.std)
        path = str(Path(source).resolve()) if isinstance(source, (str, os.PathLike)) else None
        self.dataset = LocalisationDataset(
            torch.cat([dataset.images, x]), torch.cat([dataset.labels, torch.zeros(1, dtype=torch.int64)]),
            torch.cat([dataset.masks, torch.zeros(1, 1, *size)]), mean=dataset.mean, std=dataset.std,
            class_names=dataset.class_names, meta=dataset.meta)
        index = len(self.dataset) - 1
        self.uploaded[index] = path
        self._upload_names = {**getattr(self, "_upload_names", {}),
                              index: name or (Path(path).name if path else "array")}
        return index

    # ------------------------------------------------------------------------------------- code and settings
    def model_source(self, model_name: str) -> str:
        """A Python expression that builds ``model_name`` (``sources`` or ``hm.models.load``)."""
        from .. import models as model_registry

        if model_name in self.sources:
            return self.sources[model_name]
        if model_name in model_registry.available():
            return f"hm.models.load({model_name!r})"
        raise ValueError(f"no source for model {model_name!r}: pass sources={{{model_name!r}: 'expression'}} to the "
                         "explorer so that code() can rebuild it")

    def dataset_source(self) -> str:
        source = self.sources.get("dataset") or self.dataset.meta.get("source_code")
        if not source:
            raise ValueError("no source for the dataset: pass sources={'dataset': 'expression'} to the explorer so that "
                             "code() can load the same images")
        return source

    def code(self, state: ExplorerState | None = None) -> str:
        """The Python code (model and image loading included) that reproduces the map of ``state`` (default: the
        current state) with ``hm.explain``: running it defines ``saliency``, an ``(H, W)`` array equal to the view's."""
        state = state or self.state
        self.check(state)
        target = self.explained_class(state)
        imports = [line for line in self.sources.get("imports", "").splitlines() if line.strip()]
        lines = ["import hidden_monotonicity as hm", *imports, "", f"model = {self.model_source(state.model)}",
                 "model.eval()"]
        if state.image in self.uploaded:
            path = self.uploaded[state.image]
            if path is None:
                raise ValueError(f"image {state.image} was given as an array, which code() cannot name: save it and "
                                 "load_image(path) instead")
            size = tuple(int(v) for v in self.dataset.images.shape[-2:])
            lines.append(f"x = hm.widgets.read_image({path!r}, size={size}, mean={tuple(self.dataset.mean)}, "
                         f"std={tuple(self.dataset.std)})")
        else:
            lines += [f"data = {self.dataset_source()}", f"x = data.images[{state.image}:{state.image + 1}]"]
        arguments = "".join(f", {key}={value!r}" for key, value in self.method_parameters(state).items())
        lines.append(f"saliency = hm.explain(model, x, {target}, {state.method!r}{arguments})[0, 0].detach().numpy()"
                     f"  # class {target}: {self.class_name(target)}")
        return "\n".join(lines) + "\n"

    def settings(self, view: ExplorerView | None = None) -> dict[str, Any]:
        """The view's settings as JSON-ready data: the state, the explained class, the ``hm.explain`` parameters, the
        code (:meth:`code`), g/h/f, the scores and a summary of the map (shape, sum, min, max) to check a rerun."""
        view = view or self.view or self.compute()
        state = view.state

        def number(value: float) -> float | None:
            return float(value) if np.isfinite(value) else None

        try:
            code = self.code(state)
        except ValueError as error:
            code = f"# {error}"
        summary = None
        if view.saliency is not None:
            values = np.asarray(view.saliency, dtype=np.float64)
            summary = {"shape": list(values.shape), "sum": float(values.sum()), "min": float(values.min()),
                       "max": float(values.max()), "abs_sum": float(np.abs(values).sum())}
        return {
            "state": {key: getattr(state, key) for key in ExplorerState.__dataclass_fields__},
            "image": self.uploaded.get(state.image) or state.image,
            "explained_class": {"index": view.target, "name": self.class_name(view.target),
                                "logit": float(view.logits[view.target]),
                                "probability": float(view.probabilities[view.target])},
            "method": method_label(state.method),
            "parameters": view.parameters,
            "g": number(view.g), "h": number(view.h), "f": number(view.f),
            "scores": view.scores, "scores_note": view.scores_note,
            "error": view.error, "warning": view.warning,
            "map": summary,
            "code": code,
        }


def read_image(source: Any, *, size: tuple[int, int] | int, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """An image file (path or bytes), PIL image or array as a normalised ``(1, 3, H, W)`` float32 tensor: RGB,
    centre-cropped to a square, resized to ``size`` (bilinear), ``(x − mean) / std`` - what a model of the explorer
    takes. Arrays: ``(H, W, 3)`` or ``(H, W)``, uint8 (0..255) or floats in [0, 1]."""
    import io

    from PIL import Image

    if isinstance(source, (str, os.PathLike)):
        if not Path(source).is_file():
            raise ValueError(f"no image file at {source}: give the path of a PNG or JPEG file")
        picture = Image.open(source)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        picture = Image.open(io.BytesIO(bytes(source)))
    elif isinstance(source, Image.Image):
        picture = source
    else:
        array = np.asarray(source)
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
            raise ValueError(f"an image array must be (H, W), (H, W, 3) or (H, W, 4), got shape {array.shape}")
        if array.dtype != np.uint8:
            if array.size and (np.nanmin(array) < 0 or np.nanmax(array) > 1):
                raise ValueError("a float image array must hold values in [0, 1] (or pass uint8 0..255)")
            array = np.round(array * 255).astype(np.uint8)
        picture = Image.fromarray(array.squeeze(2) if array.ndim == 3 and array.shape[2] == 1 else array)
    picture = picture.convert("RGB")
    side = min(picture.size)
    left, top = (picture.width - side) // 2, (picture.height - side) // 2
    height, width = (size, size) if isinstance(size, int) else size
    picture = picture.crop((left, top, left + side, top + side)).resize((width, height), Image.BILINEAR)
    values = torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255.0).permute(2, 0, 1)
    values = (values - torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)) / torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    return values[None].contiguous()
