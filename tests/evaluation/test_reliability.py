"""Issue 15, items 6-9 and 11: no silent data loss in an output folder, and one-line errors on the command line.

Only public entry points are used (``evaluate``, ``merge``, ``python -m hidden_monotonicity``), so each test
also runs against the code before the fix (where it fails).
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
import torch

from hidden_monotonicity.__main__ import main as command_line
from hidden_monotonicity.evaluation import runner
from hidden_monotonicity.evaluation.profiles import MethodGrid
from hidden_monotonicity.evaluation.runner import evaluate, merge
from evaluation_standins import make_backend, stand_in_profile

RESULT_FILES = ("table.csv", "table.md", "selection.csv", "scores.csv")


def small_profile(**changes):
    """One model, a two-candidate row (so there is a selection), three cheap metrics, chunks of 3 of 5 images."""
    base = dict(models=("tiny_flat",), methods=(MethodGrid("input_x_gradient"),) + stand_in_profile().methods[2:],
                metrics=("Sparseness", "PointingGame", "MaxSensitivity"), metric_params={"MaxSensitivity": {"nr_samples": 2}},
                selection_criterion="metric:PointingGame")
    base.update(changes)
    return stand_in_profile(**base)


def _run(out: Path, profile=None, **kwargs):
    kwargs.setdefault("backend", make_backend())
    return evaluate(profile or small_profile(), out, progress=False, **kwargs)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("reference"))


def _same_results(a: Path, b: Path) -> None:
    for name in RESULT_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def _unit_files(root: Path) -> list[Path]:
    return sorted((root / "units").rglob("*.csv"))


def _resume_and_collect_warnings(out: Path) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _run(out).complete
    return [str(w.message) for w in caught]


# ------------------------------------------------------------------------------ 6. damaged units and selections


@pytest.mark.parametrize("damage", ["truncated", "header only", "empty", "garbage bytes", "text score"])
def test_a_damaged_unit_is_recomputed_with_a_warning_naming_it(reference, tmp_path, damage):
    _run(tmp_path)
    unit = next(p for p in _unit_files(tmp_path) if "test" in p.parts and p.name.startswith("Sparseness-00000"))
    original = unit.read_bytes()
    lines = original.decode().splitlines(keepends=True)
    assert len(lines) == 4  # header + 3 images
    unit.write_bytes({
        "truncated": "".join(lines[:2]).encode(),
        "header only": lines[0].encode(),
        "empty": b"",
        "garbage bytes": b"\xff\xfe\x00garbage\x81\n\x00",
        "text score": "".join(lines[:1] + [lines[1].replace(lines[1].split(",")[8], "abc", 1)] + lines[2:]).encode(),
    }[damage])
    messages = _resume_and_collect_warnings(tmp_path)
    assert any(str(unit) in m and "recomputing" in m for m in messages), messages
    assert unit.read_bytes() == original
    _same_results(reference.out_dir, tmp_path)


def test_a_truncated_selection_file_is_redone_with_a_warning(reference, tmp_path):
    _run(tmp_path)
    selection = next((tmp_path / "selection").rglob("mask_oracle.csv"))
    original = selection.read_bytes()
    selection.write_bytes(b"".join(original.splitlines(keepends=True)[:2]))  # header + the first of two candidates
    messages = _resume_and_collect_warnings(tmp_path)
    assert any(str(selection) in m for m in messages), messages
    assert selection.read_bytes() == original
    _same_results(reference.out_dir, tmp_path)


# ------------------------------------------------------------------------------ 7. corrupt files: clear errors


@pytest.mark.parametrize("content", [b'{"format": 1, "profile": {"name"', b"", b"\xff\xfe not json"])
def test_a_damaged_metadata_file_is_named_with_how_to_recover(tmp_path, content):
    _run(tmp_path, max_units=2)
    (tmp_path / "metadata.json").write_bytes(content)
    with pytest.raises(ValueError, match=r"metadata\.json is damaged .*fresh --out folder"):
        _run(tmp_path)
    with pytest.raises(ValueError, match=r"metadata\.json is damaged"):
        merge([tmp_path], tmp_path.parent / f"{tmp_path.name}-merged", allow_incomplete=True)


def test_merge_names_a_damaged_unit_of_a_shard_and_how_to_recover(tmp_path):
    _run(tmp_path / "s0", shard=0, num_shards=1)
    unit = _unit_files(tmp_path / "s0")[0]
    unit.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match=rf"{unit.name} is damaged .*resume the shard folder"):
        merge([tmp_path / "s0"], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


# ------------------------------------------------------------------------------ 8. merge into a non-empty folder


def test_merge_refuses_a_folder_that_holds_another_run(reference, tmp_path):
    shards = [tmp_path / "s0", tmp_path / "s1"]
    for i, folder in enumerate(shards):
        _run(folder, shard=i, num_shards=2)
    other = tmp_path / "other"
    _run(other, profile=small_profile(seed=8))
    with pytest.raises(ValueError, match="not empty and does not hold a merge of these shard folders"):
        merge(shards, other)
    assert json.loads((other / "metadata.json").read_text())["seed"] == 8  # untouched
    merge(shards, other, overwrite=True)
    _same_results(reference.out_dir, other)
    again = merge(shards, other)  # the same merge, redone in place
    assert again.complete
    _same_results(reference.out_dir, other)


# ------------------------------------------------------------------------------ 9. one run per folder


def test_a_second_run_on_a_busy_folder_refuses_and_a_stale_lock_is_taken_over(tmp_path):
    _run(tmp_path, max_units=1)
    assert not (tmp_path / ".lock").exists()  # released after the run
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        import socket

        (tmp_path / ".lock").write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(), "started": "now"}))
        with pytest.raises(ValueError, match=rf"in use by another run \(pid {holder.pid}"):
            _run(tmp_path)
        code, err = _cli(["merge", str(tmp_path), "--out", str(tmp_path.parent / "m"), "--allow-incomplete"])
        assert code == 2 and "being written by a running evaluation" in err
    finally:
        holder.kill()
        holder.wait()
    with pytest.warns(UserWarning, match="stale lock"):
        assert _run(tmp_path).complete
    assert not (tmp_path / ".lock").exists()


# ------------------------------------------------------------------------------ 11. the command line


def _cli(args, capsys=None):
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = command_line(args)
    return code, err.getvalue()


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--num-shards", "0"], "num_shards must be >= 1, got 0"),
        (["--shard", "5", "--num-shards", "2"], "shard must be in [0, 2)"),
        (["--max-units", "-3"], "max_units must be a whole number >= 0"),
        (["--shard", "x"], "invalid int value: 'x'"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--threads", "0"], "--threads must be >= 1"),
    ],
)
def test_cli_argument_errors_are_one_line_with_status_2(tmp_path, arguments, message):
    out = tmp_path / "out"
    code, err = _cli(["evaluate", "--profile", "smoke", "--out", str(out), *arguments])
    assert code == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err, err
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cli_cuda_without_a_gpu_is_one_line(tmp_path):
    code, err = _cli(["evaluate", "--profile", "smoke", "--out", str(tmp_path / "out"), "--device", "cuda"])
    assert code == 2 and err.count("\n") == 1 and "CUDA is not available" in err
    assert not (tmp_path / "out").exists()


def test_cli_unwritable_out_is_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, err = _cli(["evaluate", "--profile", "smoke", "--out", str(blocker / "out")])
    assert code == 2 and err.count("\n") == 1 and "cannot write to the output folder" in err, err
    code, err = _cli(["evaluate", "--profile", "smoke", "--out", str(blocker)])
    assert code == 2 and err.count("\n") == 1 and "is a file" in err, err


def test_cli_paper_profile_checks_the_data_folder_first(tmp_path):
    out = tmp_path / "out"
    code, err = _cli(["evaluate", "--profile", "paper", "--out", str(out)])
    assert code == 2 and err.count("\n") == 1 and "--data-dir" in err and "CUDA" not in err, err
    code, err = _cli(["evaluate", "--profile", "paper", "--out", str(out), "--data-dir", str(tmp_path / "missing")])
    assert code == 2 and "does not exist" in err, err
    assert not out.exists()


def test_a_failed_start_leaves_no_output_folder(tmp_path):
    backend = make_backend()

    def no_weights(name, allow_random_init, seed):
        raise FileNotFoundError(f"no weights for {name}")

    backend.load_model = no_weights
    with pytest.raises(FileNotFoundError):
        _run(tmp_path / "out", backend=backend)
    assert not (tmp_path / "out").exists()


def test_the_profile_differs_error_is_a_short_diff(tmp_path):
    _run(tmp_path, max_units=1)
    with pytest.raises(ValueError) as caught:
        _run(tmp_path, profile=small_profile(seed=8, chunk_size=2))
    message = str(caught.value)
    assert "seed: 7 -> 8" in message and "chunk_size: 3 -> 2" in message
    assert len(message) < 400 and "\n" not in message


def test_the_incomplete_merge_hints_say_what_to_do(tmp_path, monkeypatch):
    _run(tmp_path / "s0", shard=0, num_shards=2, max_units=1)
    with pytest.raises(ValueError) as caught:
        merge([tmp_path / "s0"], tmp_path / "merged")
    message = str(caught.value)
    assert f"evaluate --profile stand-in --shard 0 --num-shards 2 --out {tmp_path / 's0'}" in message
    assert "merge again" in message and "--allow-incomplete" in message
    monkeypatch.setattr(runner, "default_backend", make_backend)
    import io
    import contextlib

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = command_line(["merge", str(tmp_path / "s0"), "--out", str(tmp_path / "merged"), "--allow-incomplete"])
    assert code == 3
    assert "INCOMPLETE" in printed.getvalue() and "run this merge again" in printed.getvalue()
    assert "resume" not in printed.getvalue().split("\n")[0]


# ------------------------------------------------------------------------------ failure statuses


@pytest.mark.parametrize("reuse", [True, False], ids=["reused-maps", "own-explanations"])
def test_failure_statuses_do_not_depend_on_the_unit_order(tmp_path, reuse):
    """A chunk whose explanation failed marks the metrics that use those maps: with reused explanations the
    re-explaining ones too (they receive the maps); without, those fail in their own explanation."""
    profile = small_profile(methods=(MethodGrid("broken", fixed={"failure": "raise"}),),
                            metrics=("Sparseness", "MaxSensitivity"), metric_params={"MaxSensitivity": {"nr_samples": 1}},
                            reuse_explanations=reuse)
    whole = _run(tmp_path / "whole", profile=profile).scores
    _run(tmp_path / "resumed", profile=profile, max_units=1)  # only Sparseness of chunk 0
    resumed = _run(tmp_path / "resumed", profile=profile).scores
    pd.testing.assert_frame_equal(whole, resumed)
    test = whole[whole["split"] == "test"]
    assert test[test["metric"] == "Sparseness"]["status"].str.startswith("failed: explain: RuntimeError").all()
    own_failure = "failed: explain: RuntimeError" if reuse else "failed: RuntimeError"
    assert test[test["metric"] == "MaxSensitivity"]["status"].str.startswith(own_failure).all()


def test_a_unit_file_with_text_in_a_number_column_is_named_when_read(tmp_path):
    """Even when its record matches (written so by a bug or by hand), text where numbers belong is an error naming the file."""
    from hidden_monotonicity.evaluation.store import SCORE_COLUMNS, OutputFolderError, ResultStore, WorkUnit

    store = ResultStore(tmp_path)
    unit = WorkUnit("m", "test", "method", "default", "Sparseness", 0)
    row = dict(zip(SCORE_COLUMNS, ["m", "test", "method", "default", "Sparseness", "Complexity", 0, 1, "abc", "ok", 5]))
    store.write_unit(unit, pd.DataFrame([row]))
    with pytest.raises(OutputFolderError, match=rf"{store.unit_path(unit)}: column 'score' holds text \('abc'\)"):
        store.read_units()
