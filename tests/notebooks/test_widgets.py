"""The explorer (hm.widgets): the model (state + compute) against independent numbers, the widgets' wiring, failures
shown instead of raised, and a sweep over many combinations of the compute path.

Independent numbers: the model's own logit (f = g − h, tolerance relative to |f|), the naive reference split of
tests/decomposition/reference.py (g, h and the per-layer sensitivities without stabilisation), direct hm.explain calls
with explicit parameters (never the explorer's own parameter dictionary), and the small CNN's known layer names.
"""

from __future__ import annotations

import base64
import sys
import itertools
import random
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import hidden_monotonicity as hm  # noqa: E402
from hidden_monotonicity.data import LocalisationDataset  # noqa: E402
from hidden_monotonicity.widgets import (  # noqa: E402
    NO_LAYER,
    Explorer,
    ExplorerModel,
    ExplorerState,
    SelfExplainingModel,
    render_view,
)

sys.path.insert(0, str(Path(__file__).parents[1] / "decomposition"))
import reference  # noqa: E402  (the independent naive split of tests/decomposition)
from hidden_monotonicity.widgets.controls import clipboard_button_html  # noqa: E402

METHODS = ("splitcam", "splitgrad", "splitlrp", "layercam", "saliency")


def small_cnn(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 4 * 4, 3),
    ).eval()


@pytest.fixture(scope="module")
def dataset():
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(3, 3, 16, 16, generator=generator)
    masks = torch.zeros(3, 1, 16, 16)
    masks[:, :, 4:12, 4:12] = 1
    return LocalisationDataset(images, [0, 1, 2], masks, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
                               class_names=["a", "b", "c"])


@pytest.fixture
def explorer(dataset):
    return Explorer({"one": small_cnn(0), "two": small_cnn(1)}, dataset, methods=METHODS,
                    metrics=("PointingGame", "AttributionLocalisation", "Sparseness"))


def logit(model, x, target):
    with torch.no_grad():
        return float(model(x)[0, target])


# ----------------------------------------------------------------------------------------- the model (no widgets)
def test_first_view_matches_direct_calls_and_the_models_logit(explorer):
    view = explorer.update()
    assert view.current and view.state.layer == "7"  # SplitCAM's default: the last ReLU of this CNN
    x = explorer.dataset.images[:1]
    model = explorer.models["one"]
    direct = hm.explain(model, x, 0, "splitcam", layer="7", alpha=0.4, stream="pos", output="g", stabilize="scale")
    np.testing.assert_allclose(view.saliency, direct[0, 0].numpy(), rtol=1e-6, atol=1e-9)
    f = logit(model, x, 0)
    assert abs(view.f - f) <= 1e-5 * max(1.0, abs(f))  # Theorem 1, relative to |f|
    assert view.logits[0] == pytest.approx(f, rel=1e-6)
    assert set(view.scores) == {"PointingGame ↑", "AttributionLocalisation ↑", "Sparseness ↑"}
    assert 0.0 <= view.scores["AttributionLocalisation ↑"] <= 1.0


def test_g_and_h_against_the_reference_split_without_stabilisation(explorer):
    for image in range(3):
        view = explorer.update(method="splitcam", stabilize="none", image=image, target="true")
        x = explorer.dataset.images[image : image + 1]
        g, h, _ = reference.reference_split(explorer.models["one"], x, torch.tensor([image]))
        assert view.g == pytest.approx(float(g[0]), rel=1e-9) and view.h == pytest.approx(float(h[0]), rel=1e-9)
        f = logit(explorer.models["one"], x, image)
        assert abs(view.f - f) <= 1e-5 * max(1.0, abs(f))
    scaled = explorer.update(stabilize="scale")
    assert abs(scaled.f - f) <= 1e-5 * max(1.0, abs(f))


def test_layer_profile_against_the_reference_sensitivities(explorer):
    view = explorer.update(method="splitgrad", stabilize="none", alpha=0.2, image=1, profile=True)
    profile = view.profile
    assert profile.layers == ["input", "1", "4", "7"] and profile.current == "input"
    _, _, found = reference.reference_split(explorer.models["one"], explorer.dataset.images[1:2], torch.tensor([1]),
                                            alpha=0.2)
    # the sensitivity at the output of module k is the reference's sensitivity at the input of module k + 1
    for position, index in enumerate((0, 2, 5, 8)):
        for label, expected in zip(("δ⁺ᵍ", "δ⁻ᵍ", "δ⁺ʰ", "δ⁻ʰ"), found[index]):
            assert profile.magnitudes[label][position] == pytest.approx(float(expected.abs().mean()), rel=1e-6, abs=1e-12)


def test_explained_class_choices(explorer):
    x = explorer.dataset.images[2:3]
    model = explorer.models["one"]
    with torch.no_grad():
        predicted = int(model(x).argmax())
    view = explorer.update(image=2, target="predicted", method="splitcam", stabilize="scale")
    assert view.target == predicted and view.true_class == 2
    view = explorer.update(target=1)
    assert view.target == 1
    direct = hm.explain(model, x, 1, "splitcam", layer="7", alpha=0.4, stream="pos", output="g", stabilize="scale")
    np.testing.assert_allclose(view.saliency, direct[0, 0].numpy(), rtol=1e-6, atol=1e-9)
    assert abs(view.f - logit(model, x, 1)) <= 1e-5 * max(1.0, abs(logit(model, x, 1)))
    with pytest.raises(ValueError, match="target"):
        explorer.update(target="largest")


def test_side_by_side_views_match_direct_calls(explorer):
    model, x = explorer.models["one"], explorer.dataset.images[:1]
    common = dict(layer="7", alpha=0.3, stabilize="scale")
    view = explorer.update(image=0, target="true", method="splitcam", alpha=0.3, compare="output")
    left, right, difference = (values for _, values in view.panels)  # the triptych g | h | g − h
    np.testing.assert_allclose(left, hm.explain(model, x, 0, "splitcam", output="g", stream="pos", **common)[0, 0].numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(right, hm.explain(model, x, 0, "splitcam", output="h", stream="pos", **common)[0, 0].numpy(), rtol=1e-6, atol=1e-9)
    assert not np.allclose(left, right)
    np.testing.assert_allclose(difference, left - right, rtol=1e-6, atol=1e-9)
    view = explorer.update(compare="stream")
    neg = hm.explain(model, x, 0, "splitcam", output="g", stream="neg", **common)[0, 0].numpy()
    np.testing.assert_allclose(view.panels[1][1], neg, rtol=1e-6, atol=1e-9)
    view = explorer.update(compare="method", compare_method="layercam")
    np.testing.assert_allclose(view.panels[1][1], hm.explain(model, x, 0, "layercam", layer="7")[0, 0].numpy(), rtol=1e-6)
    assert "LayerCAM" in view.panels[1][0] or "layercam" in view.panels[1][0]
    view = explorer.update(method="saliency")  # no output/stream parameter: those comparisons fall back, "method" stays
    assert view.state.compare == "method"
    explorer.update(method="splitcam", compare="output")
    assert explorer.update(method="layercam").state.compare == "none"


def test_method_and_model_change_reset_the_layer_to_the_methods_default(explorer):
    assert explorer.update(method="splitcam", layer="4").state.layer == "4"
    assert explorer.update(method="splitlrp").state.layer == "input"  # SplitLRP at the input
    assert explorer.update(method="layercam").state.layer == "7"
    assert explorer.update(layer="4").state.layer == "4"
    assert explorer.update(model="two").state.layer == "7"
    assert explorer.update(method="saliency").state.layer == NO_LAYER
    view = explorer.update(method="splitlrp", relevance="neg")
    x = explorer.dataset.images[view.state.image : view.state.image + 1]
    direct = hm.explain(explorer.models["two"], x, view.target, "splitlrp", layer="input", relevance="neg",
                        stabilize=view.state.stabilize)
    np.testing.assert_allclose(view.saliency, direct[0, 0].numpy(), rtol=1e-6, atol=1e-9)


def test_a_failed_computation_is_reported_not_raised(explorer, monkeypatch):
    explorer.build()
    explorer.update(method="splitcam")

    def refuse(*args, **kwargs):
        raise AssertionError("Attributions should not all be less than zero")

    monkeypatch.setattr(hm.methods, "explain", refuse)
    view = explorer.update(method="splitlrp")
    assert not view.current and view.saliency is None
    assert "Attributions should not all be less than zero" in view.error
    assert "not current" in explorer.status.value and "Attributions should not" in explorer.status.value
    (shown,) = explorer.output.outputs
    assert base64.b64decode(shown["data"]["image/png"])[:4] == b"\x89PNG"
    figure = explorer.render()
    assert any("not current" in text.get_text() for ax in figure.axes for text in ax.texts)
    plt.close(figure)
    monkeypatch.undo()
    assert explorer.update(method="splitcam").current and "map current" in explorer.status.value


def test_refused_scores_read_not_available_with_the_reason(explorer):
    core = explorer.core
    state = core.with_changes(method="splitcam", image=0)
    scores = core.scores(state, explorer.dataset.images[:1], 0, np.zeros((16, 16), dtype=np.float32))
    assert scores and all(isinstance(value, str) and value.startswith("n/a (") for value in scores.values()), scores


def test_bad_choices_are_rejected(explorer):
    with pytest.raises(ValueError, match="unknown method"):
        explorer.update(method="gradcam")
    with pytest.raises(ValueError, match="out of range"):
        explorer.update(image=3)
    with pytest.raises(ValueError, match="alpha"):
        explorer.update(alpha=0.7)
    with pytest.raises(ValueError, match="unknown explorer setting"):
        explorer.update(colour="red")
    with pytest.raises(ValueError, match="not one splitcam can explain"):
        explorer.update(method="splitcam", layer="8")
    with pytest.raises(ValueError, match="unknown method"):
        Explorer({"m": small_cnn(0)}, explorer.dataset, methods=("nope",))
    with pytest.raises(ValueError, match="at least one model"):
        Explorer({}, explorer.dataset)


# ----------------------------------------------------------------------------------------- the widgets
def test_build_and_first_update_headless(explorer):
    box = explorer.build()
    assert type(box).__name__ == "VBox" and explorer.output is not None
    explorer.update()
    (shown,) = explorer.output.outputs  # the rendered view, as one PNG output of the Output widget
    assert shown["output_type"] == "display_data" and base64.b64decode(shown["data"]["image/png"])[:4] == b"\x89PNG"
    assert "map current" in explorer.status.value


def test_settings_are_shown_only_where_they_apply(explorer):
    explorer.build()
    explorer.update(profile=False)  # fewer drawings; the profile has its own test

    def shown(name):
        return explorer.widgets[name].layout.display != "none"

    explorer.update(method="layercam")
    assert shown("layer") and not shown("alpha") and not shown("stabilize") and not shown("relevance")
    explorer.update(method="saliency")
    assert not shown("layer") and not shown("stream") and not shown("output")
    explorer.update(method="splitlrp")
    assert shown("relevance") and shown("stabilize") and not shown("output") and not shown("stream")
    explorer.update(method="splitcam")
    assert shown("alpha") and shown("stream") and shown("output") and not shown("relevance")
    assert not shown("compare_method")
    explorer.update(compare="method")
    assert shown("compare_method")


def test_changing_a_widget_updates_the_view(explorer):
    explorer.build()
    explorer.update(method="splitcam", model="one", image=0, profile=False)
    explorer.widgets["alpha"].value = 0.2
    assert explorer.state.alpha == 0.2 and explorer.view.parameters["alpha"] == 0.2
    explorer.widgets["model"].value = "two"
    assert explorer.view.state.model == "two"
    assert [value for _, value in explorer.widgets["layer"].options] == ["input", "1", "4", "7"]
    explorer.widgets["method"].value = "splitlrp"
    assert explorer.widgets["layer"].value == "input" == explorer.state.layer
    explorer.widgets["target"].value = 2
    assert explorer.view.target == 2
    labels = [label for label, _ in explorer.widgets["target"].options]
    assert labels[0].startswith("true: a (p = ") and any(label.startswith("c (class 2, p = ") for label in labels)
    explorer.widgets["compare"].value = "relevance"
    assert [title.splitlines()[-1].split(", ")[-1] for title, _ in explorer.view.panels] == ["R⁺", "R⁻"]


def _clipboard_text(button_html: str) -> str:
    """What the browser would read as the hidden <pre>'s textContent (the text the button copies)."""
    from html.parser import HTMLParser

    class Pre(HTMLParser):
        inside, text = False, ""

        def handle_starttag(self, tag, attrs):
            self.inside = self.inside or (tag == "pre" and ("class", "hm-clipboard-code") in attrs)

        def handle_endtag(self, tag):
            self.inside = self.inside and tag != "pre"

        def handle_data(self, data):
            self.text += data if self.inside else ""

    parser = Pre()
    parser.feed(button_html)
    return parser.text.removeprefix("\n")  # as a browser's parser: the newline right after <pre> is not content


def test_copy_to_clipboard_carries_the_shown_code_exactly(explorer, monkeypatch):
    """The clipboard button copies in the browser (tests/browser clicks it); here: it carries the very code the code
    box shows, HTML-escaped so that quotes, <, > and & survive, and follows the map when the code box is open."""
    tricky = '\nx = "<b>" & \'a\'\nprint(x < 3 > 2)  # &amp;'
    assert _clipboard_text(clipboard_button_html(tricky)) == tricky
    explorer.build()
    explorer.update(method="splitcam", model="one", image=0, profile=False)
    # this fixture's models have no source to rebuild them from, so code() says so; give it a code per state instead
    monkeypatch.setattr(explorer.core, "code", lambda: f'saliency = hm.explain(x, alpha={explorer.state.alpha}) & "<>"')
    code = explorer.show_code()
    assert "hm.explain" in code and explorer.code_box.value == code
    assert _clipboard_text(explorer.clipboard.value) == code and explorer.clipboard.layout.display == ""
    explorer.update(alpha=0.3)  # the open code box and the button follow the new map
    assert "0.3" in explorer.code_box.value and _clipboard_text(explorer.clipboard.value) == explorer.code_box.value


def test_render_and_preview(explorer, tmp_path):
    explorer.update(method="splitcam", image=2, compare="output")
    figure = explorer.render()
    text = "\n".join(t.get_text() for ax in figure.axes for t in ax.texts)
    assert "g = " in text and "f = g − h" in text and "PointingGame" in text and "logit" in text
    assert sum(ax.get_ylabel().startswith("per-panel scale") for ax in figure.axes) == 3  # one colourbar per map
    plt.close(figure)
    path = explorer.save_preview(tmp_path / "preview.png")
    from PIL import Image

    with Image.open(path) as image:
        dpi = image.info.get("dpi", (0, 0))[0]
    assert round(dpi) >= 150


# ----------------------------------------------------------------------------------------- a sweep of the compute path
class ResidualNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))

    def forward(self, x):
        a = self.relu(self.stem(x))
        return self.head(self.relu2(self.conv(a) + a))


def test_sweep_of_30_combinations_raises_nothing_and_reports_failures(dataset):
    """The compute path behind every control change (as the issue's 200-combination sweep, smaller): no exception
    escapes; a view is either current with a finite map or carries the reason it failed."""
    core = ExplorerModel({"cnn": small_cnn(3), "residual": ResidualNet().eval()}, dataset, methods=METHODS,
                         metrics=("PointingGame", "Sparseness"))
    rng = random.Random(0)
    grid = list(itertools.product(core.models, METHODS, ("scale", "none", "shift"), (0.0, 0.4), ("true", "predicted", 1),
                                  ("none", "method", "output")))
    outcomes = []
    for model, method, stabilize, alpha, target, compare in rng.sample(grid, 30):
        layer = rng.choice(core.layer_options(model, method))
        compare = compare if compare in core.comparison_options(method) else "none"
        view = core.update(model=model, method=method, layer=layer, stabilize=stabilize, alpha=alpha, target=target,
                           compare=compare, image=rng.randrange(3), profile=rng.random() < 0.3)
        assert view.state == core.state and view.state.layer == layer
        if view.current:
            assert np.isfinite(view.saliency).all() and len(view.panels) == {"none": 1, "method": 2, "output": 3}[compare]
            assert all(isinstance(v, float) or v.startswith("n/a (") for v in view.scores.values())
        else:
            assert view.error and view.saliency is None
        outcomes.append(view.current)
    assert any(outcomes)
    figure = render_view(core, core.view)
    plt.close(figure)


# ----------------------------------------------------------------------------------------- self-explaining models
def test_self_explaining_maps_against_autograd():
    torch.manual_seed(0)
    models = {"DM": hm.monotone.make_model(seed=0, kind="dm", in_features=16, num_classes=3, hidden=(8,)),
              "DIC": hm.monotone.make_model(seed=1, kind="dic", in_features=16, num_classes=3, hidden=(8,))}
    images = torch.rand(4, 16, generator=torch.Generator().manual_seed(1))
    panel = SelfExplainingModel(models, images, torch.tensor([0, 1, 2, 0]))
    for name in models:
        view = panel.update(model=name, image=2, target=1)
        x = images[2:3].clone().requires_grad_(True)
        f = models[name](x)[0, 1]
        (gradient,) = torch.autograd.grad(f, x)
        assert view.f == pytest.approx(float(f.detach()), rel=1e-5, abs=1e-6)  # g(x) − h(1 − x) = f(x)
        np.testing.assert_allclose(view.maps["f"].reshape(-1), gradient[0].numpy(), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(view.maps["g"] + view.maps["h"], view.maps["f"], rtol=1e-5, atol=1e-7)
        if name == "DM":
            assert (view.maps["g"] >= 0).all() and (view.maps["h"] >= 0).all()  # monotone streams
    figure = panel.render()
    assert len(figure.axes) == 6
    plt.close(figure)
