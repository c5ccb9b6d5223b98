"""The paper's evaluation setting, dry-runnable offline (issue 26, items 1-4 and 6): the ImageNet-S fixture command,
the dry run of the paper profile with its cost projection, the per-model test filter "correct", the command line's
missing-weights message and notebook 04's "paper" profile."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from evaluation_standins import build_model, make_backend, stand_in_profile, synthetic_split

from hidden_monotonicity import __main__ as entry
from hidden_monotonicity import cli, data, models, notebook_params
from hidden_monotonicity.evaluation import get_profile
from hidden_monotonicity.evaluation.cost import adapt_profile, count_image_units, project_cost, reduction
from hidden_monotonicity.evaluation.profiles import EvaluationProfile, MethodGrid, candidate_count
from hidden_monotonicity.evaluation.runner import evaluate
from hidden_monotonicity.evaluation.store import EvaluationSetupError


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("imagenet_s_fixture")
    assert entry.main(["fixture", "imagenet-s", str(root)]) == 0
    return root


# ------------------------------------------------------------------------------------------------ item 1: fixture
def test_fixture_command_writes_the_layout_the_loader_reads(fixture_dir, capsys):
    test = data.load("imagenet_s", "test", data_dir=fixture_dir, image_size=16)
    val = data.load("imagenet_s", "val", data_dir=fixture_dir, image_size=16)
    assert (len(val), len(test)) == (50, 2)  # the paper's split: 50 held out for selection
    assert set(np.asarray(test.labels).tolist()) <= {1, 386}  # goldfish, African elephant (ImageNet-1k indices)
    assert all(float(mask.sum()) > 0 for mask in torch.as_tensor(test.masks))
    # a second write into the same folder is refused in one line
    assert cli.main(["fixture", "imagenet-s", str(fixture_dir)]) == 2
    assert "already holds files" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------- item 2: the dry run
def test_paper_profile_adapted_for_a_dry_run_keeps_its_rows_and_candidates():
    paper = get_profile("paper")
    dry = adapt_profile(paper, weights="random", image_size=64, max_images=4)
    assert (dry.weights, dry.n_val, dry.n_test, dry.device) == ("random", 2, 2, "auto")
    assert dry.dataset_kwargs["image_size"] == 64 and dry.dataset_kwargs["test_filter"] == "all"
    assert [g.name for g in dry.methods] == [g.name for g in paper.methods]
    assert [candidate_count(g, 4) for g in dry.methods] == [candidate_count(g, 4) for g in paper.methods]
    assert sum(candidate_count(g, 4) for g in paper.methods) == 97  # per model with the layer rule @evenly:4
    # pixel-counting parameters rescaled so that every image gets about the full run's perturbation steps
    assert dry.metric_params["PixelFlipping"]["features_in_step"] == 16 and (64 * 64) % 16 == 0
    assert dry.metric_params["Selectivity"]["patch_size"] == 2
    grids = {g.method: g for g in dry.methods}
    assert grids["occlusion"].grid["window"] == (5, 9) and grids["feature_ablation"].grid["patch_size"] == (2, 5)
    assert dry.metric_params["MaxSensitivity"] == paper.metric_params["MaxSensitivity"]  # not a pixel count
    assert "random weights" in reduction(dry) and reduction(paper) == ""
    assert adapt_profile(paper) is paper


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"weights": "imagenet"}, "no torchvision ImageNet weights"),
    ({"image_size": 64}, "image_size applies to ImageNet-S"),
    ({"max_images": 1}, "max_images must be"),
    ({"models": ["vgg16"]}, r"models \['vgg16'\] not in the profile"),
    ({"test_filter": "single_class"}, "filter of ImageNet-S"),
])
def test_adapt_profile_refuses_what_does_not_fit(kwargs, message):
    with pytest.raises(ValueError, match=message):
        adapt_profile(get_profile("smoke"), **kwargs)


def _hand_profile() -> EvaluationProfile:
    return EvaluationProfile(
        name="hand", description="hand example", dataset="imagenet_s", dataset_kwargs={"image_size": 64},
        n_val=2, n_test=2, models=("m",), methods=(MethodGrid("a", grid={"x": (1, 2, 3)}), MethodGrid("b")),
        metrics=("PointingGame", "Sparseness"), selection_criterion="metric:PointingGame", chunk_size=16,
    )


def test_cost_projection_arithmetic_on_a_hand_example():
    profile = _hand_profile()
    reference = profile.replace(n_val=None, n_test=None, dataset_kwargs={})  # ImageNet-S-50: 50 val, 702 test, 224 px
    selection = pd.DataFrame({"model": ["m"] * 4, "method": ["a", "a", "a", "b"]})  # 3 candidates and 1
    metadata = {
        "fingerprint": {"data": {"val": {"n": 2}, "test": {"n": 2}}},
        "runs": [{"device": "cpu"}],
        "seconds": {"metric/val/PointingGame": {"unit_wall_s": 1.2},  # 3 candidates x 2 images: 0.2 s per image
                    "metric/test/PointingGame": {"unit_wall_s": 0.8},  # 2 rows x 2 images: 0.2 s per image
                    "metric/test/Sparseness": {"unit_wall_s": 0.4}},  # 2 rows x 2 images: 0.1 s per image
    }
    projection = project_cost(profile, reference, metadata, selection)
    by_key = projection.measured.set_index(["split", "metric"])
    # full run: validation 3 candidates x 50 images, test 2 rows x 702 images; pixel ratio (224 / 64)^2 = 12.25
    assert by_key.loc[("val", "PointingGame"), "full_image_units"] == 150
    assert by_key.loc[("test", "Sparseness"), "full_image_units"] == 1404
    assert by_key.loc[("val", "PointingGame"), "full_units"] == 3 * 4  # ceil(50 / 16) chunks per candidate
    assert by_key.loc[("test", "PointingGame"), "full_units"] == 2 * 44  # ceil(702 / 16)
    assert by_key.loc[("val", "PointingGame"), "s_per_unit"] == pytest.approx(0.4)  # 1.2 s over 3 units of 2 images
    assert projection.pixel_ratio == pytest.approx(12.25)
    expected = (150 * 0.2 + 1404 * 0.2 + 1404 * 0.1) * 12.25  # 451.2 s at 64 px -> 5527.2 s at 224 px
    assert projection.projected_seconds == pytest.approx(expected) and expected == pytest.approx(5527.2)
    assert projection.measured_seconds == pytest.approx(2.4)
    text = "\n".join(projection.lines())
    assert "5527 s" in text and "50 val + 702 test images at 224 px" in text
    # the unit count itself: a single-candidate row is not evaluated on the validation split
    units = count_image_units(profile, {("m", "a"): 3, ("m", "b"): 1}, {("val", "m"): 2, ("test", "m"): 2})
    assert units == {("val", "PointingGame"): 6, ("test", "PointingGame"): 4, ("test", "Sparseness"): 4}


@pytest.mark.slow
def test_cli_dry_run_of_the_paper_profile_end_to_end(fixture_dir, tmp_path, capsys):
    """The paper profile's path on random weights: the full grid (2 models x 97 candidates) takes hours on a 2-core
    CPU (one row of ResNet18 at 64 px with 2 + 2 images: 150 s), so the test runs the smallest honest subset - one
    model, one row with two candidates (selection runs), every metric - at 16 px on 1 + 1 images (~30-45 s)."""
    out = tmp_path / "dry"
    code = cli.main(["evaluate", "--profile", "paper", "--data-dir", str(fixture_dir), "--weights", "random",
                     "--image-size", "16", "--max-images", "2", "--models", "resnet18", "--methods", "saliency",
                     "--out", str(out), "--no-progress", "--threads", "1"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["profile"]["weights"] == "random" and metadata["profile"]["dataset_kwargs"]["image_size"] == 16
    assert metadata["models"]["resnet18"]["weights"].startswith("random init (seed 0")
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores["split"]) == {"val", "test"} and (scores["status"] == "ok").all()
    assert scores[scores["split"] == "val"]["config"].nunique() == 2  # both candidates selected between
    assert set(scores[scores["split"] == "test"]["metric"]) >= {"AUC@5", "Selectivity", "MaxSensitivity", "RandomLogit"}
    assert "Cost on this device (cpu)" in printed
    assert "projected full run (50 val + 702 test images at 224 px" in printed
    assert "1 of the reference's 38 (model, row) pairs" in printed


# ------------------------------------------------------------------------------ item 3: test filter "correct"
def _correct_filter_backend(labels_of=None, n_images: int = 12):
    backend = make_backend()

    def load_split(profile, split, data_dir):
        assert "test_filter" not in profile.dataset_kwargs  # the loader never sees the model-dependent filter
        split_data = synthetic_split(split, n_images if split == "test" else profile.n_val)
        if labels_of is not None:
            split_data.labels = labels_of(split_data.labels)
        return split_data

    backend.load_split = load_split
    return backend


def test_correct_filter_scores_each_model_on_the_images_it_classifies_correctly(tmp_path, capsys):
    profile = stand_in_profile(dataset_kwargs={"test_filter": "correct"}, n_test=3, methods=stand_in_profile().methods[:1],
                               metrics=("Sparseness",), metric_params={})
    result = evaluate(profile, tmp_path, backend=_correct_filter_backend(), progress=False)
    assert result.complete
    printed = capsys.readouterr().out
    split = synthetic_split("test", 12)
    for name in profile.models:
        with torch.no_grad():
            predicted = build_model(name, profile.seed)(split.images).argmax(dim=1).numpy()
        correct = np.flatnonzero(predicted == split.labels.numpy())
        assert 0 < len(correct) < 12  # the filter has something to keep and something to drop
        scored = result.scores[(result.scores["model"] == name) & (result.scores["split"] == "test")]
        assert sorted(scored["sample"]) == correct[:3].tolist()  # the first n_test correct ones, original ids
        assert f"{name} classifies {len(correct)} of 12 test images correctly; scoring {min(3, len(correct))}" in printed
        assert result.metadata["models"][name]["test_images"] == min(3, len(correct))


def test_correct_filter_with_nothing_correct_says_what_to_do(tmp_path):
    profile = stand_in_profile(dataset_kwargs={"test_filter": "correct"}, methods=stand_in_profile().methods[:1],
                               metrics=("Sparseness",), metric_params={})
    backend = _correct_filter_backend(labels_of=lambda labels: torch.full_like(labels, 99))  # no class 99
    with pytest.raises(EvaluationSetupError, match="classifies none of the 12 test images correctly.*--test-filter all"):
        evaluate(profile, tmp_path / "none", backend=backend, progress=False)


# ------------------------------------------------------------------------------ item 6: missing weights, CLI words
def test_cli_missing_weights_message_names_the_cli_options(fixture_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # an empty torch hub cache
    code = cli.main(["evaluate", "--profile", "paper", "--data-dir", str(fixture_dir), "--device", "cpu",
                     "--out", str(tmp_path / "o")])
    error = capsys.readouterr().err
    assert code == 2 and len(error.strip().splitlines()) == 1
    assert f"looked for {tmp_path / 'hub' / 'checkpoints' / 'vgg16-397923af.pth'}" in error
    assert "--weights random" in error and "download=True" not in error and "weights=" not in error
    assert not (tmp_path / "o").exists()
    # the library's own error (models.load) carries what it looked for, and the command line words it the same way
    with pytest.raises(models.WeightsNotFoundError) as caught:
        models.load("resnet18")
    assert caught.value.expected_file == tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    message = str(cli._weights_error(caught.value))
    assert "--weights random" in message and "download=True" not in message


def test_cli_refuses_a_model_outside_the_profile(fixture_dir, tmp_path, capsys):
    code = cli.main(["evaluate", "--profile", "paper", "--data-dir", str(fixture_dir), "--weights", "random",
                     "--models", "alexnet", "--out", str(tmp_path / "o")])
    assert code == 2 and "models ['alexnet'] not in the profile; choose from vgg16, resnet18" in capsys.readouterr().err


# ------------------------------------------------------------------------------ notebook 04: profile "paper"
def test_notebook_04_accepts_the_paper_dry_run_parameters(fixture_dir, tmp_path):
    config = notebook_params.configure("04_quantitative_evaluation", "paper", data_dir=fixture_dir, device="cpu",
                                       output_dir=tmp_path, weights="random", image_size=64, max_images=4)
    assert (config.evaluation_profile, config.dataset, config.data_dir) == ("paper", "imagenet_s", fixture_dir)
    # what cell 6 does with them
    profile_name = "paper" if config.dataset == "imagenet_s" else config.evaluation_profile
    profile = adapt_profile(get_profile(profile_name, **dict(config.evaluation_overrides)), weights=config.weights,
                            image_size=config.image_size, max_images=config.max_images, test_filter=config.test_filter)
    assert (profile.weights, profile.n_val, profile.n_test, profile.dataset_kwargs["image_size"]) == ("random", 2, 2, 64)
    # the smoke and default profiles leave the evaluation profile as it is
    smoke = notebook_params.configure("04_quantitative_evaluation", "smoke", device="cpu", output_dir=tmp_path)
    assert smoke.weights is None and smoke.image_size is None and smoke.max_images is None
    with pytest.raises(ValueError, match="'paper' only for 04_quantitative_evaluation"):
        notebook_params.configure("03_saliency_gallery", "paper", device="cpu", output_dir=tmp_path)
    with pytest.raises(ValueError, match="needs data_dir"):
        notebook_params.configure("04_quantitative_evaluation", "paper", device="cpu", output_dir=tmp_path)
