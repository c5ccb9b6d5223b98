"""Figures fit for slides (issue 29.9): a panel the shared column scale would blank gets its own scale and says so,
row labels stay beside their image, colourbar exponents sit in the bar's label (no offset text overlapping the next
bar), one colour convention (red = for, blue = against: ``saliency.SIGNED_CMAP``) and a 16:9 variant of the key
figures."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from hidden_monotonicity.plots import saliency, toys  # noqa: E402

SIXTEEN_NINE = 16 / 9


def _images(n: int = 3, side: int = 16) -> np.ndarray:
    return np.full((n, side, side, 3), 0.5)


def _hotspot_maps(n: int = 3, side: int = 16) -> dict[str, np.ndarray]:
    """Column "A": image 1 carries a strong hotspot that sets the shared scale; images 0 and 2 a weak real pattern.
    Column "B": comparable magnitudes in every image."""
    rng = np.random.default_rng(0)
    weak = rng.normal(size=(n, side, side))
    strong = weak.copy()
    strong[1, :4, :4] = 100.0
    return {"A": strong, "B": rng.normal(size=(n, side, side))}


def _panel_texts(ax: plt.Axes) -> list[str]:
    return [text.get_text() for text in ax.texts]


def _png_size(figure: plt.Figure, **kwargs) -> tuple[int, int]:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=50, **kwargs)
    buffer.seek(0)
    from PIL import Image

    return Image.open(buffer).size


def test_a_panel_the_shared_column_scale_would_blank_gets_its_own_scale_and_is_named():
    maps = _hotspot_maps()
    fig = saliency.plot_gallery(_images(), maps, scale="column", colorbar=True, title="t")
    axes = np.array([ax for ax in fig.axes if ax.get_label() != "<colorbar>"]).reshape(3, 3)
    own = {(r, c) for r in range(3) for c in (1, 2) if any(t.startswith("own scale") for t in _panel_texts(axes[r, c]))}
    assert own == {(0, 1), (2, 1)}  # column A's weak panels; the hotspot's panel and column B keep the shared scale
    assert "A row 1" in fig._suptitle.get_text() and "A row 3" in fig._suptitle.get_text()
    # the marked panel is drawn at full colour on its own scale: its most opaque pixel reaches the map's full alpha
    overlay = axes[0, 1].get_images()[-1].get_array()
    assert overlay[..., 3].max() > 0.8
    plt.close(fig)
    shared = saliency.plot_gallery(_images(), maps, scale="column", colorbar=True, title="t", own_scale_below=None)
    assert not any(t.startswith("own scale") for ax in shared.axes for t in _panel_texts(ax))
    assert "own scale" not in shared._suptitle.get_text()
    plt.close(shared)


def test_own_scale_panels_is_the_ratio_rule():
    table = [[np.ones((4, 4)) * 1.0], [np.ones((4, 4)) * 0.3], [np.ones((4, 4)) * 0.6]]
    limits = [[1.0], [1.0], [1.0]]
    assert saliency.own_scale_panels(table, limits, below=0.5) == {(1, 0)}
    assert saliency.own_scale_panels(table, limits, below=None) == set()


@pytest.mark.parametrize("limit", [3e-7, 2.5e4])
def test_colourbar_exponent_is_in_the_label_not_an_offset_text(limit):
    fig, axes = plt.subplots(1, 3, layout="constrained")
    for ax in axes:
        saliency._colorbar(fig, ax, limit, location="bottom")
    fig.canvas.draw()
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    power = saliency.exponent_of(limit)
    assert power != 0
    for bar in bars:
        assert bar.xaxis.get_offset_text().get_text() == ""
        assert f"× 1e{power}" in bar.get_xlabel()
        ticks = [label.get_text() for label in bar.get_xticklabels() if label.get_text()]
        assert ticks and all(len(text) <= 5 for text in ticks), ticks  # short numbers, the power is in the label
    plt.close(fig)


def test_long_row_labels_are_wrapped_to_the_panel_height():
    labels = ["chelsea: Egyptian cat (0.39)", "coffee: espresso (0.94)", "motorcycle: moped (0.71)"]
    fig = saliency.plot_gallery(_images(), _hotspot_maps(), row_labels=labels, scale="column", colorbar=True, title="t")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    first_column = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"][::3]
    for ax, label in zip(first_column, labels):
        text = ax.yaxis.label
        assert text.get_text().replace("\n", " ") == label
        assert text.get_window_extent(renderer).height <= ax.get_window_extent(renderer).height * 1.02, label
    plt.close(fig)


def test_gallery_slide_variant_is_16_9():
    fig = saliency.plot_gallery(_images(), _hotspot_maps(), scale="column", colorbar=True, title="t", aspect=SIXTEEN_NINE)
    width, height = fig.get_size_inches()
    assert (width, height) == pytest.approx(saliency.SLIDE_SIZE, rel=1e-3)
    png_width, png_height = _png_size(fig)  # saved without tight cropping, as the notebooks do
    assert abs(png_width / png_height - SIXTEEN_NINE) < 0.01
    plt.close(fig)


def test_monotone_streams_slide_variant_puts_classes_in_columns_with_the_project_colour_map():
    from hidden_monotonicity import monotone
    from hidden_monotonicity.plots.monotone import plot_monotone_streams

    torch.manual_seed(0)
    model = monotone.make_model(0, kind="dm", in_features=16, num_classes=3, hidden=(8,))
    images = torch.rand(6, 16)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    for aspect, shape in ((None, (3, 4)), (SIXTEEN_NINE, (4, 3))):
        fig = plot_monotone_streams(model, images, labels, path=None, aspect=aspect)
        panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        assert len(panels) == shape[0] * shape[1]
        assert panels[0].get_subplotspec().get_gridspec().get_geometry() == shape
        maps = [image for ax in panels for image in ax.get_images() if image.get_cmap().name != "gray_r"]
        assert maps and {image.get_cmap().name for image in maps} == {saliency.SIGNED_CMAP}
        if aspect is not None:
            assert fig.get_size_inches()[0] / fig.get_size_inches()[1] == pytest.approx(SIXTEEN_NINE, rel=1e-3)
        plt.close(fig)


def test_toy_2d_uses_the_signed_colour_map_and_has_a_16_9_variant():
    xs, ys, points = toys.grid_2d(9)
    dec = toys.decompose_on_grid(toys.tiny_relu_network(), points)
    strip = toys.plot_toy_2d(dec, xs, ys)
    f_panel = [ax for ax in strip.axes if ax.get_title() == "f"][0]
    assert {artist.get_cmap().name for artist in f_panel.collections if hasattr(artist, "get_cmap")} >= {saliency.SIGNED_CMAP}
    plt.close(strip)
    slide = toys.plot_toy_2d(dec, xs, ys, aspect=SIXTEEN_NINE)
    width, height = slide.get_size_inches()
    assert width / height == pytest.approx(SIXTEEN_NINE, rel=1e-3)
    panels = [ax for ax in slide.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 4 and min(label.get_fontsize() for label in panels[0].get_xticklabels()) >= 10
    plt.close(slide)


def test_grid_and_stability_panels_have_16_9_variants():
    from hidden_monotonicity.plots import stability

    rng = np.random.default_rng(1)
    grid = {"SplitCAM": {"layer 1": rng.normal(size=(8, 8)), "layer 2": rng.normal(size=(8, 8))},
            "LRP-γ": {"layer 1": rng.normal(size=(8, 8))}}
    fig = saliency.plot_grid(np.full((8, 8, 3), 0.5), grid, scale="panel", colorbar=True, title="t", aspect=SIXTEEN_NINE)
    png_width, png_height = _png_size(fig)
    assert abs(png_width / png_height - SIXTEEN_NINE) < 0.01
    plt.close(fig)
    fig, axes = stability.panel_axes(3, aspect=SIXTEEN_NINE)
    assert len(axes) == 3 and tuple(fig.get_size_inches()) == pytest.approx(saliency.SLIDE_SIZE, rel=1e-3)
    plt.close(fig)


def test_no_figure_module_uses_another_diverging_colour_map():
    """One convention everywhere: signed maps in SIGNED_CMAP (R⁻ in its reverse), never RdBu / coolwarm / seismic."""
    from pathlib import Path

    import hidden_monotonicity

    package = Path(hidden_monotonicity.__file__).parent
    offenders = {}
    for path in [*package.joinpath("plots").glob("*.py"), *package.joinpath("widgets").glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        found = [name for name in ("RdBu", "coolwarm", "seismic", "PiYG", "PRGn", "BrBG", "PuOr", "RdYlBu") if name in text]
        if found:
            offenders[path.name] = found
    assert not offenders, offenders
