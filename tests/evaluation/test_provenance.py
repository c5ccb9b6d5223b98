"""Issue 24, items 1-4 and the merge after a killed merge: every result knows what produced it, and a resume or a merge
never mixes results computed from different weights, data, code, packages or profiles.

Only public entry points are used (``evaluate``, ``merge``, the command line), so each test ran against the code
before the fix (where it failed: the resume computed 0 units or mixed old and new scores, exit status 0).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from hidden_monotonicity.__main__ import main as command_line
from hidden_monotonicity.evaluation import metadata as metadata_module
from hidden_monotonicity.evaluation import provenance
from hidden_monotonicity.evaluation.profiles import MethodGrid
from hidden_monotonicity.evaluation.runner import evaluate, merge
from evaluation_standins import build_model, make_backend, stand_in_profile, synthetic_split


def small_profile(**changes):
    """Two tiny models, one two-candidate row, three cheap metrics, chunks of 3 of 5 images."""
    base = dict(methods=(MethodGrid("input_x_gradient"), stand_in_profile().methods[2]),
                metrics=("Sparseness", "PointingGame"), metric_params={}, selection_criterion="metric:PointingGame")
    base.update(changes)
    return stand_in_profile(**base)


def backend_with(*, weights_offset: dict[str, float] | None = None, label_change: bool = False,
                 image_noise: float = 0.0, image_ulp: bool = False):
    """The stand-in backend, with the weights of some models shifted, one test label changed, the images scaled by
    ``1 + image_noise``, or every image value moved by one unit in the last place (what another CPU may do)."""
    backend = make_backend()
    offsets = weights_offset or {}

    def load_model(name, allow_random_init, seed):
        model = build_model(name, seed)
        if name in offsets:
            with torch.no_grad():
                next(model.parameters()).add_(offsets[name])
        return model, "stand-in"

    def load_split(profile, split, data_dir):
        data = synthetic_split(split, profile.n_val if split == "val" else profile.n_test)
        if label_change and split == "test":
            data.labels[0] = (int(data.labels[0]) + 1) % 4
        if image_noise:
            data.images.mul_(1 + image_noise)
        if image_ulp:
            data.images = torch.nextafter(data.images, torch.full_like(data.images, np.inf))
        return data

    return dataclasses.replace(backend, load_model=load_model, load_split=load_split)


def _run(out: Path, backend=None, profile=None, **kwargs):
    return evaluate(profile or small_profile(), out, backend=backend or make_backend(), progress=False, **kwargs)


def _scores(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "scores.csv")


@pytest.fixture(scope="module")
def changed_weights_reference(tmp_path_factory):
    """A run from scratch with tiny_flat's weights shifted: what a restart must end with."""
    return _run(tmp_path_factory.mktemp("changed"), backend_with(weights_offset={"tiny_flat": 0.5}))


# ------------------------------------------------------------------------------ 1. the fingerprint is recorded


def test_metadata_records_the_fingerprint_of_weights_data_code_profile_and_versions(tmp_path):
    result = _run(tmp_path)
    fingerprint = json.loads((tmp_path / "metadata.json").read_text())["fingerprint"]
    assert fingerprint == result.metadata["fingerprint"]
    assert set(fingerprint["models"]) == {"tiny_vgg", "tiny_flat"}
    assert fingerprint["models"]["tiny_flat"] == provenance.model_fingerprint(build_model("tiny_flat", seed=7))
    assert set(fingerprint["data"]) == {"val", "test"} and fingerprint["data"]["test"]["n"] == 5
    assert fingerprint["code"]["files"] > 50 and len(fingerprint["code"]["sha256"]) == 64
    assert {"torch", "quantus", "scipy", "scikit-learn"} <= set(fingerprint["versions"])
    assert fingerprint["profile_sha256"] == provenance._sha256_json(small_profile().to_dict())


def test_model_fingerprint_sees_a_buffer_and_a_one_bit_weight_change():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    before = provenance.model_fingerprint(model)
    model[1].running_mean.add_(1e-3)
    after_buffer = provenance.model_fingerprint(model)
    with torch.no_grad():
        model[0].weight.view(-1)[0] = torch.nextafter(model[0].weight.view(-1)[0], torch.tensor(1.0))
    assert len({before, after_buffer, provenance.model_fingerprint(model)}) == 3


# ------------------------------------------------------------------------------ 1. resume after a change


@pytest.mark.parametrize("change", ["weights", "labels", "images", "code", "versions"])
def test_resume_after_a_change_stops_with_a_message_naming_it(tmp_path, change, monkeypatch):
    _run(tmp_path, max_units=6)
    before = sorted(p.read_bytes() for p in (tmp_path / "units").rglob("*.csv"))
    backend = make_backend()
    expected = {"weights": r"the weights of model 'tiny_vgg'", "labels": "the test labels or masks",
                "images": r"the test images \(image\(s\) 0, 1, 2, 3, 4 differ\)",
                "code": "the library's source code", "versions": r"the package versions \(quantus 0.6.0 -> 9.9\)"}[change]
    if change == "weights":
        backend = backend_with(weights_offset={"tiny_vgg": 0.1})
    elif change == "labels":
        backend = backend_with(label_change=True)
    elif change == "images":
        backend = backend_with(image_noise=1e-3)
    elif change == "code":
        copy = tmp_path.parent / f"{tmp_path.name}-lib"
        shutil.copytree(provenance.PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
        (copy / "evaluation" / "tables.py").write_text((copy / "evaluation" / "tables.py").read_text() + "\n# edited\n")
        monkeypatch.setattr(provenance, "PACKAGE_ROOT", copy)
    else:
        real = metadata_module.package_versions
        monkeypatch.setattr(metadata_module, "package_versions", lambda: {**real(), "quantus": "9.9"})
    with pytest.raises(ValueError, match=rf"computed from something else .*{expected}.*--restart"):
        _run(tmp_path, backend=backend)
    assert sorted(p.read_bytes() for p in (tmp_path / "units").rglob("*.csv")) == before  # nothing mixed in


def test_the_command_line_refuses_the_changed_folder_in_one_line(tmp_path, monkeypatch, capsys):
    _run(tmp_path / "r", max_units=4)
    real = metadata_module.package_versions
    monkeypatch.setattr(metadata_module, "package_versions", lambda: {**real(), "torch": "0.0"})
    import hidden_monotonicity.cli as cli

    monkeypatch.setattr(cli, "evaluate", lambda *a, **k: evaluate(small_profile(), tmp_path / "r", backend=make_backend(),
                                                                 progress=False, restart=k.get("restart", False)))
    assert command_line(["evaluate", "--out", str(tmp_path / "r")]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "the package versions (torch" in error and "--restart" in error


def test_restart_after_a_weight_change_recomputes_that_model_only(tmp_path, changed_weights_reference):
    _run(tmp_path)
    vgg_units = {p: p.read_bytes() for p in (tmp_path / "units" / "tiny_vgg").rglob("*.csv")}
    with pytest.warns(UserWarning, match="recomputing the results of model 'tiny_flat'.*weights changed"):
        result = _run(tmp_path, backend_with(weights_offset={"tiny_flat": 0.5}), restart=True)
    assert result.complete and result.units_computed > 0
    assert {p: p.read_bytes() for p in vgg_units} == vgg_units  # the unchanged model's units were kept
    for name in ("scores.csv", "selection.csv", "table.csv", "table.md"):
        assert (tmp_path / name).read_bytes() == (changed_weights_reference.out_dir / name).read_bytes(), name
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["fingerprint"]["models"] == changed_weights_reference.metadata["fingerprint"]["models"]
    assert meta["recomputed"][0]["model"] == "tiny_flat"


def test_restart_after_a_code_change_recomputes_everything(tmp_path, monkeypatch):
    reference = _run(tmp_path / "reference")
    _run(tmp_path / "r", max_units=5)
    copy = tmp_path / "lib"
    shutil.copytree(provenance.PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "__init__.py").write_text((copy / "__init__.py").read_text() + "\n# edited\n")
    monkeypatch.setattr(provenance, "PACKAGE_ROOT", copy)
    with pytest.warns(UserWarning, match="recomputing every result .*source code"):
        result = _run(tmp_path / "r", restart=True)
    assert result.complete
    assert len(json.loads((tmp_path / "r" / "metadata.json").read_text())["runs"]) == 1  # a new record
    pd.testing.assert_frame_equal(_scores(tmp_path / "r"), _scores(reference.out_dir))


def test_last_bit_image_differences_resume_with_a_warning(tmp_path):
    _run(tmp_path, max_units=4)
    with pytest.warns(UserWarning, match="only in the last bits"):
        assert _run(tmp_path, backend=backend_with(image_ulp=True)).complete


def test_a_folder_written_before_fingerprints_is_not_resumed(tmp_path):
    _run(tmp_path, max_units=4)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    del meta["fingerprint"]
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="written before fingerprints were recorded"):
        _run(tmp_path)


# ------------------------------------------------------------------------------ 2. a folder without metadata.json


def test_a_folder_with_units_but_no_metadata_is_refused_or_restarted(tmp_path):
    reference = _run(tmp_path / "reference")
    _run(tmp_path / "r", profile=small_profile(seed=3, n_test=4))  # another profile's units ...
    (tmp_path / "r" / "metadata.json").unlink()  # ... without the record of what produced them
    with pytest.raises(ValueError, match=r"holds result files .*but no metadata\.json.*--restart"):
        _run(tmp_path / "r")
    with pytest.warns(UserWarning, match="no metadata.json"):
        _run(tmp_path / "r", restart=True)
    pd.testing.assert_frame_equal(_scores(tmp_path / "r"), _scores(reference.out_dir))


# ------------------------------------------------------------------------------ 3. merge of shards that differ


@pytest.mark.parametrize("change", ["versions", "weights"])
def test_merge_refuses_shards_computed_from_different_things(tmp_path, monkeypatch, change):
    _run(tmp_path / "s0", shard=0, num_shards=2)
    if change == "versions":
        real = metadata_module.package_versions
        monkeypatch.setattr(metadata_module, "package_versions", lambda: {**real(), "numpy": "1.0"})
        _run(tmp_path / "s1", shard=1, num_shards=2)
        expected = r"the package versions \(numpy"
    else:  # shard 1 evaluates tiny_flat's second row and tiny_vgg's first: both shards load both models
        _run(tmp_path / "s1", backend_with(weights_offset={"tiny_vgg": 0.1}), shard=1, num_shards=2)
        expected = "the weights of model 'tiny_vgg'"
    with pytest.raises(ValueError, match=rf"computed from different things \({expected}.*cannot be merged"):
        merge([tmp_path / "s0", tmp_path / "s1"], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


# ------------------------------------------------------------------------------ 4. merge --overwrite leaves nothing behind


def test_merge_overwrite_removes_every_table_of_the_previous_evaluation(tmp_path):
    other = tmp_path / "other"
    _run(other, profile=small_profile(seed=8, defaults_metrics=("Sparseness",)))
    assert (other / "table_defaults.csv").is_file()
    (other / "table_extra.csv").write_text("an older table\n")
    (other / "notes.txt").write_text("the user's own notes\n")
    _run(tmp_path / "s0")
    merge([tmp_path / "s0"], other, overwrite=True)
    assert not (other / "table_defaults.csv").exists() and not (other / "table_extra.csv").exists()
    assert (other / "notes.txt").read_text() == "the user's own notes\n"
    listed = json.loads((other / "metadata.json").read_text())["outputs"]
    assert sorted(p.name for p in other.iterdir() if p.is_file() and p.name != "notes.txt") == listed


def test_a_rerun_without_defaults_removes_the_defaults_table(tmp_path):
    _run(tmp_path, profile=small_profile(defaults_metrics=("Sparseness",)))
    assert (tmp_path / "table_defaults.csv").is_file()
    _run(tmp_path, profile=small_profile(), restart=True)
    assert not (tmp_path / "table_defaults.csv").exists()


# ------------------------------------------------------------------------------ a merge killed while copying


def test_a_second_merge_after_a_killed_merge_redoes_it(tmp_path, monkeypatch):
    from hidden_monotonicity.evaluation import runner

    shards = [tmp_path / "s0", tmp_path / "s1"]
    for i, folder in enumerate(shards):
        _run(folder, shard=i, num_shards=2)
    reference = merge(shards, tmp_path / "reference")

    def killed(sources, target):  # what SIGKILL during the copy leaves: some unit files, no finalisation
        (target.root / "units").mkdir()
        shutil.copytree(sources[0].root / "units" / "tiny_vgg", target.root / "units" / "tiny_vgg")
        raise KeyboardInterrupt

    (tmp_path / "merged").mkdir()  # an existing --out folder (not created by the merge, so it is not removed)
    monkeypatch.setattr(runner, "copy_results", killed)
    with pytest.raises(KeyboardInterrupt):
        merge(shards, tmp_path / "merged")
    monkeypatch.undo()
    assert merge(shards, tmp_path / "merged").complete
    for name in ("scores.csv", "table.md"):
        assert (tmp_path / "merged" / name).read_bytes() == (reference.out_dir / name).read_bytes()


def test_data_fingerprint_detects_one_changed_pixel_label_and_mask():
    rng = np.random.default_rng(0)
    images, labels, masks = rng.normal(size=(3, 3, 8, 8)).astype(np.float32), np.arange(3), np.zeros((3, 1, 8, 8))
    base = provenance.data_fingerprint(images, labels, masks)
    edited = images.copy()
    edited[2, 1, 4, 4] += 0.5
    changes, _, _ = provenance.differences({"data": {"test": base}}, {"data": {"test": provenance.data_fingerprint(edited, labels, masks)}})
    assert changes == ["the test images (image(s) 2 differ)"]
    masks2 = masks.copy()
    masks2[0, 0, 0, 0] = 1
    for other in (provenance.data_fingerprint(images, labels[::-1].copy(), masks),
                  provenance.data_fingerprint(images, labels, masks2)):
        assert provenance.differences({"data": {"test": base}}, {"data": {"test": other}})[0][0].startswith("the test labels")


# ------------------------------------------------------------------------------ issue 25.7: a qualitative profile


def test_a_qualitative_profile_marks_no_winner_and_says_why(tmp_path):
    why = "Qualitative sanity check: the test images repeat the validation photos."
    result = _run(tmp_path, profile=small_profile(qualitative=why))
    assert not result.table["is_best"].any()
    assert why in (tmp_path / "table.md").read_text() and "**" not in (tmp_path / "table.md").read_text().split("Paired")[0]
    assert _run(tmp_path / "claims").table["is_best"].any()  # the same run without the sentence marks winners


@pytest.mark.parametrize("qualitative", [True, False])
def test_a_qualitative_profile_tests_no_comparison(tmp_path, qualitative):
    from hidden_monotonicity.evaluation import tables
    from hidden_monotonicity.evaluation.comparisons import comparison_summary, verdicts

    rng = np.random.default_rng(0)
    rows = [{"model": "m", "method": method, "config": "c", "metric": "AttributionLocalisation", "category": "x", "sample": i,
             "score": float(shift + rng.normal(0, 0.1)), "status": "ok"}
            for method, shift in (("splitcam", 1.0), ("layercam", 0.0)) for i in range(20)]
    paths = tables.write_tables(pd.DataFrame(rows), tmp_path, models=["m"], metric_order=["AttributionLocalisation"],
                                method_order=["splitcam", "layercam"], directions={"AttributionLocalisation": "higher"},
                                split_methods=["splitcam"], mark_best=not qualitative)
    comparisons = pd.read_csv(paths["comparisons"])
    if qualitative:
        assert set(comparisons["family"]) == {"descriptive"} and set(verdicts(comparisons)) == {"not tested"}
        assert not comparisons["holds"].any() and comparison_summary(comparisons)["not tested"].sum() == 1
        assert "no comparison is tested" in paths["md"].read_text()
    else:  # a difference of 10 SD on 20 images: the confirmatory test finds it
        assert list(verdicts(comparisons)) == ["favours method"] and comparisons["family"].iloc[0] == "confirmatory"


def test_the_natural_profile_is_qualitative():
    from hidden_monotonicity.evaluation.profiles import get_profile

    assert "same four photos" in get_profile("natural").qualitative and get_profile("default").qualitative == ""
