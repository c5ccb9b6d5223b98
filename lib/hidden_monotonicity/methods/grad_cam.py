"""The pytorch-grad-cam baselines (paper section D.3): ``gradcam``, ``gradcam_pp``, ``layercam``, ``xgradcam``, each
a thin wrapper over pytorch-grad-cam 1.5.7 at one ``layer`` (a module name; a container such as ``"layer3"`` is
read at its output). See :mod:`.postprocess` for what the library does to the maps (ReLU, min-max, resize).
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import resolve_layer
from .model_guards import EXTRA_BASELINE, PAPER_BASELINE, input_requiring_grad, parameters_frozen, relu_inplace_disabled
from .registry import register_method


def _grad_cam(
    cam_class_name: str, model: nn.Module, x: torch.Tensor, targets: torch.Tensor, layer: str
) -> torch.Tensor:
    """Run a pytorch-grad-cam class on one layer; returns its (N, 1, H, W) maps unchanged (min-max scaled)."""
    import cv2
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cam_class = getattr(pytorch_grad_cam, cam_class_name)
    target_layer = resolve_layer(model, layer)
    per_sample_targets = [ClassifierOutputTarget(int(target)) for target in targets.tolist()]
    maps = None
    failure = (
        f"pytorch-grad-cam {cam_class_name} failed on layer {layer!r}: a CAM layer must output a (N, C, h, w) "
        "feature map during the forward pass"
    )
    with relu_inplace_disabled(model, x), parameters_frozen(model):
        # frozen parameters: only activation gradients are computed, so the input must carry the graph
        try:
            with cam_class(model=model, target_layers=[target_layer]) as cam:
                maps = cam(input_tensor=input_requiring_grad(x), targets=per_sample_targets)
        except (AttributeError, ValueError, cv2.error) as error:  # e.g. a layer never called, or a 2-D output
            raise ValueError(f"{failure} ({type(error).__name__}: {error})") from error
    if maps is None:  # BaseCAM.__exit__ swallows IndexError (it only prints it)
        raise ValueError(failure)
    return torch.from_numpy(maps).to(x.device).unsqueeze(1)


def _cam_method(cam_class_name: str):  # noqa: ANN202 - returns the method function
    def cam_at_layer(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, *, layer: str) -> torch.Tensor:
        return _grad_cam(cam_class_name, model, x, targets, layer)

    cam_at_layer.__name__ = cam_at_layer.__qualname__ = f"{cam_class_name}_at_layer"
    return cam_at_layer


#: name, pytorch-grad-cam class, label, description, paper section
_CAM_METHODS = (
    ("gradcam", "GradCAM", "Grad-CAM",
     "Grad-CAM (pytorch-grad-cam GradCAM): ReLU(sum_c mean(grad_c) A_c), min-max scaled, resized", EXTRA_BASELINE),
    ("gradcam_pp", "GradCAMPlusPlus", "Grad-CAM++",
     "Grad-CAM++ (pytorch-grad-cam GradCAMPlusPlus), min-max scaled, resized", PAPER_BASELINE),
    ("layercam", "LayerCAM", "LayerCAM",
     "LayerCAM (pytorch-grad-cam LayerCAM): ReLU(sum_c ReLU(grad_c) * A_c), min-max scaled, resized", PAPER_BASELINE),
    ("xgradcam", "XGradCAM", "XGrad-CAM", "XGrad-CAM (pytorch-grad-cam XGradCAM), min-max scaled, resized",
     EXTRA_BASELINE),
)

for _name, _cam_class, _label, _description, _section in _CAM_METHODS:
    register_method(_name, label=_label, family="grad-cam", defaults={}, description=_description,
                    paper_section=_section, needs_layer=True)(_cam_method(_cam_class))
