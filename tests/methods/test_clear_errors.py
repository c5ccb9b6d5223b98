"""Clear errors instead of tracebacks (issue 15 item 10): each names what was wrong and what to do."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import hidden_monotonicity as hm


def test_a_single_image_without_batch_dimension_says_what_shape_is_expected(vgg, inputs_for):
    x = inputs_for("vgg")
    with pytest.raises(ValueError, match=r"received shape \(3, 32, 32\).*\(N, C, H, W\).*x\[None\]"):
        hm.decompose(vgg)(x[0])
    with pytest.raises(ValueError, match=r"batch of inputs \(N, \.\.\.\), got shape \(3,\)"):
        hm.decompose(nn.Sequential(nn.Linear(3, 2)).eval())(torch.randn(3))


def test_layercam_at_a_linear_layer_is_a_clear_error(vgg, inputs_for, targets):
    for method in ("layercam", "gradcam", "gradcam_pp", "xgradcam"):
        with pytest.raises(ValueError, match=r"failed on layer 'classifier.0'.*\(N, C, h, w\) feature map"):
            hm.explain(vgg, inputs_for("vgg"), targets, method, layer="classifier.0")


def test_a_model_on_the_meta_device_is_refused(inputs_for, targets):
    with torch.device("meta"):
        model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(10)).eval()
    for call in (lambda: hm.decompose(model), lambda: hm.explain(model, inputs_for("vgg"), targets, "saliency")):
        with pytest.raises(ValueError, match=r"meta device.*to_empty"):
            call()


def test_data_parallel_and_compiled_models_say_how_to_unwrap(vgg, inputs_for, targets):
    wrapped = nn.DataParallel(vgg)
    for call in (lambda: hm.decompose(wrapped), lambda: hm.explain(wrapped, inputs_for("vgg"), targets, "splitcam")):
        with pytest.raises(TypeError, match=r"DataParallel.*model\.module"):
            call()
    compiled = torch.compile(vgg)
    for call in (lambda: hm.decompose(compiled), lambda: hm.explain(compiled, inputs_for("vgg"), targets, "saliency")):
        with pytest.raises(TypeError, match=r"torch.compile.*model\._orig_mod"):
            call()


class ReturnsDict(nn.Module):
    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))

    def forward(self, x):
        logits = self.body(x)
        return {"out": logits} if self.kind == "dict" else (logits, logits)


@pytest.mark.parametrize("kind", ["dict", "tuple"])
def test_a_model_returning_a_dict_or_tuple_follows_one_rule(kind, inputs_for, targets):
    model = ReturnsDict(kind).eval()
    message = rf"must return one tensor of logits \(N, num_classes\), but it returns a {kind}.*model\(x\)\['out'\]"
    with pytest.raises(hm.UnsupportedModelError, match=message):
        hm.decompose(model)
    for method in ("splitcam", "saliency"):
        with pytest.raises(ValueError, match=message):
            hm.explain(model, inputs_for("vgg"), targets, method)


def test_quantus_explain_func_keeps_a_float64_model_in_float64(vgg, inputs_for, targets):
    model = vgg.double()
    x = inputs_for("vgg").double().numpy()
    maps = hm.quantus_explain_func(model, x, np.asarray(targets), method="saliency")
    expected = hm.explain(model, torch.from_numpy(x), targets, "saliency").numpy()
    assert maps.shape == (3, 1, 32, 32)
    np.testing.assert_array_equal(maps, expected)
    # float32 arrays (what Quantus perturbs) are converted to the model's dtype, not refused
    assert np.isfinite(hm.quantus_explain_func(model, x.astype(np.float32), np.asarray(targets), method="splitgrad")).all()


@pytest.mark.parametrize("content", [b"", b"hello", bytes(range(256)) * 12, b"PK\x03\x04" + b"\x00" * 100])
def test_a_damaged_checkpoint_file_is_named_with_what_to_do(content, tmp_path):
    path = tmp_path / "weights.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"cannot read {path} as a PyTorch state_dict.*damaged"):
        hm.models.load("benchmark_vgg", weights=path)
