"""The DC decomposition engine (paper sections A and B).

``decompose(model)`` → :class:`SplitNetwork` with ``split(x).g``, ``.h`` (``g − h = model(x)``),
``split.sensitivities(...)`` (the four α-shifted sensitivities) and ``split.relevance(...)`` (SplitLRP).
"""

from .graph import SUPPORTED_OPERATIONS, UnsupportedModelError
from .network import (
    DECOMPOSITION_OPTIONS,
    LayerRecord,
    ModelChangedError,
    RelevanceResult,
    SensitivityResult,
    SplitNetwork,
    SplitOutput,
    decompose,
)
from .stabilize import STRATEGIES, Stabilizer
from .split_values import Relevance, Sensitivities, Streams
from .validation import check_finite_tensors

__all__ = [
    "DECOMPOSITION_OPTIONS",
    "SUPPORTED_OPERATIONS",
    "STRATEGIES",
    "LayerRecord",
    "ModelChangedError",
    "Relevance",
    "RelevanceResult",
    "Sensitivities",
    "SensitivityResult",
    "SplitNetwork",
    "SplitOutput",
    "Stabilizer",
    "Streams",
    "UnsupportedModelError",
    "check_finite_tensors",
    "decompose",
]
