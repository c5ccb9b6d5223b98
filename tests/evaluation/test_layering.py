"""The evaluation package stays below the figures and the command line (issue 12)."""

from __future__ import annotations

import ast
from pathlib import Path

import hidden_monotonicity.evaluation as evaluation

FORBIDDEN = ("plots", "widgets", "cli", "notebook_params", "reproduce")


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.add(base)
            names.update(f"{base.rstrip('.')}.{alias.name}" for alias in node.names)
    return names


def test_evaluation_imports_neither_plots_nor_the_command_line():
    folder = Path(evaluation.__file__).parent
    offending = {}
    for path in sorted(folder.glob("*.py")):
        bad = [name for name in _imported_modules(path)
               if any(part in FORBIDDEN for part in name.replace("hidden_monotonicity", "").strip(".").split("."))]
        if bad:
            offending[path.name] = bad
    assert not offending, offending


def test_no_evaluation_module_is_over_550_lines():
    folder = Path(evaluation.__file__).parent
    lengths = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in folder.glob("*.py")}
    assert max(lengths.values()) <= 550, lengths
