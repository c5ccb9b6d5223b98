"""hidden-monotonicity: the DC decomposition of ReLU networks and the explanations built on it.

Reference implementation and reproducible companion of

    J. P. Zimmermann and G. Loho, "Hidden Monotonicity: Explaining Deep Neural Networks
    via their DC Decomposition", CVPR 2026, arXiv:2601.07700.

Public API (``import hidden_monotonicity as hm``)::

    split = hm.decompose(model)                 # f = g - h, paper section A
    out = split(x); out.g - out.h               # equals model(x)
    rec = split.sensitivities(x, targets, layers=["input"], alpha=0.4)   # paper B.3
    maps = hm.explain(model, x, targets, "splitcam", layer="features.20")  # paper section C
    hm.methods()                                # every method with its parameters

Sub-modules are imported lazily, so ``import hidden_monotonicity`` stays fast and does not
pull in Quantus, Captum or zennit until they are needed.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

# attribute -> (module, attribute or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "decompose": (".decomposition", "decompose"),
    "SplitNetwork": (".decomposition", "SplitNetwork"),
    "UnsupportedModelError": (".decomposition", "UnsupportedModelError"),
    "ModelChangedError": (".decomposition", "ModelChangedError"),
    "explain": (".methods", "explain"),
    "methods": (".methods", "methods"),
    "quantus_explain_func": (".methods", "quantus_explain_func"),
    "evaluate": (".evaluation", "evaluate"),
    "decomposition": (".decomposition", None),
    "evaluation": (".evaluation", None),
    "data": (".data", None),
    "models": (".models", None),
    "training": (".training", None),
    "monotone": (".monotone", None),
    "plots": (".plots", None),
    "widgets": (".widgets", None),
    "teaching": (".teaching", None),
    "environment": (".environment", None),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'hidden_monotonicity' has no attribute {name!r}") from None
    module = importlib.import_module(module_name, __name__)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
