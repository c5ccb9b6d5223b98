"""The ImageNet-S path of the notebooks (dataset="imagenet_s", data_dir=...) on a small fixture written in the
dataset's official layout, with a randomly initialised ResNet18 (no weights or data are available offline;
VGG16 takes the same path, only slower)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hidden_monotonicity.data.imagenet_s import write_fixture
from hidden_monotonicity.reproduce import execute_notebook

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"


def write_imagenet_s_fixture(root: Path) -> Path:
    """Two classes x 26 images (the loader holds 50 out for selection, as the paper's split; the notebooks show test
    images): the library's fixture (``python -m hidden_monotonicity fixture imagenet-s DIR`` writes the same)."""
    return write_fixture(root)


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.parametrize("notebook", ["03_saliency_gallery", "06_interactive_explorer"])
def test_notebook_runs_on_imagenet_s(notebook, tmp_path, kernel_name):
    data_dir = write_imagenet_s_fixture(tmp_path / "data")
    figures = tmp_path / "figures"
    parameters = {"profile": "smoke", "dataset": "imagenet_s", "data_dir": str(data_dir), "model": "resnet18",
                  "output_dir": str(figures), "threads": 1}
    run = execute_notebook(NOTEBOOK_DIR / f"{notebook}.ipynb", tmp_path / f"{notebook}.ipynb", parameters,
                           kernel_name=kernel_name, cwd=NOTEBOOK_DIR, cell_timeout=300, retries=1)
    assert run.ok, f"{notebook} failed on ImageNet-S: {run.error} (executed notebook: {run.output})"
    text = run.output.read_text(encoding="utf-8")
    assert "ImageNet" in text
    written = {file.name for file in figures.iterdir()}
    expected = {"saliency_gallery.png", "saliency_streams.png"} if notebook.startswith("03") else {"explorer_preview.png"}
    assert expected <= written


@pytest.mark.slow
@pytest.mark.notebooks
def test_notebook_04_dry_runs_the_paper_profile_and_projects_its_cost(tmp_path, kernel_name):
    """Issue 26: `papermill 04 -p profile paper -p data_dir DIR -p weights random -p image_size .. -p max_images ..`
    runs the paper profile's path on the fixture and prints the projected cost of the full run. Cut to ResNet18
    (``model``), two rows (``methods``: a baseline and a split method; SplitGrad has half of SplitCAM's candidates, and
    the paper's 200 MaxSensitivity samples per candidate made SplitCAM the slowest part of the suite) and 16 px so that it fits the test suite; the CLI test does the same with --models/--methods."""
    data_dir = write_imagenet_s_fixture(tmp_path / "data")
    figures = tmp_path / "figures"
    parameters = {"profile": "paper", "data_dir": str(data_dir), "model": "resnet18", "weights": "random",
                  "image_size": 16, "max_images": 2, "methods": ["saliency", "splitgrad"], "output_dir": str(figures), "results_dir": str(tmp_path / "results"),
                  "threads": 1}
    run = execute_notebook(NOTEBOOK_DIR / "04_quantitative_evaluation.ipynb", tmp_path / "04.ipynb", parameters,
                           kernel_name=kernel_name, cwd=NOTEBOOK_DIR, cell_timeout=1200, retries=0)
    assert run.ok, f"the paper dry run of notebook 04 failed: {run.error} (executed notebook: {run.output})"
    text = run.output.read_text(encoding="utf-8")
    assert "Cost on this device" in text and "dry run" in text
    assert (figures / "evaluation_table.md").is_file()
