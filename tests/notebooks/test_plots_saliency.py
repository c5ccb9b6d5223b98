"""plots.saliency: map dictionaries against independent computations, layer choice, drawing helpers."""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import hidden_monotonicity as hm  # noqa: E402
from hidden_monotonicity.plots import saliency  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[1] / "decomposition"))
from reference import reference_graph_split, sequential_nodes  # noqa: E402


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 5),
    ).eval()
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    return model, x, torch.tensor([0, 3, 4])


def test_compute_maps_shapes_and_unique_labels(setup):
    model, x, y = setup
    maps = saliency.compute_maps(model, x, y, [("A", "splitcam", {}), ("B", "saliency", {"abs": True})])
    assert list(maps) == ["A", "B"] and all(m.shape == (3, 16, 16) for m in maps.values())
    assert (maps["B"] >= 0).all()
    with pytest.raises(ValueError, match="unique"):
        saliency.compute_maps(model, x, y, [("A", "saliency", {}), ("A", "splitgrad", {})])


def test_alpha_sweep_reaches_half_the_gradient_at_one_half(setup):
    model, x, y = setup
    sweep = saliency.alpha_sweep(model, x, y, (0.0, 0.5), method="splitgrad", layer="input")
    assert list(sweep) == ["α = 0", "α = 0.5"]
    x_grad = x.clone().requires_grad_(True)
    model(x_grad).gather(1, y[:, None]).sum().backward()
    half_channel_mean = 0.5 * x_grad.grad.mean(dim=1).numpy()  # independent autograd gradient
    np.testing.assert_allclose(sweep["α = 0.5"], half_channel_mean, rtol=1e-4, atol=1e-6 * np.abs(half_channel_mean).max())
    assert not np.allclose(sweep["α = 0"], sweep["α = 0.5"])


def test_layer_sweep_and_evenly_spaced_layers(setup):
    model, x, y = setup
    split_layers = saliency.evenly_spaced_layers(model, x, 2, family="split")
    assert split_layers == ["4", "7"]  # the spatial ReLUs are "1", "4", "7"; two evenly spaced end at the last
    assert "input" not in split_layers
    cam_layers = saliency.evenly_spaced_layers(model, x, 5, family="cam")
    assert cam_layers == ["1", "4", "7"]  # only three conv blocks exist
    sweep = saliency.layer_sweep(model, x, y, split_layers, method="splitcam", label="SC")
    assert list(sweep) == [f"SC @ {layer}" for layer in split_layers]
    direct = hm.explain(model, x, y, "splitcam", layer=split_layers[0])[:, 0].numpy()
    np.testing.assert_array_equal(sweep[f"SC @ {split_layers[0]}"], direct)
    with pytest.raises(ValueError, match="family"):
        saliency.evenly_spaced_layers(model, x, 2, family="lrp")
    with pytest.raises(ValueError, match="at least 1"):
        saliency.evenly_spaced_layers(model, x, 0)


def test_stream_maps_equal_the_independent_reference(setup):
    """The four SplitCAM maps are Σ_c δ^{(l,s,o)}_c a^{(l,s)}_c of the independent reference (explicit W⁺/W⁻
    streams, per-layer VJPs, the α-shift as in paper B.3, the "scale" stabilisation with θ = 0.1), upsampled
    bilinearly to the input size; no code path shared with hm.explain."""
    model, x, y = setup
    maps = saliency.stream_maps(model, x, y, layer="7", alpha=0.3)
    assert len(maps) == 7
    np.testing.assert_allclose(maps["SplitLRP R⁺ − R⁻"], maps["SplitLRP R⁺"] - maps["SplitLRP R⁻"], rtol=1e-5, atol=1e-7)
    _, _, sensitivities, streams = reference_graph_split(sequential_nodes(model), x, y, alpha=0.3, stabilize="scale", theta=0.1)
    deltas, (a_pos, a_neg) = sensitivities["7"], streams["7"]
    expected = {
        "SplitCAM (+,g)": deltas[0] * a_pos, "SplitCAM (−,g)": deltas[1] * a_neg,
        "SplitCAM (+,h)": deltas[2] * a_pos, "SplitCAM (−,h)": deltas[3] * a_neg,
    }
    for label, product in expected.items():
        reference = torch.nn.functional.interpolate(product.sum(1, keepdim=True), size=x.shape[-2:], mode="bilinear",
                                                    align_corners=False)[:, 0].numpy()
        scale = np.abs(reference).max()
        assert scale > 0
        np.testing.assert_allclose(maps[label], reference, rtol=0, atol=1e-5 * scale, err_msg=label)


def test_display_image_inverts_the_normalisation():
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    pixels = np.random.default_rng(0).uniform(0, 1, size=(3, 4, 5))
    normalised = (pixels - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    shown = saliency.to_display_image(torch.as_tensor(normalised), mean, std)
    np.testing.assert_allclose(shown, pixels.transpose(1, 2, 0), atol=1e-12)
    stretched = saliency.to_display_image(np.full((1, 2, 2), 7.0))
    assert stretched.shape == (2, 2, 3)
    with pytest.raises(ValueError, match="shape"):
        saliency.to_display_image(np.zeros((4, 4)))


def test_gallery_and_grid(setup):
    model, x, y = setup
    images = np.stack([saliency.to_display_image(image) for image in x])
    maps = saliency.compute_maps(model, x, y, [("a", "saliency", {}), ("b", "splitlrp", {})])
    masks = np.zeros((3, 16, 16))
    masks[:, 4:10, 4:10] = 1
    fig = saliency.plot_gallery(images, maps, masks=masks, row_labels=["r0", "r1", "r2"], title="t")
    assert len(fig.axes) == 3 * 3 and fig.axes[0].get_ylabel() == "r0"
    plt.close(fig)
    with pytest.raises(ValueError, match="has 2 maps for 3 images"):
        saliency.plot_gallery(images, {"a": maps["a"][:2]})
    fig = saliency.plot_grid(images[0], {"m1": {"l1": maps["a"][0], "l2": maps["b"][0]}, "m2": {"l1": maps["a"][0]}}, mask=masks[0])
    assert len(fig.axes) == 4 and not fig.axes[3].axison
    plt.close(fig)


def test_saliency_rgba_is_symmetric_and_transparent_at_zero():
    rgba = saliency.saliency_rgba(np.array([[-2.0, 0.0, 1.0, 2.0]]), map_alpha=0.8, gamma=1.0, percentile=100)
    assert rgba.shape == (1, 4, 4)
    np.testing.assert_allclose(rgba[0, :, 3], [0.8, 0.0, 0.4, 0.8])
    assert rgba[0, 3, 0] > rgba[0, 3, 2] and rgba[0, 0, 2] > rgba[0, 0, 0]  # +max red, -max blue
    assert np.isfinite(saliency.saliency_rgba(np.zeros((2, 2)))).all()  # an all-zero map is fully transparent
    assert (saliency.saliency_rgba(np.zeros((2, 2)))[..., 3] == 0).all()
    robust = saliency.saliency_rgba(np.r_[np.ones(999), 1000.0][None, :], gamma=1.0, percentile=99)
    assert robust[0, 0, 3] == pytest.approx(0.85)  # one outlier does not wash out the other 999 pixels


def test_layer_sweep_grid_has_the_four_rows_each_equal_to_explain(setup):
    model, x, y = setup
    split_layers, cam_layers = ["4", "7"], ["1", "7"]
    grid = saliency.layer_sweep_grid(model, x, y, split_layers, cam_layers, params={"splitcam": {"alpha": 0.3}})
    assert list(grid) == ["SplitCAM", "SplitLRP", "LayerCAM", "LRP-γ"]
    assert list(grid["SplitCAM"]) == split_layers and list(grid["LRP-γ"]) == cam_layers
    for label, method, layer, params in (("SplitCAM", "splitcam", "4", {"alpha": 0.3}), ("LRP-γ", "lrp_gamma", "1", {}),
                                         ("LayerCAM", "layercam", "7", {})):
        direct = hm.explain(model, x, y, method, layer=layer, **params)[:, 0].numpy()
        np.testing.assert_array_equal(grid[label][layer], direct)
    # LRP-γ at a layer is not the input map (the row would repeat one map otherwise)
    assert not np.allclose(grid["LRP-γ"]["1"], hm.explain(model, x, y, "lrp_gamma")[:, 0].numpy())
    with pytest.raises(ValueError, match="not rows of the sweep"):
        saliency.layer_sweep_grid(model, x, y, split_layers, cam_layers, params={"gradcam": {}})


def test_layer_similarity_is_the_mean_spearman_over_images_and_finds_the_matching_layer():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    base = rng.normal(size=(3, 8, 8))
    other = rng.normal(size=(3, 8, 8))
    rows_a = {"a1": base, "a2": other}
    rows_b = {"b1": other ** 3, "b2": np.exp(base)}  # monotone copies of a2 and a1: the same ranks
    table = saliency.layer_similarity(rows_a, rows_b, network="toy")
    assert list(table.columns) == ["network", "SplitCAM layer", "SplitCAM depth", "LRP-γ layer", "LRP-γ depth",
                                   "spearman", "images"]
    assert len(table) == 4 and (table["images"] == 3).all()
    expected = np.mean([spearmanr(base[i].ravel(), other[i].ravel()).statistic for i in range(3)])  # scipy's
    cell = table[(table["SplitCAM layer"] == "a1") & (table["LRP-γ layer"] == "b1")]["spearman"].item()
    assert cell == pytest.approx(expected, abs=1e-12) and abs(cell) < 0.5
    assert table[(table["SplitCAM layer"] == "a1") & (table["LRP-γ layer"] == "b2")]["spearman"].item() == pytest.approx(1.0)
    best = saliency.best_matching_layers(table)
    assert best[["SplitCAM layer", "LRP-γ layer"]].values.tolist() == [["a1", "b2"], ["a2", "b1"]]
    constant = saliency.layer_similarity({"a": np.ones((1, 4, 4))}, {"b": rng.normal(size=(1, 4, 4))})
    assert np.isnan(constant["spearman"].item())
    with pytest.raises(ValueError, match="same images"):
        saliency.layer_similarity({"a": base}, {"b": base[:2]})
