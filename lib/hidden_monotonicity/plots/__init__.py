"""Figures used by the notebooks and the README (matplotlib / seaborn), one sub-module per topic:

* ``benchmark`` - digits localisation benchmark: samples with mask contours (paper D.1 stand-in);
* ``evaluation`` - Quantus evaluation figures (distributions, rank heatmap);
* ``monotone`` - DM/DIC self-explaining models: per-stream gradient maps (paper F, Fig. 3);
* ``saliency`` - galleries, alpha/layer sweeps, stream maps (paper C, Fig. 4);
* ``stability`` - stream magnitudes, common mode vs alpha, float32/64 errors (paper B);
* ``toys`` - 1-D/2-D toy networks: f = g - h, convex and monotone streams (paper A).

Sub-modules are imported on first use (``from hidden_monotonicity.plots import saliency`` or
``hm.plots.saliency``), so that one figure module does not pull in the others' dependencies (seaborn, the
evaluation package).
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["benchmark", "evaluation", "monotone", "saliency", "stability", "toys"]


def __getattr__(name: str) -> ModuleType:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
