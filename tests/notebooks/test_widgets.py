"""widgets.Explorer: headless build/update, consistency with hm.explain and Theorem 1, control wiring."""

from __future__ import annotations

import base64

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import hidden_monotonicity as hm  # noqa: E402
from hidden_monotonicity.data import LocalisationDataset  # noqa: E402
from hidden_monotonicity.widgets import NO_LAYER, Explorer, ExplorerState  # noqa: E402


def small_cnn(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 4 * 4, 3),
    ).eval()


@pytest.fixture(scope="module")
def explorer():
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(3, 3, 16, 16, generator=generator)
    masks = torch.zeros(3, 1, 16, 16)
    masks[:, :, 4:12, 4:12] = 1
    dataset = LocalisationDataset(images, [0, 1, 2], masks, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
                                  class_names=["a", "b", "c"])
    return Explorer({"one": small_cnn(0), "two": small_cnn(1)}, dataset,
                    methods=("splitcam", "splitlrp", "layercam", "saliency"),
                    metrics=("PointingGame", "AttributionLocalisation", "Sparseness"))


def test_build_and_first_update_headless(explorer):
    box = explorer.build()
    assert type(box).__name__ == "VBox" and explorer.output is not None
    view = explorer.update()
    (shown,) = explorer.output.outputs  # the rendered view, as one PNG output of the Output widget
    assert shown["output_type"] == "display_data" and base64.b64decode(shown["data"]["image/png"])[:4] == b"\x89PNG"
    assert view.state.layer == explorer.default_layer("one", "splitcam") == "7"
    x = explorer.dataset.images[:1]
    direct = hm.explain(explorer.models["one"], x, 0, "splitcam", **view.parameters)[0, 0].numpy()
    np.testing.assert_array_equal(view.saliency, direct)
    with torch.no_grad():
        logit = float(explorer.models["one"](x)[0, 0])
    assert view.f == pytest.approx(logit, abs=1e-5)  # g − h = f (Theorem 1)
    assert set(view.scores) == {"PointingGame ↑", "AttributionLocalisation ↑", "Sparseness ↑"}
    assert 0.0 <= view.scores["AttributionLocalisation ↑"] <= 1.0


def test_stabilisation_moves_g_and_h_but_not_f(explorer):
    scale = explorer.update(method="splitcam", stabilize="scale", image=1)
    none = explorer.update(stabilize="none")
    assert none.f == pytest.approx(scale.f, abs=1e-6)
    assert none.g != pytest.approx(scale.g, rel=1e-6)


def test_methods_get_only_their_parameters_and_controls_follow(explorer):
    explorer.build()
    view = explorer.update(method="layercam")
    assert set(view.parameters) == {"layer", "abs"} and view.parameters["layer"] in explorer.layer_options("one", "layercam")
    assert explorer.widgets["alpha"].disabled and not explorer.widgets["layer"].disabled
    view = explorer.update(method="saliency")
    assert view.parameters == {"abs": False} and view.state.layer == NO_LAYER
    assert explorer.widgets["layer"].disabled and explorer.widgets["stabilize"].disabled
    view = explorer.update(method="splitlrp", relevance="neg")
    assert view.parameters["layer"] == "input" and view.parameters["relevance"] == "neg"
    assert not explorer.widgets["relevance"].disabled and explorer.widgets["output"].disabled


def test_changing_a_widget_updates_the_view(explorer):
    explorer.build()
    explorer.update(method="splitcam", model="one", image=0)
    explorer.widgets["alpha"].value = 0.2
    assert explorer.state.alpha == 0.2 and explorer.view.parameters["alpha"] == 0.2
    explorer.widgets["model"].value = "two"
    assert explorer.view.state.model == "two"
    assert list(explorer.widgets["layer"].options) == explorer.layer_options("two", "splitcam")


def test_bad_choices_are_rejected(explorer):
    with pytest.raises(ValueError, match="unknown method"):
        explorer.update(method="gradcam")
    with pytest.raises(ValueError, match="out of range"):
        explorer.update(image=3)
    with pytest.raises(ValueError, match="alpha"):
        explorer.update(alpha=0.7)
    with pytest.raises(ValueError, match="unknown explorer setting"):
        explorer.update(colour="red")
    with pytest.raises(ValueError, match="unknown method"):
        Explorer({"m": small_cnn(0)}, explorer.dataset, methods=("nope",))
    with pytest.raises(ValueError, match="at least one model"):
        Explorer({}, explorer.dataset)
    explorer.update(**{field: getattr(ExplorerState(), field) for field in ("method", "alpha", "stabilize")}, image=0)


def test_render_and_preview(explorer, tmp_path):
    explorer.update(method="splitcam", image=2)
    fig = explorer.render()
    assert len(fig.axes) == 3
    text = fig.axes[2].texts[0].get_text()
    assert "g = " in text and "f = g − h" in text and "PointingGame" in text
    plt.close(fig)
    path = explorer.save_preview(tmp_path / "preview.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
