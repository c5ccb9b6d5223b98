"""Static checks of the committed notebooks: numbering, parameters cell, configure call, teaching cells."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from declared_outputs import declared_outputs

from hidden_monotonicity import notebook_params
from hidden_monotonicity.outputs import FigureSaver
from hidden_monotonicity.reproduce import declared_parameters, discover_notebooks

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"

REQUIRED_PARAMETERS = {"profile", "model", "dataset", "data_dir", "device", "seed", "output_dir"}
NOTEBOOKS = discover_notebooks(NOTEBOOK_DIR)


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_the_reading_path_is_complete_and_numbered():
    assert [path.stem for path in NOTEBOOKS] == list(notebook_params.NOTEBOOKS)
    assert [int(path.name[:2]) for path in NOTEBOOKS] == list(range(len(NOTEBOOKS)))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_parameters_cell_with_every_required_parameter(path):
    tagged = [cell for cell in _cells(path) if "parameters" in cell.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name} must have exactly one cell tagged 'parameters'"
    # papermill's own parser must understand every line (a second '=' in a comment breaks it)
    parsed = declared_parameters(path)
    assert REQUIRED_PARAMETERS <= set(parsed), f"{path.name} lacks {REQUIRED_PARAMETERS - set(parsed)}"
    assert parsed["profile"] == '"default"', "the committed default must be the default profile"
    assert parsed["output_dir"] == '"figures"'
    names = {target.id for node in ast.parse(_source(tagged[0])).body for target in node.targets}
    assert names == set(parsed)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_configure_is_called_with_the_notebooks_own_name(path):
    calls = []
    for cell in _cells(path):
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse(_source(cell))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "configure":
                calls.append(node.args[0].value)
    assert calls == [path.stem]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_declares_named_outputs(path, tmp_path):
    declared = declared_outputs(path)
    assert any(declared.values()), f"{path.name} writes no required output through figures.save/save_table"
    saver = FigureSaver(tmp_path)
    for name in declared:
        saver.path(name.replace("*", "x"))  # raises for names that are not plain files with a known extension


def test_no_two_notebooks_write_the_same_file():
    owners: dict[str, str] = {}
    for path in NOTEBOOKS:
        for name in declared_outputs(path):
            assert name not in owners, f"{name} is written by both {owners[name]} and {path.name}"
            owners[name] = path.name


def test_the_explorer_notebook_saves_its_preview():
    assert "explorer_preview.png" in declared_outputs(NOTEBOOK_DIR / "06_interactive_explorer.ipynb")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebooks_stay_small(path):
    """Outputs are kept (readers on GitHub see results), but images are modest PNGs: no notebook over 4 MB."""
    assert path.stat().st_size < 4 * 2**20, f"{path.name} is {path.stat().st_size / 2**20:.1f} MB"
    for cell in _cells(path):
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", f"{path.name} was committed with an error output"
