"""What notebook 05 reads and draws per DM form (issue 26, item 7): checkpoints are looked up by form and a
checkpoint of one form is never returned for the other; the stream figure states the model's own form."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from hidden_monotonicity.monotone import make_model, save_checkpoint  # noqa: E402
from hidden_monotonicity.monotone.experiment import checkpoint_name, load_variant_checkpoint  # noqa: E402
from hidden_monotonicity.plots.monotone import plot_monotone_streams  # noqa: E402

SIDE = 4


def _model(h_input: str, architecture: str = "mlp", kind: str = "dm", seed: int = 0):
    hidden = (3, 4) if architecture == "cnn" else (8,)
    return make_model(seed, kind=kind, in_features=SIDE * SIDE, num_classes=3, hidden=hidden,
                      architecture=architecture, h_input=h_input).eval()


@pytest.mark.parametrize("architecture", ["mlp", "cnn"])
def test_each_form_is_loaded_from_its_own_checkpoint(tmp_path, architecture):
    saved = {form: _model(form, architecture, seed=i) for i, form in enumerate(("inverted", "identity"))}
    for model in saved.values():
        save_checkpoint(model, tmp_path / checkpoint_name(model, 0))
    x = torch.rand(5, SIDE * SIDE)
    for form, model in saved.items():
        loaded = load_variant_checkpoint(tmp_path, 0, kind="dm", architecture=architecture, h_input=form)
        assert loaded.h_input == form and loaded.architecture == architecture and not loaded.training
        torch.testing.assert_close(loaded(x), model(x))


def test_a_checkpoint_of_the_other_form_is_refused(tmp_path):
    inverted = _model("inverted")
    # a stale or hand-copied file: the inverted model under the identity form's name
    save_checkpoint(inverted, tmp_path / "monotone_dm_mlp_identity_seed0.pt")
    with pytest.raises(ValueError, match=r"h_input='inverted', not the requested kind='dm', architecture='mlp', "
                                         r"h_input='identity'; delete the file"):
        load_variant_checkpoint(tmp_path, 0, kind="dm", h_input="identity")
    with pytest.raises(FileNotFoundError, match="monotone_dm_mlp_seed0.pt"):
        load_variant_checkpoint(tmp_path, 0, kind="dm")  # the inverted form's own file was never written
    with pytest.raises(ValueError, match="unknown h_input 'mirrored'"):
        load_variant_checkpoint(tmp_path, 0, kind="dm", h_input="mirrored")


@pytest.mark.parametrize(
    ("h_input", "equation", "h_title"),
    [("inverted", "f(x) = g(x) - h(1-x)", "h-map dh/du, u=1-x"), ("identity", "f(x) = g(x) - h(x)", "h-map dh/du, u=x")],
)
@pytest.mark.parametrize("title", [None, "DM MLP: per-stream gradients"])
def test_the_stream_figure_states_the_models_form(h_input, equation, h_title, title):
    model = _model(h_input)
    images = torch.rand(6, SIDE * SIDE)
    fig = plot_monotone_streams(model, images, torch.tensor([0, 1, 2, 0, 1, 2]), None, title=title)
    try:
        suptitle = fig._suptitle.get_text()
        first, second = suptitle.split("\n")
        assert first == (title or "DM mlp")
        assert second.startswith(equation + ";")
        other = {"f(x) = g(x) - h(1-x)", "f(x) = g(x) - h(x)"} - {equation}
        assert not any(wrong in suptitle for wrong in other)
        assert fig.axes[2].get_title() == h_title
    finally:
        plt.close(fig)
