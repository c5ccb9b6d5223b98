"""hm.teaching: every checker accepts a right answer computed by an independent route (also rounded to three
significant digits) and rejects wrong ones, with staged hints and without printing or storing the expected value;
no public callable returns an answer; the backward pass by hand agrees with the library; the toy explorer
redraws headless."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import hidden_monotonicity as hm  # noqa: E402
from hidden_monotonicity import teaching  # noqa: E402
from hidden_monotonicity.plots import toys  # noqa: E402


REPOSITORY = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh_hints():
    teaching.reset_hints()
    yield
    teaching.reset_hints()


def accepts(key, answer, **context):
    return teaching.check(key, answer, quiet=True, **context)


def three_digits(value):
    return float(f"{value:.3g}")


# ------------------------------------------------------------------------------------------------ 01
def test_01_1_streams_of_the_one_neuron_network(capsys):
    assert accepts("01.1", (lambda x: 2 * x, lambda x: 2 * np.maximum(1.0, x)))
    assert not accepts("01.1", (lambda x: 2 * x, lambda x: 2 * np.maximum(0.0, x)))
    assert not accepts("01.1", (lambda x: 2 * np.maximum(1.0, x), lambda x: 2 * x))  # g and h swapped
    assert not accepts("01.1", (lambda x: x[None] + "a", lambda x: x))  # an answer that raises is wrong, not an error
    assert not teaching.check("01.1", (lambda x: np.full_like(x, np.nan), lambda x: np.full_like(x, np.nan)))
    printed = capsys.readouterr().out
    assert printed.startswith("✗ 01.1: not yet.") and "max(1" not in printed.replace("max(z", "")


def test_01_2_one_split_layer_by_hand(capsys):
    weight, bias, x = np.array(teaching.LAYER_WEIGHT), np.array(teaching.LAYER_BIAS), np.array(teaching.LAYER_INPUT)
    x_pos, x_neg = np.maximum(x, 0), np.maximum(-x, 0)
    w_pos, w_neg, b_pos, b_neg = np.maximum(weight, 0), np.maximum(-weight, 0), np.maximum(bias, 0), np.maximum(-bias, 0)
    z_pos, z_neg = w_pos @ x_pos + w_neg @ x_neg + b_pos, w_neg @ x_pos + w_pos @ x_neg + b_neg
    np.testing.assert_allclose(z_pos - z_neg, weight @ x + bias)
    assert teaching.check("01.2", (z_pos, z_neg))
    assert not teaching.check("01.2", (z_neg, z_pos))
    assert not accepts("01.2", (np.maximum(z_pos - z_neg, 0), np.maximum(z_neg - z_pos, 0)))  # recentred: not the split
    assert not accepts("01.2", (z_pos[:2], z_neg[:2]))
    printed = capsys.readouterr().out
    assert printed.count("✓ 01.2: right.") == 1 and str(float(z_pos[0])) not in printed.split("✓ 01.2: right.")[1]


def test_01_3_common_mode_factor_rounded_answers_and_recognised_mistakes(capsys):
    net, x = teaching.backward_toy()
    assert len(list(net.children())) == 5  # five modules apply the shift: 0.4 ** 5
    assert accepts("01.3", 0.4**5) and accepts("01.3", 0.0102) and accepts("01.3", three_digits(0.4**5))
    assert not accepts("01.3", 0.4**4) and not accepts("01.3", 0.7**5) and not accepts("01.3", 0.01)
    teaching.check("01.3", 1 / 0.4**5)
    teaching.check("01.3", 0.4**6)
    teaching.check("01.3", 0.7**5)
    teaching.check("01.3", 97.7)  # the reciprocal, rounded
    printed = capsys.readouterr().out.splitlines()
    assert "reciprocal" in printed[0] and "too many or too few" in printed[1] and "(1 − α)" in printed[2]
    assert "reciprocal" in printed[3]
    assert "0.01024" not in "".join(printed) and "0.0102" not in "".join(printed)


def test_01_4_splitcam_by_hand():
    net, x = teaching.small_conv_network(), teaching.small_conv_input()
    record = hm.decompose(net).sensitivities(x, [0, 2], ["3"], alpha=0.4)["3"]
    assert accepts("01.4", (record.delta_pos_g * record.a_pos).sum(1))
    assert accepts("01.4", (record.delta_pos_g * record.a_pos).sum(1).float())  # float32 round-off passes
    assert not accepts("01.4", (record.delta_pos_g * record.a_neg).sum(1))
    assert not accepts("01.4", (record.delta_pos_h * record.a_pos).sum(1))
    unshifted = hm.decompose(net).sensitivities(x, [0, 2], ["3"], alpha=0.0)["3"]
    assert not accepts("01.4", (unshifted.delta_pos_g * unshifted.a_pos).sum(1))


def _hand_sensitivities(x, alpha):
    """Exercise 01.5 written out for f(x) = −2 ReLU(1 − x): output Linear W = −2 (W⁺ = 0, W⁻ = 2), ReLU with
    m = [1 − x ≥ 0], first Linear W = −1 (W⁺ = 0, W⁻ = 1), the α-shift after every layer."""
    def shift(pair):
        s = alpha * (pair[0] + pair[1])
        return (pair[0] - s, pair[1] - s)

    m = 1.0 if 1 - x >= 0 else 0.0
    pairs = [(1.0, 0.0), (0.0, 1.0)]  # (δ⁺, δ⁻) of g and of h
    pairs = [shift((2 * p[1], 2 * p[0])) for p in pairs]  # Linear W⁺ = 0, W⁻ = 2: δ⁺ ← 2δ⁻, δ⁻ ← 2δ⁺
    pairs = [shift((m * p[0], p[1] + (1 - m) * p[0])) for p in pairs]  # ReLU
    pairs = [shift((p[1], p[0])) for p in pairs]  # Linear W⁺ = 0, W⁻ = 1
    return [*pairs[0], *pairs[1]]


def test_01_5_four_sensitivities_by_hand(capsys):
    answer = np.array([[_hand_sensitivities(x, a) for a in (0.0, 0.5)] for x in (0.0, 2.0)])
    # the invariants the exercise asks to check: δ⁺ᵍ − δ⁺ʰ = f′(x), equal common modes
    np.testing.assert_allclose(answer[..., 0] - answer[..., 2], [[2, 2], [0, 0]])
    np.testing.assert_allclose(answer[..., 0] + answer[..., 1], answer[..., 2] + answer[..., 3])
    assert accepts("01.5", answer) and accepts("01.5", answer.tolist())
    assert not accepts("01.5", answer[:, ::-1])  # α swapped
    assert not accepts("01.5", answer[..., [2, 3, 0, 1]])  # g and h swapped
    no_shift_after_output = answer.copy()
    no_shift_after_output[0, 1] = _hand_sensitivities(0.0, 0.0)  # a wrong α = 0.5 row
    assert not accepts("01.5", no_shift_after_output)
    with pytest.raises(ValueError, match="exercise 01.5"):  # the by-hand routine does not do the exercise
        teaching.backward_by_hand(teaching.exercise_network(), [0.0], alpha=0.5)


# ------------------------------------------------------------------------------------------------ 02
def _numpy_common_mode_after_relus(net, x):
    """a⁺ + a⁻ after every ReLU of an MLP, split by the paper's rule in numpy (positive input split)."""
    a_pos, a_neg = x.numpy()[0], np.zeros_like(x.numpy()[0])
    means = []
    for layer in net:
        if isinstance(layer, torch.nn.Linear):
            w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
            wp, wn = np.maximum(w, 0), np.maximum(-w, 0)
            a_pos, a_neg = wp @ a_pos + wn @ a_neg + np.maximum(b, 0), wn @ a_pos + wp @ a_neg + np.maximum(-b, 0)
        else:
            a_pos = np.maximum(a_pos, a_neg)
            means.append(float((a_pos + a_neg).mean()))
    return means


def test_02_1_growth_factor():
    means = _numpy_common_mode_after_relus(teaching.deep_toy_network(), teaching.deep_toy_input())
    rho = (means[-1] / means[0]) ** (1 / (len(means) - 1))
    assert rho > 3  # the blow-up is real
    assert accepts("02.1", rho) and accepts("02.1", three_digits(rho))
    assert not accepts("02.1", rho * 1.01) and not accepts("02.1", means[-1] / means[-2] * 10)


def test_02_2_smallest_alpha_that_keeps_the_gradient_in_float64():
    net, x = teaching.deep_toy_network(depth=32), teaching.deep_toy_input()  # not the 24-layer toy the notebooks show
    xg = x.clone().requires_grad_(True)
    net(xg)[0, 0].backward()
    gradient = xg.grad[0].numpy()
    survives = []
    for alpha in teaching.ALPHAS:  # the numpy backward pass, independent of the library
        rec = teaching.backward_by_hand(net, x[0].numpy(), alpha=alpha)["input"]
        survives.append(np.abs(rec.pos_g - rec.pos_h - gradient).max() / np.abs(gradient).max() < 1e-6)
    assert not survives[0] and survives[-1]
    smallest = teaching.ALPHAS[survives.index(True)]
    assert accepts("02.2", smallest)
    assert not accepts("02.2", 0.0) and not accepts("02.2", 0.5) and not accepts("02.2", smallest + 0.1)


def test_02_3_alpha_one_half_without_the_output_shift():
    net, x = teaching.deep_toy_network(depth=6), teaching.deep_toy_input()
    hand = teaching.backward_by_hand(net, x[0].numpy(), alpha=0.5, shift_output=False)["input"]
    xg = x.clone().requires_grad_(True)
    net(xg)[0, 0].backward()
    value = np.abs(hand.pos_g + hand.pos_h).max() / xg.grad.abs().max().item()
    assert value > 0.1 and np.abs(hand.common_mode).max() < 1e-12  # common mode 0, yet δ⁺ᵍ ≠ ½ ∂f/∂x
    assert accepts("02.3", value) and accepts("02.3", three_digits(value))
    assert not accepts("02.3", 0.0) and not accepts("02.3", 0.5) and not accepts("02.3", value * 1.01)


def test_alpha_one_half_is_half_the_gradient_only_with_the_output_shift():
    """Notebook 01, section 8 (issue 29.1): with c = δ⁺ + δ⁻ and d = δ⁺ − δ⁻ the ReLU rule gives
    d′ = m·d − (1 − m)·c, so d_g + d_h = 0 (and δ⁺ᵍ = ½ ∂f/∂a) survives only if c is 0 before the first ReLU."""
    net, x0 = teaching.backward_toy()
    names = ["input", *[name for name, _ in net.named_children()]]
    split = hm.decompose(net, stabilize="none", input_split="positive")
    without = split.sensitivities(x0[None], 0, names, alpha=0.5, shift_output=False)
    below = names[:3]  # "input", "0", "1": below the first ReLU from the top ("3")
    assert all(float((without[n].delta_pos_g + without[n].delta_neg_g).abs().max()) < 1e-12 for n in names[:4])
    gap = float((without["input"].delta_pos_g + without["input"].delta_pos_h).abs().max())
    assert 0.84 < gap < 0.85, gap  # the 0.85
    gradient = torch.func.grad(lambda v: net(v[None])[0, 0])(x0)
    assert not torch.allclose(without["input"].delta_pos_g[0], gradient / 2)
    shifted = split.sensitivities(x0[None], 0, names, alpha=0.5)
    assert torch.allclose(shifted["input"].delta_pos_g[0], gradient / 2, atol=1e-12)
    assert float((shifted["input"].delta_pos_g + shifted["input"].delta_pos_h).abs().max()) < 1e-12
    # the ReLU rule on (c, d), layer by layer, in numpy (backward_by_hand has the same switch)
    hand = teaching.backward_by_hand(net, x0.numpy(), alpha=0.5, shift_output=False)
    for name in names:
        for which in ("pos_g", "neg_g", "pos_h", "neg_h"):
            np.testing.assert_allclose(getattr(without[name], f"delta_{which}")[0].numpy(), getattr(hand[name], which),
                                       atol=1e-12)
    z = net[2](net[1](net[0](x0)))  # the pre-activation of ReLU "3"
    m = (z >= 0).double().numpy()
    above, below_relu = hand["3"], hand["2"]
    for stream in ("g", "h"):
        c = getattr(above, f"pos_{stream}") + getattr(above, f"neg_{stream}")
        d = getattr(above, f"pos_{stream}") - getattr(above, f"neg_{stream}")
        d_below = getattr(below_relu, f"pos_{stream}") - getattr(below_relu, f"neg_{stream}")
        np.testing.assert_allclose(d_below, m * d - (1 - m) * c, atol=1e-12)
    assert below  # documented layers


# ------------------------------------------------------------------------------------------------ 03, 04
@pytest.fixture(scope="module")
def saliency_objects():
    return teaching.saliency_exercise()


def test_03_1_splitgrad_at_one_half_from_autograd(saliency_objects):
    net, x, targets = saliency_objects
    xg = x.clone().requires_grad_(True)  # the student's route: float32 autograd
    net(xg).gather(1, targets[:, None]).sum().backward()
    assert accepts("03.1", 0.5 * xg.grad.mean(1))
    assert not accepts("03.1", xg.grad.mean(1))
    assert not accepts("03.1", 0.5 * xg.grad.sum(1))
    assert not accepts("03.1", 0.5 * xg.grad.mean(1)[[1, 0]])


def test_03_2_splitcam_before_upsampling(saliency_objects):
    net, x, targets = saliency_objects
    record = hm.decompose(net).sensitivities(x, targets, ["features.4"], alpha=0.4)["features.4"]
    assert accepts("03.2", (record.delta_pos_g * record.a_pos).sum(1))
    other = hm.decompose(net).sensitivities(x, targets, ["features.4"], alpha=0.2)["features.4"]
    assert not accepts("03.2", (other.delta_pos_g * other.a_pos).sum(1))
    assert not accepts("03.2", (record.delta_pos_g * record.a_pos).sum(1).abs())


def _layercam_without_relus(net, x, targets, layer):
    kept = []
    handle = dict(net.named_modules())[layer].register_forward_hook(lambda module, inputs, output: kept.append(output))
    logits = net(x)
    handle.remove()
    gradient = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), kept[0])[0]
    return (gradient * kept[0]).sum(1).detach().double()


def test_03_3_splitcam_at_one_half_is_half_layercam_without_relus(saliency_objects):
    net, x, targets = saliency_objects
    half = 0.5 * _layercam_without_relus(net, x, targets, "features.4")
    deviation = {}
    for stabilize in ("shift", "scale"):
        record = hm.decompose(net, stabilize=stabilize).sensitivities(x, targets, ["features.4"], alpha=0.5)["features.4"]
        cam = (record.delta_pos_g * record.a_pos).sum(1).double()
        deviation[stabilize] = float((cam - half).abs().sum() / half.abs().sum())
    assert deviation["shift"] < 1e-5 < 0.05 < deviation["scale"]  # exact with shift, visibly off with scale
    assert accepts("03.3", deviation["scale"]) and accepts("03.3", three_digits(deviation["scale"]))
    assert not accepts("03.3", deviation["shift"]) and not accepts("03.3", 0.5)


@pytest.fixture(scope="module")
def localisation_objects():
    return teaching.localisation_exercise()


def test_04_pointing_game_and_localisation_by_hand(localisation_objects, capsys):
    maps, masks = localisation_objects.maps, localisation_objects.masks
    assert len(maps) >= 10  # guessing 0/1 hits passes with probability ≤ 2^-10
    hits = np.array([masks[i].ravel()[np.argmax(maps[i])] for i in range(len(maps))], dtype=float)
    assert 0 < hits.sum() < len(maps)
    assert accepts("04.1", hits)
    assert not accepts("04.1", 1 - hits) and not accepts("04.1", np.ones(len(maps)))
    assert not accepts("04.1", np.array([masks[i].ravel()[np.argmax(np.abs(maps[i]))] for i in range(len(maps))]))
    inside = np.array([np.abs(maps[i])[masks[i] > 0].sum() / np.abs(maps[i]).sum() for i in range(len(maps))])
    assert accepts("04.2", inside) and accepts("04.2", np.round(inside, 3))  # three decimals pass
    signed = np.array([maps[i][masks[i] > 0].sum() / maps[i].sum() for i in range(len(maps))])
    assert not accepts("04.2", signed) and not accepts("04.2", np.round(inside, 2))
    with pytest.raises(TypeError, match="builds its own objects"):  # issue 29.4: no objects from the student
        teaching.check("04.2", np.ones(2), maps=masks, masks=masks)


def test_04_3_ranking_under_two_pixel_flipping_settings():
    scores = teaching.evaluation_scores()
    scores = scores[(scores["model"] == "benchmark_vgg") & (scores["split"] == "test")]
    means = scores.pivot_table(index="method", columns="metric", values="score", aggfunc="mean")
    ranks = [int((means[metric] < means.loc["splitcam", metric]).sum()) + 1 for metric in ("AUC@5", "AUC@20")]
    assert accepts("04.3", ranks)
    assert not accepts("04.3", ranks[::-1] if ranks[0] != ranks[1] else [ranks[0] + 1, ranks[1]])
    assert not accepts("04.3", [len(means) + 1 - r for r in ranks])  # higher-is-better ranks


def test_04_4_a_splitlrp_variant_evaluated(localisation_objects):
    model, x, targets, maps, masks = localisation_objects
    positive = hm.explain(model, x, targets, "splitlrp", relevance="pos")[:, 0].double().numpy()
    share = np.mean([np.abs(m)[k > 0].sum() / np.abs(m).sum() for m, k in zip(positive, masks)])
    assert accepts("04.4", share) and accepts("04.4", round(share, 3))
    default = hm.explain(model, x, targets, "splitlrp")[:, 0].double().numpy()
    other = np.mean([np.abs(m)[k > 0].sum() / np.abs(m).sum() for m, k in zip(default, masks)])
    assert abs(other - share) > 1e-3 and not accepts("04.4", other)


# ------------------------------------------------------------------------------------------------ 05
@pytest.fixture(scope="module")
def dm_objects():
    from hidden_monotonicity.monotone import load_dataset, make_model

    return make_model(0, kind="dm", hidden=(8,)).eval(), load_dataset("digits").x_test[:64]


def test_05_chain_rule_and_lift(dm_objects):
    from hidden_monotonicity.monotone import stream_gradients

    model, x = dm_objects
    maps = stream_gradients(model, x)
    assert accepts("05.1", maps.g + maps.h, model=model, x=x)
    assert not accepts("05.1", maps.g - maps.h, model=model, x=x)
    stroke = (x > 0.5).double()
    shares = [float((maps.g[i].abs() * stroke[i]).sum() / maps.g[i].abs().sum()) for i in range(len(x))]
    lift = float(np.nanmean(shares)) / float(stroke.mean())
    assert accepts("05.2", lift, model=model, x=x) and accepts("05.2", three_digits(lift), model=model, x=x)
    assert not accepts("05.2", lift * 1.05, model=model, x=x) and not accepts("05.2", float(np.nanmean(shares)), model=model, x=x)


def test_05_checks_only_the_exercise_objects(dm_objects):
    from hidden_monotonicity.monotone import make_model

    model, x = dm_objects
    with pytest.raises(ValueError, match="first 64 test digits"):
        teaching.check("05.2", 1.0, model=model, x=torch.rand(64, 64))
    with pytest.raises(ValueError, match="DM model"):
        teaching.check("05.2", 1.0, model=make_model(0, kind="dic", hidden=(8,)), x=x)


# ------------------------------------------------------------------------------------------------ the API
def test_hints_come_in_stages(capsys):
    for _ in range(4):
        teaching.check("03.1", np.zeros((2, 32, 32)) + 1.0)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[1].strip() for line in lines] == ["not yet. Hint 1/3", "not yet. Hint 2/3",
                                                              "not yet. Hint 3/3", "not yet. Hint 3/3"]
    assert len(set(lines[:3])) == 3


def test_check_validates_its_arguments():
    with pytest.raises(KeyError, match="unknown exercise"):
        teaching.check("09.9", 1.0)
    with pytest.raises(TypeError, match="needs model=..."):
        teaching.check("05.1", 1.0)
    with pytest.raises(TypeError, match="takes only"):
        teaching.check("02.3", 0.5, model=None)
    table = teaching.exercises_table()
    assert list(table.index) == list(teaching.EXERCISES)
    assert all(key[:2] in {"01", "02", "03", "04", "05"} for key in teaching.EXERCISES)
    for number in ("01", "02", "03", "04", "05"):  # at least two exercises per teaching notebook
        assert sum(key.startswith(number) for key in teaching.EXERCISES) >= 2


def _answer_key():
    import importlib.util

    spec = importlib.util.spec_from_file_location("answer_key", REPOSITORY / "notebooks" / "solutions" / "answer_key.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def key_answers():
    key = _answer_key()
    return key, {name: np.asarray(compute(), dtype=np.float64) for name, compute in key.VALUES.items()}


def test_the_stored_digests_are_those_of_the_answer_key(key_answers):
    key, values = key_answers
    from hidden_monotonicity.teaching import answers, exercises

    assert set(answers.DIGESTS) == set(values) == {k for k, e in exercises.EXERCISES.items() if e.live is None}
    for name, value in values.items():
        quantities = exercises.EXERCISES[name].quantities(value)
        assert answers.matches(name, quantities, answers.DIGESTS[name]), f"stored digest of {name} is stale"
    source = (REPOSITORY / "lib" / "hidden_monotonicity" / "teaching" / "answers.py").read_text(encoding="utf-8")
    for name, value in values.items():  # no answer appears in the package's text
        if value.size == 1 and value.item() not in (0.0, 1.0):
            assert f"{value.item():.3g}" not in source.replace(str(answers.ITERATIONS), ""), name


def _leaves(value, depth=0):
    """Every numeric array inside a return value (dicts, sequences, dataclasses, named tuples, frames)."""
    import dataclasses

    import pandas as pd

    if depth > 4:
        return
    if isinstance(value, torch.Tensor):
        yield value.detach().double().numpy()
    elif isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        yield value.astype(np.float64)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield np.array([float(value)])
    elif isinstance(value, pd.DataFrame):
        numeric = value.select_dtypes("number")
        yield numeric.to_numpy(dtype=np.float64)
        for column in numeric:
            yield numeric[column].to_numpy(dtype=np.float64)
    elif isinstance(value, pd.Series) and value.dtype.kind in "biuf":
        yield value.to_numpy(dtype=np.float64)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item, depth + 1)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [getattr(value, f.name) for f in dataclasses.fields(value)]
        arrays = [np.asarray(f, dtype=np.float64).reshape(-1) for f in fields if isinstance(f, (np.ndarray, torch.Tensor))]
        if arrays:
            yield np.concatenate(arrays)
        for item in fields:
            yield from _leaves(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item, depth + 1)


def test_no_public_callable_of_teaching_returns_an_answer(key_answers, saliency_objects, localisation_objects,
                                                          dm_objects):
    """Issue 29.4: call every public function and attribute of hm.teaching (and of its exercises) with the
    exercises' objects; none returns any exercise's answer."""
    import inspect

    _, values = key_answers
    from hidden_monotonicity.monotone import stream_gradients

    maps = stream_gradients(*dm_objects)
    targets = [(name, value) for name, value in values.items()]
    targets += [("01.5 row", row) for row in values["01.5"].reshape(-1, 4)]
    targets += [("05.1", (maps.g + maps.h).double().numpy())]
    one_neuron = teaching.exercise_network()
    toy, x0 = teaching.backward_toy()
    deep6, deep_input = teaching.deep_toy_network(depth=6), teaching.deep_toy_input()
    loc = localisation_objects
    argument_sets = [((), {}), ((one_neuron,), {}), ((toy, x0), {}), ((toy, x0.numpy()), {}),
                     ((teaching.deep_toy_network(), deep_input), {}), ((deep6, deep_input), {}),
                     ((deep6, deep_input), {"alpha": 0.5, "shift_output": False}),
                     ((teaching.small_conv_network(), teaching.small_conv_input()), {}),
                     (tuple(saliency_objects), {}), ((loc.maps, loc.masks), {}), ((loc.model, loc.x, loc.targets), {}),
                     (dm_objects, {})]
    argument_sets += [((one_neuron, [x]), {"alpha": a}) for x in (0.0, 2.0) for a in (0.0, 0.5)]
    callables = [getattr(teaching, name) for name in teaching.__all__ if callable(getattr(teaching, name))]
    for exercise in teaching.EXERCISES.values():
        callables += [getattr(exercise, f.name) for f in __import__("dataclasses").fields(exercise)
                      if callable(getattr(exercise, f.name))]
    constants = [getattr(teaching, name) for name in dir(teaching) if not name.startswith("_")
                 and not callable(getattr(teaching, name)) and not inspect.ismodule(getattr(teaching, name))]
    returned = list(constants)
    for function in callables:
        if function is teaching.check:
            continue
        for args, kwargs in argument_sets:
            try:
                inspect.signature(function).bind(*args, **kwargs)
            except (TypeError, ValueError):
                continue
            try:
                returned.append(function(*args, **kwargs))
            except Exception:  # noqa: BLE001 - a callable that refuses these objects returns nothing
                continue
    for value in returned:
        direct = [np.asarray(value, dtype=np.float64)] if isinstance(value, (int, float, np.ndarray, torch.Tensor)) else []
        for leaf in _leaves(value):
            for name, answer in targets:
                # a one-number answer counts when it is the return value itself (0.2 is also one of ALPHAS)
                if answer.size == 1 and not any(leaf is d or np.shares_memory(leaf, d) for d in direct):
                    continue
                if leaf.size == answer.size and leaf.size > 0:
                    assert not np.allclose(leaf.reshape(-1), answer.reshape(-1), rtol=1e-6, atol=1e-9), \
                        f"a public callable of hm.teaching returns the answer of {name}"

# ------------------------------------------------------------------------------------------------ backward by hand
@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.5])
def test_backward_by_hand_equals_the_library(alpha):
    net = toys.toy_relu_network(3, (5, 4, 6), seed=5, weight_scale=1.5)
    x = [0.3, -1.2, 0.8]
    hand = teaching.backward_by_hand(net, x, alpha=alpha)
    names = list(hand)
    assert names == ["input", *[name for name, _ in net.named_children()]]
    library = hm.decompose(net, stabilize="none", input_split="positive").sensitivities(
        torch.tensor([x], dtype=torch.float64), 0, names, alpha=alpha)
    for name in names:
        for which in ("pos_g", "neg_g", "pos_h", "neg_h"):
            np.testing.assert_allclose(getattr(library[name], f"delta_{which}")[0].numpy(), getattr(hand[name], which),
                                       rtol=1e-12, atol=1e-12)


def test_invariants_hold_and_the_common_mode_follows_one_minus_two_alpha():
    net = toys.toy_relu_network(2, (6, 6), seed=3, weight_scale=1.5)
    invariants = teaching.invariant_table(net, [0.4, -0.9])
    assert (invariants.to_numpy() < 1e-12).all()
    table = teaching.common_mode_table(net, [0.4, -0.9])
    np.testing.assert_allclose(table["common_mode"], table["predicted"], rtol=1e-10, atol=1e-300)
    at_input = table[table["layer"] == "input"].set_index("alpha")
    assert at_input.loc[0.5, "common_mode"] == 0 and at_input.loc[0.0, "shifts"] == 5
    fig = toys.plot_backward_common_mode(table)
    assert fig.axes[0].get_yscale() == "log"
    plt.close(fig)


def test_gradient_loss_sees_the_float64_limit():
    loss = teaching.gradient_loss(teaching.deep_toy_network(), teaching.deep_toy_input()).set_index("alpha")
    assert loss.loc[0.0, "ratio"] > 1e17 and loss.loc[0.0, "relative_error"] > 0.5
    assert loss.loc[0.5, "common_mode"] == 0 and loss.loc[0.5, "corr"] > 0.999999
    shallow = teaching.gradient_loss(toys.toy_relu_network(4, (8, 8), seed=0), torch.ones(1, 4, dtype=torch.float64))
    assert (shallow["relative_error"] < 1e-12).all()


# ------------------------------------------------------------------------------------------------ toy explorer
def test_toy_explorer_redraws_headless():
    explorer = toys.ToyExplorer(points=9)
    box = explorer.build()
    assert len(explorer.sliders) == 9 and len(explorer.output.outputs) == 1
    first = explorer.output.outputs[0]["data"]["image/png"]
    explorer.sliders["v2"].value = 1.0  # as a student dragging the slider
    assert explorer.weights["v2"] == 1.0 and explorer.output.outputs[0]["data"]["image/png"] != first
    view = explorer.update(w11=-1.0)
    assert explorer.sliders["w11"].value == -1.0 and view.reconstruction_error < 1e-12
    net = toys.tiny_relu_network(**explorer.weights)
    with torch.no_grad():
        np.testing.assert_allclose(view.f, net(torch.as_tensor(view.points))[:, 0].numpy())
    assert box.children[-1] is explorer.output
    with pytest.raises(ValueError, match="unknown toy parameter"):
        explorer.update(w33=1.0)
