"""The registry, ``explain``'s validation and post-processing, ``default_layer`` and the Quantus adapter."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import hidden_monotonicity as hm
from hidden_monotonicity.methods import (
    FAMILIES,
    MethodSpec,
    as_target_tensor,
    default_layer,
    explain,
    finalize_maps,
    layer_names,
    methods,
    quantus_explain_func,
    register_method,
    unregister_method,
)


BASELINES = {
    "saliency": "captum",
    "saliency_abs": "captum",
    "input_x_gradient": "captum",
    "guided_backprop": "captum",
    "integrated_gradients": "captum",
    "deeplift": "captum",
    "gradient_shap": "captum",
    "occlusion": "captum",
    "feature_ablation": "captum",
    "gradcam": "grad-cam",
    "gradcam_pp": "grad-cam",
    "layercam": "grad-cam",
    "xgradcam": "grad-cam",
    "lrp_epsilon": "zennit",
    "lrp_gamma": "zennit",
    "lrp_epsilon_plus_flat": "zennit",
}


# ------------------------------------------------------------------------------------ registry


def test_every_baseline_is_registered_with_its_family() -> None:
    registered = methods()
    for name, family in BASELINES.items():
        assert registered[name].family == family
        assert registered[name].needs_layer == (family in ("grad-cam", "zennit"))  # LRP: layer "input" by default
        assert registered[name].description


def test_methods_are_ordered_by_family_then_name() -> None:
    keys = [(FAMILIES.index(spec.family), spec.name) for spec in methods().values()]
    assert keys == sorted(keys)
    assert all(spec.name == name for name, spec in methods().items())


def test_public_api_lists_the_same_methods() -> None:
    # this module imported hidden_monotonicity.methods directly, which binds hm.methods to the package;
    # the package forwards calls to the function, so hm.methods() works either way
    assert list(hm.methods()) == list(methods())
    assert hm.explain is explain and hm.quantus_explain_func is quantus_explain_func


def test_every_method_accepts_abs_and_layer_methods_accept_layer() -> None:
    for spec in methods().values():
        assert spec.parameters["abs"] is False
        assert ("layer" in spec.parameters) == spec.needs_layer


def test_method_spec_repr_is_readable() -> None:
    text = repr(methods()["integrated_gradients"])
    assert text.startswith("MethodSpec(name='integrated_gradients', family='captum'")
    assert "n_steps=50" in text and "abs=False" in text
    assert "function" not in text and " at 0x" not in text


@pytest.fixture
def temporary_method():
    """Register methods under throw-away names and remove them again after the test."""
    names: list[str] = []

    def register(name: str, **options):
        names.append(name)
        return register_method(name, **options)

    yield register
    for name in names:
        if name in methods():
            unregister_method(name)


def test_register_rejects_duplicates_unknown_families_and_generic_defaults(temporary_method) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_method("saliency", family="captum", defaults={}, description="again")
    with pytest.raises(ValueError, match="family"):
        temporary_method("_test_family", family="tensorflow", defaults={}, description="x")
    with pytest.raises(ValueError, match="generic"):
        temporary_method("_test_abs", family="captum", defaults={"abs": True}, description="x")
    with pytest.raises(ValueError, match="needs_layer"):
        temporary_method("_test_layer", family="captum", defaults={"layer": "x"}, description="x")


def test_layer_methods_get_a_layer_default(temporary_method) -> None:
    @temporary_method("_test_needs_layer", family="split", defaults={"alpha": 0.4}, description="x", needs_layer=True)
    def function(model, x, targets, *, alpha, layer):
        return x[:, :1]

    spec = methods()["_test_needs_layer"]
    assert spec.defaults == {"alpha": 0.4, "layer": None}
    assert list(methods())[0] == "_test_needs_layer"  # the split family comes first


# ------------------------------------------------------------------------------- validation


def test_unknown_method_lists_all_methods(vgg, inputs_for, targets) -> None:
    with pytest.raises(ValueError) as error:
        explain(vgg, inputs_for("vgg"), targets, "gradcam++")
    for name in BASELINES:
        assert name in str(error.value)


def test_unknown_parameter_lists_the_method_parameters(vgg, inputs_for, targets) -> None:
    with pytest.raises(ValueError, match="n_steps") as error:
        explain(vgg, inputs_for("vgg"), targets, "integrated_gradients", steps=8)
    assert "'steps'" in str(error.value) and "baseline" in str(error.value) and "abs" in str(error.value)
    with pytest.raises(ValueError, match="has no parameter"):
        explain(vgg, inputs_for("vgg"), targets, "saliency", layer="features.9")


def test_unknown_layer_suggests_the_closest_layer_names(vgg, inputs_for, targets) -> None:
    with pytest.raises(ValueError, match="unknown layer 'features.99'") as error:
        explain(vgg, inputs_for("vgg"), targets, "layercam", layer="features.99")
    assert "did you mean 'features.9'" in str(error.value)
    assert "model.named_modules()" in str(error.value) and "classifier.6" not in str(error.value)


def test_target_out_of_range_names_target_and_range(vgg, inputs_for, num_classes) -> None:
    with pytest.raises(ValueError, match=rf"target {num_classes} \(image 1\).*\[0, {num_classes}\)"):
        explain(vgg, inputs_for("vgg"), [0, num_classes, 1], "saliency")
    with pytest.raises(ValueError, match=r"target -1"):
        explain(vgg, inputs_for("vgg"), -1, "saliency")


def test_target_count_must_match_the_batch(vgg, inputs_for) -> None:
    with pytest.raises(ValueError, match="2 targets for a batch of 3"):
        explain(vgg, inputs_for("vgg"), [0, 1], "gradcam")


def test_training_mode_is_refused(vgg, inputs_for, targets) -> None:
    vgg.train()
    with pytest.raises(ValueError, match=re.escape("call model.eval()")):
        explain(vgg, inputs_for("vgg"), targets, "saliency")
    vgg.eval()
    vgg.classifier[2].train()  # one dropout left in training mode is enough to refuse
    with pytest.raises(ValueError, match="classifier.2"):
        explain(vgg, inputs_for("vgg"), targets, "saliency")


@pytest.mark.parametrize(
    ("bad_input", "error", "message"),
    [
        (np.zeros((3, 3, 32, 32), dtype=np.float32), TypeError, "torch.Tensor"),
        (torch.zeros(3, 32, 32), ValueError, "4-D"),
        (torch.zeros(3, 3, 32, 32, dtype=torch.long), ValueError, "floating-point"),
        (torch.full((3, 3, 32, 32), float("nan")), ValueError, "NaN"),
        (torch.zeros(0, 3, 32, 32), ValueError, "empty"),
    ],
)
def test_bad_inputs_are_refused(vgg, bad_input, error, message) -> None:
    with pytest.raises(error, match=message):
        explain(vgg, bad_input, 0, "saliency")


def test_input_dtype_must_match_the_model(vgg, inputs_for) -> None:
    with pytest.raises(ValueError, match="torch.float64 but the model's parameters are torch.float32"):
        explain(vgg, inputs_for("vgg").double(), 0, "saliency")


def test_non_integer_targets_are_refused(vgg, inputs_for) -> None:
    for targets in ([0.0, 1.0, 2.0], torch.tensor([0.5, 1.0, 2.0]), True, [[0, 1, 2]]):
        with pytest.raises((TypeError, ValueError), match="target"):
            explain(vgg, inputs_for("vgg"), targets, "saliency")


def test_model_must_return_logits() -> None:
    model = nn.Sequential(nn.Conv2d(3, 2, 3)).eval()
    with pytest.raises(ValueError, match=r"logits of shape \(N, num_classes\)"):
        explain(model, torch.zeros(1, 3, 8, 8), 0, "saliency")


@settings(deadline=None)
@given(
    targets=st.lists(st.integers(min_value=0, max_value=999), min_size=1, max_size=6),
    kind=st.sampled_from(["list", "tuple", "numpy", "numpy32", "tensor"]),
)
def test_targets_of_every_container_type_convert_identically(targets: list[int], kind: str) -> None:
    converted = {
        "list": targets,
        "tuple": tuple(targets),
        "numpy": np.array(targets),
        "numpy32": np.array(targets, dtype=np.int32),
        "tensor": torch.tensor(targets),
    }[kind]
    result = as_target_tensor(converted, len(targets))
    assert result.dtype == torch.long and result.tolist() == targets


@settings(deadline=None)
@given(target=st.integers(min_value=0, max_value=999), batch=st.integers(min_value=1, max_value=5))
def test_an_int_target_is_broadcast(target: int, batch: int) -> None:
    for value in (target, np.int64(target), torch.tensor(target)):
        assert as_target_tensor(value, batch).tolist() == [target] * batch


def test_int_list_array_and_tensor_targets_give_the_same_maps(vgg, inputs_for, targets) -> None:
    x = inputs_for("vgg")
    reference = explain(vgg, x, targets, "saliency")
    for converted in (tuple(targets), np.array(targets), torch.tensor(targets)):
        assert torch.equal(explain(vgg, x, converted, "saliency"), reference)
    broadcast = explain(vgg, x, 3, "saliency")
    assert torch.equal(broadcast, explain(vgg, x, [3, 3, 3], "saliency"))


def test_explain_works_inside_no_grad(vgg, inputs_for, targets) -> None:
    x = inputs_for("vgg")
    with torch.no_grad():
        inside = explain(vgg, x, targets, "saliency")
    assert torch.equal(inside, explain(vgg, x, targets, "saliency"))


# --------------------------------------------------------------------------- post-processing


@pytest.fixture
def coarse_method(temporary_method):
    """A method returning a fixed random (N, 1, 4, 4) float64 map, to test explain's post-processing."""

    @temporary_method("_test_coarse", family="captum", defaults={"scale": 1.0}, description="test double")
    def coarse(model, x, targets, *, scale):
        generator = torch.Generator().manual_seed(int(targets.sum()))
        return scale * torch.randn(x.shape[0], 1, 4, 4, generator=generator, dtype=torch.float64)

    return coarse


def test_maps_are_upsampled_bilinearly_then_abs_then_float32(vgg, coarse_method, inputs_for, targets) -> None:
    x = inputs_for("vgg")
    raw = coarse_method(vgg, x, torch.tensor(targets), scale=2.0)
    expected = F.interpolate(raw, size=(32, 32), mode="bilinear", align_corners=False).float()
    signed = explain(vgg, x, targets, "_test_coarse", scale=2.0)
    assert signed.dtype == torch.float32 and signed.shape == (3, 1, 32, 32) and not signed.requires_grad
    torch.testing.assert_close(signed, expected)
    assert (signed < 0).any()
    torch.testing.assert_close(explain(vgg, x, targets, "_test_coarse", scale=2.0, abs=True), expected.abs())


@settings(max_examples=20, deadline=None)
@given(value=st.floats(min_value=-1e3, max_value=1e3, allow_nan=False), side=st.integers(min_value=1, max_value=9))
def test_upsampling_a_constant_map_keeps_it_constant(value: float, side: int) -> None:
    maps = torch.full((2, 1, side, side), value, dtype=torch.float64)
    out = finalize_maps(maps, batch_size=2, input_size=(17, 23), take_abs=False, method="constant")
    assert out.shape == (2, 1, 17, 23)
    torch.testing.assert_close(out, torch.full_like(out, value))


def test_malformed_method_outputs_are_reported_with_the_method_name(vgg, temporary_method, inputs_for, targets) -> None:
    @temporary_method("_test_bad_channels", family="captum", defaults={}, description="x")
    def three_channels(model, x, targets):
        return x

    @temporary_method("_test_too_large", family="captum", defaults={}, description="x")
    def too_large(model, x, targets):
        return torch.zeros(x.shape[0], 1, 64, 64)

    with pytest.raises(ValueError, match=r"'_test_bad_channels' returned shape \(3, 3, 32, 32\)"):
        explain(vgg, inputs_for("vgg"), targets, "_test_bad_channels")
    with pytest.raises(ValueError, match="'_test_too_large'.*larger than the input"):
        explain(vgg, inputs_for("vgg"), targets, "_test_too_large")


def test_layer_none_means_the_default_layer(vgg, temporary_method, inputs_for, targets) -> None:
    seen: list[str] = []

    @temporary_method("_test_layer_seen", family="split", defaults={}, description="x", needs_layer=True)
    def record(model, x, targets, *, layer):
        seen.append(layer)
        return torch.zeros(x.shape[0], 1, 1, 1)

    explain(vgg, inputs_for("vgg"), targets, "_test_layer_seen")
    explain(vgg, inputs_for("vgg"), targets, "_test_layer_seen", layer="features.4")
    assert seen == ["features.9", "features.4"]


# ------------------------------------------------------------------------------- default layer


def _meta(builder):
    with torch.device("meta"):  # structure only: no weights are allocated
        return builder()


@pytest.mark.parametrize(
    ("builder", "expected"),
    [
        (torchvision.models.vgg16, "features.29"),
        (torchvision.models.vgg16_bn, "features.42"),
        (torchvision.models.vgg11, "features.19"),
        (torchvision.models.resnet18, "layer4.1"),
        (torchvision.models.resnet50, "layer4.2"),
    ],
)
def test_default_layer_of_torchvision_models(builder, expected: str) -> None:
    assert default_layer(_meta(builder)) == expected


def test_default_layer_of_small_and_custom_nets(vgg, vgg_bn, resnet) -> None:
    assert (default_layer(vgg), default_layer(vgg_bn), default_layer(resnet)) == ("features.9", "features.13", "layer4.1")
    one_block_per_stage = torchvision.models.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1])
    # the last nn.Conv2d registered is layer4.0.downsample.0; its block is layer4.0
    assert default_layer(_meta(lambda: one_block_per_stage)) == "layer4.0"
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    assert default_layer(plain) == "2"
    with pytest.raises(ValueError, match="no nn.Conv2d"):
        default_layer(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)))


def test_layer_names_follow_named_modules(resnet) -> None:
    names = layer_names(resnet)
    assert names[0] == "conv1" and "layer4.1.conv2" in names and "" not in names


# --------------------------------------------------------------------------------------- quantus


def test_quantus_explain_func_matches_explain(vgg, inputs_for, targets) -> None:
    x = inputs_for("vgg")
    result = quantus_explain_func(
        model=vgg, inputs=x.numpy().astype(np.float64), targets=np.array(targets), method="layercam", device="cpu"
    )
    assert isinstance(result, np.ndarray) and result.dtype == np.float32 and result.shape == (3, 1, 32, 32)
    np.testing.assert_array_equal(result, explain(vgg, x, targets, "layercam").numpy())
    with pytest.raises(ValueError, match="explain_func_kwargs"):
        quantus_explain_func(model=vgg, inputs=x.numpy(), targets=np.array(targets))
    with pytest.raises(ValueError, match="has no parameter"):
        quantus_explain_func(model=vgg, inputs=x.numpy(), targets=np.array(targets), method="saliency", nr_samples=3)


def test_quantus_max_sensitivity_runs_with_our_explain_func(vgg, inputs_for, targets) -> None:
    quantus = pytest.importorskip("quantus")
    x, y = inputs_for("vgg").numpy(), np.array(targets)
    for method, extra in (("saliency", {}), ("gradcam", {"layer": "features.6"})):
        np.random.seed(0)
        metric = quantus.MaxSensitivity(nr_samples=2, disable_warnings=True, display_progressbar=False)
        scores = metric(
            model=vgg,
            x_batch=x,
            y_batch=y,
            explain_func=hm.quantus_explain_func,
            explain_func_kwargs={"method": method, **extra},
            device="cpu",
        )
        assert len(scores) == 3 and np.all(np.isfinite(scores)) and np.all(np.asarray(scores) >= 0)


def test_quantus_efficient_mprt_explains_the_randomised_copies(resnet, inputs_for, targets) -> None:
    quantus = pytest.importorskip("quantus")
    model = resnet
    x, y = inputs_for("resnet", batch=2).numpy(), np.array(targets[:2])
    state = copy.deepcopy(model.state_dict())
    metric = quantus.EfficientMPRT(disable_warnings=True, display_progressbar=False)
    scores = metric(
        model=model,
        x_batch=x,
        y_batch=y,
        explain_func=hm.quantus_explain_func,
        explain_func_kwargs={"method": "saliency"},
        device="cpu",
    )
    assert len(scores) == 2 and np.all(np.isfinite(scores))
    # eMPRT compares the explanation of the model with that of a fully randomised copy: they must differ
    assert not np.allclose(scores, 0.0)
    assert all(torch.equal(state[key], value) for key, value in model.state_dict().items())


def test_every_method_has_a_unique_display_label() -> None:
    labels = {name: spec.label for name, spec in methods().items()}
    assert labels["splitcam"] == "SplitCAM" and labels["gradcam_pp"] == "Grad-CAM++" and labels["lrp_gamma"] == "LRP-γ"
    assert all(labels.values()) and len(set(labels.values())) == len(labels)
    assert all(label != name for name, label in labels.items()), "every built-in method names its label"
