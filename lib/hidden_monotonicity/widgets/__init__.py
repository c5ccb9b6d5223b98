"""Interactive explorer of the split explanations (notebook 06).

* :mod:`.explorer_model` - the explorer's state and computation (no widgets): :class:`ExplorerModel`,
  :class:`ExplorerState`, :class:`ExplorerView`;
* :mod:`.rendering` - the figures of a view (map(s) on one colour scale with a colourbar, g/h/f, scores, per-layer
  magnitudes);
* :mod:`.self_explaining` - the self-explaining DM/DIC models' g- and h-maps (state, computation, figure);
* :mod:`.controls` - the ipywidgets views: :class:`Explorer`, :class:`SelfExplainingExplorer`.
"""

from __future__ import annotations

from .controls import Explorer, SelfExplainingExplorer
from .explorer_model import (
    OVERFLOW_WARNING,
    read_image,
    COMPARISONS,
    DEFAULT_METHODS,
    DEFAULT_METRICS,
    NO_LAYER,
    STABILISATIONS,
    ExplorerModel,
    ExplorerState,
    ExplorerView,
    LayerProfile,
)
from .rendering import PREVIEW_DPI, figure_output, render_view
from .self_explaining import SelfExplainingModel, SelfExplainingState, SelfExplainingView, load_monotone_models

__all__ = [
    "COMPARISONS",
    "DEFAULT_METHODS",
    "DEFAULT_METRICS",
    "NO_LAYER",
    "PREVIEW_DPI",
    "STABILISATIONS",
    "Explorer",
    "ExplorerModel",
    "ExplorerState",
    "ExplorerView",
    "LayerProfile",
    "SelfExplainingExplorer",
    "SelfExplainingModel",
    "SelfExplainingState",
    "SelfExplainingView",
    "figure_output",
    "load_monotone_models",
    "read_image",
    "render_view",
    "OVERFLOW_WARNING",
]
