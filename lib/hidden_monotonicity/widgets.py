"""Interactive explorer of the split explanations (notebook 06), built with ipywidgets.

:class:`Explorer` lets one pick an image, a model, a method (the paper's SplitCAM / SplitGrad / SplitLRP or
a baseline), a layer, α, the stream (``a⁺``/``a⁻`` and g/h, paper C.1), the SplitLRP relevance map and the
forward stabilisation (B.2), and shows

* the map over the image with the object mask's contour (:func:`hidden_monotonicity.plots.saliency.overlay`),
* ``g``, ``h`` and ``f = g − h`` of the explained class (Theorem 1; g and h depend on the stabilisation, their
  difference does not),
* per-image scores of the metrics that need no re-explanation (Pointing Game, Attribution Localisation,
  Selectivity, Sparseness by default; Quantus through ``hm.evaluation``).

It works headless: :meth:`Explorer.update` recomputes and redraws programmatically (papermill runs it once),
and :meth:`Explorer.save_preview` writes the current view as a PNG. Nothing is computed while the widgets are
built; computation happens in :meth:`Explorer.compute`, which the widgets' callbacks call.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from .notebook_params import FIGURE_DPI

__all__ = ["DEFAULT_METHODS", "DEFAULT_METRICS", "Explorer", "ExplorerState", "ExplorerView", "figure_output"]

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
NO_LAYER = "(input resolution)"


@dataclass(frozen=True)
class ExplorerState:
    """The explorer's choices (one value per control)."""

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


@dataclass
class ExplorerView:
    """What one update computed."""

    state: ExplorerState
    saliency: np.ndarray  # (H, W)
    target: int
    predicted: int
    g: float
    h: float
    f: float
    scores: dict[str, float] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)


def figure_output(figure: plt.Figure, dpi: int = 90) -> dict[str, Any]:
    """A matplotlib figure as one ``display_data`` output (PNG) for an ``ipywidgets.Output``'s ``outputs``.

    Setting the widget's outputs directly (instead of ``with output: display(figure)``) needs no routing of
    the kernel's messages by the frontend, so the view updates the same way with and without one (papermill).
    """
    import base64
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return {
        "output_type": "display_data",
        "data": {"image/png": base64.b64encode(buffer.getvalue()).decode("ascii"), "text/plain": repr(figure)},
        "metadata": {},
    }


class Explorer:
    """ipywidgets explorer over ``models`` and the images of a :class:`~hidden_monotonicity.data.LocalisationDataset`.

    Args:
        models: ``{name: model in eval mode}``.
        dataset: images, labels and masks (its ``mean``/``std`` are used to display the images).
        methods: registered method names offered in the method menu.
        metrics: catalogue metric names scored per image (see ``hm.evaluation.CATALOGUE``); ``()`` for none.
        metric_params: per-metric overrides (default: Selectivity patches of 1/8 of the image side).
        device: where models and images live.
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
        from .methods import methods as registered

        if not models:
            raise ValueError("Explorer needs at least one model: models={'name': model}")
        if len(dataset) == 0:
            raise ValueError("Explorer needs a dataset with at least one image")
        known = registered()
        unknown = [name for name in methods if name not in known]
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; registered: {', '.join(known)}")
        self.models = {name: model.to(device).eval() for name, model in models.items()}
        self.dataset = dataset
        self.methods = tuple(methods)
        self.metrics = tuple(metrics)
        side = int(dataset.images.shape[-1])
        self.metric_params = {"Selectivity": {"patch_size": max(2, side // 8)}, **dict(metric_params or {})}
        self.device = device
        first = next(iter(self.models))
        self.state = replace(state or ExplorerState(), model=(state.model if state and state.model else first))
        self._check_state(self.state)
        self.view: ExplorerView | None = None
        self.widgets: dict[str, Any] = {}
        self.output = None
        self._splits: dict[tuple[str, str], Any] = {}
        self._syncing = False

    # ------------------------------------------------------------------------------------- choices
    def _spec(self, method: str):
        from .methods import get_method

        return get_method(method)

    def layer_options(self, model_name: str, method: str) -> list[str]:
        """Layers ``method`` can explain on ``model_name``: split layers (``"input"`` and the spatial ReLUs) for
        the split methods, convolution-block outputs for CAMs, none for input-resolution methods."""
        from .methods.layers import conv_block_outputs, split_layer_candidates

        spec = self._spec(method)
        if not spec.needs_layer:
            return [NO_LAYER]
        model = self.models[model_name]
        if spec.family == "split":
            return split_layer_candidates(model, self.dataset.images[:1].to(self.device))
        return conv_block_outputs(model)

    def default_layer(self, model_name: str, method: str) -> str:
        """The layer used when none is chosen: the method's own default (last conv block for SplitCAM and the CAMs,
        the input for SplitGrad and SplitLRP)."""
        options = self.layer_options(model_name, method)
        if options == [NO_LAYER]:
            return NO_LAYER
        spec = self._spec(method)
        if spec.name in ("splitgrad", "splitlrp") and "input" in options:
            return "input"
        return options[-1]

    def _check_state(self, state: ExplorerState) -> None:
        if state.model not in self.models:
            raise ValueError(f"unknown model {state.model!r}; the explorer has {list(self.models)}")
        if state.method not in self.methods:
            raise ValueError(f"unknown method {state.method!r}; the explorer offers {list(self.methods)}")
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

    def method_parameters(self, state: ExplorerState) -> dict[str, Any]:
        """The ``hm.explain`` parameters of ``state`` that its method accepts."""
        spec = self._spec(state.method)
        layer = state.layer if state.layer not in (None, NO_LAYER) else None
        if layer is not None and layer not in self.layer_options(state.model, state.method):
            layer = None
        if layer is None and spec.needs_layer:
            layer = self.default_layer(state.model, state.method)
        candidates = {
            "layer": layer,
            "alpha": float(state.alpha),
            "stream": state.stream,
            "output": state.output,
            "relevance": state.relevance,
            "stabilize": state.stabilize,
            "abs": bool(state.absolute),
        }
        return {key: value for key, value in candidates.items() if key in spec.parameters}

    # ------------------------------------------------------------------------------------- compute
    def _split(self, model_name: str, stabilize: str):
        from .decomposition import decompose

        key = (model_name, stabilize)
        if key not in self._splits:
            self._splits[key] = decompose(self.models[model_name], stabilize=stabilize)
        return self._splits[key]

    def compute(self, state: ExplorerState | None = None) -> ExplorerView:
        """Explain one image with the choices of ``state`` (default: the current state)."""
        from .evaluation.metrics import ModelContext, build_metric
        from .methods import explain

        state = state or self.state
        self._check_state(state)
        model = self.models[state.model]
        x = self.dataset.images[state.image : state.image + 1].to(self.device)
        target = int(self.dataset.labels[state.image])
        mask = self.dataset.masks[state.image : state.image + 1]
        parameters = self.method_parameters(state)
        saliency = explain(model, x, target, state.method, **parameters)
        with torch.no_grad():
            logits = model(x)
        out = self._split(state.model, state.stabilize)(x)
        g, h = float(out.g[0, target]), float(out.h[0, target])
        scores: dict[str, float] = {}
        context = ModelContext(state.model, int(logits.shape[1]))
        for name in self.metrics:
            metric = build_metric(name, self.metric_params.get(name), context)
            if mask.sum() == 0 and metric.needs_mask:
                continue
            result = metric.compute(model=model, x=x.cpu().numpy(), y=np.array([target]), a=saliency.cpu().numpy(),
                                    s=mask.cpu().numpy(), explain_func=None, explain_func_kwargs=None, device=self.device)
            for output in metric.outputs():
                scores[f"{output.name} {output.arrow}"] = float(np.asarray(result[output.name]).reshape(-1)[0])
        return ExplorerView(state=state, saliency=saliency[0, 0].cpu().numpy(), target=target,
                            predicted=int(logits.argmax(dim=1)[0]), g=g, h=h, f=g - h, scores=scores,
                            parameters=parameters)

    def render(self, view: ExplorerView | None = None) -> plt.Figure:
        """The view as a figure: image with mask, map overlay, and a text panel with g, h, f and the scores."""
        from .plots.saliency import overlay, to_display_image

        view = view or self.view or self.compute()
        state = view.state
        image = to_display_image(self.dataset.images[state.image], self.dataset.mean, self.dataset.std)
        mask = self.dataset.masks[state.image, 0].cpu().numpy()
        names = getattr(self.dataset, "class_names", None)
        label = names[view.target] if names is not None and view.target < len(names) else str(view.target)
        predicted = names[view.predicted] if names is not None and view.predicted < len(names) else str(view.predicted)
        figure, axes = plt.subplots(1, 3, figsize=(10.5, 3.6), layout="constrained", gridspec_kw={"width_ratios": [1, 1, 1.15]})
        overlay(axes[0], image, None, mask, title=f"image {state.image}: {label} (predicted {predicted})")
        parameters = ", ".join(f"{k}={v}" for k, v in view.parameters.items() if k != "abs" or v)
        overlay(axes[1], image, view.saliency, mask, title=f"{state.method}\n{parameters}")
        axes[1].title.set_fontsize(7)
        axes[2].axis("off")
        lines = [
            f"model: {state.model}",
            f"explained class: {label}",
            f"g = {view.g:.6g}",
            f"h = {view.h:.6g}",
            f"f = g − h = {view.f:.6g}",
            f"(stabilisation {state.stabilize!r})",
            "",
            "per-image scores:",
            *[f"  {name}: {value:.4g}" for name, value in view.scores.items()],
        ]
        axes[2].text(0.0, 1.0, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=8.5,
                     transform=axes[2].transAxes)
        return figure

    # ------------------------------------------------------------------------------------- widgets
    def build(self):
        """Create the controls and the output area; returns the ``ipywidgets.VBox`` to display."""
        import ipywidgets as widgets

        state = self.state
        names = getattr(self.dataset, "class_names", None)
        image_options = [
            (f"{i}: {names[int(label)] if names is not None else int(label)}", i) for i, label in enumerate(self.dataset.labels.tolist())
        ]
        layers = self.layer_options(state.model, state.method)
        layer = state.layer if state.layer in layers else self.default_layer(state.model, state.method)
        self.widgets = {
            "image": widgets.Dropdown(options=image_options, value=state.image, description="image"),
            "model": widgets.Dropdown(options=list(self.models), value=state.model, description="model"),
            "method": widgets.Dropdown(options=list(self.methods), value=state.method, description="method"),
            "layer": widgets.Dropdown(options=layers, value=layer, description="layer"),
            "alpha": widgets.FloatSlider(value=state.alpha, min=0.0, max=0.5, step=0.05, description="α",
                                         continuous_update=False),
            "stream": widgets.ToggleButtons(options=[("a⁺", "pos"), ("a⁻", "neg")], value=state.stream, description="stream"),
            "output": widgets.ToggleButtons(options=["g", "h"], value=state.output, description="output"),
            "relevance": widgets.Dropdown(options=[("R⁺ − R⁻", "pos-neg"), ("R⁺", "pos"), ("R⁻", "neg")],
                                          value=state.relevance, description="SplitLRP"),
            "stabilize": widgets.Dropdown(options=list(STABILISATIONS), value=state.stabilize, description="stabilise"),
            "absolute": widgets.Checkbox(value=state.absolute, description="|map|"),
        }
        self.output = widgets.Output()
        for name, control in self.widgets.items():
            control.observe(self._on_change, names="value")
        self._sync_enabled()
        left = widgets.VBox([self.widgets[k] for k in ("image", "model", "method", "layer", "alpha")])
        right = widgets.VBox([self.widgets[k] for k in ("stream", "output", "relevance", "stabilize", "absolute")])
        return widgets.VBox([widgets.HBox([left, right]), self.output])

    def _sync_enabled(self) -> None:
        """A control is enabled exactly when the chosen method has that parameter (``hm.methods()``)."""
        spec = self._spec(self.state.method)
        for name in ("alpha", "stream", "output", "relevance", "stabilize", "layer"):
            self.widgets[name].disabled = name not in spec.parameters

    def _on_change(self, change: Mapping[str, Any]) -> None:
        if self._syncing:
            return
        values = {name: control.value for name, control in self.widgets.items()}
        self.update(**values)

    def update(self, **changes: Any) -> ExplorerView:
        """Apply ``changes`` (any :class:`ExplorerState` field), recompute and redraw; returns the new view.

        A new model or method resets an invalid layer to the method's default and refreshes the layer menu.
        """
        unknown = sorted(set(changes) - set(ExplorerState.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown explorer setting(s) {unknown}; settings: {', '.join(ExplorerState.__dataclass_fields__)}")
        state = replace(self.state, **changes)
        layers = self.layer_options(state.model, state.method)
        if state.layer not in layers:
            state = replace(state, layer=self.default_layer(state.model, state.method))
        self._check_state(state)
        self.state = state
        if self.widgets:
            self._syncing = True
            try:
                self.widgets["layer"].options = layers
                self.widgets["layer"].value = state.layer
                for name in ("image", "model", "method", "alpha", "stream", "output", "relevance", "stabilize", "absolute"):
                    self.widgets[name].value = getattr(state, name)
                self._sync_enabled()
            finally:
                self._syncing = False
        self.view = self.compute(state)
        if self.output is not None:
            figure = self.render(self.view)
            try:
                self.output.outputs = (figure_output(figure),)
            finally:
                plt.close(figure)
        return self.view

    def save_preview(self, path: str | Path | None = None, *, figures: Any = None, name: str = "explorer_preview.png") -> Path:
        """Write the current view as a PNG: through a notebook ``FigureSaver`` (``figures``) or to ``path``."""
        figure = self.render(self.view)
        try:
            if figures is not None:
                figures.save(figure, name)
                return figures.path(name)
            if path is None:
                raise ValueError("give a path or a FigureSaver")
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            figure.savefig(path, dpi=FIGURE_DPI, bbox_inches="tight")
            return path
        finally:
            plt.close(figure)
