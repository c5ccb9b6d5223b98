"""The ImageNet-S path of the notebooks (dataset="imagenet_s", data_dir=...) on a small fixture written in the
dataset's official layout, with a randomly initialised ResNet18 (no weights or data are available offline;
VGG16 takes the same path, only slower)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hidden_monotonicity.data.imagenet_s import mask_class_ids
from hidden_monotonicity.reproduce import execute_notebook

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
CLASSES = ("n01443537", "n02504458")  # goldfish, African elephant


def write_imagenet_s_fixture(root: Path) -> Path:
    """Two classes x 26 images (the loader holds 50 out for selection, as the paper's split; the notebooks show test
    images): JPEG images and RGB PNG masks with class id = R + 256 G (0 other, 1000 ignore)."""
    rng = np.random.default_rng(0)
    class_ids = mask_class_ids()
    for wnid in CLASSES:
        image_dir = root / "ImageNetS50" / "validation" / wnid
        mask_dir = root / "ImageNetS50" / "validation-segmentation" / wnid
        image_dir.mkdir(parents=True)
        mask_dir.mkdir(parents=True)
        for k in range(26):
            height, width = 40 + 2 * k, 60
            Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)).save(
                image_dir / f"{wnid}_{k}.JPEG", quality=90)
            ids = np.zeros((height, width), dtype=np.int64)
            ids[height // 4: 3 * height // 4, width // 4: 3 * width // 4] = class_ids[wnid]
            ids[:5] = 1000
            rgb = np.zeros((height, width, 3), dtype=np.uint8)
            rgb[..., 0], rgb[..., 1] = ids % 256, ids // 256
            Image.fromarray(rgb).save(mask_dir / f"{wnid}_{k}.png")
    return root


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
