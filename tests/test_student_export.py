"""make student (issue 29.4): the students' copy holds the notebooks without outputs, solutions or answer key."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hidden_monotonicity.teaching.student import export

REPOSITORY = Path(__file__).resolve().parents[1]


def test_the_student_copy_has_no_outputs_solutions_or_answer_key(tmp_path):
    written = export(tmp_path / "student")
    names = sorted(path.name for path in written)
    assert names == sorted(path.name for path in (REPOSITORY / "notebooks").glob("*.ipynb"))
    assert {"01_dc_decomposition_toys.ipynb", "05_self_explaining_models.ipynb"} <= set(names)
    files = sorted(p.relative_to(tmp_path / "student").as_posix() for p in (tmp_path / "student").rglob("*") if p.is_file())
    assert files == sorted([*names, "README.md"])  # no solutions/ folder, no answer_key.py
    for path in written:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        for cell in notebook["cells"]:
            source = "".join(cell["source"])
            assert "assert hm.teaching.check" not in source and "answer_key" not in source
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name} keeps an output"


def test_the_student_copy_never_replaces_the_notebooks(tmp_path):
    with pytest.raises(ValueError, match="cannot replace"):
        export(REPOSITORY / "notebooks")
    with pytest.raises(FileNotFoundError, match="no notebooks folder"):
        export(tmp_path / "student", source=tmp_path / "missing")


def test_make_student_runs_the_export():
    makefile = (REPOSITORY / "Makefile").read_text(encoding="utf-8")
    rule = re.search(r"^student: .*\n((?:\t.*\n)+)", makefile, re.M)
    assert rule and "-m hidden_monotonicity.teaching.student student" in rule.group(1)
    assert re.search(r"^\.PHONY:.*\bstudent\b", makefile, re.M)
