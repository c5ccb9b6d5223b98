"""The explorer's ipywidgets view: controls bound to an :class:`~.explorer_model.ExplorerModel`, a status line and
the rendered view (:mod:`.rendering`). All rules live in the model; this module only shows them.

:class:`Explorer` works headless too: :meth:`Explorer.update` recomputes and redraws programmatically (papermill runs
it once) and :meth:`Explorer.save_preview` writes the current view as a PNG. Nothing is computed while the widgets are
built. A control change never raises into the frontend: a failed update shows its reason in the status line.
"""

from __future__ import annotations

import html
import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
from torch import nn

from .explorer_model import (
    COMPARISONS,
    METHOD_SETTINGS,
    STABILISATIONS,
    ExplorerModel,
    ExplorerState,
    ExplorerView,
    friendly_layer,
    method_label,
    short_reason,
)
from .rendering import PREVIEW_DPI, figure_output, info_html, render_view
from .self_explaining import SelfExplainingModel

__all__ = ["Explorer", "SelfExplainingExplorer"]

_STYLE = {"description_width": "105px"}
_WIDTH = "330px"
#: The map is dimmed while an update computes (the status line says "computing…"), so a stale map never looks current.
_CSS = ("<style>.hm-explorer .hm-computing img{opacity:0.3;filter:grayscale(0.7);transition:opacity 0.1s}"
        ".hm-explorer .widget-output img{max-width:100%;height:auto}"
        ".hm-explorer .hm-thumb img{image-rendering:auto}</style>")
#: Texts of the status line (the browser test and the model-level tests read them).
COMPUTING = "computing…"
CURRENT = "map current"


def _layout() -> dict[str, Any]:
    return {"width": _WIDTH}


def clipboard_button_html(code: str) -> str:
    """A "copy to clipboard" button that carries ``code``: the click runs in the browser, so it has the user's
    gesture that ``navigator.clipboard.writeText`` needs (a click handled by the kernel never reaches the clipboard).
    The code travels HTML-escaped in a hidden ``<pre>`` beside the button; the button then says whether the browser
    wrote it ("copied ✓") or refused ("not copied: ..."; e.g. a page served over plain http from another host, which
    is not a secure context: select the text in the code box instead)."""
    script = ("var b=this,t=b.nextElementSibling.textContent;"
              "if(!navigator.clipboard){b.textContent='not copied: no clipboard here (select the code box)';return;}"
              "navigator.clipboard.writeText(t).then(function(){b.textContent='copied \u2713';},"
              "function(e){b.textContent='not copied: '+e.message;});")
    return (f"<button class='hm-clipboard-button jupyter-button' type='button' onclick=\"{script}\" "
            f"title='the code in the box below, to the clipboard'>copy to clipboard</button>"
            # a newline right after <pre> is dropped by the HTML parser, so one is given for it to drop
            f"<pre class='hm-clipboard-code' hidden>\n{html.escape(code)}</pre>")


def _status_html(text: str, ok: bool | None) -> str:
    """``ok``: True current (green ✓), False failed (red ⚠), None in progress or a warning (amber)."""
    colour, icon = {True: ("#1b5e20", "✓"), False: ("#b71c1c", "⚠"), None: ("#8a5a00", "…")}[ok]
    if ok is None and not text.startswith(COMPUTING):
        icon = "⚠"
    return f"<div class='hm-status' style='color:{colour};font-size:13px'>{icon} {html.escape(text)}</div>"


def _show(figure: plt.Figure, output: Any) -> None:
    try:
        output.outputs = (figure_output(figure),)
    finally:
        plt.close(figure)


def _thumbnail(explorer: ExplorerModel, image: int, side: int = 56) -> bytes:
    """A small PNG of ``image`` for the gallery."""
    from PIL import Image

    from ..plots.saliency import to_display_image

    array = to_display_image(explorer.dataset.images[image], explorer.dataset.mean, explorer.dataset.std)
    picture = Image.fromarray((array * 255).round().astype("uint8")).resize((side, side), Image.BILINEAR)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


class Explorer:
    """ipywidgets explorer over ``models`` and the images of a :class:`~hidden_monotonicity.data.LocalisationDataset`
    (arguments as :class:`~.explorer_model.ExplorerModel`). ``explorer.core`` is the model (state + compute).

    ``save_dir``: where the "save view" button writes the view as a PNG (150 dpi) and its settings as JSON
    (default: the current folder). Every update is timed (:attr:`latencies`, seconds from the change to the new map).
    """

    #: control name -> ExplorerState field
    CONTROLS: tuple[str, ...] = ("image", "model", "target", "method", "layer", "compare", "compare_method", "alpha",
                                 "stream", "output", "relevance", "stabilize", "absolute", "profile", "shared_scale",
                                 "opacity")

    def __init__(self, models: Mapping[str, nn.Module], dataset: Any, *, save_dir: str | Path | None = None,
                 **options: Any) -> None:
        """``options``: ``methods``, ``metrics``, ``metric_params``, ``device``, ``state``, ``sources`` of
        :class:`ExplorerModel`."""
        self.core = ExplorerModel(models, dataset, **options)
        self.save_dir = Path(save_dir) if save_dir is not None else Path.cwd()
        self.widgets: dict[str, Any] = {}
        self.output = None
        self.status = None
        self.info = None
        self.code_box = None
        self.clipboard = None
        self.gallery = None
        self.box = None
        self.latencies: list[float] = []
        self.saved: list[Path] = []
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

    def render(self, view: ExplorerView | None = None, *, text: bool = True) -> plt.Figure:
        """The view (default: the current one, computed if needed) as a matplotlib figure (``text``: with the numbers
        panel, as saved; the live explorer shows them as an HTML table instead)."""
        return render_view(self.core, view or self.core.view or self.core.compute(), text=text)

    def code(self) -> str:
        """The ``hm.explain`` code that reproduces the current map (:meth:`ExplorerModel.code`)."""
        return self.core.code()

    def load_image(self, source: Any, *, name: str | None = None, show: bool = True) -> int:
        """Add your own image (:meth:`ExplorerModel.load_image`); ``show``: explain it now. Returns its index."""
        index = self.core.load_image(source, name=name)
        if self.widgets:
            self._syncing = True
            try:
                self.widgets["image"].options = self._image_options()
            finally:
                self._syncing = False
            self._refresh_gallery()
        if show:
            self.update(image=index)
        return index

    # ------------------------------------------------------------------------------------- widgets
    def _image_options(self) -> list[tuple[str, int]]:
        return [(self.core.image_label(i), i) for i in range(len(self.core.dataset))]

    def _target_options(self) -> list[tuple[str, Any]]:
        """True and predicted class, the top-5 classes with their probabilities, and the current class if another."""
        state, core = self.core.state, self.core
        logits = core.logits(state.model, state.image)
        shifted = np.exp(logits - logits.max())
        probability = shifted / shifted.sum()
        predicted = int(logits.argmax())
        name = core.class_name
        options: list[tuple[str, Any]] = []
        if core.has_label(state.image):
            true = int(core.dataset.labels[state.image])
            options.append((f"true: {name(true)} (p = {probability[true]:.2f})", "true"))
        options.append((f"predicted: {name(predicted)} (p = {probability[predicted]:.2f})", "predicted"))
        top = [int(c) for c in np.argsort(-probability, kind="stable")[:5]]
        if isinstance(state.target, int) and state.target not in top:
            top.append(state.target)
        options += [(f"{name(c)} (class {c}, p = {probability[c]:.2f})", c) for c in top]
        return options

    def build(self):
        """Create the controls, the status line, the figure and the table; returns the ``ipywidgets.VBox`` to display.
        Nothing is computed here (the first :meth:`update` draws the map)."""
        import ipywidgets as widgets

        core, state = self.core, self.core.state
        methods = [(method_label(m), m) for m in core.methods]
        common = {"style": _STYLE, "layout": _layout()}
        self.widgets = {
            "image": widgets.Dropdown(options=self._image_options(), value=state.image, description="image", **common),
            "model": widgets.Dropdown(options=list(core.models), value=state.model, description="model", **common),
            "target": widgets.Dropdown(options=self._target_options(), value=state.target,
                                       description="explained class", **common),
            "method": widgets.Dropdown(options=methods, value=state.method, description="method", **common),
            "layer": widgets.Dropdown(options=core.layer_choices(state.model, state.method), value=state.layer,
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
            "profile": widgets.Checkbox(value=state.profile, description="layer profile (slower)", indent=True, **common),
            "shared_scale": widgets.Checkbox(value=state.shared_scale, description="one colour scale for all maps",
                                             indent=True, **common),
            "opacity": widgets.FloatSlider(value=state.opacity, min=0.1, max=1.0, step=0.05, description="map opacity",
                                           continuous_update=False, **common),
        }
        for control in self.widgets.values():
            control.observe(self._on_change, names="value")
        self.find = widgets.Combobox(options=self.core.class_names(), placeholder="type a class name, Enter",
                                     description="find class", ensure_option=False, continuous_update=False, **common)
        self.find.observe(self._on_find, names="value")
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="your image")
        self.upload.observe(self._on_upload, names="value")
        code_button = widgets.Button(description="copy as code", icon="code", tooltip="the hm.explain call of this map")
        save_button = widgets.Button(description="save view", icon="save",
                                     tooltip=f"PNG ({PREVIEW_DPI} dpi) and settings JSON in {self.save_dir}")
        code_button.on_click(lambda _: self.show_code())
        save_button.on_click(lambda _: self._save_clicked())
        code_button.add_class("hm-code-button")
        save_button.add_class("hm-save-button")
        # 100% less the widget's 2-px margins on either side: at "100%" the box stuck out and the explorer scrolled
        # sideways by 4 px (the browser test's narrow-window check)
        self.code_box = widgets.Textarea(value="", layout={"width": "calc(100% - 4px)", "height": "130px",
                                                           "display": "none"})
        self.code_box.add_class("hm-code")
        self.clipboard = widgets.HTML(value="", layout={"display": "none"})  # filled by show_code
        self.clipboard.add_class("hm-clipboard")
        self.status = widgets.HTML(value=_status_html("ready: the first update draws the map", True))
        self.output = widgets.Output(layout={"flex": "0 1 auto", "max_width": "100%"})
        self.info = widgets.HTML(value="", layout={"flex": "1 1 280px", "min_width": "260px"})
        self.gallery = widgets.HBox(layout={"flex_flow": "row wrap", "width": "100%"})
        self.gallery.add_class("hm-gallery")
        self._refresh_gallery()
        self._sync_visibility()
        wrap = {"flex_flow": "row wrap", "width": "100%", "align_items": "flex-start"}
        order = ("image", "model", "target", "method", "layer", "compare", "compare_method", "alpha", "stream",
                 "output", "relevance", "stabilize", "opacity", "absolute", "shared_scale", "profile")
        controls = widgets.HBox([self.widgets[k] for k in order[:3]] + [self.find]
                                + [self.widgets[k] for k in order[3:]], layout=wrap)
        actions = widgets.HBox([self.upload, code_button, save_button], layout=wrap)
        result = widgets.HBox([self.output, self.info], layout=wrap)
        self.box = widgets.VBox([widgets.HTML(_CSS), self.gallery, controls, actions, self.status, self.clipboard,
                                 self.code_box, result], layout={"width": "100%"})
        self.box.add_class("hm-explorer")  # a stable handle for the browser test and for styling
        return self.box

    def _refresh_gallery(self) -> None:
        """The images as clickable thumbnails (one button under each)."""
        import ipywidgets as widgets

        if self.gallery is None:
            return
        items = []
        for index in range(len(self.core.dataset)):
            picture = widgets.Image(value=_thumbnail(self.core, index), format="png",
                                    layout={"width": "56px", "height": "56px"})
            button = widgets.Button(description=str(index), tooltip=self.core.image_label(index),
                                    layout={"width": "56px", "height": "22px", "padding": "0"})
            button.on_click(lambda _, index=index: self._guarded("image", index))
            item = widgets.VBox([picture, button], layout={"margin": "0 4px 4px 0"})
            item.add_class("hm-thumb")
            items.append(item)
        self.gallery.children = items

    def _compare_options(self) -> list[tuple[str, str]]:
        return [(COMPARISONS[key], key) for key in self.core.comparison_options(self.core.state.method)]

    def _sync_visibility(self) -> None:
        """A method setting is shown exactly when the chosen method has that parameter; the second method only for the
        two-method view; the shared scale only with two or more maps; the model menu only with two or more models."""
        state = self.core.state
        settings = self.core.applicable_settings(state.method)
        for name in METHOD_SETTINGS:
            self.widgets[name].layout.display = "" if name in settings else "none"
        self.widgets["compare_method"].layout.display = "" if state.compare == "method" else "none"
        self.widgets["shared_scale"].layout.display = "" if state.compare != "none" else "none"
        self.widgets["model"].layout.display = "" if len(self.core.models) > 1 else "none"

    def _sync_widgets(self) -> None:
        state = self.core.state
        self._syncing = True
        try:
            self.widgets["layer"].options = self.core.layer_choices(state.model, state.method)
            self.widgets["compare"].options = self._compare_options()
            self.widgets["target"].options = self._target_options()
            for name in self.CONTROLS:
                if self.widgets[name].value != getattr(state, name):
                    self.widgets[name].value = getattr(state, name)
            self._sync_visibility()
        finally:
            self._syncing = False

    def _guarded(self, name: str, value: Any) -> None:
        """``update(name=value)`` from a control: a failure shows in the status line, never raises into the frontend."""
        try:
            self.update(**{name: value})
        except Exception as error:  # noqa: BLE001 - a control change never raises into the frontend
            if self.status is not None:
                self.status.value = _status_html(f"{name} = {value!r} not applied: {error}", False)

    def _on_change(self, change: Mapping[str, Any]) -> None:
        if self._syncing:
            return
        name = next(key for key, control in self.widgets.items() if control is change["owner"])
        self._guarded(name, change["new"])

    def _on_find(self, change: Mapping[str, Any]) -> None:
        text = str(change["new"] or "").strip()
        if not text:
            return
        try:
            target = self.core.find_class(text)
        except ValueError as error:
            self.status.value = _status_html(str(error), False)
            return
        self._guarded("target", target)

    def _on_upload(self, change: Mapping[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0] if isinstance(files, (tuple, list)) else next(iter(files.values()))
        name = str(item.get("name") or "upload.png")
        try:  # written to a file so that copy-as-code can name it
            folder = Path(tempfile.mkdtemp(prefix="hm_upload_"))
            path = folder / Path(name).name
            path.write_bytes(bytes(item["content"]))
            self.load_image(path, name=name)
        except Exception as error:  # noqa: BLE001 - shown, never raised into the frontend
            self.status.value = _status_html(f"image {name!r} not loaded: {error}", False)

    def show_code(self) -> str:
        """Show the code of the current map in the code box, with a "copy to clipboard" button for it
        (:func:`clipboard_button_html`), and return it."""
        try:
            text = self.core.code()
        except ValueError as error:
            text = f"# {error}"
        if self.code_box is not None:
            self.code_box.value = text
            self.code_box.layout.display = ""
        if self.clipboard is not None:
            self.clipboard.value = clipboard_button_html(text)
            self.clipboard.layout.display = ""
        return text

    def _save_clicked(self) -> None:
        try:
            png, settings = self.save()
            self.status.value = _status_html(f"saved {png} and {settings.name}", True)
        except Exception as error:  # noqa: BLE001
            self.status.value = _status_html(f"not saved: {short_reason(error)}", False)

    def save(self, folder: str | Path | None = None, name: str | None = None) -> tuple[Path, Path]:
        """Write the current view as a PNG (:data:`~.rendering.PREVIEW_DPI` dpi) and its settings
        (:meth:`ExplorerModel.settings`, with the code) as JSON next to it; returns both paths."""
        view = self.core.view or self.update()
        folder = Path(folder) if folder is not None else self.save_dir
        folder.mkdir(parents=True, exist_ok=True)
        stem = name or f"explorer_view_{len(list(folder.glob('explorer_view_*.png'))) + 1:02d}"
        png, settings = folder / f"{stem}.png", folder / f"{stem}.json"
        figure = self.render(view)
        try:
            figure.savefig(png, dpi=PREVIEW_DPI)
        finally:
            plt.close(figure)
        settings.write_text(json.dumps(self.core.settings(view), indent=1, ensure_ascii=False, default=str),
                            encoding="utf-8")
        self.saved += [png, settings]
        return png, settings

    def status_text(self, view: ExplorerView, seconds: float) -> tuple[str, bool | None]:
        """The status line of a view: current (with the class names) or failed (with the reason)."""
        if not view.current:
            return f"update failed, the map is not current: {view.error}", False
        where = f" at {friendly_layer(view.parameters['layer'])}" if view.parameters.get("layer") else ""
        name = self.core.class_name
        text = (f"{CURRENT}: {method_label(view.state.method)}{where}, explaining {name(view.target)} "
                f"(p = {view.probabilities[view.target]:.2f}; predicted {name(view.predicted)}) ({seconds:.1f} s)")
        if view.warning:
            return f"{text} - warning: {view.warning}", None
        return text, True

    def update(self, **changes: Any) -> ExplorerView:
        """Apply ``changes`` (any :class:`ExplorerState` field), recompute and redraw; returns the new view.

        While it computes, the status line reads "computing…" and the previous map is dimmed (never shown as current).
        Invalid choices raise ``ValueError``; a failed computation returns a view with ``error`` set, which the status
        line and the figure show (the map is marked as not current). A new model or method resets the layer to the
        method's default (``methods.layers.method_default_layer``).
        """
        start = time.perf_counter()
        if self.status is not None:
            self.status.value = _status_html(f"{COMPUTING} (the map below is the previous one)", None)
        if self.output is not None:
            self.output.add_class("hm-computing")
        try:
            view = self.core.update(**changes)
            if self.widgets:
                self._sync_widgets()
            if self.output is not None:
                _show(self.render(view, text=False), self.output)
            if self.info is not None:
                self.info.value = info_html(self.core, view)
            if self.code_box is not None and self.code_box.layout.display != "none":
                self.show_code()
        except Exception:
            if self.status is not None and self.core.view is not None:
                text, ok = self.status_text(self.core.view, 0.0)
                self.status.value = _status_html(text, ok)
            raise
        finally:
            if self.output is not None:
                self.output.remove_class("hm-computing")
        seconds = time.perf_counter() - start
        self.latencies.append(seconds)
        if self.status is not None:
            text, ok = self.status_text(view, seconds)
            self.status.value = _status_html(text, ok)
        return view

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """Displayed: the live widgets, and - for a reader without a live kernel (a saved notebook, GitHub) - a PNG of
        the current view and a one-line text instead of ``VBox(children=...)``."""
        box = self.box or self.build()
        bundle = dict(box._repr_mimebundle_(**kwargs))
        bundle["text/plain"] = ("interactive explorer: run the notebook with a live kernel to use the controls"
                                + ("; the picture shows its current view" if self.core.view is not None else ""))
        if self.core.view is not None:
            figure = self.render(self.core.view)
            try:
                bundle["image/png"] = figure_output(figure)["data"]["image/png"]
            finally:
                plt.close(figure)
        return bundle

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
            logits = ", ".join(f"{c}: {v:.3g}" for c, v in enumerate(view.logits.tolist()))
            self.status.value = _status_html(f"update failed: {view.error}" if view.error else
                                             f"{view.state.model}, image {view.state.image}, explained class "
                                             f"{view.target}, predicted {view.predicted} (logits {logits})",
                                             view.error is None)
        return view
