"""The paper's baselines (section D.3), by library: :mod:`.captum`, :mod:`.grad_cam`, :mod:`.zennit`; the model
handling they share in :mod:`.model_guards`. Nothing here re-implements an attribution method.

The paper names Guided Backprop, LayerCAM, LRP-gamma (0.25), DeepLift, Integrated Gradients, Gradient SHAP,
GradCAM++, Occlusion and Feature Ablation ("etc."); the plain gradient, Grad-CAM, XGrad-CAM and the two other LRP
composites are extra baselines.

This module only gathers the three (importing it registers them) and keeps the names it used to hold importable
(``from hidden_monotonicity.methods.baselines import canonizers_for``).
"""

from __future__ import annotations

from .captum import seeded_random_state, single_use_modules, square_patch_mask  # noqa: F401
from . import grad_cam  # noqa: F401
from .model_guards import parameters_frozen, relu_inplace_disabled  # noqa: F401
from .zennit import canonizers_for, target_logit_output  # noqa: F401
