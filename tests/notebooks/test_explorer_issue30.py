"""The explorer as its users see it (issue 30): honest state while computing, per-panel colour scales, the colour
convention, failure hints, the meaning of each panel, scores only against the explained class's mask, caching, top-5
classes, your own image, copy as code, save, opacity, thumbnails, and the smaller items.

Independent numbers: direct ``hm.explain`` calls with explicit parameters, the displayed RGBA pixels of the figure,
``PIL``'s reading of the PNGs written, call counts of ``hm.methods.explain`` and of the model's forward.
"""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402

import hidden_monotonicity as hm  # noqa: E402
from hidden_monotonicity.data import LocalisationDataset  # noqa: E402
from hidden_monotonicity.plots.saliency import display_limit  # noqa: E402
from hidden_monotonicity.widgets import Explorer, ExplorerModel, ExplorerState, render_view  # noqa: E402
from hidden_monotonicity.widgets.explorer_model import friendly_layer  # noqa: E402
from hidden_monotonicity.widgets.rendering import info_html, panel_limits, text_lines  # noqa: E402

METHODS = ("splitcam", "splitgrad", "splitlrp", "layercam", "saliency")
CLASSES = 8


def cnn(seed: int, classes: int = CLASSES) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 4 * 4, classes),
    ).eval()


NAMES = ["apple", "banana", "cherry", "date", "egyptian cat", "fig", "grape", "honeydew"]


def make_dataset() -> LocalisationDataset:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(3, 3, 16, 16, generator=generator)
    masks = torch.zeros(3, 1, 16, 16)
    masks[:, :, 4:12, 4:12] = 1
    return LocalisationDataset(images, [0, 1, 2], masks, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
                               class_names=NAMES)


MODELS = {"one": cnn(0), "two": cnn(1)}
SOURCES = {"one": "MODELS['one']", "two": "MODELS['two']", "dataset": "make_dataset()"}


@pytest.fixture
def explorer():
    return Explorer(MODELS, make_dataset(), methods=METHODS, metrics=("PointingGame", "Sparseness"), sources=SOURCES)


def run_code(code: str) -> np.ndarray:
    namespace = {"MODELS": MODELS, "make_dataset": make_dataset}
    exec(compile(code, "<explorer code>", "exec"), namespace)  # noqa: S102 - the code under test
    return namespace["saliency"]


def map_pixels(figure: plt.Figure, title_start: str) -> np.ndarray:
    """The RGBA array of the map drawn in the panel whose title starts with ``title_start``."""
    (ax,) = [ax for ax in figure.axes if ax.get_title().startswith(title_start)]
    return np.asarray(ax.get_images()[-1].get_array())


# ----------------------------------------------------------------------------------------- 1 computing…
def test_while_an_update_computes_the_status_says_computing_and_the_map_is_dimmed(explorer, monkeypatch):
    explorer.build()
    explorer.update()
    old_map = explorer.output.outputs
    seen = {}
    compute = explorer.core.compute

    def spy(state=None):
        seen["status"] = explorer.status.value
        seen["dimmed"] = "hm-computing" in explorer.output._dom_classes
        seen["map"] = explorer.output.outputs
        return compute(state)

    monkeypatch.setattr(explorer.core, "compute", spy)
    explorer.update(image=1)
    assert "computing…" in seen["status"] and "map current" not in seen["status"]
    assert seen["dimmed"] and seen["map"] == old_map  # the old map is still there, dimmed
    assert "map current" in explorer.status.value and "hm-computing" not in explorer.output._dom_classes
    assert explorer.output.outputs != old_map
    with pytest.raises(ValueError):  # a refused change also leaves nothing dimmed
        explorer.update(alpha=0.9)
    assert "hm-computing" not in explorer.output._dom_classes and "computing" not in explorer.status.value


# ----------------------------------------------------------------------------------------- 2 per-panel scales
def test_two_methods_have_each_their_own_colour_scale_by_default_and_a_shared_one_on_request(explorer):
    view = explorer.update(method="splitcam", compare="method", compare_method="saliency")
    (_, first), (_, second) = view.panels
    assert panel_limits(view) == [display_limit(first), display_limit(second)]
    assert display_limit(first) != pytest.approx(display_limit(second))
    figure = explorer.render()
    bars = [ax for ax in figure.axes if "scale" in ax.get_ylabel()]
    assert len(bars) == 2 and all(ax.get_ylabel().startswith("per-panel scale") for ax in bars)
    assert "own colour scale" in figure._suptitle.get_text()
    plt.close(figure)
    view = explorer.update(shared_scale=True)
    assert panel_limits(view) == [max(display_limit(first), display_limit(second))] * 2
    figure = explorer.render()
    assert "one shared colour scale" in figure._suptitle.get_text()
    assert sum(ax.get_ylabel().startswith("shared scale") for ax in figure.axes) == 2
    plt.close(figure)


# ----------------------------------------------------------------------------------------- 3 colour convention
def test_r_minus_is_drawn_blue_and_the_legend_says_what_red_and_blue_mean(explorer):
    view = explorer.update(method="splitlrp", compare="relevance")
    r_minus = dict((title.splitlines()[-1].split(", ")[-1], values) for title, values in view.panels)["R⁻"]
    assert (r_minus >= 0).all() and r_minus.max() > 0
    figure = explorer.render()
    rgba = map_pixels(figure, "SplitLRP\nat input, R⁻")
    y, x = np.unravel_index(np.argmax(r_minus), r_minus.shape)
    red, _, blue, _ = rgba[y, x]
    assert blue > 0.9 and red < 0.1  # the strongest against-evidence is blue, not red
    rgba_plus = map_pixels(figure, "SplitLRP\nat input, R⁺")
    r_plus = view.panels[0][1]
    y, x = np.unravel_index(np.argmax(r_plus), r_plus.shape)
    assert rgba_plus[y, x][0] > 0.9 and rgba_plus[y, x][2] < 0.1  # R⁺ red
    text = "\n".join(t.get_text() for t in figure.texts)
    assert "red raises g (evidence present), blue lowers it" in text and "R⁻ (evidence against) is drawn blue" in text
    plt.close(figure)


# ----------------------------------------------------------------------------------------- 4 failure hint, overflow
def test_non_finite_maps_at_alpha_zero_suggest_raising_alpha_and_huge_maps_warn(explorer, monkeypatch):
    explorer.build()
    original = hm.methods.explain

    def overflowing(model, x, target, method, **parameters):
        result = original(model, x, target, method, **parameters)
        if parameters.get("alpha") == 0.0:
            return torch.full_like(result, float("inf"))
        if parameters.get("alpha") == 0.1:
            return result / result.abs().max() * 3e37
        return result

    monkeypatch.setattr(hm.methods, "explain", overflowing)
    view = explorer.update(method="splitcam", alpha=0.0, stabilize="scale")
    assert not view.current and "raise α" in view.error and "another stabilisation" not in view.error
    assert "raise α" in explorer.status.value
    view = explorer.update(alpha=0.1)
    assert view.current and "overflow" in view.warning and "raise α" in view.warning
    assert "warning" in explorer.status.value and "#8a5a00" in explorer.status.value  # amber, not the green ✓
    view = explorer.update(alpha=0.4)
    assert view.current and view.warning is None and "#1b5e20" in explorer.status.value


@pytest.fixture(scope="module")
def lite0_photo():
    """The real EfficientNet-Lite0 (ImageNet weights) on the shipped photo ``chelsea`` at the smallest photo size
    (``MIN_PHOTO_SIZE`` = 32 px, to stay fast), labelled Egyptian cat; no metrics."""
    from hidden_monotonicity.data.natural import MIN_PHOTO_SIZE, NATURAL_PHOTO_CLASSES, natural_photos

    lite = hm.models.load("efficientnet_lite0", weights="imagenet").eval()
    photos = natural_photos(MIN_PHOTO_SIZE, names=["chelsea"])
    mean, std = tuple(lite.input_mean), tuple(lite.input_std)
    x = (photos.images - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    data = LocalisationDataset(x, [NATURAL_PHOTO_CLASSES["chelsea"][0]], torch.zeros(1, 1, MIN_PHOTO_SIZE, MIN_PHOTO_SIZE),
                               mean=mean, std=std, class_names=hm.models.imagenet_class_names())
    explorer = Explorer({"efficientnet_lite0": lite}, data, methods=("splitcam", "splitgrad"), metrics=())
    explorer.build()
    return explorer


def test_real_lite0_alpha_zero_hint_raises_alpha_and_alpha_01_warns_of_overflow(lite0_photo):
    """Issue 30, item 4 on the real network: at the input, α = 0 overflows under every stabilisation and the hint says
    to raise α (and following it works); α = 0.1 is finite but ~1e32 and warns; α = 0.3 and 0.4 are clean."""
    explorer = lite0_photo
    for stabilisation in ("scale", "shift", "threshold"):
        view = explorer.update(method="splitcam", layer="input", alpha=0.0, stabilize=stabilisation)
        assert not view.current and view.saliency is None, stabilisation
        assert "raise α to 0.3" in view.error and "stabilisation 'scale'" not in view.error.split(":")[1], view.error
        assert view.fix == {"alpha": 0.3}
        assert "not current" in explorer.status.value and "raise α" in explorer.status.value
    view = explorer.update(stabilize="scale", alpha=0.1)
    peak = float(np.abs(view.saliency).max())
    assert view.current and np.isfinite(view.saliency).all() and peak > 1e30  # current, yet near float32 overflow
    assert "overflow" in view.warning and "raise α" in view.warning and f"{peak:.1e}" in view.warning
    assert "warning" in explorer.status.value and "#8a5a00" in explorer.status.value  # amber, not the green ✓
    for alpha in (0.3, 0.4):
        view = explorer.update(alpha=alpha)
        assert view.current and view.warning is None and np.isfinite(view.saliency).all(), alpha
        assert float(np.abs(view.saliency).max()) < 1e3 and "#1b5e20" in explorer.status.value
    view = explorer.update(method="splitgrad", layer="input", alpha=0.0)
    assert not view.current and "raise α to 0.3" in view.error
    assert explorer.update(**view.fix).current  # the hint's fix really gives a map


def test_real_lite0_unstabilised_head_overflow_hint_names_a_stabilisation_not_alpha(lite0_photo):
    """Without stabilisation the streams at Lite0's head overflow float32 whatever α (α = 0.4 too), while the
    stabilised split is finite even at α = 0: the hint must name the stabilisation, not send the user raising α."""
    explorer = lite0_photo
    for alpha in (0.0, 0.4):
        view = explorer.update(method="splitcam", layer="_head_relu", stabilize="none", alpha=alpha)
        assert not view.current, alpha
        assert "choose stabilisation 'scale'" in view.error and "raise α" not in view.error, view.error
        assert view.fix == {"stabilize": "scale"}
        fixed = explorer.update(**view.fix)
        assert fixed.current and fixed.warning is None and np.isfinite(fixed.saliency).all()


# ----------------------------------------------------------------------------------------- 5 meaning on screen
def test_g_h_triptych_method_meaning_and_no_g_h_for_baselines(explorer):
    view = explorer.update(method="splitgrad", compare="output", layer="input", alpha=0.2)
    titles = [title for title, _ in view.panels]
    assert [t.splitlines()[-1].split(", ")[2] for t in titles] == ["g", "h", "g − h = f"]
    x = explorer.dataset.images[:1]
    g = hm.explain(MODELS["one"], x, 0, "splitgrad", layer="input", alpha=0.2, output="g", stabilize="scale")[0, 0]
    h = hm.explain(MODELS["one"], x, 0, "splitgrad", layer="input", alpha=0.2, output="h", stabilize="scale")[0, 0]
    np.testing.assert_allclose(view.panels[2][1], (g - h).numpy(), rtol=1e-5, atol=1e-9)
    figure = explorer.render()
    labels = [ax.get_ylabel() for ax in figure.axes]
    assert any("raises g" in t for t in labels) and any("raises h" in t for t in labels)
    assert any("raises f = g − h" in t for t in labels)
    assert any("SplitGrad (C.2)" in t.get_text() for t in figure.texts)
    plt.close(figure)
    view = explorer.update(method="layercam", compare="none")
    assert not view.split_family and np.isnan(view.g)
    assert not any(line.strip().startswith("g = ") for line in text_lines(explorer.core, view))
    assert "f = g − h" not in info_html(explorer.core, view)
    figure = explorer.render()
    assert any("raises the logit of apple" in ax.get_ylabel() for ax in figure.axes)
    plt.close(figure)


def test_abs_map_has_a_one_sided_colourbar_and_a_failed_view_keeps_its_f_line(explorer, monkeypatch):
    explorer.update(method="layercam", absolute=False)
    explorer.update(method="splitcam", absolute=True)
    figure = explorer.render()
    (bar,) = [ax for ax in figure.axes if "raises" in ax.get_ylabel()]
    assert bar.get_ylim()[0] == 0
    plt.close(figure)

    def refuse(*args, **kwargs):
        raise RuntimeError("refused")

    monkeypatch.setattr(hm.methods, "explain", refuse)
    view = explorer.update(method="splitgrad")
    assert not view.current
    figure = explorer.render()
    text = "\n".join(t.get_text() for ax in figure.axes for t in ax.texts)
    assert "f = g − h" in text and "not current" in text
    plt.close(figure)


# ----------------------------------------------------------------------------------------- 6 scores vs which mask
def test_scores_are_only_against_the_mask_of_the_explained_class(explorer):
    view = explorer.update(method="splitcam", image=0, target="true")
    assert view.scores and view.scores_note == "scores vs the mask of class apple"
    view = explorer.update(target=4)  # another class: the mask is apple's
    assert view.scores == {} and "egyptian cat has no mask" in view.scores_note and "apple" in view.scores_note
    figure = explorer.render()
    text = "\n".join(t.get_text() for ax in figure.axes for t in ax.texts)
    assert "PointingGame" not in text and "no scores: the mask is of class apple" in text
    plt.close(figure)


# ----------------------------------------------------------------------------------------- 7 latency: caches, lazy profile
def test_profile_is_off_by_default_and_repeated_views_reuse_cached_passes(explorer, monkeypatch):
    assert ExplorerState().profile is False
    calls = {"explain": 0, "split": 0}
    original_explain, original_split = hm.methods.explain, explorer.core.split

    def counting(*args, **kwargs):
        calls["explain"] += 1
        return original_explain(*args, **kwargs)

    def counting_split(*args, **kwargs):  # the split forward behind g and h
        calls["split"] += 1
        return original_split(*args, **kwargs)

    monkeypatch.setattr(hm.methods, "explain", counting)
    monkeypatch.setattr(explorer.core, "split", counting_split)
    view = explorer.update(method="splitcam", alpha=0.2)
    assert view.profile is None and calls == {"explain": 1, "split": 1}
    logits = [key for key in explorer.core._cache if key[0] == "logits"]
    explorer.update(alpha=0.3)  # a new map; the same logits and g/h
    assert calls == {"explain": 2, "split": 1}
    explorer.update(alpha=0.2)  # back: nothing recomputed
    explorer.update(opacity=0.5)  # display only
    assert calls == {"explain": 2, "split": 1}
    assert [key for key in explorer.core._cache if key[0] == "logits"] == logits
    assert explorer.update(profile=True).profile is not None


# ----------------------------------------------------------------------------------------- 9 classes
def test_class_menu_lists_the_top_five_by_probability_and_a_class_is_found_by_name(explorer):
    explorer.build()
    view = explorer.update(image=1)
    options = explorer.widgets["target"].options
    top = view.top_classes(5)
    assert [value for _, value in options][:2] == ["true", "predicted"]
    assert [value for _, value in options][2:] == [c for c, _ in top]
    assert all(f"p = {p:.2f}" in label for (label, _), (_, p) in zip(options[2:], top))
    probabilities = [p for _, p in top]
    assert probabilities == sorted(probabilities, reverse=True) and len(options) == 7
    assert explorer.core.find_class("Egyptian Cat") == 4 and explorer.core.find_class("6") == 6
    with pytest.raises(ValueError, match="no class named 'cat'; did you mean egyptian cat"):
        explorer.core.find_class("cat")
    explorer.find.value = "egyptian cat"
    assert explorer.view.target == 4 and "egyptian cat" in explorer.status.value
    assert any(value == 4 for _, value in explorer.widgets["target"].options)


# ----------------------------------------------------------------------------------------- your image
def test_load_image_resizes_normalises_and_explains_without_scores(explorer, tmp_path):
    explorer.build()
    rgb = (np.random.default_rng(0).random((40, 30, 3)) * 255).astype(np.uint8)
    path = tmp_path / "mine.png"
    Image.fromarray(rgb).save(path)
    index = explorer.load_image(path)
    assert index == 3 and explorer.state.image == 3 and len(explorer.widgets["image"].options) == 4
    assert "yours (mine.png)" in explorer.widgets["image"].options[-1][0] and len(explorer.gallery.children) == 4
    view = explorer.view
    assert view.current and view.true_class == -1 and view.scores == {} and "no object mask" in view.scores_note
    crop = Image.fromarray(rgb).crop((0, 5, 30, 35)).resize((16, 16), Image.BILINEAR)  # centre square, then resize
    expected = (np.asarray(crop, dtype=np.float32) / 255 - 0.5) / 0.25
    np.testing.assert_allclose(explorer.dataset.images[3].permute(1, 2, 0).numpy(), expected, atol=1e-5)
    predicted = int(MODELS["one"](explorer.dataset.images[3:4]).argmax())
    assert view.target == predicted  # "true" on an image without a label explains the predicted class
    with pytest.raises(ValueError, match="must be"):
        explorer.core.load_image(np.zeros((4, 4, 5)))
    with pytest.raises(ValueError, match="no image file"):
        explorer.core.load_image(tmp_path / "missing.png")


# ----------------------------------------------------------------------------------------- copy as code
def test_code_reproduces_the_map_for_shipped_and_loaded_images(explorer, tmp_path):
    for changes in ({"method": "splitcam", "alpha": 0.3, "layer": "4", "image": 2},
                    {"method": "splitlrp", "relevance": "neg", "target": 5},
                    {"method": "layercam", "model": "two", "target": "predicted"}):
        view = explorer.update(**changes)
        np.testing.assert_allclose(run_code(explorer.code()), view.saliency, rtol=1e-6, atol=1e-9)
    path = tmp_path / "photo.png"
    Image.fromarray((np.random.default_rng(1).random((20, 20, 3)) * 255).astype(np.uint8)).save(path)
    explorer.load_image(path)
    view = explorer.update(method="splitgrad")
    assert "read_image" in explorer.code()
    np.testing.assert_allclose(run_code(explorer.code()), view.saliency, rtol=1e-6, atol=1e-9)
    explorer.load_image(np.zeros((8, 8, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="given as an array"):
        explorer.code()
    bare = ExplorerModel({"mine": cnn(0)}, make_dataset(), methods=METHODS, metrics=())
    with pytest.raises(ValueError, match="no source for model 'mine'"):
        bare.code()


# ----------------------------------------------------------------------------------------- save, opacity, thumbnails
def test_save_writes_a_150_dpi_png_and_the_settings_as_json(explorer, tmp_path):
    view = explorer.update(method="splitcam", image=1)
    png, settings = explorer.save(tmp_path)
    with Image.open(png) as image:
        assert round(image.info["dpi"][0]) == 150
    data = json.loads(settings.read_text(encoding="utf-8"))
    assert data["state"]["image"] == 1 and data["explained_class"]["name"] == "banana"
    assert data["map"]["sum"] == pytest.approx(float(view.saliency.astype(np.float64).sum()), rel=1e-9)
    np.testing.assert_allclose(run_code(data["code"]), view.saliency, rtol=1e-6, atol=1e-9)
    assert explorer.save(tmp_path)[0].name == "explorer_view_02.png"


def test_opacity_sets_the_maps_opacity(explorer):
    view = explorer.update(method="splitcam", opacity=0.4)
    figure = explorer.render()
    rgba = map_pixels(figure, "SplitCAM")
    assert rgba[..., 3].max() == pytest.approx(0.4) and view.state.opacity == 0.4
    plt.close(figure)
    with pytest.raises(ValueError, match="opacity"):
        explorer.update(opacity=1.5)


def test_gallery_of_thumbnails_selects_the_image(explorer):
    explorer.build()
    explorer.update()
    assert len(explorer.gallery.children) == 3
    picture, button = explorer.gallery.children[2].children
    assert picture.value[:4] == b"\x89PNG"
    button.click()
    assert explorer.state.image == 2 and explorer.view.state.image == 2


# ----------------------------------------------------------------------------------------- 8 layout
def test_layout_wraps_and_numbers_are_an_html_table(explorer):
    box = explorer.build()
    explorer.update()
    layouts = [child.layout.flex_flow for child in box.children if hasattr(child, "children")]
    assert layouts.count("row wrap") >= 3
    assert explorer.info.value.startswith("<table") and "PointingGame" in explorer.info.value
    figure = explorer.render(text=False)  # the live figure: no monospace text panel
    assert not any(t.get_fontfamily() == ["monospace"] for ax in figure.axes for t in ax.texts)
    plt.close(figure)


# ----------------------------------------------------------------------------------------- 10 smaller items
def test_profile_title_states_alpha_and_stabilisation_with_friendly_layer_names(explorer):
    view = explorer.update(method="saliency", profile=True, stabilize="shift")
    assert view.profile.alpha == 0.0 and view.profile.stabilisation == "scale"
    figure = explorer.render()
    titles = [ax.get_title() for ax in figure.axes]
    assert any("α = 0, stabilisation scale" in title for title in titles)
    plt.close(figure)
    assert friendly_layer("_blocks.3._expand_relu") == "B3 expand" and friendly_layer("_head_relu") == "head"
    assert friendly_layer("layer2.0.relu#2") == "L2.0 relu#2"


def test_layer_menu_shows_friendly_names_and_keeps_the_real_module_names_as_values(lite0_photo):
    """Issue 30, item 10: Lite0's 34 layer names are illegible; the menu shows block numbers ("B3 expand", "head")
    while its values stay the module names ``hm.explain`` takes."""
    explorer = lite0_photo
    explorer.update(method="splitcam", layer="_head_relu", stabilize="scale", alpha=0.4)
    options = list(explorer.widgets["layer"].options)
    assert all(isinstance(option, tuple) and len(option) == 2 for option in options)
    labels, values = [label for label, _ in options], [value for _, value in options]
    assert values == explorer.core.layer_options("efficientnet_lite0", "splitcam") and len(values) == 34
    assert labels == [friendly_layer(value) for value in values] and len(set(labels)) == len(labels)
    assert {"input", "stem", "B0 dw", "B3 expand", "B15 dw", "head"} <= set(labels)
    assert not any("_blocks" in label or "_relu" in label for label in labels)
    assert explorer.widgets["layer"].label == "head"
    explorer.widgets["layer"].value = "_blocks.3._expand_relu"  # the user picks "B3 expand"
    assert explorer.widgets["layer"].label == "B3 expand"
    assert explorer.state.layer == explorer.view.parameters["layer"] == "_blocks.3._expand_relu"
    assert explorer.view.current and "at B3 expand" in explorer.status.value
    explorer.widgets["method"].value = "splitgrad"  # a method change resets the layer; the menu keeps its labels
    assert explorer.widgets["layer"].label == friendly_layer(explorer.state.layer)
    assert [value for _, value in explorer.widgets["layer"].options] == values


def test_layer_labels_that_two_layers_share_keep_the_real_name(explorer, monkeypatch):
    monkeypatch.setattr(explorer.core, "layer_options", lambda model, method: ["a._stem_relu", "a.stem", "b.2"])
    assert explorer.core.layer_choices("one", "splitcam") == [
        ("a stem (a._stem_relu)", "a._stem_relu"), ("a stem (a.stem)", "a.stem"), ("b.2", "b.2")]


def test_one_model_hides_the_model_menu_and_the_display_has_a_picture_not_vbox_text():
    single = Explorer({"one": MODELS["one"]}, make_dataset(), methods=METHODS, metrics=())
    single.build()
    assert single.widgets["model"].layout.display == "none"
    single.update()
    bundle = single._repr_mimebundle_()
    assert "VBox(" not in bundle["text/plain"] and "live kernel" in bundle["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" in bundle and bundle["image/png"]


def test_self_explaining_panel_shows_predicted_class_and_logits():
    from hidden_monotonicity.widgets import SelfExplainingModel
    from hidden_monotonicity.widgets.controls import SelfExplainingExplorer

    model = hm.monotone.make_model(seed=0, kind="dm", in_features=16, num_classes=3, hidden=(8,))
    images = torch.rand(2, 16, generator=torch.Generator().manual_seed(1))
    panel = SelfExplainingExplorer(SelfExplainingModel({"DM": model}, images, torch.tensor([0, 1])))
    panel.build()
    view = panel.update(target=2)
    assert f"predicted {view.predicted}" in panel.status.value and "logits" in panel.status.value
    figure = panel.core.render(view)
    text = "\n".join(t.get_text() for ax in figure.axes for t in ax.texts)
    assert f"predicted class {view.predicted}" in text and "logits (largest)" in text
    plt.close(figure)
