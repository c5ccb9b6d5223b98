"""The baseline wrappers against direct calls of their libraries and against exact invariants."""

from __future__ import annotations

import copy
import types

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from hidden_monotonicity.methods import explain, methods
from hidden_monotonicity.methods.captum import single_use_modules, square_patch_mask
from hidden_monotonicity.methods.model_guards import relu_inplace_disabled
from hidden_monotonicity.methods.zennit import canonizers_for

#: cheap settings so that the every-method tests stay fast (the defaults are tested elsewhere)
CHEAP = {
    "integrated_gradients": {"n_steps": 8},
    "gradient_shap": {"n_samples": 4},
    "occlusion": {"window": 16, "stride": 16},
    "feature_ablation": {"patch_size": 16},
}


def _baseline_names() -> list[str]:
    return [name for name, spec in methods().items() if spec.family != "split"]


def _without_inplace(model: nn.Module) -> nn.Module:
    """An independent copy of ``model`` whose in-place activations are switched off."""
    clone = copy.deepcopy(model)
    for module in clone.modules():
        if getattr(module, "inplace", False) is True:
            module.inplace = False
    return clone


def _model_fingerprint(model: nn.Module) -> dict[str, object]:
    return {
        "state": {key: value.clone() for key, value in model.state_dict().items()},
        "inplace": [(name, module.inplace) for name, module in model.named_modules() if hasattr(module, "inplace")],
        "training": [module.training for module in model.modules()],
        "requires_grad": [parameter.requires_grad for parameter in model.parameters()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "hooks": sum(
            len(module._forward_hooks) + len(module._forward_pre_hooks) + len(module._backward_hooks)
            for module in model.modules()
        ),
        # instance attributes of every module (DeepLift's saved tensors, canonizers' forward overrides
        # and Sum modules would show up here) and the module tree itself
        "attributes": [sorted(vars(module)) for module in model.modules()],
        "modules": [name for name, _ in model.named_modules()],
    }


def _assert_same_fingerprint(before: dict[str, object], after: dict[str, object]) -> None:
    assert before["state"].keys() == after["state"].keys()
    for key, value in before["state"].items():
        assert torch.equal(value, after["state"][key]), f"state_dict entry {key} changed"
    for field in ("inplace", "training", "requires_grad", "hooks", "attributes", "modules"):
        assert before[field] == after[field], f"{field} changed"
    for old, new in zip(before["grads"], after["grads"]):
        assert (old is None and new is None) or torch.equal(old, new)


# ------------------------------------------------------------------------ every baseline, both nets


@pytest.mark.parametrize("method", _baseline_names())
def test_every_baseline_gives_finite_float32_maps_and_leaves_the_model_alone(any_net, targets, method) -> None:
    name, model, x = any_net
    for parameter in model.parameters():  # a user gradient that must survive (pytorch-grad-cam zeroes grads)
        parameter.grad = torch.full_like(parameter, 0.5)
    before = _model_fingerprint(model)
    maps = explain(model, x, targets, method, **CHEAP.get(method, {}))
    assert maps.shape == (x.shape[0], 1, *x.shape[-2:]) and maps.dtype == torch.float32
    assert torch.isfinite(maps).all() and maps.abs().sum() > 0
    _assert_same_fingerprint(before, _model_fingerprint(model))


@pytest.mark.parametrize("method", _baseline_names())
def test_per_sample_targets_give_the_single_image_maps(resnet, inputs_for, targets, method) -> None:
    """Explaining a batch with per-sample targets equals explaining each image on its own."""
    x = inputs_for("resnet")
    batch = explain(resnet, x, targets, method, **CHEAP.get(method, {}))
    singles = torch.cat(
        [explain(resnet, x[i : i + 1], targets[i], method, **CHEAP.get(method, {})) for i in range(x.shape[0])]
    )
    scale = singles.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
    # batched and single-image convolutions round differently; epsilon-LRP amplifies that where a
    # pre-activation is close to zero, hence 1e-3 of the image's largest value
    torch.testing.assert_close(batch / scale, singles / scale, rtol=0, atol=1e-3)


# ------------------------------------------------------------------------------------- captum


def _input_gradient(model: nn.Module, x: torch.Tensor, targets: list[int]) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    logits = model(x)
    (gradient,) = torch.autograd.grad(logits[torch.arange(len(targets)), torch.tensor(targets)].sum(), x)
    return gradient


def test_saliency_is_the_autograd_gradient_summed_over_channels(any_net, targets) -> None:
    _, model, x = any_net
    gradient = _input_gradient(model, x, targets)
    torch.testing.assert_close(explain(model, x, targets, "saliency"), gradient.sum(dim=1, keepdim=True))
    torch.testing.assert_close(explain(model, x, targets, "saliency_abs"), gradient.abs().sum(dim=1, keepdim=True))
    torch.testing.assert_close(
        explain(model, x, targets, "input_x_gradient"), (x * gradient).sum(dim=1, keepdim=True)
    )
    torch.testing.assert_close(
        explain(model, x, targets, "saliency", abs=True), gradient.sum(dim=1, keepdim=True).abs()
    )


def _captum_direct(model: nn.Module, x: torch.Tensor, targets: list[int], method: str) -> torch.Tensor:
    import captum.attr as ca

    target = torch.tensor(targets)
    model = _without_inplace(model)
    x = x.clone().requires_grad_(True)
    if method == "guided_backprop":
        result = ca.GuidedBackprop(model).attribute(x, target=target)
    elif method == "integrated_gradients":
        result = ca.IntegratedGradients(model).attribute(x, baselines=0.0, target=target, n_steps=8)
    elif method == "deeplift":
        result = ca.DeepLift(model).attribute(x, baselines=0.0, target=target)
    elif method == "occlusion":
        result = ca.Occlusion(model).attribute(
            x.detach(),
            sliding_window_shapes=(3, 8, 8),
            strides=(3, 4, 4),
            baselines=0.0,
            target=target,
            perturbations_per_eval=8,
        )
    elif method == "feature_ablation":
        mask = (torch.arange(32)[:, None] // 8) * 4 + torch.arange(32)[None, :] // 8
        result = ca.FeatureAblation(model).attribute(
            x.detach(), baselines=0.0, target=target, feature_mask=mask[None, None], perturbations_per_eval=8
        )
    else:
        raise AssertionError(method)
    return result.detach().sum(dim=1, keepdim=True)


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("guided_backprop", {}),
        ("integrated_gradients", {"n_steps": 8}),
        ("deeplift", {}),
        ("occlusion", {"window": 8, "stride": 4}),
        ("feature_ablation", {"patch_size": 8}),
    ],
)
def test_captum_wrappers_equal_a_direct_captum_call(vgg_bn, inputs_for, targets, method, params) -> None:
    x = inputs_for("vgg_bn")
    expected = _captum_direct(vgg_bn, x, targets, method)
    torch.testing.assert_close(explain(vgg_bn, x, targets, method, **params), expected, rtol=1e-5, atol=1e-7)


def test_occlusion_and_ablation_defaults_scale_with_the_image(vgg, inputs_for, targets) -> None:
    x = inputs_for("vgg")  # 32 px: window 4, stride 2; patches 4 x 4
    torch.testing.assert_close(
        explain(vgg, x, targets, "occlusion"), explain(vgg, x, targets, "occlusion", window=4, stride=2)
    )
    torch.testing.assert_close(
        explain(vgg, x, targets, "feature_ablation"), explain(vgg, x, targets, "feature_ablation", patch_size=4)
    )


def test_feature_ablation_value_is_the_logit_drop_of_its_patch(vgg, inputs_for, targets) -> None:
    """Independent of captum: the map over a patch is C x (f(x) - f(x with that patch zeroed))."""
    x = inputs_for("vgg")
    maps = explain(vgg, x, targets, "feature_ablation", patch_size=8)
    rows = torch.arange(3)
    with torch.no_grad():
        logit = vgg(x)[rows, torch.tensor(targets)]
        for top, left in ((0, 0), (8, 16), (24, 24)):
            ablated = x.clone()
            ablated[:, :, top : top + 8, left : left + 8] = 0.0
            drop = logit - vgg(ablated)[rows, torch.tensor(targets)]
            patch = maps[:, 0, top : top + 8, left : left + 8]
            torch.testing.assert_close(patch, (3 * drop)[:, None, None].expand_as(patch), rtol=1e-4, atol=1e-6)


def test_square_patch_mask_numbers_patches_row_by_row() -> None:
    mask = square_patch_mask(5, 7, 3)
    assert mask.shape == (1, 1, 5, 7)
    assert mask[0, 0].tolist()[0] == [0, 0, 0, 1, 1, 1, 2]
    assert mask[0, 0].tolist()[4] == [3, 3, 3, 4, 4, 4, 5]


@settings(deadline=None, max_examples=40)
@given(height=st.integers(1, 40), width=st.integers(1, 40), patch=st.integers(1, 12))
def test_square_patch_mask_tiles_the_image_with_patches(height: int, width: int, patch: int) -> None:
    mask = square_patch_mask(height, width, patch)[0, 0]
    ids = mask.unique()
    assert ids.tolist() == list(range(len(ids)))  # captum needs ids 0..K-1
    assert len(ids) == -(-height // patch) * -(-width // patch)
    for feature in ids.tolist():
        rows, cols = (mask == feature).nonzero(as_tuple=True)
        block_height, block_width = int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1
        assert block_height <= patch and block_width <= patch and len(rows) == block_height * block_width


def _resnet_without_shared_relu(model: nn.Module) -> nn.Module:
    """Independent of ``single_use_modules``: give each BasicBlock a second ReLU and its own forward."""
    from torchvision.models.resnet import BasicBlock

    clone = _without_inplace(model)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu_after_add(self.bn2(self.conv2(out)) + identity)

    for module in clone.modules():
        if isinstance(module, BasicBlock):
            module.relu_after_add = nn.ReLU()
            module.forward = types.MethodType(forward, module)
    return clone


def test_deeplift_on_a_resnet_equals_captum_on_a_hand_deduplicated_copy(resnet, inputs_for, targets) -> None:
    from captum.attr import DeepLift

    x = inputs_for("resnet")
    with pytest.raises(RuntimeError, match="used more than once"):  # why the wrapper de-duplicates
        DeepLift(_without_inplace(resnet)).attribute(x.clone().requires_grad_(True), target=torch.tensor(targets))
    reference = _resnet_without_shared_relu(resnet)
    expected = DeepLift(reference).attribute(x.clone().requires_grad_(True), target=torch.tensor(targets), baselines=0.0)
    torch.testing.assert_close(explain(resnet, x, targets, "deeplift"), expected.detach().sum(dim=1, keepdim=True))


def test_single_use_modules_shares_parameters_and_computes_the_same_function(resnet, vgg, inputs_for) -> None:
    assert single_use_modules(vgg) is vgg  # nothing reused: the model itself
    traced = single_use_modules(resnet)
    assert traced is not resnet
    own = {id(parameter) for parameter in resnet.parameters()}
    assert {id(parameter) for parameter in traced.parameters()} == own
    called: list[int] = []
    handles = [m.register_forward_hook(lambda m, i, o: called.append(id(m))) for m in traced.modules() if isinstance(m, nn.ReLU)]
    x = inputs_for("resnet")
    with torch.no_grad():
        traced_output = traced(x)
        for handle in handles:
            handle.remove()
        torch.testing.assert_close(traced_output, resnet(x), rtol=0, atol=0)
    assert len(called) == len(set(called)) == 1 + 2 * 8  # stem ReLU + two per block, each its own module


def test_gradient_shap_is_seeded_batch_independent_and_keeps_the_global_rng(vgg, inputs_for, targets) -> None:
    from captum.attr import GradientShap

    x = inputs_for("vgg")
    torch.manual_seed(123)
    np.random.seed(123)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    first = explain(vgg, x, targets, "gradient_shap", n_samples=6)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), numpy_state))
    assert torch.equal(first, explain(vgg, x, targets, "gradient_shap", n_samples=6))
    assert not torch.equal(first, explain(vgg, x, targets, "gradient_shap", n_samples=6, seed=1))
    # the documented recipe, computed directly with captum for the second image
    generator = torch.Generator().manual_seed(0)
    baselines = torch.cat([torch.zeros(1, 3, 32, 32), torch.randn(4, 3, 32, 32, generator=generator)])
    torch.manual_seed(0)
    np.random.seed(0)
    expected = GradientShap(_without_inplace(vgg)).attribute(
        x[1:2].clone().requires_grad_(True), baselines=baselines, n_samples=6, stdevs=0.1, target=torch.tensor(targets[1:2])
    )
    torch.testing.assert_close(first[1:2], expected.detach().sum(dim=1, keepdim=True))


# ------------------------------------------------------------------------------ pytorch-grad-cam

GRAD_CAM_CLASSES = {"gradcam": "GradCAM", "gradcam_pp": "GradCAMPlusPlus", "layercam": "LayerCAM", "xgradcam": "XGradCAM"}


def _pytorch_grad_cam(model: nn.Module, x: torch.Tensor, targets: list[int], method: str, layer: str) -> np.ndarray:
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cam_class = getattr(pytorch_grad_cam, GRAD_CAM_CLASSES[method])
    with cam_class(model=model, target_layers=[dict(model.named_modules())[layer]]) as cam:
        return cam(input_tensor=x, targets=[ClassifierOutputTarget(target) for target in targets])


@pytest.mark.parametrize("method", sorted(GRAD_CAM_CLASSES))
@pytest.mark.parametrize(
    ("net", "layer"),
    [("vgg", "features.9"), ("vgg", "features.4"), ("vgg", "features"), ("resnet", "layer4.1"), ("resnet", "layer3.0")],
)
def test_grad_cam_wrappers_return_exactly_what_pytorch_grad_cam_returns(
    request, inputs_for, targets, method, net, layer
) -> None:
    model = request.getfixturevalue(net)
    x = inputs_for(net)
    ours = explain(model, x, targets, method, layer=layer)[:, 0].numpy()
    np.testing.assert_array_equal(ours, _pytorch_grad_cam(model, x, targets, method, layer))


@pytest.mark.parametrize("method", sorted(GRAD_CAM_CLASSES))
def test_grad_cam_on_a_layer_overwritten_in_place_sees_the_layer_output(vgg, resnet, inputs_for, targets, method) -> None:
    """A conv (VGG) or batch norm (ResNet, before ``out += identity``) whose output an in-place op later
    overwrites: the wrapper equals pytorch-grad-cam on a copy without in-place ops."""
    for model, net, layer in ((vgg, "vgg", "features.8"), (resnet, "resnet", "layer4.1.bn2")):
        x = inputs_for(net)
        ours = explain(model, x, targets, method, layer=layer)[:, 0].numpy()
        np.testing.assert_array_equal(ours, _pytorch_grad_cam(_without_inplace(model), x, targets, method, layer))


def test_grad_cam_on_a_layer_without_a_feature_map_says_so(vgg, inputs_for) -> None:
    vgg.unused = nn.Conv2d(3, 3, 1).eval()
    for layer in ("unused", "classifier.0"):
        with pytest.raises(ValueError, match=f"failed on layer '{layer}'.*feature map"):
            explain(vgg, inputs_for("vgg"), 0, "gradcam", layer=layer)


def test_grad_cam_default_layer_is_the_last_conv_block(vgg, inputs_for, targets) -> None:
    x = inputs_for("vgg")
    np.testing.assert_array_equal(
        explain(vgg, x, targets, "layercam").numpy(), explain(vgg, x, targets, "layercam", layer="features.9").numpy()
    )


# ------------------------------------------------------------------------------------------ zennit


def _zennit_direct(model: nn.Module, x: torch.Tensor, targets: list[int], method: str, canonizers: list) -> torch.Tensor:
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonGammaBox, EpsilonPlusFlat, LayerMapComposite, layer_map_base
    from zennit.rules import Epsilon
    from zennit.types import Linear as AnyLinear

    if method == "lrp_epsilon":
        composite = LayerMapComposite(layer_map=layer_map_base() + [(AnyLinear, Epsilon(epsilon=1e-6))], canonizers=canonizers)
    elif method == "lrp_gamma":
        low, high = x.amin(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)
        composite = EpsilonGammaBox(low=low, high=high, gamma=0.25, canonizers=canonizers)
    else:
        composite = EpsilonPlusFlat(canonizers=canonizers)
    one_hot = torch.eye(10)[torch.tensor(targets)]
    with Gradient(model=model, composite=composite) as attributor:
        _, relevance = attributor(x, lambda output: output * one_hot)
    return relevance.sum(dim=1, keepdim=True)


def _expected_canonizers(net: str) -> list:
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.torchvision import ResNetCanonizer

    return {"vgg": [], "vgg_bn": [SequentialMergeBatchNorm()], "resnet": [ResNetCanonizer()]}[net]


@pytest.mark.parametrize("method", ["lrp_epsilon", "lrp_gamma", "lrp_epsilon_plus_flat"])
def test_zennit_wrappers_match_zennit_gradient_attributor(any_net, targets, method) -> None:
    name, model, x = any_net
    expected = _zennit_direct(model, x, targets, method, _expected_canonizers(name))
    ours = explain(model, x, targets, method)
    torch.testing.assert_close(ours.sum(dim=(1, 2, 3)), expected.sum(dim=(1, 2, 3)), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-7)


def test_canonizer_detection(vgg, vgg_bn, resnet) -> None:
    names = {net: [type(c).__name__ for c in canonizers_for(model)] for net, model in (("vgg", vgg), ("vgg_bn", vgg_bn), ("resnet", resnet))}
    assert names == {"vgg": [], "vgg_bn": ["SequentialMergeBatchNorm"], "resnet": ["ResNetCanonizer"]}


def _zero_all_biases(model: nn.Module) -> nn.Module:
    with torch.no_grad():
        for module in model.modules():
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.zero_()
    return model


def test_lrp_epsilon_relevance_conserves_the_target_logit_without_biases(any_net, targets) -> None:
    _, model, x = any_net
    model = _zero_all_biases(model)
    with torch.no_grad():
        logits = model(x)[torch.arange(3), torch.tensor(targets)]
    relevance = explain(model, x, targets, "lrp_epsilon").sum(dim=(1, 2, 3))
    torch.testing.assert_close(relevance, logits, rtol=5e-3, atol=1e-6)


def test_lrp_with_biases_does_not_conserve_but_zero_bias_restores_it_on_vgg(vgg_bn, inputs_for, targets) -> None:
    x = inputs_for("vgg_bn")
    with torch.no_grad():
        logits = vgg_bn(x)[torch.arange(3), torch.tensor(targets)]
    leaking = explain(vgg_bn, x, targets, "lrp_epsilon").sum(dim=(1, 2, 3))
    assert not torch.allclose(leaking, logits, rtol=5e-2)  # biases absorb relevance
    conserved = explain(vgg_bn, x, targets, "lrp_epsilon_plus_flat", zero_bias=True).sum(dim=(1, 2, 3))
    torch.testing.assert_close(conserved, logits, rtol=5e-3, atol=1e-6)


# ------------------------------------------------------------------------------- model handling


def test_relu_inplace_disabled_restores_the_flags_even_after_an_error(resnet) -> None:
    flags = [m.inplace for m in resnet.modules() if hasattr(m, "inplace")]
    assert any(flags)
    with pytest.raises(KeyError), relu_inplace_disabled(resnet):
        assert not any(m.inplace for m in resnet.modules() if hasattr(m, "inplace"))
        raise KeyError("boom")
    assert [m.inplace for m in resnet.modules() if hasattr(m, "inplace")] == flags
