"""The DM form as a parameter (issue 26, item 7): ``h_input="inverted"`` (default) ``f(x) = g(x) - h(1 - x)``,
``h_input="identity"`` ``f(x) = g(x) - h(x)``.

With g and h non-decreasing, ``∂f_k/∂x = g_k'(x) + h_k'(1 - x) >= 0``: the inverted DM is a monotone classifier
(every logit non-decreasing in every pixel); the identity form ``g_k'(x) - h_k'(x)`` is not. Checked here by
autograd Jacobians on random inputs (hypothesis) and on briefly trained models, together with: g - h reconstructs
the logits in both forms, the stream maps use the h-stream's own input, the plain export and the split engine
follow the form, the default is the model of before (same parameters, same function), checkpoints keep the form,
clear errors, and the experiment's ``dm_forms`` rows and report section.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import hidden_monotonicity as hm
from hidden_monotonicity.monotone import (
    DigitSplit,
    load_checkpoint,
    make_model,
    monotonicity_check,
    run_experiment,
    save_checkpoint,
    split_sensitivities,
    stream_gradients,
    train_model,
)
from hidden_monotonicity.monotone.experiment import (
    IDENTITY_SUFFIX,
    Variant,
    checkpoint_name,
    default_variants,
    dm_form_variants,
    summarise,
)
from test_decomposable import negative_bias_linearisation  # the independent linearisation of the streams

N_FEATURES, SIDE = 16, 4  # 4x4 images: the CNN runs too
FORMS = ("inverted", "identity")
ARCHITECTURES = ("mlp", "cnn")
CONSTRAINTS = ("softplus", "exp", "clamp")
PROPERTY_SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
unit_vectors = arrays(np.float64, (N_FEATURES,), elements=st.floats(0.0, 1.0, allow_nan=False))
seeds = st.integers(min_value=0, max_value=10_000)


def dm_model(randomise, h_input="inverted", architecture="mlp", constraint="softplus", seed=0, kind="dm"):
    """A tiny float64 model with generic (random, then projected) parameters."""
    hidden = (3, 4) if architecture == "cnn" else (8, 6)
    model = make_model(seed, kind=kind, in_features=N_FEATURES, num_classes=3, hidden=hidden,
                       architecture=architecture, constraint=constraint, h_input=h_input).double()
    return randomise(model, seed + 1000).eval()


def jacobian(model, x: torch.Tensor) -> torch.Tensor:
    """``∂f_k/∂x_i`` of one image, ``(num_classes, N_FEATURES)``, by autograd through ``model.forward``."""
    return torch.autograd.functional.jacobian(lambda v: model(v.unsqueeze(0))[0], x)


def rand_images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, N_FEATURES, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ------------------------------------------------------------------------------------- monotonicity


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("constraint", CONSTRAINTS)
@PROPERTY_SETTINGS
@given(seed=seeds, x=unit_vectors)
def test_inverted_dm_every_logit_is_nondecreasing_in_every_pixel(randomise, architecture, constraint, seed, x):
    """``∂f_k/∂x_i = g_k'(x) + h_k'(1 - x) >= 0`` for every class k and pixel i (autograd, up to rounding)."""
    model = dm_model(randomise, "inverted", architecture, constraint, seed)
    slopes = jacobian(model, torch.from_numpy(x))
    assert slopes.shape == (3, N_FEATURES)
    assert float(slopes.min()) >= -1e-12 * (1.0 + float(slopes.abs().max())), slopes


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_identity_dm_is_not_monotone_for_a_generic_model(randomise, architecture, seed):
    """``∂f_k/∂x_i = g_k'(x) - h_k'(x)``: some logit decreases in some pixel, while the same streams in the inverted
    form are monotone (the streams themselves are monotone in both forms)."""
    identity = dm_model(randomise, "identity", architecture, seed=seed)
    inverted = dm_model(randomise, "inverted", architecture, seed=seed)
    assert all(torch.equal(a, b) for a, b in zip(identity.state_dict().values(), inverted.state_dict().values()))
    x = rand_images(8, seed)
    slopes = torch.stack([jacobian(identity, image) for image in x])
    scale = float(slopes.abs().max())
    assert float(slopes.min()) < -1e-3 * scale, "the identity form should have a clearly negative slope"
    assert float(slopes.max()) > 1e-3 * scale
    assert float(torch.stack([jacobian(inverted, image) for image in x]).min()) >= -1e-12 * scale
    for stream in (identity.g, identity.h):  # the streams are monotone: each one's Jacobian is non-negative
        rows = torch.stack([torch.autograd.functional.jacobian(lambda v: stream(v.unsqueeze(0))[0], image) for image in x])
        assert float(rows.min()) >= 0.0


def test_monotonicity_check_measures_the_whole_jacobian(randomise):
    for form, monotone in (("inverted", 1.0), ("identity", 0.0)):
        model = dm_model(randomise, form, "cnn", seed=5)
        x = rand_images(6, 5)
        result = monotonicity_check(model, x)
        slopes = torch.stack([jacobian(model, image) for image in x])
        assert result["min_slope"] == pytest.approx(float(slopes.min()), rel=1e-12, abs=1e-15)
        assert result["max_slope"] == pytest.approx(float(slopes.max()), rel=1e-12, abs=1e-15)
        expected_share = float((slopes < -result["tolerance"]).double().mean())
        assert result["negative_share"] == pytest.approx(expected_share) and result["monotone"] == monotone
    assert monotonicity_check(dm_model(randomise, "identity", seed=5), rand_images(6, 5), tolerance=1e9)["monotone"] == 1.0


@pytest.mark.parametrize("form", FORMS)
def test_briefly_trained_dm_classifies_and_is_monotone_only_in_the_inverted_form(digits, form):
    """A few Adam steps on the digits: both forms learn (argmax of the logits), only the inverted one is monotone."""
    small = DigitSplit("digits", digits.x_train[:640], digits.y_train[:640], digits.x_test[:200], digits.y_test[:200], (8, 8))
    model = make_model(0, kind="dm", hidden=(32,), h_input=form)
    result = train_model(model, small, epochs=2, seed=0, progress=False)
    assert result.test_accuracy > 0.5  # chance is 0.1: a monotone classifier still classifies
    check = monotonicity_check(model, small.x_test)
    if form == "inverted":
        assert check["monotone"] == 1.0 and check["negative_share"] == 0.0 and check["min_slope"] >= 0.0
    else:
        assert check["monotone"] == 0.0 and check["negative_share"] > 0.01


# ------------------------------------------------------------------------------------- the two streams


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("kind", ["dm", "dic", "unconstrained"])
@pytest.mark.parametrize("form", FORMS)
def test_g_minus_h_reconstructs_the_logits_in_both_forms(randomise, form, kind, architecture):
    model = dm_model(randomise, form, architecture, seed=3, kind=kind)
    x = rand_images(5, 3)
    u = model.h_stream_input(x)
    torch.testing.assert_close(u, 1.0 - x if form == "inverted" else x, rtol=0, atol=0)
    torch.testing.assert_close(model(x), model.g(x) - model.h(u), rtol=0, atol=0)
    other = 1.0 - x if form == "identity" else x  # the other form's input gives other logits
    with torch.no_grad():
        assert float((model(x) - (model.g(x) - model.h(other))).abs().max()) > 1e-6


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("form", FORMS)
def test_stream_maps_are_taken_at_the_h_streams_own_input(randomise, form, architecture):
    model = dm_model(randomise, form, architecture, seed=4)
    x = rand_images(6, 4)
    targets = torch.tensor([0, 1, 2, 0, 1, 2])
    maps = stream_gradients(model, x, targets)
    u = (1.0 - x if form == "inverted" else x.clone()).requires_grad_(True)
    h_scores = model.h_stream(u).gather(1, targets[:, None])
    (expected_h,) = torch.autograd.grad(h_scores.sum(), u)
    torch.testing.assert_close(maps.h, expected_h, rtol=0, atol=1e-14)
    torch.testing.assert_close(maps.h_scores, h_scores.detach().squeeze(1), rtol=0, atol=0)
    assert maps.h_input == form and maps.h_sign == (1 if form == "inverted" else -1)
    torch.testing.assert_close(maps.f, maps.g + maps.h_sign * maps.h, rtol=0, atol=1e-12)
    assert float(maps.h.min()) >= 0.0 and float(maps.g.min()) >= 0.0  # DM streams: non-negative maps in both forms


# ------------------------------------------------------------------------------------- default unchanged


@pytest.mark.parametrize(("kind", "architecture"), [(k, a) for k in ("dm", "dic", "unconstrained") for a in ARCHITECTURES]
                         + [("lmn", "mlp")])
def test_default_is_the_inverted_form_with_the_same_parameters_and_outputs(kind, architecture):
    """No h_input = h_input="inverted" = the model of before: the same initial parameters for a seed (the form is
    not drawn from the RNG) and logits bit-identical to ``g_stream(x) - h_stream(1.0 - x)``."""
    default = make_model(7, kind=kind, architecture=architecture)
    explicit = make_model(7, kind=kind, architecture=architecture, h_input="inverted")
    identity = make_model(7, kind=kind, architecture=architecture, h_input="identity")
    assert default.h_input == "inverted" and default.config()["h_input"] == "inverted"
    for other in (explicit, identity):
        state, other_state = default.state_dict(), other.state_dict()
        assert list(state) == list(other_state)
        assert all(torch.equal(state[name], other_state[name]) for name in state)
    x = torch.rand(4, 64, generator=torch.Generator().manual_seed(0))
    before = default.g_stream(x) - default.h_stream(1.0 - x)
    assert torch.equal(default(x), before) and torch.equal(explicit(x), before)
    assert not torch.equal(identity(x), before)


def test_checkpoints_keep_the_form_and_old_checkpoints_load_as_inverted(tmp_path):
    model = make_model(1, kind="dm", hidden=(8,), h_input="identity")
    x = torch.rand(3, 64, generator=torch.Generator().manual_seed(1))
    loaded, _ = load_checkpoint(save_checkpoint(model, tmp_path / "identity.pt"))
    assert loaded.h_input == "identity" and torch.equal(loaded(x), model(x))
    old = torch.load(save_checkpoint(make_model(1, kind="dm", hidden=(8,)), tmp_path / "old.pt"), weights_only=True)
    del old["config"]["h_input"]  # a checkpoint written before the parameter existed
    torch.save(old, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt")[0].h_input == "inverted"


@pytest.mark.parametrize("bad", ["flipped", "Inverted", None, 1])
def test_unknown_h_input_is_refused_with_a_clear_error(bad):
    with pytest.raises(ValueError, match=r"unknown h_input .*; choose 'inverted' \(f\(x\) = g\(x\) - h\(1 - x\)"):
        make_model(0, kind="dm", h_input=bad)


def test_range_error_names_the_reason_of_the_form():
    x = torch.full((1, 64), 2.0)
    with pytest.raises(ValueError, match="because the h-stream reads 1 - x"):
        make_model(0, kind="dm")(x)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\] because the streams are trained on such images"):
        make_model(0, kind="dm", h_input="identity")(x)


# ------------------------------------------------------------------------------------- initialisation, export, engine


def test_data_dependent_initialisation_centres_the_h_stream_on_its_own_input(digits):
    x = digits.x_train[:256]
    for form, u in (("inverted", 1.0 - x), ("identity", x)):
        model = make_model(0, kind="dm", hidden=(16,), h_input=form)
        model.initialise_from_data_(x)
        with torch.no_grad():
            pre = model.h_stream.layers[0](u)  # first-layer pre-activations on the h-stream's input
        assert float(pre.mean(0).abs().max()) < 1e-4 and float((pre.std(0) - 1).abs().max()) < 1e-3, form


def _rows(function, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The target rows of the Jacobian of ``function`` at ``x`` as ``SIDE x SIDE`` images (this file's 4x4 inputs)."""
    x = x.clone().requires_grad_(True)
    (rows,) = torch.autograd.grad(function(x).gather(1, targets[:, None]).sum(), x)
    return rows.reshape(-1, SIDE, SIDE)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_identity_form_exports_and_splits_with_the_engine_closed_form(randomise, architecture):
    """The plain export computes g(x) - h(x); for DM in this form the engine's streams are the model's streams plus
    one constant, and at α = 0 ``δ^{+,g} = ∂g/∂x``, ``δ^{+,h} = ∂h/∂x``, ``δ^{-,g} = A_g + A_h - ∂g/∂x``,
    ``δ^{-,h} = A_g + A_h - ∂h/∂x`` (module docstring of ``monotone/explanations.py``)."""
    model = dm_model(randomise, "identity", architecture, seed=8)
    x = rand_images(6, 8)
    model.initialise_from_data_(x)  # many ReLUs off: g is not affine here
    plain = model.as_plain_network()
    assert plain.h_input == "identity" and "h_stream(x)" in repr(plain)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), model(x), rtol=0, atol=1e-12)
        split = hm.decompose(plain, stabilize="none", input_split="positive")(x)
        lin_g, lin_h = negative_bias_linearisation(model.g_stream), negative_bias_linearisation(model.h_stream)
        constant = lin_g(torch.zeros_like(x)) + lin_h(torch.zeros_like(x))
        scale = float(constant.abs().max()) + 1.0
        torch.testing.assert_close(split.g, model.g(x) + constant, rtol=0, atol=1e-10 * scale)
        torch.testing.assert_close(split.h, model.h(x) + constant, rtol=0, atol=1e-10 * scale)
    targets = torch.tensor([0, 1, 2, 2, 1, 0])
    sens = split_sensitivities(model, x, targets, alpha=0.0).input
    maps = stream_gradients(model, x, targets)
    g_map, h_map = maps.g.reshape(-1, SIDE, SIDE), maps.h.reshape(-1, SIDE, SIDE)
    common = _rows(lin_g, x, targets) + _rows(lin_h, x, targets)
    tolerance = 1e-10 * float(common.abs().max())
    for got, expected in ((sens.delta_pos_g, g_map), (sens.delta_pos_h, h_map),
                          (sens.delta_neg_g, common - g_map), (sens.delta_neg_h, common - h_map)):
        torch.testing.assert_close(got, expected, rtol=0, atol=tolerance)


# ------------------------------------------------------------------------------------- the experiment


def test_default_variants_add_the_identity_form_only_when_asked():
    default = default_variants()
    assert default == default_variants(dm_forms=("inverted",))
    assert all("h_input" not in v.model_kwargs for v in default)
    both = default_variants(dm_forms=("inverted", "identity"))
    labels = [v.label for v in both]
    assert labels[labels.index("DM") + 1] == "DM" + IDENTITY_SUFFIX
    assert labels[labels.index("DM-CNN") + 1] == "DM-CNN" + IDENTITY_SUFFIX
    added = [v for v in both if v not in default]
    assert [(v.model_kwargs, v.table, v.checkpoint) for v in added] == [
        ({"kind": "dm", "h_input": "identity"}, "main", True),
        ({"kind": "dm", "architecture": "cnn", "h_input": "identity"}, "main", True),
    ]
    only_identity = [v.label for v in default_variants(include_cnn=False, compare_constraints=False, dm_forms="identity")]
    assert only_identity[0] == "DM" + IDENTITY_SUFFIX and "DM" not in only_identity


@pytest.mark.parametrize("bad", [(), ("inverted", "mirrored")])
def test_bad_dm_forms_are_refused(bad):
    with pytest.raises(ValueError, match=r"dm_forms must name one or more of \('inverted', 'identity'\)"):
        default_variants(dm_forms=bad)


def test_run_experiment_refuses_variants_together_with_dm_forms(digits):
    with pytest.raises(ValueError, match="give either variants or dm_forms"):
        run_experiment(seeds=(0,), data=digits, variants=[Variant("DM", {"kind": "dm"})], dm_forms=FORMS,
                       output_dir=None, checkpoint_dir=None)


def test_run_experiment_reports_both_forms(digits, tmp_path):
    small = DigitSplit("digits", digits.x_train[:320], digits.y_train[:320], digits.x_test[:100], digits.y_test[:100], (8, 8))
    variants = [*dm_form_variants(Variant("DM", {"kind": "dm", "hidden": (16,)}, checkpoint=True), FORMS),
                Variant("DIC", {"kind": "dic", "hidden": (16,)})]
    frame = run_experiment(seeds=(0, 1), data=small, variants=variants, epochs=1, output_dir=tmp_path / "fig",
                           checkpoint_dir=tmp_path / "ck", progress=False)
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["monotone_dm_mlp_identity_seed0.pt",
                                                                  "monotone_dm_mlp_seed0.pt"]
    loaded, _ = load_checkpoint(tmp_path / "ck" / "monotone_dm_mlp_identity_seed0.pt")
    assert loaded.h_input == "identity" and checkpoint_name(loaded, 0) == "monotone_dm_mlp_identity_seed0.pt"
    by_model = frame.groupby("model", sort=False)
    assert by_model.h_input.unique().map(tuple).to_dict() == {"DM": ("inverted",), "DM" + IDENTITY_SUFFIX: ("identity",),
                                                             "DIC": ("inverted",)}
    assert (frame[frame.model == "DM"].negative_slope_share == 0).all()
    assert (frame[frame.model == "DM"].min_logit_slope >= 0).all()
    assert (frame[frame.model == "DM" + IDENTITY_SUFFIX].negative_slope_share > 0).all()
    summary = summarise(frame)
    assert list(summary.model) == ["DM", "DM" + IDENTITY_SUFFIX, "DIC"] and (summary.seeds == 2).all()
    report = (tmp_path / "fig" / "monotone_accuracy.md").read_text(encoding="utf-8")
    assert "## The DM form: g(x) - h(1 - x) is a monotone classifier" in report
    assert "| DM | mlp | 1 - x |" in report and "| DM, g(x) - h(x) | mlp | x |" in report
    identity_line = next(line for line in report.splitlines() if line.startswith("| DM, g(x) - h(x) | mlp | x |"))
    assert identity_line.endswith("| no |")
    assert next(line for line in report.splitlines() if line.startswith("| DM | mlp | 1 - x |")).endswith("| yes |")
    csv = pd.read_csv(tmp_path / "fig" / "monotone_accuracy.csv")
    assert {"h_input", "min_logit_slope", "negative_slope_share"} <= set(csv.columns)


def test_report_without_the_identity_form_has_no_form_section_and_old_frames_still_summarise(digits, tmp_path):
    small = DigitSplit("digits", digits.x_train[:200], digits.y_train[:200], digits.x_test[:60], digits.y_test[:60], (8, 8))
    frame = run_experiment(seeds=(0,), data=small, variants=[Variant("DM", {"kind": "dm", "hidden": (8,)})], epochs=1,
                           output_dir=tmp_path, checkpoint_dir=None, progress=False)
    assert "The DM form" not in (tmp_path / "monotone_accuracy.md").read_text(encoding="utf-8")
    old = frame.drop(columns=["h_input", "min_logit_slope", "negative_slope_share"])  # a CSV from before
    summary = summarise(old)
    assert summary.h_input.tolist() == ["inverted"] and summary.test_accuracy_mean.tolist() == frame.test_accuracy.tolist()
