"""Notebook 04's class-sensitivity cells (issue 25.6): every test image the evaluation scored, the same-class
baseline, and a markdown that says which correlation answers which question. (The cell itself runs in
tests/notebooks/test_notebooks_smoke.py; this checks what the smoke profile cannot tell apart, e.g. "all test
images" from "the first 16" when the smoke profile has fewer.)"""

from __future__ import annotations

import ast
import json
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "04_quantitative_evaluation.ipynb"


def _cells() -> list[dict]:
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]


def _class_sensitivity_code() -> ast.Module:
    sources = ["".join(c["source"]) for c in _cells() if c["cell_type"] == "code"]
    (source,) = [s for s in sources if "class_sensitivity(" in s]
    return ast.parse(source)


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and (getattr(node.func, "attr", None) == name or getattr(node.func, "id", None) == name)]


def test_the_class_sensitivity_cell_uses_the_first_evaluated_test_images_and_the_baseline():
    """The first class_sensitivity_images test images the evaluation scored (issue 27: 96 of 480, for the budget),
    never more than the profile's n_test, and none sliced away afterwards."""
    tree = _class_sensitivity_code()
    (load,) = [call for call in _calls(tree, "load") if ast.unparse(call.func) == "hm.data.load"]
    n = {k.arg: ast.unparse(k.value) for k in load.keywords}.get("n")
    assert n == "n_sensitivity", f"the test images are loaded with n={n!r}; expected n_sensitivity"
    code = ast.unparse(tree)
    assert "min(class_sensitivity_images, evaluation_profile.n_test)" in code, "n_sensitivity must not exceed n_test"
    sliced = [ast.unparse(node) for node in ast.walk(tree) if isinstance(node, ast.Subscript)
              and "test_images" in ast.unparse(node.value)]
    assert not sliced, f"the cell slices the test images: {sliced}"
    (call,) = _calls(tree, "class_sensitivity")
    assert "noise_sd" in {k.arg for k in call.keywords}, "the same-class baseline's noise level is not stated"


def test_the_class_sensitivity_markdown_says_which_correlation_to_read():
    (text,) = ["".join(c["source"]) for c in _cells()
               if c["cell_type"] == "markdown" and "".join(c["source"]).startswith("## Class sensitivity")]
    for phrase in ("signed ρ", "|map| ρ", "same-class baseline", "does the map's sign pattern change with the class",
                   "does the map point at the same places", "class_sensitivity_images"):
        assert phrase in text, f"the class-sensitivity markdown does not mention {phrase!r}"
