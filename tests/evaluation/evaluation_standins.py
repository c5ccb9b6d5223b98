"""Stand-ins for the evaluation tests: two tiny CNNs, synthetic images with masks, simple explainers.

The runner only talks to models, data and methods through an :class:`EvaluationBackend`, so the
tests plug these small, fast pieces in and stay independent of the real method registry.
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hidden_monotonicity.evaluation.profiles import EVERY_CATEGORY_METRICS, EvaluationProfile, MethodGrid
from hidden_monotonicity.evaluation.backend import EvaluationBackend
from hidden_monotonicity.methods.layers import conv_block_outputs

torch.set_num_threads(1)

IMAGE_SIZE = 16
NUM_CLASSES = 3


class TinyVGG(nn.Module):
    """VGG-like: ``features`` Sequential first, so Quantus InputInvariance cannot run on it."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU()
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(6, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def tiny_flat() -> nn.Sequential:
    """A plain Sequential whose first named module is a biased conv (InputInvariance runs)."""
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, NUM_CLASSES),
    )


def build_model(name: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = {"tiny_vgg": TinyVGG, "tiny_flat": tiny_flat}[name]()
    return model.eval()


def synthetic_split(split: str, n: int, seed: int = 0) -> SimpleNamespace:
    """Images with a bright square object, its mask, label = object quadrant class; image 1 has an empty mask."""
    rng = np.random.default_rng({"val": 100, "test": 200}[split] + seed)
    images = rng.normal(0.0, 0.3, size=(n, 3, IMAGE_SIZE, IMAGE_SIZE)).astype(np.float32)
    masks = np.zeros((n, 1, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    labels = np.zeros(n, dtype=np.int64)
    for i in range(n):
        top, left = rng.integers(0, IMAGE_SIZE - 6, size=2)
        labels[i] = i % NUM_CLASSES
        if split == "test" and i == 1:
            continue  # empty mask: must be dropped from localisation metrics
        images[i, :, top : top + 6, left : left + 6] += 1.5
        masks[i, :, top : top + 6, left : left + 6] = 1.0
    return SimpleNamespace(images=torch.from_numpy(images), labels=torch.from_numpy(labels), masks=torch.from_numpy(masks))


# ------------------------------------------------------------------------------------ explainers


def _input_gradient(model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        logits.gather(1, targets.view(-1, 1)).sum().backward()
    return x.grad.detach()


def explain_gradient(model, x, targets, **_: Any) -> torch.Tensor:
    return _input_gradient(model, x, targets).sum(dim=1, keepdim=True)


def explain_input_x_gradient(model, x, targets, **_: Any) -> torch.Tensor:
    return (_input_gradient(model, x, targets) * x).sum(dim=1, keepdim=True)


def explain_cam(model, x, targets, *, layer: str, **_: Any) -> torch.Tensor:
    module = dict(model.named_modules())[layer]
    store: dict[str, torch.Tensor] = {}
    handle = module.register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    try:
        with torch.enable_grad():
            logits = model(x)
            activation = store["a"]
            grad = torch.autograd.grad(logits.gather(1, targets.view(-1, 1)).sum(), activation)[0]
    finally:
        handle.remove()
    cam = (grad * activation).sum(dim=1, keepdim=True)
    return F.interpolate(cam.detach(), size=x.shape[-2:], mode="bilinear", align_corners=False)


def explain_mask_oracle(model, x, targets, *, quality: str = "oracle", **_: Any) -> torch.Tensor:
    """Knows where the object is (bright square): 'oracle' = brightness, 'inverted' = its negative."""
    brightness = x.mean(dim=1, keepdim=True)
    base = brightness if quality == "oracle" else -brightness
    return base + 1e-3 * torch.linspace(0, 1, x.shape[-1]).view(1, 1, 1, -1)


def explain_broken(model, x, targets, *, failure: str = "zeros", **_: Any) -> torch.Tensor:
    """Degenerate on purpose: all-zero maps (Quantus rejects them) or an exception."""
    if failure == "raise":
        raise RuntimeError("this explainer always fails")
    return torch.zeros(x.shape[0], 1, *x.shape[-2:])


EXPLAINERS = {
    "gradient": (explain_gradient, False, {}),
    "input_x_gradient": (explain_input_x_gradient, False, {}),
    "cam": (explain_cam, True, {"layer": None}),
    "mask_oracle": (explain_mask_oracle, False, {"quality": "oracle"}),
    "broken": (explain_broken, False, {"failure": "zeros"}),
}


class StandInMethods:
    """Counts calls so a test can inject a crash after k explanations."""

    def __init__(self, crash_after: int | None = None) -> None:
        self.calls = 0
        self.crash_after = crash_after

    def explain(self, model, x, targets, method, **params) -> torch.Tensor:
        self.calls += 1
        if self.crash_after is not None and self.calls > self.crash_after:
            raise KeyboardInterrupt("injected crash")
        function, _, defaults = EXPLAINERS[method]
        call = {**defaults, **params}
        take_abs = bool(call.pop("abs", False))
        maps = function(model, torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(targets).long().view(-1), **call)
        return maps.abs() if take_abs else maps

    def quantus_explain_func(self, model, inputs, targets, **kwargs) -> np.ndarray:
        kwargs = dict(kwargs)
        method = kwargs.pop("method")
        kwargs.pop("device", None)
        return self.explain(model, torch.as_tensor(np.asarray(inputs)), torch.as_tensor(np.asarray(targets)), method, **kwargs).numpy()


def method_spec(name: str) -> SimpleNamespace:
    function, needs_layer, defaults = EXPLAINERS[name]
    return SimpleNamespace(name=name, family="stand-in", needs_layer=needs_layer, parameters={**defaults, "abs": False})


def make_backend(methods: StandInMethods | None = None) -> EvaluationBackend:
    methods = methods or StandInMethods()
    return EvaluationBackend(
        load_model=lambda name, allow_random_init, seed: (build_model(name, seed), "stand-in random init"),
        load_split=lambda profile, split, data_dir: synthetic_split(split, profile.n_val if split == "val" else profile.n_test),
        explain=methods.explain,
        quantus_explain_func=methods.quantus_explain_func,
        method_spec=method_spec,
        layer_candidates=lambda model, spec, example: conv_block_outputs(model),
    )


TEST_METRIC_PARAMS = {
    "PixelFlipping": {"features_in_step": 16},  # 16x16 images: 3*256/16 = 48 steps
    "Selectivity": {"patch_size": 4},
    "MaxSensitivity": {"nr_samples": 2},
}


def stand_in_profile(**changes: Any) -> EvaluationProfile:
    """Two tiny models, three rows (one with a two-candidate grid), every metric category."""
    profile = EvaluationProfile(
        name="stand-in",
        description="tests: tiny CNNs, synthetic 16 px images",
        dataset="synthetic",
        dataset_kwargs={},
        n_val=4,
        n_test=5,
        models=("tiny_vgg", "tiny_flat"),
        methods=(
            MethodGrid("input_x_gradient", grid={"abs": (False,)}),
            MethodGrid("cam", grid={"layer": ("@last",)}),
            MethodGrid("mask_oracle", grid={"quality": ("inverted", "oracle")}),
        ),
        metrics=EVERY_CATEGORY_METRICS,
        metric_params=TEST_METRIC_PARAMS,
        chunk_size=3,
        seed=7,
    )
    return profile.replace(**changes) if changes else profile


@pytest.fixture
def backend() -> EvaluationBackend:
    return make_backend()


# ------------------------------------------------------------------ a backend worker processes can unpickle
def _standin_model(name: str, allow_random_init: bool, seed: int) -> tuple[nn.Module, str]:
    model = build_model(name, seed)
    parent = os.environ.get("HM_TEST_OTHER_WEIGHTS_OUTSIDE_PID")
    if parent and int(parent) != os.getpid():  # a process other than the test's loads other weights
        with torch.no_grad():
            next(model.parameters()).add_(0.5)
    return model, "stand-in random init"


def _standin_split(profile: EvaluationProfile, split: str, data_dir: str | None) -> SimpleNamespace:
    return synthetic_split(split, profile.n_val if split == "val" else profile.n_test)


def _standin_layers(model: nn.Module, spec: Any, example: torch.Tensor) -> list[str]:
    return conv_block_outputs(model)


_PICKLABLE_METHODS = StandInMethods()


def picklable_backend() -> EvaluationBackend:
    """:func:`make_backend` from module-level functions, so that spawned worker processes can load it."""
    return EvaluationBackend(load_model=_standin_model, load_split=_standin_split, explain=_PICKLABLE_METHODS.explain,
                             quantus_explain_func=_PICKLABLE_METHODS.quantus_explain_func, method_spec=method_spec,
                             layer_candidates=_standin_layers)
