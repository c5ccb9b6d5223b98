"""notebook_params: configure(), the model/data loading helpers, and the aliases of the names that moved out."""

from __future__ import annotations

import ast
import json
from pathlib import Path


import pytest
import torch

import hidden_monotonicity as hm
from hidden_monotonicity import notebook_params


# ------------------------------------------------------------------------------------------- configure
def test_configure_fills_in_the_profile_and_seeds(tmp_path, keep_torch_threads):
    config = notebook_params.configure("03_saliency_gallery", "smoke", output_dir=tmp_path, device="cpu", seed=3)
    first = torch.rand(3)
    again = notebook_params.configure("03_saliency_gallery", "smoke", output_dir=tmp_path, device="cpu", seed=3)
    assert torch.equal(first, torch.rand(3)), "configure must seed torch"
    assert config == again
    assert config.model == "benchmark_vgg" and config.dataset == "digits" and config.smoke
    assert config.n_images == notebook_params.NOTEBOOK_SETTINGS["03_saliency_gallery"]["smoke"]["n_images"]
    assert config.alphas == (0.0, 0.25, 0.5)  # the smoke value overrides the common one
    assert torch.get_num_threads() == 1  # the smoke profile runs on one thread
    assert config.figures.folder == tmp_path and tmp_path.is_dir()
    table = config.describe()
    assert {"profile", "model", "n_images", "torch threads"} <= set(table["parameter"])


def test_configure_overrides_and_explicit_choices(tmp_path, keep_torch_threads):
    config = notebook_params.configure("03_saliency_gallery", "default", model="benchmark_resnet", output_dir=tmp_path,
                                       device="cpu", threads=1, n_images=1)
    assert config.model == "benchmark_resnet" and config.n_images == 1 and not config.smoke


def test_relative_output_folders_start_at_the_repository_root(tmp_path, keep_torch_threads):
    relative = Path("results") / f"test-notebook-params-{tmp_path.name}"  # results/ is git-ignored
    folder = notebook_params.repository_root() / relative
    try:
        config = notebook_params.configure("00_environment", "smoke", output_dir=relative, device="cpu")
        assert config.output_dir == folder and folder.is_dir()
        assert (notebook_params.repository_root() / "pyproject.toml").is_file()
    finally:
        if folder.is_dir():
            folder.rmdir()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"notebook": "07_missing"}, "unknown notebook"),
        ({"profile": "fast"}, "unknown profile"),
        ({"n_imagez": 3}, "unknown setting"),
        ({"dataset": "cifar"}, "dataset must be one of"),
        ({"dataset": "imagenet_s"}, "needs data_dir"),
        ({"threads": 0}, "threads must be >= 1"),
        ({"device": "tpu"}, "unknown device"),
    ],
)
def test_configure_rejects_bad_parameters(kwargs, message, tmp_path, keep_torch_threads):
    arguments = {"notebook": "03_saliency_gallery", "profile": "smoke", "output_dir": tmp_path, "device": "cpu", **kwargs}
    notebook = arguments.pop("notebook")
    profile = arguments.pop("profile")
    with pytest.raises(ValueError, match=message):
        notebook_params.configure(notebook, profile, **arguments)


def test_every_notebook_has_settings_for_both_profiles():
    for notebook, table in notebook_params.NOTEBOOK_SETTINGS.items():
        assert set(table) == {"common", *notebook_params.PROFILES}, notebook


# ------------------------------------------------------------------------------------------- loading
def test_load_model_falls_back_to_random_init_only_when_allowed(tmp_path, monkeypatch):
    monkeypatch.setattr(hm.models, "CHECKPOINT_DIR", tmp_path)  # no checkpoint there
    with pytest.raises(hm.models.WeightsNotFoundError):
        notebook_params.load_model("benchmark_vgg")
    with pytest.warns(UserWarning, match="randomly initialised"):
        model, description = notebook_params.load_model("benchmark_vgg", allow_random_init=True, seed=1)
    again, _ = notebook_params.load_model("benchmark_vgg", allow_random_init=True, seed=1, warn=False)
    assert description.startswith("random init") and not model.training
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_load_model_reads_a_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(hm.models, "CHECKPOINT_DIR", tmp_path)
    torch.manual_seed(5)
    reference = hm.models.benchmark_vgg()
    torch.save(reference.state_dict(), tmp_path / "benchmark_vgg.pt")
    model, description = notebook_params.load_model("benchmark_vgg")
    assert "checkpoint" in description
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))


def test_native_input_size_and_image_loading():
    assert notebook_params.native_input_size("vgg16") == 224
    assert notebook_params.native_input_size("benchmark_resnet") == 64
    with pytest.raises(ValueError, match="unknown model"):
        notebook_params.native_input_size("alexnet")
    data = notebook_params.load_images("digits", n=3, image_size=32)
    assert tuple(data.images.shape) == (3, 3, 32, 32) and tuple(data.masks.shape) == (3, 1, 32, 32)
    with pytest.raises(ValueError, match="needs data_dir"):
        notebook_params.load_images("imagenet_s", n=1)
    with pytest.raises(ValueError, match="unknown dataset"):
        notebook_params.load_images("cifar", n=1)


def test_has_imagenet_s_recognises_the_layout(tmp_path):
    assert not notebook_params.has_imagenet_s(None)
    assert not notebook_params.has_imagenet_s(tmp_path)
    (tmp_path / "ImageNetS50" / "validation-segmentation").mkdir(parents=True)
    assert notebook_params.has_imagenet_s(tmp_path)
    assert notebook_params.has_imagenet_s(tmp_path / "ImageNetS50")




# ------------------------------------------------------------------------------------------- moved names
def _names_the_notebooks_use() -> set[str]:
    """Every ``notebook_params.<name>`` the committed notebooks use."""
    from hidden_monotonicity.reproduce import discover_notebooks

    names = set()
    for path in discover_notebooks(notebook_params.repository_root() / "notebooks"):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "notebook_params":
                    names.add(node.attr)
    return names


def test_every_name_the_notebooks_use_still_resolves():
    used = _names_the_notebooks_use()
    assert {"configure", "load_model", "load_images"} <= used  # the scan sees the notebooks' calls
    missing = sorted(name for name in used if not hasattr(notebook_params, name))
    assert not missing, f"notebooks use notebook_params names that no longer exist: {missing}"


def test_notebooks_import_moved_names_from_their_homes():
    """The aliases notebook_params kept for names that moved (outputs.py, evaluation/paper.py) are gone."""
    for name in ("FIGURE_DPI", "OUTPUT_EXTENSIONS", "markdown_table", "PAPER_VGG16_RESULTS", "compare_with_paper",
                 "paper_table"):
        assert not hasattr(notebook_params, name), name
    with pytest.raises(AttributeError):
        notebook_params.no_such_name  # noqa: B018


def test_a_notebook_thread_setting_is_used_when_the_parameter_is_none(tmp_path, keep_torch_threads):
    torch.set_num_threads(1)
    config = notebook_params.configure("07_natural_photo_evaluation", "smoke", output_dir=tmp_path, device="cpu")
    assert config.threads == 2 and torch.get_num_threads() == 2  # the notebook's setting, not the profile's 1
    notebook_params.configure("07_natural_photo_evaluation", "smoke", output_dir=tmp_path, device="cpu", threads=1)
    assert torch.get_num_threads() == 1  # an explicit parameter wins
    notebook_params.configure("04_quantitative_evaluation", "smoke", output_dir=tmp_path, device="cpu")
    assert torch.get_num_threads() == 1  # notebooks without the setting keep the profile's choice
