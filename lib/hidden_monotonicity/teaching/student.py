"""The students' copy of the course (``make student``): the notebooks without outputs, solutions or answer key.

``python -m hidden_monotonicity.teaching.student [DESTINATION]`` (default ``student/``) writes every notebook of
``notebooks/`` with its outputs cleared (executed outputs can show what an exercise asks for) and nothing of
``notebooks/solutions/`` (the worked solutions and ``answer_key.py``). The students install this library as usual;
its checks hold digests of rounded answers only (:mod:`.answers`).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nbformat

from ..outputs import repository_root

README = """# Course notebooks (students' copy)

The notebooks of the course on *Hidden Monotonicity* (see COURSE.md of the repository), without their outputs and
without solutions. Run them in order; every exercise ends with `hm.teaching.check("k", answer)`, a self-check that
prints *right* or the next hint.
"""


def export(destination: str | Path = "student", source: str | Path | None = None) -> list[Path]:
    """Write the students' copy into ``destination`` (replaced if it exists) and return the notebooks written."""
    source = Path(source) if source is not None else repository_root() / "notebooks"
    destination = Path(destination)
    if not source.is_dir():
        raise FileNotFoundError(f"no notebooks folder at {source}; pass source= the repository's notebooks/")
    if destination.resolve() in (source.resolve(), *source.resolve().parents):
        raise ValueError(f"the students' copy cannot replace {destination}: choose a new folder such as student/")
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    written = []
    for path in sorted(source.glob("*.ipynb")):  # the top level only: solutions/ stays behind
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
            cell.get("metadata", {}).pop("execution", None)
        nbformat.write(notebook, destination / path.name)
        written.append(destination / path.name)
    (destination / "README.md").write_text(README, encoding="utf-8")
    return written


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "student"
    notebooks = export(target)
    print(f"wrote {len(notebooks)} notebooks without outputs, solutions or answer key to {target}/")
