"""Every notebook executes under the smoke profile (papermill, a fresh kernel of this interpreter) and writes
exactly the files its code declares - into a temporary folder, never into the committed figures/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from declared_outputs import declared_outputs, matches_declared

from hidden_monotonicity.reproduce import discover_notebooks, execute_notebook

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = discover_notebooks(NOTEBOOK_DIR)
#: generous upper bound per notebook on a busy 2-core machine (they take 8-20 s when it is quiet)
SECONDS_PER_NOTEBOOK = 150


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_under_the_smoke_profile(path, tmp_path, kernel_name):
    figures = tmp_path / "figures"
    parameters = {"profile": "smoke", "output_dir": str(figures), "results_dir": str(tmp_path / "results"), "threads": 1}
    run = execute_notebook(path, tmp_path / path.name, parameters, kernel_name=kernel_name, cwd=NOTEBOOK_DIR,
                           cell_timeout=SECONDS_PER_NOTEBOOK, retries=1)
    assert run.ok, f"{path.name} failed under the smoke profile: {run.error} (executed notebook: {run.output})"
    assert run.seconds < SECONDS_PER_NOTEBOOK, f"{path.name} took {run.seconds:.0f} s"

    executed = json.loads(run.output.read_text(encoding="utf-8"))
    errors = [o for cell in executed["cells"] for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    injected = [cell for cell in executed["cells"] if "injected-parameters" in cell.get("metadata", {}).get("tags", [])]
    assert injected and 'profile = "smoke"' in "".join(injected[0]["source"])

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
