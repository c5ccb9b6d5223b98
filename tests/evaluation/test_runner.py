"""End to end on stand-ins: outputs, empty masks, selection, resume after interruption, shards + merge, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from hidden_monotonicity import cli
from hidden_monotonicity.evaluation import runner
from hidden_monotonicity.methods.layers import conv_block_outputs, split_layer_candidates
from hidden_monotonicity.evaluation.runner import evaluate, merge
from evaluation_standins import TEST_METRIC_PARAMS, StandInMethods, make_backend, stand_in_profile

TABLE_FILES = ("table.md", "table.tex", "table.csv", "selection.csv")


def _run(out: Path, **kwargs):
    kwargs.setdefault("backend", make_backend())
    profile = kwargs.pop("profile", stand_in_profile())
    return evaluate(profile, out, progress=False, **kwargs)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted, unsharded run; the other tests compare against it."""
    return _run(tmp_path_factory.mktemp("reference"), on_error="raise")


def _same_outputs(a: Path, b: Path) -> None:
    for name in TABLE_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    pd.testing.assert_frame_equal(pd.read_csv(a / "scores.csv"), pd.read_csv(b / "scores.csv"))


# ------------------------------------------------------------------------------ outputs


def test_reference_run_writes_everything(reference):
    out = reference.out_dir
    assert reference.complete
    for name in ("scores.csv", "selection.csv", "metadata.json", "table.md", "table.tex", "table.csv"):
        assert (out / name).is_file(), name
    scores = pd.read_csv(out / "scores.csv")
    assert list(scores.columns) == runner.SCORE_COLUMNS
    assert set(scores["split"]) == {"val", "test"}
    # every (model, row, metric output) of the test split has one row per test image
    test = scores[scores["split"] == "test"]
    per_cell = test.groupby(["model", "method", "metric"])["sample"].nunique()
    assert (per_cell == 5).all()
    categories = set(test[test["status"] == "ok"]["category"])
    assert categories == {"Faithfulness", "Localisation", "Robustness", "Complexity", "Randomisation", "Axiomatic"}


def test_metadata_records_versions_seed_softmax_and_wall_time(reference):
    meta = json.loads((reference.out_dir / "metadata.json").read_text())
    assert {"torch", "quantus", "captum", "zennit", "grad-cam", "numpy"} <= set(meta["versions"])
    assert meta["seed"] == 7 and meta["profile"]["name"] == "stand-in" and meta["complete"] is True
    assert meta["profile"]["metric_params"]["MaxSensitivity"] == {"nr_samples": 2}
    softmax = {name: m["softmax"] for name, m in meta["metrics"].items()}
    assert softmax["PixelFlipping"] is True and softmax["MaxSensitivity"] is False and softmax["Completeness"] is False
    assert meta["metrics"]["PixelFlipping"]["params"]["features_in_step"] == 16
    assert meta["wall_time_s"] > 0 and meta["device"] == "cpu"
    assert meta["models"]["tiny_vgg"]["num_classes"] == 3


def test_empty_masks_are_dropped_from_localisation_metrics_and_counted(reference):
    scores = reference.scores
    test = scores[(scores["split"] == "test") & (scores["sample"] == 1)]  # sample 1 has an empty mask
    localisation = test[test["metric"].isin(["PointingGame", "AttributionLocalisation"])]
    assert (localisation["status"] == runner.STATUS_EMPTY_MASK).all() and localisation["score"].isna().all()
    others = test[test["metric"].isin(["AUC@5", "Selectivity", "Sparseness"])]
    assert (others["status"] == "ok").all()
    assert reference.metadata["dropped_samples"] == {"tiny_flat/test": 1, "tiny_vgg/test": 1}
    table = pd.read_csv(reference.out_dir / "table.csv")
    assert set(table[table["metric"] == "PointingGame"]["n"]) == {4}
    assert "1 image(s) with an empty mask dropped" in (reference.out_dir / "table.md").read_text()


def test_input_invariance_is_skipped_on_vgg_with_the_reason(reference):
    scores = reference.scores
    rows = scores[(scores["metric"] == "InputInvariance") & (scores["split"] == "test")]
    vgg, flat = rows[rows["model"] == "tiny_vgg"], rows[rows["model"] == "tiny_flat"]
    assert vgg["status"].str.startswith("skipped: InputInvariance shifts the bias").all()
    assert (flat["status"] == "ok").all()


def test_seeds_are_recorded_per_unit_and_differ(reference):
    seeds = reference.scores.groupby(["model", "split", "method", "config", "metric"])["seed"].nunique()
    assert seeds.max() == 2  # two chunks (3 + 2 test images) -> two seeds
    assert reference.scores["seed"].nunique() > 50


def test_selection_lists_every_candidate_and_picks_the_criterion_best(reference):
    selection = pd.read_csv(reference.out_dir / "selection.csv")
    oracle = selection[selection["method"] == "mask_oracle"]
    assert len(oracle) == 4 and set(oracle["config"]) == {"quality=inverted", "quality=oracle"}
    val = reference.scores[(reference.scores["split"] == "val") & (reference.scores["status"] == "ok")]
    directions = {"AUC@5": "lower", "AUC@20": "lower", "Selectivity": "lower", "AttributionLocalisation": "higher",
                  "PointingGame": "higher", "MaxSensitivity": "lower"}
    for model, part in oracle.groupby("model"):
        means = val[(val["model"] == model) & (val["method"] == "mask_oracle")].pivot_table(
            index="config", columns="metric", values="score", aggfunc="mean")
        ranks = pd.DataFrame({m: means[m].rank(ascending=d == "lower") for m, d in directions.items()}).mean(axis=1)
        chosen = part.loc[part["chosen"], "config"].item()
        assert ranks[chosen] == ranks.min()
        np.testing.assert_allclose(part.set_index("config")["criterion_value"][ranks.index], ranks)
    single = selection[selection["method"] == "cam"]
    assert (single["criterion"] == "single candidate").all() and single["chosen"].all()
    assert not (reference.scores[reference.scores["split"] == "val"]["method"] == "cam").any()


def test_selection_with_a_decisive_criterion_takes_the_oracle(tmp_path):
    profile = stand_in_profile(models=("tiny_flat",), methods=stand_in_profile().methods[2:],
                               metrics=("PointingGame",), metric_params={}, selection_criterion="metric:PointingGame")
    result = _run(tmp_path, profile=profile)
    chosen = result.selection.loc[result.selection["chosen"].astype(bool), "config"].item()
    assert chosen == "quality=oracle"
    table = pd.read_csv(tmp_path / "table.csv")
    assert table[table["metric"] == "PointingGame"]["mean"].item() == 1.0


# ------------------------------------------------------------------------------ resume


def test_resume_after_max_units_gives_identical_tables(reference, tmp_path):
    first = _run(tmp_path, max_units=7)
    assert not first.complete and first.units_computed == 7
    assert json.loads((tmp_path / "metadata.json").read_text())["complete"] is False
    second = _run(tmp_path)
    assert second.complete
    total = first.units_computed + second.units_computed
    assert total == len(list((reference.out_dir / "units").rglob("*.csv")))
    _same_outputs(reference.out_dir, tmp_path)
    runs = json.loads((tmp_path / "metadata.json").read_text())["runs"]
    assert [r["finished"] for r in runs] == [False, True]


def test_resume_after_a_crash_mid_run_gives_identical_tables(reference, tmp_path):
    crashing = StandInMethods(crash_after=5)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, backend=make_backend(crashing))
    (tmp_path / "units" / ".tmp-999-leftover.csv").write_text("half a line")  # a killed write
    assert _run(tmp_path).complete
    assert not list(tmp_path.rglob(".tmp-*"))
    _same_outputs(reference.out_dir, tmp_path)


def test_resume_refuses_a_different_profile(tmp_path):
    _run(tmp_path, max_units=1)
    with pytest.raises(ValueError, match="another run"):
        _run(tmp_path, profile=stand_in_profile(seed=8))


# ------------------------------------------------------------------------------ shards


def test_two_shards_merged_equal_one_run(reference, tmp_path):
    shard_dirs = [tmp_path / "s0", tmp_path / "s1"]
    for i, d in enumerate(shard_dirs):
        result = _run(d, shard=i, num_shards=2)
        assert result.complete
    rows0 = set(pd.read_csv(shard_dirs[0] / "scores.csv")[["model", "method"]].itertuples(index=False))
    rows1 = set(pd.read_csv(shard_dirs[1] / "scores.csv")[["model", "method"]].itertuples(index=False))
    assert rows0 and rows1 and not rows0 & rows1
    code = cli.main(["merge", str(shard_dirs[0]), str(shard_dirs[1]), "--out", str(tmp_path / "merged")])
    assert code == 0
    _same_outputs(reference.out_dir, tmp_path / "merged")
    meta = json.loads((tmp_path / "merged" / "metadata.json").read_text())
    assert meta["complete"] and [m["shard"] for m in meta["merged_from"]] == [0, 1]


def test_merge_refuses_missing_or_foreign_shards(tmp_path):
    _run(tmp_path / "s0", shard=0, num_shards=2, max_units=0)
    with pytest.raises(ValueError, match="incomplete"):
        merge([tmp_path / "s0"], tmp_path / "out")
    with pytest.raises(ValueError, match="not an evaluation output"):
        merge([tmp_path / "nothing"], tmp_path / "out")


def test_bad_shard_arguments(tmp_path):
    with pytest.raises(ValueError, match="shard must be"):
        _run(tmp_path, shard=2, num_shards=2)


# ------------------------------------------------------------------------------ CLI / layers


def test_cli_evaluate_runs_a_profile(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(runner, "default_backend", make_backend)
    monkeypatch.setitem(cli.PROFILES, "smoke", stand_in_profile(models=("tiny_flat",), methods=stand_in_profile().methods[:1],
                                                                metrics=("Sparseness", "PointingGame"), metric_params={}))
    code = cli.main(["evaluate", "--profile", "smoke", "--out", str(tmp_path), "--no-progress", "--figures"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "evaluate: complete" in printed and "| input_x_gradient |" in printed
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["distributions-tiny_flat.png", "ranks-tiny_flat.png"]


def test_cli_rejects_unknown_command(capsys):
    assert cli.main(["train"]) == 2


def test_conv_block_outputs_end_with_the_registry_default_layer():
    from hidden_monotonicity import models
    from hidden_monotonicity.methods.registry import default_layer

    for name in ("benchmark_vgg", "benchmark_resnet"):
        model = models.load(name, weights=None)
        layers = conv_block_outputs(model)
        assert layers[-1] == default_layer(model)
        assert len(layers) == len(set(layers)) >= 4


def test_split_layer_candidates_are_spatial_relus_of_the_split_network():
    import hidden_monotonicity as hm
    from hidden_monotonicity import models

    example = torch.zeros(1, 3, 64, 64)
    vgg = models.load("benchmark_vgg", weights=None)
    layers = split_layer_candidates(vgg, example)
    assert layers[0] == "input" and set(layers) <= set(hm.decompose(vgg).layer_names)
    assert not any(name.startswith("classifier") for name in layers)  # the head's ReLUs are not spatial
    assert layers[1:] == [n for n, m in vgg.features.named_children() for n in [f"features.{n}"] if isinstance(m, torch.nn.ReLU)]
    resnet = models.load("benchmark_resnet", weights=None)
    last_block = f"layer4.{len(resnet.layer4) - 1}"
    assert f"{last_block}.relu#2" in split_layer_candidates(resnet, example)


def test_validation_split_uses_selection_metric_params(tmp_path, monkeypatch):
    calls = []
    original = runner.build_metric

    def recording(name, overrides=None, context=None):
        calls.append((name, dict(overrides or {})))
        return original(name, overrides, context)

    monkeypatch.setattr(runner, "build_metric", recording)
    profile = stand_in_profile(models=("tiny_flat",), methods=stand_in_profile().methods[2:],
                               metrics=("MaxSensitivity",), metric_params={"MaxSensitivity": {"nr_samples": 2}},
                               selection_metric_params={"MaxSensitivity": {"nr_samples": 1}},
                               selection_criterion="metric:MaxSensitivity")
    result = _run(tmp_path, profile=profile)
    used = {params["nr_samples"] for name, params in calls if name == "MaxSensitivity"}
    assert used == {1, 2}
    assert result.metadata["metrics"]["MaxSensitivity"]["validation_params"]["nr_samples"] == 1
    assert result.metadata["metrics"]["MaxSensitivity"]["params"]["nr_samples"] == 2


def test_failures_are_recorded_per_sample_and_kept_out_of_the_tables(tmp_path):
    from hidden_monotonicity.evaluation.profiles import MethodGrid

    profile = stand_in_profile(
        models=("tiny_flat",),
        methods=(MethodGrid("input_x_gradient"), MethodGrid("broken", grid={"failure": ("zeros",)}),
                 MethodGrid("broken", fixed={"failure": "raise"}, label="broken (raises)")),
        metrics=("Sparseness", "PointingGame"), metric_params={},
    )
    result = _run(tmp_path, profile=profile)
    assert result.complete
    scores = result.scores[result.scores["split"] == "test"]
    zeros = scores[(scores["method"] == "broken") & (scores["metric"] == "Sparseness")]
    assert zeros["status"].str.startswith("failed: AssertionError").all() and zeros["score"].isna().all()
    raising = scores[scores["method"] == "broken (raises)"]
    empty_mask = (raising["metric"] == "PointingGame") & (raising["sample"] == 1)
    assert (raising[empty_mask]["status"] == runner.STATUS_EMPTY_MASK).all()  # dropping comes first
    assert raising[~empty_mask]["status"].str.startswith("failed: explain: RuntimeError: this explainer always fails").all()
    assert result.metadata["failed_rows"] == int(result.scores["status"].str.startswith("failed").sum()) > len(zeros)
    table = pd.read_csv(tmp_path / "table.csv")
    assert set(table["method"]) == {"input_x_gradient"}
    assert "score(s) failed" in (tmp_path / "table.md").read_text()


def test_reused_explanations_give_the_same_scores_with_fewer_explanations(tmp_path):
    """reuse_explanations passes the unit's maps to the re-explaining metrics: identical scores for a deterministic
    method, one explanation fewer per re-explaining metric and chunk (EfficientMPRT: three fewer - Quantus explains the
    original twice more without the maps, and its second explanation is answered from them: quantus_shortcuts)."""
    profile = stand_in_profile(models=("tiny_flat",), methods=stand_in_profile().methods[:1],
                               metrics=("PixelFlipping", "MaxSensitivity", "RandomLogit", "EfficientMPRT"),
                               metric_params={k: v for k, v in TEST_METRIC_PARAMS.items() if k != "Selectivity"})
    counts, scores = {}, {}
    for reuse in (False, True):
        methods = StandInMethods()
        result = _run(tmp_path / str(reuse), profile=profile.replace(reuse_explanations=reuse),
                      backend=make_backend(methods), on_error="raise")
        counts[reuse] = methods.calls
        scores[reuse] = result.scores.drop(columns=["seed"])
    assert (scores[True]["status"] == "ok").all()
    pd.testing.assert_frame_equal(scores[False], scores[True])
    chunks = 2  # 5 test images in chunks of 3; a single candidate: no validation split
    assert counts[False] - counts[True] == chunks * (1 + 1 + 3)


def test_a_folder_written_before_a_profile_field_existed_resumes(reference, tmp_path):
    import shutil

    folder = tmp_path / "old"
    shutil.copytree(reference.out_dir, folder)
    metadata = json.loads((folder / "metadata.json").read_text())
    del metadata["profile"]["reuse_explanations"]  # as written by an older version
    (folder / "metadata.json").write_text(json.dumps(metadata))
    again = _run(folder)
    assert again.units_computed == 0 and again.complete
