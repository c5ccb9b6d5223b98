"""The ImageNet-S path of the notebooks (dataset="imagenet_s", data_dir=...) on a small fixture written in the
dataset's official layout, with a randomly initialised ResNet18 (no weights or data are available offline;
VGG16 takes the same path, only slower)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hidden_monotonicity.data.imagenet_s import write_fixture

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"


def write_imagenet_s_fixture(root: Path) -> Path:
    """Two classes x 26 images (the loader holds 50 out for selection, as the paper's split; the notebooks show test
    images): the library's fixture (``python -m hidden_monotonicity fixture imagenet-s DIR`` writes the same)."""
    return write_fixture(root)


DRY_RUN = "test_notebook_04_dry_runs_the_paper_profile_and_projects_its_cost"
ON_IMAGENET_S = "test_notebook_runs_on_imagenet_s"


@pytest.fixture(scope="module")
def imagenet_s_runs(notebook_runs, request, tmp_path_factory):
    """Write the fixture once and start this module's selected runs (two at a time, the paper dry run first: it is
    the longest); returns the folder of each run (``<folder>/figures`` holds what it wrote)."""
    data_dir = write_imagenet_s_fixture(tmp_path_factory.mktemp("imagenet_s"))
    folders = {}
    if notebook_runs.selected(request, DRY_RUN):
        folder = folders["paper dry run"] = tmp_path_factory.mktemp("paper_dry_run")
        parameters = {"profile": "paper", "data_dir": str(data_dir), "model": "resnet18", "weights": "random",
                      "image_size": 16, "max_images": 2, "methods": ["saliency", "splitgrad"],
                      "output_dir": str(folder / "figures"), "results_dir": str(folder / "results"), "threads": 1}
        notebook_runs.submit("imagenet-s: paper dry run", NOTEBOOK_DIR / "04_quantitative_evaluation.ipynb",
                             folder / "04.ipynb", parameters, cell_timeout=1200)
    for params in notebook_runs.selected(request, ON_IMAGENET_S):
        notebook = params["notebook"]
        folder = folders[notebook] = tmp_path_factory.mktemp(notebook)
        parameters = {"profile": "smoke", "dataset": "imagenet_s", "data_dir": str(data_dir), "model": "resnet18",
                      "output_dir": str(folder / "figures"), "threads": 1}
        notebook_runs.submit(f"imagenet-s: {notebook}", NOTEBOOK_DIR / f"{notebook}.ipynb", folder / f"{notebook}.ipynb",
                             parameters, cell_timeout=300)
    return folders


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.parametrize("notebook", ["03_saliency_gallery", "06_interactive_explorer"])
def test_notebook_runs_on_imagenet_s(notebook, imagenet_s_runs, notebook_runs):
    run = notebook_runs.result(f"imagenet-s: {notebook}")
    assert run.ok, f"{notebook} failed on ImageNet-S: {run.error} (executed notebook: {run.output})"
    text = run.output.read_text(encoding="utf-8")
    assert "ImageNet" in text
    written = {file.name for file in (imagenet_s_runs[notebook] / "figures").iterdir()}
    expected = {"saliency_gallery.png", "saliency_streams.png"} if notebook.startswith("03") else {"explorer_preview.png"}
    assert expected <= written


@pytest.mark.slow
@pytest.mark.notebooks
def test_notebook_04_dry_runs_the_paper_profile_and_projects_its_cost(imagenet_s_runs, notebook_runs):
    """Issue 26: `papermill 04 -p profile paper -p data_dir DIR -p weights random -p image_size .. -p max_images ..`
    runs the paper profile's path on the fixture and prints the projected cost of the full run. Cut to ResNet18
    (``model``), two rows (``methods``: a baseline and a split method; SplitGrad has half of SplitCAM's candidates, and
    the paper's 200 MaxSensitivity samples per candidate made SplitCAM the slowest part of the suite) and 16 px so that
    it fits the test suite; the CLI test does the same with --models/--methods."""
    run = notebook_runs.result("imagenet-s: paper dry run")
    assert run.ok, f"the paper dry run of notebook 04 failed: {run.error} (executed notebook: {run.output})"
    text = run.output.read_text(encoding="utf-8")
    assert "Cost on this device" in text and "dry run" in text
    assert (imagenet_s_runs["paper dry run"] / "figures" / "evaluation_table.md").is_file()
