"""Which output files a notebook declares, read from its code (shared by the figure and notebook tests).

Notebooks write every file through ``figures.save(fig, "<name>")`` / ``figures.save_table(...)`` /
``figures.produced_by(writer, "<name>", ...)`` (also as ``config.figures``) with literal names; an f-string
becomes a pattern with ``*`` for each substituted part. ``optional=True`` marks a file a run may legitimately not
write (e.g. one that needs ImageNet-S).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from hidden_monotonicity.outputs import OUTPUT_EXTENSIONS

__all__ = ["declared_outputs", "matches_declared"]


def declared_outputs(notebook: str | PathLike | Mapping[str, Any]) -> dict[str, bool]:
    """Output names a notebook (a path or a loaded notebook) writes, mapped to ``True`` when required and
    ``False`` when declared ``optional=True``."""
    if isinstance(notebook, Mapping):
        cells = notebook["cells"]
    else:
        cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    names: dict[str, bool] = {}
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in ("save", "save_table", "produced_by"):
                continue
            owner = node.func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
            if owner_name != "figures":
                continue
            optional = any(
                keyword.arg == "optional" and isinstance(keyword.value, ast.Constant) and keyword.value.value is True
                for keyword in node.keywords
            )
            for argument in node.args:
                name = _literal_name(argument)
                if name is not None and Path(name.replace("*", "x")).suffix in OUTPUT_EXTENSIONS:
                    names[name] = names.get(name, False) or not optional
    return names


def matches_declared(name: str, declared: Mapping[str, bool] | set[str]) -> bool:
    """True when ``name`` equals a declared output or matches a declared pattern (``*`` = any text)."""
    for pattern in declared:
        if "*" in pattern:
            if re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), name):
                return True
        elif pattern == name:
            return True
    return False


def _literal_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(value.value if isinstance(value, ast.Constant) else "*" for value in node.values)
    return None
