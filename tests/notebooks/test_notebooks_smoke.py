"""Every notebook executes (papermill, a fresh kernel of this interpreter) and writes exactly the files its code
declares - into a temporary folder, never into the committed figures/. The teaching notebooks of COURSE.md (01-05)
run under the classroom profile, the one a class runs (issue 29.3); the others under the smoke profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from declared_outputs import declared_outputs, matches_declared

from hidden_monotonicity.reproduce import discover_notebooks, execute_notebook

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


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_under_its_test_profile(path, tmp_path, kernel_name):
    profile = profile_for(path)
    limit = SECONDS_PER_CLASSROOM_NOTEBOOK if profile == "classroom" else SECONDS_PER_NOTEBOOK
    figures = tmp_path / "figures"
    parameters = {"profile": profile, "output_dir": str(figures), "results_dir": str(tmp_path / "results"), "threads": 1}
    run = execute_notebook(path, tmp_path / path.name, parameters, kernel_name=kernel_name, cwd=NOTEBOOK_DIR,
                           cell_timeout=limit, retries=1)
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
