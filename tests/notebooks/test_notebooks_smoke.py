"""Every notebook executes (papermill, a fresh kernel of this interpreter) and writes exactly the files its code
declares - into a temporary folder, never into the committed figures/. The teaching notebooks of COURSE.md (01-05)
run under the classroom profile, the one a class runs (issue 29.3); the others under the smoke profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from declared_outputs import declared_outputs, matches_declared

from hidden_monotonicity.reproduce import discover_notebooks

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = discover_notebooks(NOTEBOOK_DIR)
#: generous upper bound per notebook on a busy 2-core machine (smoke: 8-20 s when it is quiet)
SECONDS_PER_NOTEBOOK = 150
#: the teaching notebooks run their classroom profile (quiet 2-core machine: 10-75 s each; busy: up to about 2 min)
CLASSROOM = {"01", "02", "03", "04", "05"}
SECONDS_PER_CLASSROOM_NOTEBOOK = 300


def profile_for(path: Path) -> str:
    """The profile a notebook runs under in this test: ``classroom`` for the teaching notebooks, else ``smoke``."""
    return "classroom" if path.name[:2] in CLASSROOM else "smoke"


def limit_for(path: Path) -> int:
    """The seconds a notebook may take under its test profile (:func:`profile_for`)."""
    return SECONDS_PER_CLASSROOM_NOTEBOOK if profile_for(path) == "classroom" else SECONDS_PER_NOTEBOOK


#: the longest runs first, so that the two overlapping runs end together (notebook 03 alone is about a third of all)
LONGEST_FIRST = ("03", "05", "04", "07")


def _order(path: Path) -> int:
    return LONGEST_FIRST.index(path.name[:2]) if path.name[:2] in LONGEST_FIRST else len(LONGEST_FIRST)


@pytest.fixture(scope="module")
def test_profile_runs(notebook_runs, request, tmp_path_factory):
    """Start every selected notebook's run under its test profile (two at a time, longest first); returns the folder
    of each run: ``<folder>/figures`` holds what it wrote."""
    folders = {}
    chosen = [params["path"] for params in notebook_runs.selected(request, "test_notebook_runs_under_its_test_profile")]
    for path in sorted(chosen, key=_order):
        folder = folders[path.name] = tmp_path_factory.mktemp(path.stem)
        parameters = {"profile": profile_for(path), "output_dir": str(folder / "figures"),
                      "results_dir": str(folder / "results"), "threads": 1}
        notebook_runs.submit(path.name, path, folder / path.name, parameters, cell_timeout=limit_for(path))
    return folders


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_under_its_test_profile(path, test_profile_runs, notebook_runs):
    profile, limit = profile_for(path), limit_for(path)
    figures = test_profile_runs[path.name] / "figures"
    run = notebook_runs.result(path.name)
    assert run.ok, f"{path.name} failed under the {profile} profile: {run.error} (executed notebook: {run.output})"
    assert run.seconds < limit, f"{path.name} took {run.seconds:.0f} s"

    executed = json.loads(run.output.read_text(encoding="utf-8"))
    errors = [o for cell in executed["cells"] for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    injected = [cell for cell in executed["cells"] if "injected-parameters" in cell.get("metadata", {}).get("tags", [])]
    assert injected and f'profile = "{profile}"' in "".join(injected[0]["source"])

    declared = declared_outputs(path)
    written = {file.name for file in figures.iterdir()} if figures.is_dir() else set()
    undeclared = sorted(name for name in written if not matches_declared(name, declared))
    assert not undeclared, f"{path.name} wrote files its code does not declare: {undeclared}"
    for name, required in declared.items():
        if not required:
            continue
        if "*" in name:
            assert any(matches_declared(file, {name: True}) for file in written), f"nothing matches {name}"
        else:
            assert name in written, f"{path.name} declares {name} but did not write it"
    for file in figures.iterdir():
        assert file.stat().st_size > 0, f"{file.name} is empty"
