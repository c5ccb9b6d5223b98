"""Figures used by the notebooks and the README (matplotlib / seaborn), one sub-module per topic."""

from . import benchmark  # noqa: E402,F401  - digits localisation benchmark: samples with mask contours (paper D.1 stand-in)
from . import evaluation  # noqa: E402,F401  - Quantus evaluation figures (distributions, rank heatmap)
from . import monotone  # noqa: E402,F401  - DM/DIC self-explaining models: per-stream gradient maps (paper F, Fig. 3)
from . import saliency  # noqa: E402,F401  - galleries, alpha/layer sweeps, stream maps (paper C, Fig. 4)
from . import stability  # noqa: E402,F401  - stream magnitudes, common mode vs alpha, float32/64 errors (paper B)
from . import toys  # noqa: E402,F401  - 1-D/2-D toy networks: f = g - h, convex and monotone streams (paper A)
