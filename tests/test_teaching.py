"""hm.teaching: every checker accepts a right answer computed by an independent route and rejects wrong ones
(without printing the expected value); the backward pass by hand agrees with the library; the toy explorer
redraws headless."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import hidden_monotonicity as hm  # noqa: E402
from hidden_monotonicity import teaching  # noqa: E402
from hidden_monotonicity.plots import toys  # noqa: E402


def accepts(key, answer, **context):
    return teaching.check(key, answer, quiet=True, **context)


# ------------------------------------------------------------------------------------------------ 01
def test_01_1_streams_of_the_one_neuron_network(capsys):
    assert accepts("01.1", (lambda x: 2 * x, lambda x: 2 * np.maximum(1.0, x)))
    assert not accepts("01.1", (lambda x: 2 * x, lambda x: 2 * np.maximum(0.0, x)))
    assert not accepts("01.1", (lambda x: 2 * np.maximum(1.0, x), lambda x: 2 * x))  # g and h swapped
    assert not accepts("01.1", (lambda x: x[None] + "a", lambda x: x))  # an answer that raises is wrong, not an error
    assert not teaching.check("01.1", (lambda x: np.full_like(x, np.nan), lambda x: np.full_like(x, np.nan)))
    printed = capsys.readouterr().out
    assert printed.startswith("✗ 01.1: not yet. Hint:") and "max(1" not in printed.replace("max(z", "")


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


def test_01_3_common_mode_factor():
    net = toys.toy_relu_network(2, (8, 8), seed=1, weight_scale=1.5)
    x = torch.tensor([0.5, -1.0])
    assert accepts("01.3", 0.4**5, model=net, x=x)
    assert not accepts("01.3", 0.4**4, model=net, x=x)
    assert not accepts("01.3", 0.7**5, model=net, x=x)
    deeper = toys.toy_relu_network(2, (8, 8, 8), seed=1)
    assert accepts("01.3", 0.4**7, model=deeper, x=x) and not accepts("01.3", 0.4**5, model=deeper, x=x)


def test_01_4_splitcam_by_hand():
    net, x = teaching.small_conv_network(), teaching.small_conv_input()
    record = hm.decompose(net).sensitivities(x, [0, 2], ["3"], alpha=0.4)["3"]
    assert accepts("01.4", (record.delta_pos_g * record.a_pos).sum(1))
    assert not accepts("01.4", (record.delta_pos_g * record.a_neg).sum(1))
    assert not accepts("01.4", (record.delta_pos_h * record.a_pos).sum(1))
    unshifted = hm.decompose(net).sensitivities(x, [0, 2], ["3"], alpha=0.0)["3"]
    assert not accepts("01.4", (unshifted.delta_pos_g * unshifted.a_pos).sum(1))


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
    assert accepts("02.1", rho)
    assert not accepts("02.1", rho * 1.01) and not accepts("02.1", means[-1] / means[-2] * 10)


def test_02_2_smallest_alpha_that_keeps_the_gradient_in_float64():
    net, x = teaching.deep_toy_network(), teaching.deep_toy_input()
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


def test_02_3_half_the_gradient():
    assert accepts("02.3", 0.5)
    assert not accepts("02.3", 1.0) and not accepts("02.3", 0.25)


# ------------------------------------------------------------------------------------------------ 03, 04
@pytest.fixture(scope="module")
def conv_setup():
    net = teaching.deep_conv_network(depth=3, channels=4, seed=2)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        targets = net(x).argmax(1)
    return net, x, targets


def test_03_1_splitgrad_at_one_half_from_autograd(conv_setup):
    net, x, targets = conv_setup
    xg = x.clone().requires_grad_(True)
    net(xg).gather(1, targets[:, None]).sum().backward()
    context = {"model": net, "x": x, "targets": targets}
    assert accepts("03.1", 0.5 * xg.grad.mean(1), **context)
    assert not accepts("03.1", xg.grad.mean(1), **context)
    assert not accepts("03.1", 0.5 * xg.grad.sum(1), **context)


def test_03_2_splitcam_before_upsampling(conv_setup):
    net, x, targets = conv_setup
    layer = "1"
    explained = hm.explain(net, x, targets, "splitcam", layer=layer, alpha=0.4)[:, 0]  # same size: no upsampling
    context = {"model": net, "x": x, "targets": targets, "layer": layer}
    assert accepts("03.2", explained, **context)
    assert not accepts("03.2", hm.explain(net, x, targets, "splitcam", layer=layer, alpha=0.2)[:, 0], **context)
    assert not accepts("03.2", explained.abs(), **context)


def test_04_pointing_game_and_localisation_by_hand():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(6, 5, 5))
    masks = np.zeros((6, 5, 5))
    masks[:, 1:4, 1:4] = 1
    hits = np.array([masks[i].ravel()[np.argmax(maps[i])] for i in range(6)])
    assert 0 < hits.sum() < 6
    assert accepts("04.1", hits, maps=maps, masks=masks)
    assert not accepts("04.1", 1 - hits, maps=maps, masks=masks)
    assert not accepts("04.1", np.array([masks[i].ravel()[np.argmax(np.abs(maps[i]))] for i in range(6)]) + 2, maps=maps, masks=masks)
    inside = np.array([np.abs(maps[i])[masks[i] > 0].sum() / np.abs(maps[i]).sum() for i in range(6)])
    assert accepts("04.2", inside, maps=maps, masks=masks)
    signed = np.array([maps[i][masks[i] > 0].sum() / maps[i].sum() for i in range(6)])
    assert not accepts("04.2", signed, maps=maps, masks=masks)


# ------------------------------------------------------------------------------------------------ 05
def test_05_chain_rule_and_lift():
    from hidden_monotonicity.monotone import make_model, stream_gradients

    model = make_model(0, kind="dm", hidden=(8,)).eval()
    x = torch.rand(6, 64, generator=torch.Generator().manual_seed(0))
    maps = stream_gradients(model, x)
    assert accepts("05.1", maps.g + maps.h, model=model, x=x)
    assert not accepts("05.1", maps.g - maps.h, model=model, x=x)
    stroke = (x > 0.5).double()
    shares = [float((maps.g[i].abs() * stroke[i]).sum() / maps.g[i].abs().sum()) for i in range(6)]
    lift = float(np.nanmean(shares)) / float(stroke.mean())
    assert accepts("05.2", lift, model=model, x=x)
    assert not accepts("05.2", lift * 1.05, model=model, x=x) and not accepts("05.2", float(np.nanmean(shares)), model=model, x=x)


# ------------------------------------------------------------------------------------------------ the API
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
