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
  the model's output, so a label the model has no logit for is refused with its image named (not an ``IndexError``).
"""

from __future__ import annotations

import contextlib
import functools
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
    "eval_mode",
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
    "output": "g vs h",
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


@dataclass(frozen=True)
class ExplorerState:
    """The explorer's choices (one value per control).

    ``target``: the explained class - ``"true"`` (the image's label), ``"predicted"`` or a class index.
    ``compare``: a key of :data:`COMPARISONS`; ``compare_method`` is the second method of ``compare="method"``.
    ``profile``: also compute the per-layer stream and sensitivity magnitudes (:class:`LayerProfile`).
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
    profile: bool = True


@dataclass
class LayerProfile:
    """Mean magnitudes per split layer for one image and class: the streams ``a⁺``, ``a⁻`` and the four sensitivities
    ``δ^{+,g}, δ^{−,g}, δ^{+,h}, δ^{−,h}`` (paper B.3) at the state's α and stabilisation."""

    layers: list[str]
    magnitudes: dict[str, np.ndarray]  # label -> (len(layers),)
    current: str | None  # the explained layer when it is a split layer


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
    panels: list[tuple[str, np.ndarray]] = field(default_factory=list)  # the maps shown, on one colour scale
    g: float = float("nan")
    h: float = float("nan")
    stabilisation: str = DEFAULT_STABILISATION
    scores: dict[str, float | str] = field(default_factory=dict)
    profile: LayerProfile | None = None
    error: str | None = None

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

    @_in_eval_mode
    def logits(self, model_name: str, image: int) -> np.ndarray:
        with torch.no_grad():
            return self.models[model_name](self.dataset.images[image : image + 1].to(self.device))[0].double().cpu().numpy()

    def class_name(self, index: int) -> str:
        names = getattr(self.dataset, "class_names", None)
        return str(names[index]) if names is not None and 0 <= index < len(names) else str(index)

    def explained_class(self, state: ExplorerState, logits: np.ndarray | None = None) -> int:
        """The class index ``state.target`` names for its image and model."""
        if state.target == "true":
            return int(self.dataset.labels[state.image])
        if state.target == "predicted":
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
        elif state.target == "true" and not 0 <= int(self.dataset.labels[state.image]) < classes:
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

    @_in_eval_mode
    def _explain(self, state: ExplorerState, x: torch.Tensor, target: int, method: str, **overrides: Any) -> np.ndarray:
        from ..methods import explain

        parameters = {**self.method_parameters(state, method), **overrides}
        return explain(self.models[state.model], x, target, method, **parameters)[0, 0].detach().cpu().numpy()

    def panel_title(self, state: ExplorerState, method: str, **overrides: Any) -> str:
        parameters = {**self.method_parameters(state, method), **overrides}
        details = []
        if "layer" in parameters and parameters["layer"] is not None:
            details.append(f"at {parameters['layer']}")
        if "stream" in parameters:
            details.append(f"{_VALUE_LABELS[parameters['stream']]}, {parameters['output']}")
        if "relevance" in parameters:
            details.append(_RELEVANCE_LABELS[parameters["relevance"]])
        if "alpha" in parameters:
            details.append(f"α={parameters['alpha']:g}")
        if parameters.get("abs"):
            details.append("|map|")
        return method_label(method) + ("\n" + ", ".join(details) if details else "")

    @_in_eval_mode
    def compute(self, state: ExplorerState | None = None) -> ExplorerView:
        """Explain one image with the choices of ``state`` (default: the current state).

        Invalid choices raise ``ValueError`` (see :meth:`check`); a failure of the computation itself does not raise:
        the returned view has ``error`` set and no map. Scores that a metric refuses read ``"n/a (reason)"``.
        """
        state = state or self.state
        self.check(state)
        x = self.dataset.images[state.image : state.image + 1].to(self.device)
        logits = self.logits(state.model, state.image)
        view = ExplorerView(state=state, target=self.explained_class(state, logits),
                            true_class=int(self.dataset.labels[state.image]), predicted=int(np.argmax(logits)),
                            logits=logits, parameters=self.method_parameters(state),
                            stabilisation=self.split_stabilisation(state))
        try:
            out = self.split(state.model, view.stabilisation)(x)
            view.g, view.h = float(out.g[0, view.target]), float(out.h[0, view.target])
        except Exception as error:  # noqa: BLE001 - shown in the view, never raised into the frontend
            view.error = f"split network: {short_reason(error)}"
            return view
        try:
            view.saliency = self._explain(state, x, view.target, state.method)
            view.panels = self._panels(state, x, view.target, view.saliency)
        except Exception as error:  # noqa: BLE001
            view.saliency, view.panels = None, []
            view.error = short_reason(error)
            return view
        if not np.isfinite(view.saliency).all():
            view.error = "the map has non-finite values (try another stabilisation)"
            return view
        view.scores = self.scores(state, x, view.target, view.saliency)
        if state.profile:
            try:
                view.profile = self.layer_profile(state, x, view.target)
            except Exception:  # noqa: BLE001 - the profile is optional; the map stays current
                view.profile = None
        return view

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

    @_in_eval_mode
    def layer_profile(self, state: ExplorerState, x: torch.Tensor, target: int) -> LayerProfile:
        """Mean |a⁺|, |a⁻| and the four mean |sensitivities| at every split layer (α and stabilisation of the view)."""
        from ..methods.layers import split_layer_candidates

        model = self.models[state.model]
        layers = split_layer_candidates(model, x)
        split = self.split(state.model, self.split_stabilisation(state))
        alpha = float(state.alpha) if "alpha" in self.spec(state.method).parameters else 0.0
        result = split.sensitivities(x, [target], layers, alpha=alpha)
        labels = {"a⁺": "a_pos", "a⁻": "a_neg", "δ⁺ᵍ": "delta_pos_g", "δ⁻ᵍ": "delta_neg_g", "δ⁺ʰ": "delta_pos_h",
                  "δ⁻ʰ": "delta_neg_h"}
        magnitudes = {label: np.array([float(getattr(result[name], attribute).abs().mean()) for name in layers])
                      for label, attribute in labels.items()}
        current = state.layer if state.layer in layers and self.spec(state.method).family == "split" else None
        return LayerProfile(layers=layers, magnitudes=magnitudes, current=current)

    def update(self, **changes: Any) -> ExplorerView:
        """Apply ``changes`` (see :meth:`with_changes`), compute and keep the view; returns it."""
        self.state = self.with_changes(**changes)
        self.view = self.compute(self.state)
        return self.view
