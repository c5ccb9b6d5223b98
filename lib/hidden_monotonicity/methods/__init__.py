"""Explanation methods behind one Quantus-ready interface (paper sections C and D.3).

    import hidden_monotonicity as hm
    hm.methods()                                     # name -> MethodSpec, every registered method
    maps = hm.explain(model, x, targets, "layercam", layer="features.29")   # (N, 1, H, W) float32
    quantus.MaxSensitivity(...)(model=model, x_batch=x, y_batch=y,
                                explain_func=hm.quantus_explain_func,
                                explain_func_kwargs={"method": "splitcam", "alpha": 0.4})

Modules: :mod:`.registry` (MethodSpec, register_method, explain, quantus_explain_func,
default_layer), :mod:`.postprocess` (the table of what every method's output went through),
:mod:`.captum`, :mod:`.grad_cam`, :mod:`.zennit` (the baselines, one module per library; :mod:`.model_guards`
what they share), :mod:`.split` (SplitCAM, SplitGrad, SplitLRP), :mod:`.layers` (layer names and defaults).
Importing this package registers all of them.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .postprocess import finalize_maps, sum_over_channels, upsample_to
from .registry import (
    FAMILIES,
    GENERIC_PARAMETERS,
    MethodSpec,
    as_target_tensor,
    default_layer,
    explain,
    get_method,
    layer_names,
    methods,
    quantus_explain_func,
    register_method,
    resolve_layer,
    unregister_method,
)

__all__ = [
    "FAMILIES",
    "GENERIC_PARAMETERS",
    "MethodSpec",
    "as_target_tensor",
    "default_layer",
    "explain",
    "finalize_maps",
    "get_method",
    "layer_names",
    "methods",
    "quantus_explain_func",
    "register_method",
    "resolve_layer",
    "sum_over_channels",
    "unregister_method",
    "upsample_to",
]


class _CallableMethodsModule(types.ModuleType):
    """Makes ``hm.methods()`` work whichever way this package was imported.

    ``hidden_monotonicity.methods`` is both this package and the function :func:`methods` (both are public API).
    Once the package has been imported directly (``from hidden_monotonicity.methods import explain``), Python's
    import system binds the attribute ``hidden_monotonicity.methods`` to the package, overwriting the function the
    parent's lazy ``__getattr__`` had returned; calling the package then forwards to the function.

    Why a module class and nothing plainer (alternatives tried): the parent cannot keep the function, because every
    later import of the sub-package rebinds the name to the module; a property on the parent would need the same
    class swap on the parent; renaming the sub-package or the function would break the public API. Assigning
    ``__class__`` of a module to a ``ModuleType`` subclass is the documented way to make a module callable
    (Python reference, "Customizing module attribute access").
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return methods(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableMethodsModule

# registrations (baselines by library, then the paper's split methods)
from . import captum, grad_cam, zennit  # noqa: E402,F401
from . import split  # noqa: E402,F401
