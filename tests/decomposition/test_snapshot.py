"""No silent wrong result from hm.decompose (issue 24, cases 5-7): forward hooks are refused, not ignored; a kept
SplitNetwork is a snapshot that refuses to run once its model was edited; a non-finite weight or buffer is refused."""

from __future__ import annotations

import copy
import gc

import pytest
import torch
import torch.nn as nn

import hidden_monotonicity as hm
from decomposition_nets import small_cnn
from hidden_monotonicity.decomposition import ModelChangedError, check_finite_tensors

DTYPES = [torch.float32, torch.float64]


def _x(dtype=torch.float64, batch=2):
    return torch.randn(batch, 3, 8, 8, generator=torch.Generator().manual_seed(5), dtype=dtype)


def _reconstruction_error(split, model, x) -> float:
    out = split(x)
    with torch.no_grad():
        return float((out.f.to(x.dtype) - model(x)).abs().max())


# ---------------------------------------------------------------------------------------------- 5: forward hooks


def _double_output(module, inputs, output):
    return 2.0 * output


def _shift_input(module, inputs):
    return (inputs[0] + 1.0,)


HOOKS = {
    "forward hook": lambda module: module.register_forward_hook(_double_output),
    "forward hook with kwargs": lambda module: module.register_forward_hook(
        lambda m, args, kwargs, output: 2.0 * output, with_kwargs=True),
    "forward pre-hook": lambda module: module.register_forward_pre_hook(_shift_input),
    "always-called forward hook": lambda module: module.register_forward_hook(_double_output, always_call=True),
}


@pytest.mark.parametrize("kind", HOOKS)
def test_a_forward_hook_is_refused_naming_the_module_not_ignored(kind):
    model = small_cnn()
    x = _x()
    with torch.no_grad():
        unhooked = model(x)
    handle = HOOKS[kind](model[3])
    with torch.no_grad():
        assert not torch.allclose(model(x), unhooked)  # the hook changes what the model computes
    with pytest.raises(hm.UnsupportedModelError, match=r"module '3' \(ReLU\) has a forward (pre-)?hook .*handle\.remove"):
        hm.decompose(model)
    handle.remove()
    assert _reconstruction_error(hm.decompose(model), model, x) < 1e-12


def test_a_hook_on_the_model_itself_is_refused():
    model = small_cnn()
    handle = model.register_forward_hook(_double_output)
    with pytest.raises(hm.UnsupportedModelError, match=r"the model itself \(Sequential\) has a forward hook"):
        hm.decompose(model)
    handle.remove()


@pytest.mark.parametrize("register", [nn.modules.module.register_module_forward_hook,
                                      nn.modules.module.register_module_forward_pre_hook])
def test_a_global_forward_hook_is_refused(register):
    model = small_cnn()
    hook = _double_output if register is nn.modules.module.register_module_forward_hook else _shift_input
    handle = register(hook)
    try:
        with pytest.raises(hm.UnsupportedModelError, match=r"a global forward (pre-)?hook .* every module"):
            hm.decompose(model)
    finally:
        handle.remove()
    hm.decompose(model)


def test_weight_norm_registers_a_pre_hook_and_is_refused_with_its_remedy():
    model = small_cnn()
    with pytest.warns(FutureWarning):
        torch.nn.utils.weight_norm(model[0])
    with pytest.raises(hm.UnsupportedModelError, match=r"module '0' \(Conv2d\) has a forward pre-hook \(WeightNorm\).*"
                                                       r"remove_weight_norm"):
        hm.decompose(model)
    torch.nn.utils.remove_weight_norm(model[0])
    x = _x()
    assert _reconstruction_error(hm.decompose(model), model, x) < 1e-12


def test_backward_hooks_do_not_change_f_and_are_allowed():
    """A backward hook changes only the gradients autograd reports; the split decomposes f, which it leaves alone."""
    model = small_cnn()
    model[3].register_full_backward_hook(lambda module, grad_input, grad_output: (2.0 * grad_input[0],))
    x = _x()
    assert _reconstruction_error(hm.decompose(model), model, x) < 1e-12


def test_a_hook_registered_after_decomposition_is_refused_at_the_next_pass():
    model = small_cnn()
    split = hm.decompose(model)
    x = _x()
    split(x)
    handle = model[5].register_forward_hook(_double_output)
    with pytest.raises(hm.UnsupportedModelError, match=r"module '5' \(ReLU\) has a forward hook .*registered after"):
        split(x)
    with pytest.raises(hm.UnsupportedModelError, match="registered after"):
        split.sensitivities(x, [0, 1], ["input"], alpha=0.5)
    handle.remove()
    assert _reconstruction_error(split, model, x) < 1e-12


# ------------------------------------------------------------------------------- 6: a kept split after an edit


def _bn_mean_in_place(model, other):
    model[1].running_mean.add_(1.0)


def _bn_var_through_data(model, other):
    model[1].running_var.data.mul_(2.0)  # .data: the version counter does not move


def _conv_weight_in_place(model, other):
    with torch.no_grad():
        model[0].weight.mul_(1.5)


def _conv_weight_through_data(model, other):
    model[4].weight.data[:, [0, 1]] = model[4].weight.data[:, [1, 0]].clone()  # a channel swap


def _load_other_state(model, other):
    model.load_state_dict(other.state_dict())  # e.g. a float32 state into the float64 model: copied in place


def _replace_parameter(model, other):
    model[8].weight = nn.Parameter(model[8].weight.detach() + 0.25)


EDITS = {
    "bn running_mean in place": (_bn_mean_in_place, "buffer '1.running_mean' changed values"),
    "bn running_var through .data": (_bn_var_through_data, "buffer '1.running_var' changed values"),
    "conv weight in place": (_conv_weight_in_place, "parameter '0.weight' changed values"),
    "conv channels swapped through .data": (_conv_weight_through_data, "parameter '4.weight' changed values"),
    "load_state_dict of another float32 model": (_load_other_state, "parameter '0.weight' changed values"),
    "parameter replaced": (_replace_parameter, "parameter '8.weight' changed values"),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("edit", EDITS)
def test_a_kept_split_refuses_to_run_after_the_model_is_edited(edit, dtype):
    """Before: split(x) silently gave |g − h − f| = 0.1-0.5 (the BN statistics were a copy, float64 conv weights an
    alias): every pass now names what changed, and a new decomposition is exact again."""
    model = small_cnn().to(dtype)
    other = small_cnn(seed=1).float()
    x = _x(dtype)
    split = hm.decompose(model)
    assert _reconstruction_error(split, model, x) < 1e-5
    function, expected = EDITS[edit]
    function(model, other)
    passes = {
        "call": lambda: split(x),
        "forward_streams": lambda: split.forward_streams(x.clamp(min=0), (-x).clamp(min=0)),
        "activations": lambda: split.activations(x, ["3"]),
        "sensitivities": lambda: split.sensitivities(x, [0, 1], ["input"], alpha=0.5),
        "relevance": lambda: split.relevance(x, [0, 1], ["input"]),
    }
    for name, run in passes.items():
        with pytest.raises(ModelChangedError, match=rf"{expected}.*call hm\.decompose\(model\) again"):
            run()
    assert _reconstruction_error(hm.decompose(model), model, x) < 1e-5


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_the_split_shares_no_storage_with_the_model(dtype):
    """A snapshot never aliases: before, a float64 model's weights were views (its abs. values were not), so an edit
    reached half of the split."""
    model = small_cnn().to(dtype)
    split = hm.decompose(model, dtype=dtype)
    model_storages = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    split_tensors = [value for p in split.nodes if p.rule is not None for value in vars(p.rule).values()
                     if isinstance(value, torch.Tensor)]
    assert len(split_tensors) >= 8  # weights, biases and their absolute values of the conv, BN and linear rules
    assert not {t.untyped_storage().data_ptr() for t in split_tensors} & model_storages


def test_module_edits_are_noticed_too():
    model = small_cnn()
    split = hm.decompose(model)
    model[1].eps = 0.5
    with pytest.raises(ModelChangedError, match=r"attribute\(s\) eps of module '1' changed"):
        split(_x())
    model[1].eps = 1e-5
    model[3] = nn.LeakyReLU(0.2)
    with pytest.raises(ModelChangedError, match=r"module '3' was replaced \(ReLU → LeakyReLU\)"):
        split(_x())


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_writes_that_keep_the_values_and_mode_switches_are_not_changes(dtype):
    model = small_cnn().to(dtype)
    x = _x(dtype)
    split = hm.decompose(model)
    model.load_state_dict(copy.deepcopy(model.state_dict()))  # same values, new version counters
    model.train()
    model.eval()
    saved = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.mul_(3.0)
        model[0].weight.copy_(saved)  # restored exactly
    assert _reconstruction_error(split, model, x) < 1e-5


def test_a_split_outlives_its_model():
    model = small_cnn()
    x = _x()
    with torch.no_grad():
        expected = model(x)
    split = hm.decompose(model)
    del model
    gc.collect()
    torch.testing.assert_close(split(x).f, expected)


# ----------------------------------------------------------------------------------- 7: non-finite weights


def test_a_nan_weight_is_refused_naming_the_tensor():
    model = small_cnn()
    with torch.no_grad():
        model[0].weight[0, 0, 0, :] = float("nan")
    with pytest.raises(ValueError, match=r"parameter '0\.weight' holds 3 NaN value\(s\) of 162.*reload finite weights"):
        hm.decompose(model)


def test_inf_and_nan_in_buffers_are_refused_all_named():
    model = small_cnn()
    model[1].running_var[2] = float("inf")
    model[1].running_mean[:2] = float("nan")
    model[8].bias.data[0] = float("-inf")
    with pytest.raises(ValueError, match=r"parameter '8\.bias' holds 1 infinite value\(s\).*"
                                         r"buffer '1\.running_mean' holds 2 NaN.*buffer '1\.running_var' holds 1 infinite"):
        check_finite_tensors(model)
    with pytest.raises(ValueError, match="non-finite weights"):
        hm.decompose(model)


def test_a_finite_model_passes_and_a_later_nan_is_a_change():
    model = small_cnn()
    check_finite_tensors(model)
    split = hm.decompose(model)
    model[1].running_mean[0] = float("nan")
    with pytest.raises(ModelChangedError, match="buffer '1.running_mean' changed values"):
        split(_x())


class KeepsItsActivations(nn.Module):
    """Research code's habit: the last feature map kept as an attribute (None until the first call)."""

    def __init__(self):
        super().__init__()
        self.body = small_cnn()[:6]
        self.head = small_cnn()[6:]
        self.features = None

    def forward(self, x):
        self.features = self.body(x)
        return self.head(self.features)


def test_activations_a_model_keeps_as_attributes_are_not_changes():
    model = KeepsItsActivations().eval()
    split = hm.decompose(model)
    x = _x()
    for _ in range(2):  # each call of the model stores another tensor
        assert _reconstruction_error(split, model, x) < 1e-12


def test_a_split_can_be_profiled():
    """torch's own module trackers (FlopCounterMode) register global hooks that only observe: not refused."""
    from torch.utils.flop_counter import FlopCounterMode

    model = small_cnn()
    x = _x()
    with FlopCounterMode(display=False):
        split = hm.decompose(model)
        assert _reconstruction_error(split, model, x) < 1e-12
