"""The evaluation runner reports each finished work unit to ``HM_PROGRESS_FILE`` (followed by `reproduce`)."""

from __future__ import annotations

import json

from evaluation_standins import make_backend, stand_in_profile

from hidden_monotonicity.evaluation import evaluate
from hidden_monotonicity.progress import PROGRESS_FILE_VARIABLE, report_progress


def test_every_computed_unit_appends_one_record(tmp_path, monkeypatch):
    progress = tmp_path / "progress.jsonl"
    monkeypatch.setenv(PROGRESS_FILE_VARIABLE, str(progress))
    result = evaluate(stand_in_profile(), tmp_path / "out", backend=make_backend(), progress=False)
    records = [json.loads(line) for line in progress.read_text().splitlines()]
    assert len(records) == result.units_computed > 0
    assert [r["units_computed"] for r in records] == list(range(1, len(records) + 1))
    for record in records:
        assert 1 <= record["task_done"] <= record["task_total"] and "|" in record["task"]
    last_of_each_task = {r["task"]: r for r in records}
    assert all(r["task_done"] == r["task_total"] for r in last_of_each_task.values())
    times = [r["time"] for r in records]
    assert times == sorted(times)

    progress.unlink()  # a resumed, complete run computes nothing and reports nothing
    evaluate(stand_in_profile(), tmp_path / "out", backend=make_backend(), progress=False)
    assert not progress.exists()


def test_without_the_variable_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.delenv(PROGRESS_FILE_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    report_progress(step=1)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv(PROGRESS_FILE_VARIABLE, str(tmp_path / "missing-folder" / "p.jsonl"))
    report_progress(step=1)  # an unwritable progress file never stops the work


def test_a_pool_reports_from_its_parent_only_and_counts_every_unit(tmp_path, monkeypatch):
    """With workers, the parent writes one record per finished task (the workers' own records would interleave two
    counters); the last record counts every unit of the run, and each record names its run."""
    from evaluation_standins import picklable_backend

    progress = tmp_path / "progress.jsonl"
    monkeypatch.setenv(PROGRESS_FILE_VARIABLE, str(progress))
    result = evaluate(stand_in_profile(), tmp_path / "out", backend=picklable_backend(), progress=False, workers=2)
    records = [json.loads(line) for line in progress.read_text().splitlines()]
    counts = [r["units_computed"] for r in records]
    assert counts == sorted(counts) and counts[-1] == result.units_computed > 0
    assert {r["run"] for r in records} == {str(tmp_path / "out")}
    assert all("workers" in r["task"] for r in records)
