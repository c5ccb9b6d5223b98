"""Where the notebooks' output files go and how they are written: :class:`FigureSaver`, :data:`FIGURE_DPI`.

Every notebook writes its files (figures and tables under ``figures/``) through one :class:`FigureSaver`, with the
file name as a literal::

    config.figures.save(fig, "toy_1d_decomposition.png")
    config.figures.save_table(frame, "stability_reconstruction.csv")

so that the tests can read from a notebook's source which files it writes (``tests/declared_outputs.py``) and
compare that with what a run actually wrote.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "FIGURE_DPI",
    "OUTPUT_EXTENSIONS",
    "FigureSaver",
    "display_path",
    "markdown_table",
    "repository_root",
]

#: Resolution of every saved PNG (FigureSaver's default and its floor, the explorer's preview): figures fit for
#: slides need at least 150 dpi.
FIGURE_DPI = 150
#: File types a notebook may write through :class:`FigureSaver`.
OUTPUT_EXTENSIONS: tuple[str, ...] = (".png", ".csv", ".md", ".tex", ".json", ".gz")  # .gz: only ".csv.gz"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def repository_root() -> Path:
    """The repository root (the folder with ``pyproject.toml`` above this package's ``lib/`` folder)."""
    return Path(__file__).resolve().parents[2]


def display_path(path: str | os.PathLike) -> str:
    """``path`` relative to the repository root when it lies inside it (no machine-specific prefix in the
    committed notebooks), else absolute."""
    resolved = Path(path).expanduser().resolve()
    try:
        return str(resolved.relative_to(repository_root()))
    except ValueError:
        return str(resolved)


class FigureSaver:
    """Writes a notebook's output files into one folder and records their names (see the module docstring).

    ``dpi``: the resolution of saved PNGs, at least :data:`FIGURE_DPI`.
    """

    def __init__(self, folder: str | os.PathLike, *, dpi: int = FIGURE_DPI) -> None:
        if int(dpi) < FIGURE_DPI:
            raise ValueError(f"dpi must be at least {FIGURE_DPI} (figures fit for slides), got {dpi}")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.dpi = int(dpi)
        self.written: list[str] = []

    def path(self, name: str) -> Path:
        """Where ``name`` goes; checks that it is a plain file name with a known extension."""
        if not isinstance(name, str) or not _SAFE_NAME.match(name) or "/" in name:
            raise ValueError(
                f"output names must be plain file names like 'toy_1d_decomposition.png' (letters, digits, '_', '-', "
                f"'.'; no folders), got {name!r}"
            )
        if Path(name).suffix not in OUTPUT_EXTENSIONS or (name.endswith(".gz") and not name.endswith(".csv.gz")):
            raise ValueError(f"output {name!r} must end with one of {', '.join(OUTPUT_EXTENSIONS)} (.gz only as .csv.gz)")
        return self.folder / name

    def _record(self, name: str) -> Path:
        path = self.path(name)
        if name not in self.written:
            self.written.append(name)
        return path

    def save(self, figure: Any, name: str, *, close: bool = False, optional: bool = False, **savefig_kwargs: Any) -> None:
        """Save a matplotlib figure as ``name`` (PNG at ``self.dpi`` unless a higher ``dpi`` is given); :meth:`path`
        says where. A ``dpi`` below :data:`FIGURE_DPI` is raised to it, with a warning naming the file.
        Returns nothing, so that a notebook cell ending with it shows the figure and no path.

        ``optional=True`` declares (for the tests' reading of declared outputs) that a run may legitimately not
        reach this call, e.g. a figure that needs ImageNet-S; it changes nothing at run time."""
        if not hasattr(figure, "savefig"):
            raise TypeError(f"save() needs a matplotlib Figure, got {type(figure).__name__}")
        path = self._record(name)
        requested = savefig_kwargs.get("dpi")
        if isinstance(requested, (int, float)) and requested < FIGURE_DPI:
            warnings.warn(f"{name}: dpi={requested} is below the {FIGURE_DPI} dpi every saved figure needs; "
                          f"saving at {FIGURE_DPI} dpi (drop the dpi argument)", stacklevel=2)
            savefig_kwargs["dpi"] = FIGURE_DPI
        savefig_kwargs.setdefault("dpi", self.dpi)
        savefig_kwargs.setdefault("bbox_inches", "tight")
        figure.savefig(path, **savefig_kwargs)
        if close:
            import matplotlib.pyplot as plt

            plt.close(figure)

    def save_table(self, table: Any, name: str, *, optional: bool = False) -> None:
        """Write a DataFrame (``.csv``/``.md``/``.tex``; ``.csv.gz``: gzip-compressed at full precision, with a fixed
        header time so that a rerun with the same numbers writes the same bytes - for per-image scores), a string, or
        a JSON-able object (``.json``) as ``name`` (``optional`` as in :meth:`save`)."""
        path = self._record(name)
        suffix = path.suffix
        if isinstance(table, str):
            path.write_text(table if table.endswith("\n") else table + "\n", encoding="utf-8")
        elif suffix == ".json":
            path.write_text(json.dumps(table, indent=1, default=str) + "\n", encoding="utf-8")
        elif hasattr(table, "to_csv"):
            if suffix == ".csv":
                table.to_csv(path, index=False, float_format="%.6g")
            elif suffix == ".gz":
                table.to_csv(path, index=False, compression={"method": "gzip", "mtime": 0})
            elif suffix == ".md":
                path.write_text(markdown_table(table) + "\n", encoding="utf-8")
            elif suffix == ".tex":
                path.write_text(table.to_latex(index=False) + "\n", encoding="utf-8")
            else:
                raise ValueError(f"cannot write a table as {suffix}; use .csv, .md or .tex")
        else:
            raise TypeError(f"save_table() needs a DataFrame, a string or (for .json) a dict, got {type(table).__name__}")

    def produced_by(self, writer: Callable[[Path], Any], *names: str) -> Any:
        """Call ``writer(folder)`` (a library function that writes files itself) and check it wrote ``names``."""
        paths = [self.path(name) for name in names]
        before = {path: path.stat().st_mtime_ns if path.exists() else None for path in paths}
        result = writer(self.folder)
        stale = [path.name for path in paths if not path.exists() or path.stat().st_mtime_ns == before[path]]
        if stale:
            raise RuntimeError(f"{getattr(writer, '__name__', writer)} did not write {stale} into {self.folder}")
        for name in names:
            self._record(name)
        return result


def markdown_table(frame: Any, float_format: str = "{:.4g}") -> str:
    """A DataFrame as a GitHub pipe table (no dependency on ``tabulate``); ``|`` in cells is escaped."""

    def cell(value: Any) -> str:
        text = float_format.format(value) if isinstance(value, float) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    header = [cell(column) for column in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)
