"""outputs: FigureSaver (names, file types, resolution floor), markdown tables, display paths."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from hidden_monotonicity import outputs  # noqa: E402


# ------------------------------------------------------------------------------------------- FigureSaver
def test_figure_saver_writes_and_records(tmp_path):
    saver = outputs.FigureSaver(tmp_path / "figs")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    saver.save(fig, "line.png", close=True)
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, 0.25]})
    saver.save_table(frame, "table.csv")
    saver.save_table(frame, "table.md")
    saver.save_table({"x": 1}, "record.json")
    saver.save_table("# title", "note.md")
    assert saver.written == ["line.png", "table.csv", "table.md", "record.json", "note.md"]
    assert (tmp_path / "figs" / "line.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pd.read_csv(tmp_path / "figs" / "table.csv").equals(frame)
    assert (tmp_path / "figs" / "table.md").read_text().splitlines() == ["| a | b |", "|---|---|", "| 1 | 0.5 |", "| 2 | 0.25 |"]
    assert json.loads((tmp_path / "figs" / "record.json").read_text()) == {"x": 1}
    assert (tmp_path / "figs" / "note.md").read_text() == "# title\n"


@pytest.mark.parametrize("name", ["../escape.png", "sub/dir.png", "figure.gif", "", ".hidden.png", "a b.png"])
def test_figure_saver_rejects_bad_names(tmp_path, name):
    with pytest.raises(ValueError):
        outputs.FigureSaver(tmp_path).path(name)


def test_figure_saver_type_errors(tmp_path):
    saver = outputs.FigureSaver(tmp_path)
    with pytest.raises(TypeError, match="matplotlib Figure"):
        saver.save("not a figure", "x.png")
    with pytest.raises(TypeError):
        saver.save_table(42, "x.csv")


def test_produced_by_checks_the_writer(tmp_path):
    saver = outputs.FigureSaver(tmp_path)
    saver.produced_by(lambda folder: (folder / "a.csv").write_text("x\n"), "a.csv")
    assert saver.written == ["a.csv"]
    with pytest.raises(RuntimeError, match="did not write"):
        saver.produced_by(lambda folder: None, "a.csv")  # exists, but was not rewritten
    with pytest.raises(RuntimeError, match="did not write"):
        saver.produced_by(lambda folder: None, "b.md")


def test_markdown_table_escapes_pipes():
    frame = pd.DataFrame({"name": ["a|b"], "value": [1.0 / 3.0]})
    assert outputs.markdown_table(frame).splitlines()[-1] == "| a\\|b | 0.3333 |"


def test_saved_pngs_have_at_least_the_figure_resolution(tmp_path):
    assert outputs.FIGURE_DPI >= 150
    saver = outputs.FigureSaver(tmp_path)
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [1, 0])
    saver.save(fig, "default.png")
    with pytest.warns(UserWarning, match="low.png: dpi=80 is below the 150 dpi"):
        saver.save(fig, "low.png", dpi=80)
    saver.save(fig, "high.png", dpi=200, bbox_inches=None)
    plt.close(fig)
    for name, expected in (("default.png", outputs.FIGURE_DPI), ("low.png", outputs.FIGURE_DPI), ("high.png", 200)):
        dpi = Image.open(tmp_path / name).info["dpi"]
        assert round(dpi[0]) == expected, (name, dpi)
    assert Image.open(tmp_path / "high.png").size == (400, 200)
    with pytest.raises(ValueError, match="at least 150"):
        outputs.FigureSaver(tmp_path, dpi=100)


def test_display_path_hides_the_checkout_location(tmp_path):
    root = outputs.repository_root()
    assert (root / "pyproject.toml").is_file()
    assert outputs.display_path(root / "figures" / "a.png") == str(Path("figures") / "a.png")
    assert outputs.display_path(tmp_path) == str(tmp_path.resolve())


def test_per_image_scores_are_saved_compressed_at_full_precision_and_byte_stable(tmp_path):
    """Issue 25.9: the committed per-image scores (``*.csv.gz``) keep every digit and a rerun writes the same bytes."""
    scores = pd.DataFrame({"sample": [0, 1, 2], "score": [0.1234567890123, 1e-17, -3.25]})
    saver = outputs.FigureSaver(tmp_path)
    saver.save_table(scores, "scores.csv.gz")
    first = (tmp_path / "scores.csv.gz").read_bytes()
    saver.save_table(scores, "scores.csv.gz")
    assert (tmp_path / "scores.csv.gz").read_bytes() == first and first[:2] == b"\x1f\x8b"
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "scores.csv.gz"), scores, check_exact=True)
    with pytest.raises(ValueError, match=r"\.gz only as \.csv\.gz"):
        saver.save_table(scores, "scores.md.gz")
