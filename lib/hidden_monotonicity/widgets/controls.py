"""The explorer's ipywidgets view: controls bound to an :class:`~.explorer_model.ExplorerModel`, a status line and
the rendered view (:mod:`.rendering`). All rules live in the model; this module only shows them.

:class:`Explorer` works headless too: :meth:`Explorer.update` recomputes and redraws programmatically (papermill runs
it once) and :meth:`Explorer.save_preview` writes the current view as a PNG. Nothing is computed while the widgets are
built. A control change never raises into the frontend: a failed update shows its reason in the status line.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any, Mapping

import matplotlib.pyplot as plt
from torch import nn

from .explorer_model import (
    COMPARISONS,
    METHOD_SETTINGS,
    STABILISATIONS,
    ExplorerModel,
    ExplorerState,
    ExplorerView,
    method_label,
)
from .rendering import PREVIEW_DPI, figure_output, render_view
from .self_explaining import SelfExplainingModel

__all__ = ["Explorer", "SelfExplainingExplorer"]

_STYLE = {"description_width": "105px"}
_WIDTH = "340px"


def _layout() -> dict[str, Any]:
    return {"width": _WIDTH}


def _status_html(text: str, ok: bool) -> str:
    colour = "#1b5e20" if ok else "#b71c1c"
    icon = "✓" if ok else "⚠"
    return f"<div class='hm-status' style='color:{colour};font-size:13px'>{icon} {html.escape(text)}</div>"


def _show(figure: plt.Figure, output: Any) -> None:
    try:
        output.outputs = (figure_output(figure),)
    finally:
        plt.close(figure)


class Explorer:
    """ipywidgets explorer over ``models`` and the images of a :class:`~hidden_monotonicity.data.LocalisationDataset`
    (arguments as :class:`~.explorer_model.ExplorerModel`). ``explorer.core`` is the model (state + compute)."""

    #: control name -> ExplorerState field
    CONTROLS: tuple[str, ...] = ("image", "model", "target", "method", "layer", "compare", "compare_method", "alpha",
                                 "stream", "output", "relevance", "stabilize", "absolute", "profile")

    def __init__(self, models: Mapping[str, nn.Module], dataset: Any, **options: Any) -> None:
        """``options``: ``methods``, ``metrics``, ``metric_params``, ``device``, ``state`` of :class:`ExplorerModel`."""
        self.core = ExplorerModel(models, dataset, **options)
        self.widgets: dict[str, Any] = {}
        self.output = None
        self.status = None
        self._syncing = False

    # the model's state and choices, for code that drives the explorer
    @property
    def state(self) -> ExplorerState:
        return self.core.state

    @property
    def view(self) -> ExplorerView | None:
        return self.core.view

    @property
    def models(self) -> dict[str, nn.Module]:
        return self.core.models

    @property
    def dataset(self) -> Any:
        return self.core.dataset

    def layer_options(self, model_name: str, method: str) -> list[str]:
        return self.core.layer_options(model_name, method)

    def default_layer(self, model_name: str, method: str) -> str:
        return self.core.default_layer(model_name, method)

    def compute(self, state: ExplorerState | None = None) -> ExplorerView:
        return self.core.compute(state)

    def render(self, view: ExplorerView | None = None) -> plt.Figure:
        """The view (default: the current one, computed if needed) as a matplotlib figure."""
        return render_view(self.core, view or self.core.view or self.core.compute())

    # ------------------------------------------------------------------------------------- widgets
    def _target_options(self) -> list[tuple[str, Any]]:
        state = self.core.state
        logits = self.core.logits(state.model, state.image)
        true, predicted = int(self.core.dataset.labels[state.image]), int(logits.argmax())
        name = self.core.class_name
        return [(f"true: {name(true)} (logit {logits[true]:.3g})", "true"),
                (f"predicted: {name(predicted)} (logit {logits[predicted]:.3g})", "predicted"),
                *[(f"class {c}: {name(c)} (logit {logits[c]:.3g})", c) for c in range(len(logits))]]

    def build(self):
        """Create the controls, the status line and the output area; returns the ``ipywidgets.VBox`` to display."""
        import ipywidgets as widgets

        core, state = self.core, self.core.state
        image_options = [(f"{i}: {core.class_name(int(label))}", i) for i, label in enumerate(core.dataset.labels.tolist())]
        methods = [(method_label(m), m) for m in core.methods]
        common = {"style": _STYLE, "layout": _layout()}
        self.widgets = {
            "image": widgets.Dropdown(options=image_options, value=state.image, description="image", **common),
            "model": widgets.Dropdown(options=list(core.models), value=state.model, description="model", **common),
            "target": widgets.Dropdown(options=self._target_options(), value=state.target, description="explained class",
                                       **common),
            "method": widgets.Dropdown(options=methods, value=state.method, description="method", **common),
            "layer": widgets.Dropdown(options=core.layer_options(state.model, state.method), value=state.layer,
                                      description="layer", **common),
            "compare": widgets.Dropdown(options=self._compare_options(), value=state.compare, description="side by side",
                                        **common),
            "compare_method": widgets.Dropdown(options=methods, value=state.compare_method, description="second method",
                                               **common),
            "alpha": widgets.FloatSlider(value=state.alpha, min=0.0, max=0.5, step=0.05, description="α",
                                         continuous_update=False, **common),
            "stream": widgets.Dropdown(options=[("a⁺", "pos"), ("a⁻", "neg")], value=state.stream, description="stream",
                                       **common),
            "output": widgets.Dropdown(options=[("g", "g"), ("h", "h")], value=state.output, description="output",
                                       **common),
            "relevance": widgets.Dropdown(options=[("R⁺ − R⁻", "pos-neg"), ("R⁺", "pos"), ("R⁻", "neg")],
                                          value=state.relevance, description="relevance", **common),
            "stabilize": widgets.Dropdown(options=list(STABILISATIONS), value=state.stabilize, description="stabilisation",
                                          **common),
            "absolute": widgets.Checkbox(value=state.absolute, description="|map|", indent=True, **common),
            "profile": widgets.Checkbox(value=state.profile, description="layer profile", indent=True, **common),
        }
        self.status = widgets.HTML(value=_status_html("ready: the first update draws the map", True))
        self.output = widgets.Output()
        for name, control in self.widgets.items():
            control.observe(self._on_change, names="value")
        self._sync_visibility()
        left = widgets.VBox([self.widgets[k] for k in ("image", "model", "target", "method", "layer", "compare",
                                                       "compare_method")])
        right = widgets.VBox([self.widgets[k] for k in ("alpha", "stream", "output", "relevance", "stabilize", "absolute",
                                                        "profile")])
        box = widgets.VBox([widgets.HBox([left, right]), self.status, self.output])
        box.add_class("hm-explorer")  # a stable handle for the browser test and for styling
        return box

    def _compare_options(self) -> list[tuple[str, str]]:
        return [(COMPARISONS[key], key) for key in self.core.comparison_options(self.core.state.method)]

    def _sync_visibility(self) -> None:
        """A method setting is shown exactly when the chosen method has that parameter; the second method only for the
        two-method view."""
        settings = self.core.applicable_settings(self.core.state.method)
        for name in METHOD_SETTINGS:
            self.widgets[name].layout.display = "" if name in settings else "none"
        self.widgets["compare_method"].layout.display = "" if self.core.state.compare == "method" else "none"

    def _sync_widgets(self) -> None:
        state = self.core.state
        self._syncing = True
        try:
            self.widgets["layer"].options = self.core.layer_options(state.model, state.method)
            self.widgets["compare"].options = self._compare_options()
            self.widgets["target"].options = self._target_options()
            for name in self.CONTROLS:
                if self.widgets[name].value != getattr(state, name):
                    self.widgets[name].value = getattr(state, name)
            self._sync_visibility()
        finally:
            self._syncing = False

    def _on_change(self, change: Mapping[str, Any]) -> None:
        if self._syncing:
            return
        name = next(key for key, control in self.widgets.items() if control is change["owner"])
        try:
            self.update(**{name: change["new"]})
        except Exception as error:  # noqa: BLE001 - a control change never raises into the frontend
            if self.status is not None:
                self.status.value = _status_html(f"{name} = {change['new']!r} not applied: {error}", False)

    def update(self, **changes: Any) -> ExplorerView:
        """Apply ``changes`` (any :class:`ExplorerState` field), recompute and redraw; returns the new view.

        Invalid choices raise ``ValueError``; a failed computation returns a view with ``error`` set, which the status
        line and the figure show (the map is marked as not current). A new model or method resets the layer to the
        method's default (``methods.layers.method_default_layer``).
        """
        start = time.perf_counter()
        view = self.core.update(**changes)
        if self.widgets:
            self._sync_widgets()
        if self.output is not None:
            _show(self.render(view), self.output)
        if self.status is not None:
            if view.current:
                where = f" at {view.parameters['layer']}" if view.parameters.get("layer") else ""
                self.status.value = _status_html(f"map current: {method_label(view.state.method)}{where}, class "
                                                 f"{view.target} ({time.perf_counter() - start:.1f} s)", True)
            else:
                self.status.value = _status_html(f"update failed, the map is not current: {view.error}", False)
        return view

    def save_preview(self, path: str | Path | None = None, *, figures: Any = None, name: str = "explorer_preview.png") -> Path:
        """Write the current view as a PNG at :data:`~.rendering.PREVIEW_DPI`: through a notebook ``FigureSaver``
        (``figures``) or to ``path``."""
        figure = self.render(self.core.view)
        try:
            if figures is not None:
                figures.save(figure, name, dpi=PREVIEW_DPI)
                return figures.path(name)
            if path is None:
                raise ValueError("give a path or a FigureSaver")
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            figure.savefig(path, dpi=PREVIEW_DPI)
            return path
        finally:
            plt.close(figure)


class SelfExplainingExplorer:
    """Controls for :class:`~.self_explaining.SelfExplainingModel`: model, image, explained class; the g/h/f maps."""

    def __init__(self, core: SelfExplainingModel) -> None:
        self.core = core
        self.widgets: dict[str, Any] = {}
        self.output = None
        self.status = None

    def build(self):
        import ipywidgets as widgets

        state, common = self.core.state, {"style": _STYLE, "layout": _layout()}
        classes = int(self.core.logits(state).shape[0])
        self.widgets = {
            "model": widgets.Dropdown(options=list(self.core.models), value=state.model, description="model", **common),
            "image": widgets.Dropdown(options=[(f"{i}: digit {int(y)}", i) for i, y in enumerate(self.core.labels.tolist())],
                                      value=state.image, description="image", **common),
            "target": widgets.Dropdown(options=[("true", "true"), ("predicted", "predicted"),
                                                *[(f"class {c}", c) for c in range(classes)]],
                                       value=state.target, description="explained class", **common),
        }
        self.status = widgets.HTML(value=_status_html("ready", True))
        self.output = widgets.Output()
        for control in self.widgets.values():
            control.observe(self._on_change, names="value")
        box = widgets.VBox([widgets.HBox(list(self.widgets.values())), self.status, self.output])
        box.add_class("hm-self-explaining")
        return box

    def _on_change(self, change: Mapping[str, Any]) -> None:
        name = next(key for key, control in self.widgets.items() if control is change["owner"])
        try:
            self.update(**{name: change["new"]})
        except Exception as error:  # noqa: BLE001
            self.status.value = _status_html(f"{name} = {change['new']!r} not applied: {error}", False)

    def update(self, **changes: Any):
        view = self.core.update(**changes)
        if self.output is not None:
            _show(self.core.render(view), self.output)
        if self.status is not None:
            self.status.value = _status_html(f"update failed: {view.error}" if view.error else
                                             f"{view.state.model}, image {view.state.image}, class {view.target}",
                                             view.error is None)
        return view
