"""Notebook 05 honours its ``dataset`` parameter (issue 26, item 8): ``"digits"`` / ``None`` the sklearn digits,
``"mnist"`` a local torchvision MNIST copy under ``data_dir``, anything else a ValueError naming the accepted values.

The notebook loads its data with ``monotone.load_dataset(config.dataset, root=config.data_dir)`` after
``notebook_params.configure``; these tests check that the notebook makes exactly that call and run it on a tiny
MNIST fixture in the real IDX format (no papermill run: seconds instead of a minute).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_mnist_loader import _write_fixture  # the IDX writer of the MNIST loader tests (real raw format)

from hidden_monotonicity import monotone, notebook_params
from hidden_monotonicity.monotone.experiment import IDENTITY_SUFFIX, default_variants

NOTEBOOK = "05_self_explaining_models"
PATH = Path(__file__).resolve().parents[2] / "notebooks" / f"{NOTEBOOK}.ipynb"


@pytest.fixture
def keep_torch_threads():
    """configure() sets torch's thread count; restore it afterwards."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _calls(name: str) -> list[ast.Call]:
    """Every call ``name(...)`` or ``<something>.name(...)`` in the notebook's code cells."""
    found = []
    for cell in json.loads(PATH.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "code":
            tree = ast.parse("".join(cell["source"]))
            found += [node for node in ast.walk(tree)
                      if isinstance(node, ast.Call) and name in (getattr(node.func, "attr", None), getattr(node.func, "id", None))]
    return found


def _load_like_the_notebook(tmp_path, **parameters):
    config = notebook_params.configure(NOTEBOOK, "smoke", output_dir=tmp_path / "figures", device="cpu", **parameters)
    return config, monotone.load_dataset(config.dataset, root=config.data_dir)


def test_the_notebook_loads_its_data_through_the_dataset_parameter():
    (call,) = _calls("load_dataset")
    assert ast.unparse(call) == "monotone.load_dataset(config.dataset, root=config.data_dir)"
    assert not _calls("load_digits_split") and not _calls("load_mnist_split"), "the notebook must not bypass `dataset`"


def test_dataset_mnist_reads_the_local_torchvision_copy(tmp_path, keep_torch_threads):
    fixture = _write_fixture(tmp_path / "mnist_root")
    config, data = _load_like_the_notebook(tmp_path, dataset="mnist", data_dir=tmp_path / "mnist_root")
    assert config.dataset == "mnist" and config.data_dir == tmp_path / "mnist_root"
    assert data.name == "mnist" and data.image_shape == (28, 28)
    train_images, train_labels = fixture["train"]
    test_images, test_labels = fixture["t10k"]
    np.testing.assert_allclose(data.x_train.numpy(), train_images.reshape(len(train_images), -1) / 255.0, rtol=1e-6)
    np.testing.assert_allclose(data.x_test.numpy(), test_images.reshape(len(test_images), -1) / 255.0, rtol=1e-6)
    assert data.y_train.tolist() == train_labels.tolist() and data.y_test.tolist() == test_labels.tolist()


@pytest.mark.parametrize("dataset", [None, "digits"])
def test_no_dataset_or_digits_is_the_sklearn_digits(dataset, tmp_path, keep_torch_threads):
    config, data = _load_like_the_notebook(tmp_path, dataset=dataset)
    assert config.dataset == "digits" and data.name == "digits" and data.image_shape == (8, 8)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"dataset": "cifar"}, "dataset must be one of digits, mnist for 05_self_explaining_models, got 'cifar'"),
        ({"dataset": "imagenet_s", "data_dir": "."}, "dataset must be one of digits, mnist"),
        ({"dataset": "sklearn_digits"}, "dataset must be one of digits, mnist"),
        ({"dataset": "mnist"}, r"dataset='mnist' needs data_dir \(a torchvision MNIST root"),
    ],
)
def test_other_datasets_are_refused_naming_the_accepted_ones(parameters, message, tmp_path, keep_torch_threads):
    with pytest.raises(ValueError, match=message):
        notebook_params.configure(NOTEBOOK, "smoke", output_dir=tmp_path, device="cpu", **parameters)


def test_a_missing_mnist_copy_says_which_files_go_where(tmp_path, keep_torch_threads):
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte"):
        _load_like_the_notebook(tmp_path, dataset="mnist", data_dir=tmp_path / "empty")


@pytest.mark.parametrize("profile", notebook_params.PROFILES)
def test_both_profiles_train_the_dm_rows_in_both_forms(profile, tmp_path, keep_torch_threads):
    config = notebook_params.configure(NOTEBOOK, profile, output_dir=tmp_path, device="cpu")
    assert config.dm_forms == ("inverted", "identity")
    labels = [variant.label for variant in default_variants(include_cnn=config.include_cnn, dm_forms=config.dm_forms)]
    assert "DM" in labels and "DM" + IDENTITY_SUFFIX in labels
    (call,) = _calls("default_variants")
    assert {keyword.arg: ast.unparse(keyword.value) for keyword in call.keywords}["dm_forms"] == "config.dm_forms"
