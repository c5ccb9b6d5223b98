"""The files of one evaluation output folder: work units, selection decisions, metadata.

Layout of ``DIR``::

    units/<model>/<split>/<method>/<config digest>/<metric>-<chunk>.csv   one finished work unit
    selection/<model>/<method>.csv                                       one selection decision
    metadata.json                                                        profile, versions, runs

Every file is written atomically (temporary file + rename), so a killed run leaves either the whole
file or none (plus a ``.tmp-*`` file that the next run removes). Next to every unit and selection
file, ``<file>.check`` records its row count and SHA-256 when it is written; a file that does not
match its record (truncated, emptied, edited, or without a record) is *damaged*: the runner
recomputes it with a warning that names it. ``.lock`` (:class:`FolderLock`) keeps two runs from
writing into one folder at once. :func:`copy_results` combines the unit and selection files of
shard folders (used by :func:`~.runner.merge`).

Problems with a folder or its files raise :class:`OutputFolderError` (an
:class:`EvaluationSetupError`, a ``ValueError``) whose message names the file and says how to recover.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

SCORE_COLUMNS = ["model", "split", "method", "config", "metric", "category", "sample", "target", "score", "status", "seed"]
_TEXT_COLUMNS = {c: str for c in ("model", "split", "method", "config", "metric", "category", "status")}
#: The fresh test split: drawn once the protocol was frozen, scored for the confirmatory family only (:mod:`.fresh_split`).
FRESH_SPLIT = "fresh"
SPLITS = ("val", "test", FRESH_SPLIT)
STATUS_OK = "ok"
STATUS_EMPTY_MASK = "dropped: empty mask"
SELECTION_COLUMNS = ["model", "method", "candidate", "config", "params", "criterion", "criterion_value", "chosen"]
RECORD_SUFFIX = ".check"
#: What an evaluation writes into its output folder (``remove_results`` deletes these, the files that the folder's
#: ``metadata.json`` lists as its ``outputs``, and whatever matches :data:`RESULT_PATTERNS`).
RESULT_ENTRIES = ("units", "selection", "figures", "metadata.json", "scores.csv", "selection.csv",
                  "table.md", "table.tex", "table.csv", "table_defaults.csv", "comparisons.csv",
                  "metric_correlations.csv")
#: File names the tables have had (``table_*.csv``, ``comparisons*.csv``): removed with the results even when the
#: folder's metadata does not list them (a folder written by an older version).
RESULT_PATTERNS = ("table*.md", "table*.tex", "table*.csv", "comparisons*.csv")


class EvaluationSetupError(ValueError):
    """The evaluation cannot start as asked (an argument, the data folder, the output folder); one-line message."""


class OutputFolderError(EvaluationSetupError):
    """An output folder or one of its files cannot be used as asked; the message says how to recover."""


@dataclass(frozen=True)
class WorkUnit:
    """One resumable piece of work: (model, split, method, configuration, metric, chunk of images)."""

    model: str
    split: str
    method: str
    config: str
    metric: str
    chunk: int


def derive_seed(root: int, *parts: Any) -> int:
    """A 32-bit seed from the profile seed and a unit's identity (stable across runs and machines)."""
    digest = hashlib.sha256(json.dumps([root, *parts], sort_keys=True, default=str).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def config_key(params: Mapping[str, Any]) -> str:
    """Canonical text of a configuration: ``"abs=False;alpha=0.4;layer=features.10"``."""
    if not params:
        return "default"
    return ";".join(f"{key}={params[key]}" for key in sorted(params))


def _safe_name(text: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", text)
    if safe != text:
        safe += "-" + hashlib.sha1(text.encode()).hexdigest()[:6]
    return safe


def _config_digest(config: str) -> str:
    return hashlib.sha1(config.encode()).hexdigest()[:12]


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _write_recorded(path: Path, text: str, rows: int) -> None:
    """Write ``text`` to ``path`` and then its integrity record (row count, SHA-256)."""
    _atomic_write_text(path, text)
    record = {"rows": rows, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
    _atomic_write_text(path.with_name(path.name + RECORD_SUFFIX), json.dumps(record) + "\n")


def damage(path: Path) -> str | None:
    """Why the file at ``path`` does not match its integrity record (None when it matches)."""
    record_path = path.with_name(path.name + RECORD_SUFFIX)
    if not record_path.is_file():
        return "it has no integrity record (an interrupted write, or written before records existed)"
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        rows, digest = int(record["rows"]), str(record["sha256"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return f"its integrity record {record_path.name} is damaged"
    content = path.read_bytes()
    if hashlib.sha256(content).hexdigest() != digest:
        found = max(content.count(b"\n") - 1, 0)
        return f"its content does not match its record: {found} of {rows} rows found, checksum differs"
    return None


def _read_table(path: Path, recovery: str, **read_csv_kwargs: Any) -> pd.DataFrame:
    """``pd.read_csv(path)``; an unreadable file raises :class:`OutputFolderError` naming it and ``recovery``."""
    try:
        return pd.read_csv(path, **read_csv_kwargs)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise OutputFolderError(f"cannot read {path} ({type(error).__name__}: {reason}); {recovery}") from None


def _read_unit_file(path: Path) -> pd.DataFrame:
    recovery = "delete it and run the same evaluate command on this folder again to recompute it"
    frame = _read_table(path, recovery, dtype=_TEXT_COLUMNS, keep_default_na=False, na_values={"score": [""]})
    if list(frame.columns) != SCORE_COLUMNS or frame.empty:
        raise OutputFolderError(f"{path} is not a unit file (columns {list(frame.columns)}, {len(frame)} rows); {recovery}")
    for column in ("score", "sample", "target", "seed"):
        if not pd.api.types.is_numeric_dtype(frame[column]):
            bad = frame[column][pd.to_numeric(frame[column], errors="coerce").isna() & (frame[column] != "")]
            raise OutputFolderError(f"{path}: column {column!r} holds text ({bad.iloc[0]!r}) instead of numbers; {recovery}")
    return frame


class ResultStore:
    """Files of one output folder: finished units, selection decisions, metadata."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.units_dir = self.root / "units"
        self.selection_dir = self.root / "selection"

    def unit_path(self, unit: WorkUnit) -> Path:
        return (
            self.units_dir
            / _safe_name(unit.model)
            / unit.split
            / _safe_name(unit.method)
            / _config_digest(unit.config)
            / f"{unit.metric}-{unit.chunk:05d}.csv"
        )

    def has(self, unit: WorkUnit) -> bool:
        """Whether ``unit`` is finished: its file exists and matches its integrity record."""
        path = self.unit_path(unit)
        return path.is_file() and damage(path) is None

    def pending(self, units: Sequence[WorkUnit]) -> set[WorkUnit]:
        """The units of ``units`` still to compute: missing ones and damaged ones (one warning naming them)."""
        todo, damaged = set(), []
        for unit in units:
            path = self.unit_path(unit)
            problem = damage(path) if path.is_file() else "missing"
            if problem is not None:
                todo.add(unit)
                if problem != "missing":
                    damaged.append(f"{path} ({problem})")
        if damaged:
            more = f"; and {len(damaged) - 5} more" if len(damaged) > 5 else ""
            warnings.warn(f"recomputing {len(damaged)} damaged unit file(s): {'; '.join(damaged[:5])}{more}", stacklevel=2)
        return todo

    def write_unit(self, unit: WorkUnit, rows: pd.DataFrame) -> None:
        _write_recorded(self.unit_path(unit), rows[SCORE_COLUMNS].to_csv(index=False), len(rows))

    def read_units(self, model: str | None = None, split: str | None = None, method: str | None = None) -> pd.DataFrame:
        base = self.units_dir
        if model is not None:
            base = base / _safe_name(model)
            if split is not None:
                base = base / split
                if method is not None:
                    base = base / _safe_name(method)
        files = sorted(p for p in base.rglob("*.csv") if not p.name.startswith(".tmp-")) if base.is_dir() else []
        damaged = [p for p in files if damage(p) is not None]
        if damaged:
            warnings.warn(f"{len(damaged)} damaged unit file(s) left out of the results (run the same evaluate command "
                          f"again to recompute them): {', '.join(map(str, damaged[:5]))}", stacklevel=2)
            files = [p for p in files if p not in damaged]
        if not files:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in SCORE_COLUMNS})
        frame = pd.concat([_read_unit_file(p) for p in files], ignore_index=True)
        if split is not None and model is None:
            frame = frame[frame["split"] == split]
        return frame

    def selection_path(self, model: str, method: str) -> Path:
        return self.selection_dir / _safe_name(model) / f"{_safe_name(method)}.csv"

    def read_selection(self, model: str, method: str) -> pd.DataFrame | None:
        """The selection decision of (model, method); None when there is none yet or its file is damaged
        (then with a warning naming it: the runner selects again)."""
        path = self.selection_path(model, method)
        if not path.is_file():
            return None
        problem = damage(path)
        if problem is not None:
            warnings.warn(f"damaged selection file {path}: {problem}; selecting again", stacklevel=2)
            return None
        return self._read_selection_file(path)

    @staticmethod
    def _read_selection_file(path: Path) -> pd.DataFrame:
        recovery = "delete it and run the same evaluate command on this folder again to redo the selection"
        table = _read_table(path, recovery, dtype={"model": str, "method": str, "config": str, "params": str, "criterion": str})
        if not {"config", "chosen"} <= set(table.columns) or table.empty:
            raise OutputFolderError(f"{path} is not a selection file (columns {list(table.columns)}); {recovery}")
        return table

    def write_selection(self, model: str, method: str, table: pd.DataFrame) -> None:
        _write_recorded(self.selection_path(model, method), table.to_csv(index=False), len(table))

    def read_all_selections(self) -> pd.DataFrame:
        files = sorted(self.selection_dir.rglob("*.csv")) if self.selection_dir.is_dir() else []
        files = [p for p in files if not p.name.startswith(".tmp-") and damage(p) is None]
        if not files:
            return pd.DataFrame(columns=SELECTION_COLUMNS)
        return pd.concat([self._read_selection_file(p) for p in files], ignore_index=True)

    @property
    def metadata_path(self) -> Path:
        return self.root / "metadata.json"

    def read_metadata(self) -> dict[str, Any] | None:
        """``metadata.json`` (None when the folder has none); a damaged one raises :class:`OutputFolderError`."""
        if not self.metadata_path.is_file():
            return None
        try:
            metadata = json.loads(self.metadata_path.read_text(encoding="utf-8"))
            if not isinstance(metadata, dict) or "profile" not in metadata:
                raise ValueError("it is not an evaluation record (no 'profile')")
        except (ValueError, UnicodeDecodeError) as error:
            raise OutputFolderError(
                f"{self.metadata_path} is damaged ({type(error).__name__}: {error}); it records the profile and runs "
                f"of {self.root}, so this folder cannot be resumed or merged: run the evaluation again into a fresh "
                "--out folder (or restore metadata.json from a copy)"
            ) from None
        return metadata

    def write_metadata(self, metadata: Mapping[str, Any]) -> None:
        _atomic_write_text(self.metadata_path, json.dumps(metadata, indent=2, sort_keys=False, default=str) + "\n")

    def result_files(self) -> list[str]:
        """The names of the result entries this folder holds (units, selection, tables, ...), sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self._result_paths() if p.exists())

    def _result_paths(self) -> list[Path]:
        paths = [self.root / name for name in RESULT_ENTRIES]
        paths += [p for pattern in RESULT_PATTERNS for p in self.root.glob(pattern)]
        try:
            listed = (self.read_metadata() or {}).get("outputs", [])
        except OutputFolderError:
            listed = []
        for name in listed if isinstance(listed, list) else []:
            path = (self.root / str(name)).resolve()
            if path.parent == self.root.resolve():  # only names inside this folder
                paths.append(path)
        return list(dict.fromkeys(paths))

    def remove_results(self) -> None:
        """Delete everything an evaluation writes into this folder (:data:`RESULT_ENTRIES`, the files its metadata
        lists as ``outputs`` and :data:`RESULT_PATTERNS`); keep other files."""
        for path in self._result_paths():
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()

    def remove_model_results(self, model: str) -> None:
        """Delete the unit and selection files of ``model`` (its weights changed; the tables are rewritten anyway)."""
        for path in (self.units_dir / _safe_name(model), self.selection_dir / _safe_name(model)):
            if path.is_dir():
                shutil.rmtree(path)

    def clean_temporary_files(self) -> int:
        """Remove temporary files a killed run left behind; return how many."""
        count = 0
        for path in self.root.rglob(".tmp-*"):
            path.unlink(missing_ok=True)
            count += 1
        return count


def sort_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores in the order of ``scores.csv``: model, split (val, test, fresh), method, config, metric, sample."""
    if scores.empty:
        return scores[SCORE_COLUMNS]
    ordered = scores.assign(_split=scores["split"].map({s: i for i, s in enumerate(SPLITS)}))
    ordered = ordered.sort_values(["model", "_split", "method", "config", "metric", "sample"], kind="mergesort")
    return ordered.drop(columns="_split")[SCORE_COLUMNS].reset_index(drop=True)


def copy_results(sources: Sequence[ResultStore], target: ResultStore) -> None:
    """Copy the unit and selection files of ``sources`` (shard folders) into ``target``.

    A file that two sources hold with different contents is an error (the shards overlap).
    """
    target.root.mkdir(parents=True, exist_ok=True)
    for store in sources:
        for sub in ("units", "selection"):
            source = store.root / sub
            if not source.is_dir():
                continue
            for path in sorted(source.rglob("*.csv")):
                if path.name.startswith(".tmp-"):
                    continue
                problem = damage(path)
                if problem is not None:
                    raise OutputFolderError(
                        f"{path} is damaged ({problem}); resume the shard folder {store.root} with its evaluate command "
                        "(it recomputes damaged files), then merge again"
                    )
                destination = target.root / sub / path.relative_to(source)
                if destination.exists() and destination.read_bytes() != path.read_bytes():
                    raise OutputFolderError(f"{path} conflicts with a different file of another shard ({destination})")
                destination.parent.mkdir(parents=True, exist_ok=True)
                for name in (path.name, path.name + RECORD_SUFFIX):
                    shutil.copyfile(path.with_name(name), destination.with_name(name))


def make_output_folder(root: Path) -> bool:
    """Create ``root`` (and its parents); True when it did not exist before. Unusable paths raise one-line errors."""
    if root.exists() and not root.is_dir():
        raise OutputFolderError(f"the output folder {root} is a file; choose a folder for --out")
    created = not root.exists()
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".tmp-{os.getpid()}-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise OutputFolderError(f"cannot write to the output folder {root} ({error.strerror or error}); "
                                "choose a writable --out folder") from None
    return created


def prepare_merge_folder(target: ResultStore, stores: Sequence[ResultStore], overwrite: bool) -> None:
    """Refuse a non-empty merge folder unless it holds this same merge (then it is redone), or an interrupted one of
    these shards, or ``overwrite``; then clear its results."""
    if not target.root.is_dir() or not any(p.name != ".lock" and not p.name.startswith(".tmp-")
                                           for p in target.root.iterdir()):
        return
    if not overwrite:
        try:
            previous = target.read_metadata()
        except OutputFolderError:
            previous = None
        if previous is None:
            raise OutputFolderError(
                f"the merge folder {target.root} is not empty and has no readable metadata.json, so it cannot be told "
                f"apart from another evaluation (it holds {', '.join(target.result_files()[:4]) or 'other files'}); "
                "choose an empty --out folder, or pass --overwrite (overwrite=True) to replace its results")
        merged_from = [Path(m.get("dir", "")).resolve() for m in previous.get("merged_from", [])]
        if sorted(merged_from) != sorted(s.root.resolve() for s in stores):
            raise OutputFolderError(f"the merge folder {target.root} is not empty and does not hold a merge of these shard "
                                    "folders; choose an empty --out folder, or pass --overwrite (overwrite=True) to "
                                    "replace its results")
    target.remove_results()


class FolderLock:
    """``DIR/.lock``: at most one run (evaluate or merge) writes into an output folder at a time.

    The lock file holds the owner's pid, host and start time. A lock whose process is dead (same host)
    is stale: it is taken over with a warning. Use as a context manager.
    """

    STARTING_GRACE_S = 10.0  # an unreadable lock younger than this may be one being written right now

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.path = self.root / ".lock"
        self.owned = False

    def holder(self) -> dict[str, Any] | None:
        """The live holder's record, or None when the folder is not locked (or the lock is stale)."""
        try:
            text = self.path.read_text(encoding="utf-8")
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        try:
            record = json.loads(text)
            pid, host = int(record["pid"]), str(record["host"])
        except (ValueError, KeyError, TypeError):
            return {"pid": "?", "host": "?", "started": "just now"} if age < self.STARTING_GRACE_S else None
        if host != socket.gethostname():
            return record  # cannot check a process on another machine: assume it is alive
        return record if _process_alive(pid) else None

    def acquire(self) -> None:
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        for _ in range(3):
            try:
                handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self.holder()
                if holder is not None:
                    raise OutputFolderError(
                        f"{self.root} is in use by another run (pid {holder.get('pid')} on {holder.get('host')}, started "
                        f"{holder.get('started')}); wait for it to finish or use another --out folder. If that run is "
                        f"gone, delete {self.path}"
                    ) from None
                warnings.warn(f"removing the stale lock {self.path} of a run that no longer exists", stacklevel=3)
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(record, stream)
            self.owned = True
            return
        raise OutputFolderError(f"could not take the lock {self.path}; delete it if no other run uses {self.root}")

    def release(self) -> None:
        if self.owned:
            self.path.unlink(missing_ok=True)
            self.owned = False

    def __enter__(self) -> "FolderLock":
        self.acquire()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True
