"""Claims as data: every quantitative sentence of the README, the notebooks' markdown and COURSE.md, bound to the file
cell that the code wrote (issue 28).

A :class:`Claim` names its sentence (the words as they stand in the source, so a reworded sentence is noticed), the
:class:`Evidence` that backs it (a table cell, a rank, a count, read from ``figures/`` or another file the code
wrote) and the :class:`Expectation` its value must meet, with the tolerance the number may move by (what the sentence
says after rounding, plus the float noise of another machine where a metric is noisy). :func:`check_claims` reads the
evidence and returns one row per claim with its verdict:

* ``holds`` - the sentence is in its source and the evidence meets the expectation;
* ``FAILS`` - the evidence contradicts the sentence (the prose or the result must change);
* ``SENTENCE MISSING`` - the source no longer says it (update the claim with the prose);
* ``NO EVIDENCE`` - the file, row or column the claim names cannot be read (with the reason).

``python -m hidden_monotonicity claims`` prints the table and exits 1 when any claim does not hold.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

HOLDS, FAILS, MISSING, NO_EVIDENCE = "holds", "FAILS", "SENTENCE MISSING", "NO EVIDENCE"


class EvidenceError(LookupError):
    """The evidence a claim names cannot be read (missing file, no matching row, ambiguous rows, missing column)."""


class Outputs:
    """Cached, read-only access to the files a claim reads, relative to the repository ``root``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._frames: dict[str, pd.DataFrame] = {}
        self._texts: dict[str, str] = {}

    def path(self, name: str) -> Path:
        path = self.root / name
        if not path.is_file():
            raise EvidenceError(f"{name} does not exist under {self.root} (figures/: make reproduce writes it; benchmarks/: the command on its first line)")
        return path

    def table(self, name: str) -> pd.DataFrame:
        """A CSV file (``figures/x.csv`` or ``.csv.gz``)."""
        if name not in self._frames:
            self._frames[name] = pd.read_csv(self.path(name))
        return self._frames[name]

    def json(self, name: str) -> Any:
        return json.loads(self.path(name).read_text(encoding="utf-8"))

    def prose(self, name: str) -> str:
        """The words of a source, whitespace-normalised: a Markdown file whole, a notebook's markdown cells joined."""
        if name not in self._texts:
            text = self.path(name).read_text(encoding="utf-8")
            if name.endswith(".ipynb"):
                cells = json.loads(text)["cells"]
                text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
            self._texts[name] = normalise(text)
        return self._texts[name]


def normalise(text: str) -> str:
    """Collapse every run of white space (line breaks of wrapped prose included) to one space."""
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class Evidence:
    """How to read a claim's value: ``describe`` says where (for the printed table), ``read`` reads it."""

    describe: str
    read: Callable[[Outputs], Any] = field(repr=False)


def _select(frame: pd.DataFrame, name: str, where: Mapping[str, Any]) -> pd.DataFrame:
    rows = frame
    for column, wanted in where.items():
        if column not in rows.columns:
            raise EvidenceError(f"{name} has no column {column!r} (columns: {', '.join(frame.columns)})")
        values = rows[column]
        if isinstance(wanted, float):
            rows = rows[values.astype(float).sub(wanted).abs() < 1e-9]
        else:
            rows = rows[values.astype(str) == str(wanted)]
    return rows


def _where_text(where: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in where.items())


def cell(file: str, column: str, **where: Any) -> Evidence:
    """The value of ``column`` in the one row of ``file`` whose columns equal ``where``."""
    def read(outputs: Outputs) -> Any:
        rows = _select(outputs.table(file), file, where)
        if len(rows) != 1:
            raise EvidenceError(f"{file}: {len(rows)} rows match {_where_text(where)} (expected exactly one)")
        if column not in rows.columns:
            raise EvidenceError(f"{file} has no column {column!r}")
        value = rows.iloc[0][column]
        return value.item() if hasattr(value, "item") else value

    return Evidence(f"{file}[{_where_text(where)}].{column}", read)


def rank(file: str, column: str, item_column: str, item: str, *, ascending: bool = True, **where: Any) -> Evidence:
    """The 1-based position of ``item`` among the rows matching ``where`` sorted by ``column`` (ties: stable order)."""
    def read(outputs: Outputs) -> int:
        rows = _select(outputs.table(file), file, where).sort_values(column, ascending=ascending, kind="mergesort")
        items = list(rows[item_column].astype(str))
        if item not in items:
            raise EvidenceError(f"{file}: no row {item_column}={item} among {_where_text(where)}")
        return items.index(item) + 1

    order = "ascending" if ascending else "descending"
    return Evidence(f"rank of {item} by {column} ({order}) in {file}[{_where_text(where)}]", read)


def count(file: str, **where: Any) -> Evidence:
    """How many rows of ``file`` match ``where``."""
    return Evidence(f"rows of {file}[{_where_text(where)}]", lambda o: int(len(_select(o.table(file), file, where))))


def computed(describe: str, read: Callable[[Outputs], Any]) -> Evidence:
    """Evidence that needs a small computation (a sum over rows, a JSON field): ``describe`` says which."""
    return Evidence(describe, read)


@dataclass(frozen=True)
class Expectation:
    """What a claim's value must satisfy; ``describe`` is printed beside the value."""

    describe: str
    test: Callable[[Any], bool] = field(repr=False)


def about(value: float, tol: float | None = None, *, noise: float = 0.0) -> Expectation:
    """``value`` as the sentence prints it: by default within half a unit of its last printed digit (so 0.74 holds
    for 0.735-0.745), plus ``noise`` (the metric's measured float noise across machines) when it is noisy."""
    if tol is None:
        text = repr(float(value)) if not isinstance(value, str) else value
        decimals = len(text.split(".")[1]) if "." in text and "e" not in text else 0
        tol = 0.5 * 10 ** -decimals
    tol = tol + noise + 1e-12
    return Expectation(f"{value} ± {tol:.3g}", lambda v: v is not None and math.isfinite(float(v))
                       and abs(float(v) - float(value)) <= tol)


def equals(value: Any) -> Expectation:
    """Exactly ``value`` (a verdict, a count, a selected layer, a rank)."""
    def test(v: Any) -> bool:
        if isinstance(value, bool) or isinstance(v, bool):
            return str(v) == str(value)
        try:
            return float(v) == float(value)
        except (TypeError, ValueError):
            return str(v) == str(value)

    return Expectation(f"= {value}", test)


def at_most(value: float) -> Expectation:
    return Expectation(f"≤ {value}", lambda v: float(v) <= value)


def at_least(value: float) -> Expectation:
    return Expectation(f"≥ {value}", lambda v: float(v) >= value)


def between(low: float, high: float) -> Expectation:
    return Expectation(f"in [{low}, {high}]", lambda v: low <= float(v) <= high)


@dataclass(frozen=True)
class Claim:
    """A quantitative statement of the prose: where it stands, what backs it, what it says."""

    id: str
    source: str  #: README.md, COURSE.md or a notebook, relative to the repository root
    sentence: str  #: the words as they stand in ``source`` (compared whitespace-normalised)
    evidence: Evidence
    expect: Expectation


def check_claim(claim: Claim, outputs: Outputs) -> dict[str, Any]:
    """One row of the claims table for ``claim``."""
    row = {"claim": claim.id, "source": claim.source, "evidence": claim.evidence.describe,
           "expected": claim.expect.describe, "value": None, "verdict": HOLDS, "reason": ""}
    try:
        if normalise(claim.sentence) not in outputs.prose(claim.source):
            row.update(verdict=MISSING, reason=f"{claim.source} no longer says: {normalise(claim.sentence)[:80]!r}")
            return row
        value = claim.evidence.read(outputs)
    except EvidenceError as error:
        row.update(verdict=NO_EVIDENCE, reason=str(error))
        return row
    except (KeyError, IndexError, ValueError, TypeError) as error:  # a computed evidence that found no such row/key
        row.update(verdict=NO_EVIDENCE, reason=f"{claim.evidence.describe}: {type(error).__name__}: {error}")
        return row
    row["value"] = value
    try:
        ok = bool(claim.expect.test(value))
    except (TypeError, ValueError) as error:
        ok, row["reason"] = False, f"value {value!r} cannot be compared: {error}"
    if not ok:
        row["verdict"] = FAILS
        row["reason"] = row["reason"] or f"{claim.evidence.describe} is {_show(value)}, the sentence says {claim.expect.describe}"
    return row


def _show(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def check_claims(claims: Sequence[Claim], root: str | Path) -> pd.DataFrame:
    """The claims table: one row per claim (claim, source, evidence, expected, value, verdict, reason)."""
    ids = [c.id for c in claims]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ValueError(f"claim ids must be unique; repeated: {', '.join(duplicated)}")
    outputs = Outputs(root)
    return pd.DataFrame([check_claim(c, outputs) for c in claims])


def format_report(table: pd.DataFrame, *, verbose: bool = False) -> str:
    """The printed claims table: every claim when ``verbose``, otherwise the ones that do not hold, and a summary."""
    shown = table if verbose else table[table["verdict"] != HOLDS]
    lines = []
    for _, r in shown.iterrows():
        value = "" if r["value"] is None else _show(r["value"])
        lines.append(f"{r['verdict']:<16} {r['claim']:<34} {value:>12}  {r['expected']:<20} {r['evidence']}")
        if r["reason"] and r["verdict"] != HOLDS:
            lines.append(f"{'':<16} -> {r['reason']}")
    failed = int((table["verdict"] != HOLDS).sum())
    sources = ", ".join(f"{s} {n}" for s, n in table["source"].value_counts(sort=False).items())
    lines.append(f"claims: {len(table)} checked ({sources}); {len(table) - failed} hold, {failed} do not")
    return "\n".join(lines)
