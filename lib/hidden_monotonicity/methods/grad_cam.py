"""The pytorch-grad-cam baselines (paper section D.3): ``gradcam``, ``gradcam_pp``, ``layercam``, ``xgradcam``, each
a thin wrapper over pytorch-grad-cam 1.5.7 at one ``layer`` (a module name; a container such as ``"layer3"`` is
read at its output). See :mod:`.postprocess` for what the library does to the maps (ReLU, min-max, resize).
A layer whose map is 1 x 1 is refused (:func:`check_spatial_extent`): its CAM is constant, all zeros after min-max.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .layers import conv_block_outputs, resolve_layer
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
    with relu_inplace_disabled(model, x), parameters_frozen(model), output_sizes_recorded(model) as sizes:
        # frozen parameters: only activation gradients are computed, so the input must carry the graph
        try:
            with cam_class(model=model, target_layers=[target_layer]) as cam:
                maps = cam(input_tensor=input_requiring_grad(x), targets=per_sample_targets)
        except (AttributeError, ValueError, cv2.error) as error:  # e.g. a layer never called, or a 2-D output
            raise ValueError(f"{failure} ({type(error).__name__}: {error})") from error
    if maps is None:  # BaseCAM.__exit__ swallows IndexError (it only prints it)
        raise ValueError(failure)
    check_spatial_extent(model, layer, sizes, _LABELS.get(cam_class_name, cam_class_name), tuple(x.shape[-2:]))
    return torch.from_numpy(maps).to(x.device).unsqueeze(1)


@contextmanager
def output_sizes_recorded(model: nn.Module) -> Iterator[dict[str, tuple[int, ...]]]:
    """Inside, ``sizes[name]`` is the spatial size ``(h, w)`` of the first 4-D output of every named sub-module
    (recorded during whatever forward pass runs inside, so a CAM's own pass costs nothing extra)."""
    sizes: dict[str, tuple[int, ...]] = {}

    def record(name: str, output: object) -> None:
        if isinstance(output, torch.Tensor) and output.ndim == 4 and name not in sizes:
            sizes[name] = tuple(output.shape[-2:])

    handles = [
        module.register_forward_hook(lambda _module, _input, output, name=name: record(name, output))
        for name, module in model.named_modules()
        if name
    ]
    try:
        yield sizes
    finally:
        for handle in handles:
            handle.remove()


def check_spatial_extent(
    model: nn.Module, layer: str, sizes: dict[str, tuple[int, ...]], label: str, input_size: tuple[int, int]
) -> None:
    """Refuse a CAM at a layer whose feature map is 1 x 1 (e.g. the output of ``AdaptiveAvgPool2d(1)``, or the last
    block of a deep net at a small input): a CAM is a weighted sum of the layer's channels at each of its positions,
    upsampled to the image - with one position every pixel gets the same value, and after the min-max scaling of
    pytorch-grad-cam the map is all zeros. The error suggests the last convolution block with a larger map."""
    if sizes.get(layer) != (1, 1):
        return
    spatial = [name for name in conv_block_outputs(model) if name in sizes and max(sizes[name]) > 1]
    if spatial:
        shown = "×".join(map(str, sizes[spatial[-1]]))
        advice = f"choose a convolutional layer with spatial extent, e.g. {spatial[-1]!r} ({shown})"
    else:
        advice = (
            f"no convolution block of {type(model).__name__} has a map larger than 1×1 at this input size "
            f"{input_size}: use larger images or an input-space method such as 'saliency'"
        )
    raise ValueError(
        f"layer {layer!r} has spatial size 1×1: {label} would give every pixel the same value (a constant map, all "
        f"zeros after its min-max scaling); {advice}"
    )


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

_LABELS = {cam_class: label for _, cam_class, label, _, _ in _CAM_METHODS}

for _name, _cam_class, _label, _description, _section in _CAM_METHODS:
    register_method(_name, label=_label, family="grad-cam", defaults={}, description=_description,
                    paper_section=_section, needs_layer=True)(_cam_method(_cam_class))
