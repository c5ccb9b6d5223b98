"""The explorer's panel for the self-explaining models ``f(x) = g(x) − h(1 − x)`` (DM / DIC, paper section F):
state, computation (:func:`hidden_monotonicity.monotone.stream_gradients`) and figure, without widgets.

The g-map ``∂g_k/∂x``, the h-map ``∂h_k/∂u`` at ``u = 1 − x`` and the f-map ``∂f_k/∂x`` are shown on one colour scale;
for a DM model the g- and h-maps are non-negative (ink that raises the score, missing ink that raises the counter-score).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch

from .explorer_model import TARGET_CHOICES, _listing, eval_mode, short_reason

__all__ = ["MONOTONE_CHECKPOINTS", "SelfExplainingModel", "SelfExplainingState", "SelfExplainingView", "load_monotone_models"]

#: Display name -> checkpoint file under ``data/checkpoints`` (written by ``hm.monotone.run_experiment``).
MONOTONE_CHECKPOINTS: dict[str, str] = {
    "DM (MLP)": "monotone_dm_mlp_seed0.pt",
    "DIC (MLP)": "monotone_dic_mlp_seed0.pt",
    "DM (CNN)": "monotone_dm_cnn_seed0.pt",
    "DIC (CNN)": "monotone_dic_cnn_seed0.pt",
}


def load_monotone_models(folder: str | Path | None = None) -> dict[str, torch.nn.Module]:
    """The DM/DIC checkpoints of :data:`MONOTONE_CHECKPOINTS` found in ``folder`` (default: ``data/checkpoints``)."""
    from ..models import CHECKPOINT_DIR
    from ..monotone import load_checkpoint

    folder = Path(folder) if folder is not None else CHECKPOINT_DIR
    return {name: load_checkpoint(folder / file)[0] for name, file in MONOTONE_CHECKPOINTS.items() if (folder / file).is_file()}


@dataclass(frozen=True)
class SelfExplainingState:
    """``target``: ``"true"``, ``"predicted"`` or a class index."""

    model: str = ""
    image: int = 0
    target: str | int = "true"


@dataclass
class SelfExplainingView:
    state: SelfExplainingState
    target: int
    logits: np.ndarray
    maps: dict[str, np.ndarray]  # "g", "h", "f" -> (side, side)
    g: float = float("nan")
    h: float = float("nan")
    error: str | None = None

    @property
    def f(self) -> float:
        return self.g - self.h

    @property
    def predicted(self) -> int:
        """The class with the largest logit."""
        return int(np.argmax(self.logits))


def logit_lines(logits: np.ndarray, shown: int = 3) -> list[str]:
    """The ``shown`` largest logits, ``"  class 3: 4.21"`` each (the panel names the predicted class and its rivals)."""
    order = np.argsort(-np.asarray(logits), kind="stable")[:shown]
    return ["logits (largest):", *[f"  class {int(c)}: {float(logits[c]):.3g}" for c in order]]


class SelfExplainingModel:
    """``models``: ``{name: MonotoneDifference}``; ``images`` ``(N, side·side)`` in [0, 1] with ``labels`` ``(N,)``.

    The models are used in eval mode while a view is computed and keep their own mode otherwise
    (:func:`~.explorer_model.eval_mode`). Labels and class-index targets are checked against each model's number
    of classes, counted from its output.
    """

    def __init__(self, models: Mapping[str, torch.nn.Module], images: torch.Tensor, labels: torch.Tensor,
                 state: SelfExplainingState | None = None) -> None:
        if not models:
            raise ValueError("no self-explaining model: train them with hm.monotone.run_experiment (make reproduce)")
        self.models = dict(models)
        self.images, self.labels = images, labels
        self.side = int(round(images.shape[1] ** 0.5))
        self._classes: dict[str, int] = {}
        for name in self.models:
            classes = self.num_classes(name)
            found = torch.as_tensor(labels).reshape(-1)
            outside = [int(i) for i in torch.nonzero((found < 0) | (found >= classes)).reshape(-1)]
            if outside:
                others = f"; {len(outside)} images have such labels: {_listing(outside)}" if len(outside) > 1 else ""
                raise ValueError(f"label {int(found[outside[0]])} of image {outside[0]} is outside the model's {classes} "
                                 f"classes (0..{classes - 1}; model {name!r}, counted from its output){others}: the "
                                 "labels must be class indices of this model; pass the labels of these images")
        state = state or SelfExplainingState()
        self.state = replace(state, model=state.model or next(iter(self.models)))
        self.check(self.state)
        self.view: SelfExplainingView | None = None

    def check(self, state: SelfExplainingState) -> None:
        if state.model not in self.models:
            raise ValueError(f"unknown self-explaining model {state.model!r}; choose one of {list(self.models)}")
        if not 0 <= state.image < len(self.images):
            raise ValueError(f"image index {state.image} out of range: there are {len(self.images)} images")
        if state.target not in TARGET_CHOICES:
            classes = self.num_classes(state.model)
            if not isinstance(state.target, (int, np.integer)) or isinstance(state.target, bool) or \
                    not 0 <= state.target < classes:
                raise ValueError(f"target must be 'true', 'predicted' or a class index of model {state.model!r} in "
                                 f"0..{classes - 1} (its {classes} classes), got {state.target!r}")

    def num_classes(self, model_name: str) -> int:
        """The number of classes of ``model_name``: the length of its output for the first image (counted once)."""
        if model_name not in self._classes:
            self._classes[model_name] = int(self.logits(SelfExplainingState(model=model_name, image=0)).shape[-1])
        return self._classes[model_name]

    def logits(self, state: SelfExplainingState) -> np.ndarray:
        model = self.models[state.model]
        with torch.no_grad(), eval_mode([model]):
            return model(self.images[state.image : state.image + 1])[0].double().numpy()

    def compute(self, state: SelfExplainingState | None = None) -> SelfExplainingView:
        from ..monotone import stream_gradients

        state = state or self.state
        self.check(state)
        logits = self.logits(state)
        target = {"true": int(self.labels[state.image]), "predicted": int(np.argmax(logits))}.get(state.target, state.target)
        view = SelfExplainingView(state=state, target=int(target), logits=logits, maps={})
        try:
            with eval_mode([self.models[state.model]]):
                result = stream_gradients(self.models[state.model], self.images[state.image : state.image + 1],
                                          int(target))
        except Exception as error:  # noqa: BLE001 - shown in the view
            view.error = short_reason(error)
            return view
        view.maps = {name: values[0].numpy() for name, values in result.images(self.side).items()}
        view.g, view.h = float(result.g_scores[0]), float(result.h_scores[0])
        return view

    def update(self, **changes: Any) -> SelfExplainingView:
        unknown = sorted(set(changes) - set(SelfExplainingState.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown}; settings: {', '.join(SelfExplainingState.__dataclass_fields__)}")
        state = replace(self.state, **changes)
        self.check(state)
        self.state, self.view = state, self.compute(state)
        return self.view

    def render(self, view: SelfExplainingView | None = None) -> plt.Figure:
        """Image | g-map | h-map | f-map on one colour scale with a colourbar | g, h, f."""
        from .rendering import FIGURE_WIDTH, shared_colourbar

        view = view or self.view or self.compute()
        figure, axes = plt.subplots(1, 6, figsize=(FIGURE_WIDTH, 2.6), layout="constrained",
                                    gridspec_kw={"width_ratios": [1, 1, 1, 1, 0.06, 1.3]})
        axes[0].imshow(self.images[view.state.image].reshape(self.side, self.side), cmap="gray_r", vmin=0, vmax=1)
        axes[0].set_title(f"image {view.state.image} (label {int(self.labels[view.state.image])})", fontsize=8)
        titles = {"g": "g-map ∂g/∂x", "h": "h-map ∂h/∂u, u = 1 − x", "f": "f-map ∂f/∂x"}
        limit = max([float(np.abs(m).max()) for m in view.maps.values()] + [0.0]) or 1.0
        for ax, name in zip(axes[1:4], ("g", "h", "f")):
            if name in view.maps:
                ax.imshow(view.maps[name], cmap="bwr", vmin=-limit, vmax=limit)
            ax.set_title(titles[name], fontsize=8)
        for ax in axes[:4]:
            ax.set_xticks([])
            ax.set_yticks([])
        shared_colourbar(figure, axes[4], limit, "gradient (shared scale)")
        axes[5].axis("off")
        lines = [f"model: {view.state.model}", f"explained class {view.target}", f"logit f = {view.logits[view.target]:.4g}",
                 f"predicted class {view.predicted}", *logit_lines(view.logits)]
        lines += [f"update failed: {view.error}"] if view.error else [f"g(x) = {view.g:.4g}", f"h(1 − x) = {view.h:.4g}",
                                                                       f"g − h = {view.f:.4g}"]
        axes[5].text(0.0, 1.0, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=7.5,
                     transform=axes[5].transAxes, color="firebrick" if view.error else "black")
        return figure
