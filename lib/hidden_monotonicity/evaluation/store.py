"""The files of one evaluation output folder: work units, selection decisions, metadata.

Layout of ``DIR``::

    units/<model>/<split>/<method>/<config digest>/<metric>-<chunk>.csv   one finished work unit
    selection/<model>/<method>.csv                                       one selection decision
    metadata.json                                                        profile, versions, runs

Every file is written atomically (temporary file + rename), so a killed run leaves either the whole
file or none (plus a ``.tmp-*`` file that the next run removes). :func:`copy_results` combines the
unit and selection files of shard folders (used by :func:`~.runner.merge`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

SCORE_COLUMNS = ["model", "split", "method", "config", "metric", "category", "sample", "target", "score", "status", "seed"]
_TEXT_COLUMNS = {c: str for c in ("model", "split", "method", "config", "metric", "category", "status")}
SPLITS = ("val", "test")
STATUS_OK = "ok"
STATUS_EMPTY_MASK = "dropped: empty mask"
SELECTION_COLUMNS = ["model", "method", "candidate", "config", "params", "criterion", "criterion_value", "chosen"]


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
        return self.unit_path(unit).is_file()

    def write_unit(self, unit: WorkUnit, rows: pd.DataFrame) -> None:
        _atomic_write_text(self.unit_path(unit), rows[SCORE_COLUMNS].to_csv(index=False))

    def read_units(self, model: str | None = None, split: str | None = None, method: str | None = None) -> pd.DataFrame:
        base = self.units_dir
        if model is not None:
            base = base / _safe_name(model)
            if split is not None:
                base = base / split
                if method is not None:
                    base = base / _safe_name(method)
        files = sorted(p for p in base.rglob("*.csv") if not p.name.startswith(".tmp-")) if base.is_dir() else []
        if not files:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in SCORE_COLUMNS})
        frame = pd.concat([pd.read_csv(p, dtype=_TEXT_COLUMNS, keep_default_na=False, na_values={"score": [""]}) for p in files],
                          ignore_index=True)
        if split is not None and model is None:
            frame = frame[frame["split"] == split]
        return frame

    def selection_path(self, model: str, method: str) -> Path:
        return self.selection_dir / _safe_name(model) / f"{_safe_name(method)}.csv"

    def read_selection(self, model: str, method: str) -> pd.DataFrame | None:
        path = self.selection_path(model, method)
        if not path.is_file():
            return None
        return pd.read_csv(path, dtype={"model": str, "method": str, "config": str, "params": str, "criterion": str})

    def write_selection(self, model: str, method: str, table: pd.DataFrame) -> None:
        _atomic_write_text(self.selection_path(model, method), table.to_csv(index=False))

    def read_all_selections(self) -> pd.DataFrame:
        files = sorted(self.selection_dir.rglob("*.csv")) if self.selection_dir.is_dir() else []
        files = [p for p in files if not p.name.startswith(".tmp-")]
        if not files:
            return pd.DataFrame(columns=SELECTION_COLUMNS)
        return pd.concat([pd.read_csv(p, dtype={"model": str, "method": str, "config": str, "params": str}) for p in files],
                         ignore_index=True)

    @property
    def metadata_path(self) -> Path:
        return self.root / "metadata.json"

    def read_metadata(self) -> dict[str, Any] | None:
        if not self.metadata_path.is_file():
            return None
        return json.loads(self.metadata_path.read_text(encoding="utf-8"))

    def write_metadata(self, metadata: Mapping[str, Any]) -> None:
        _atomic_write_text(self.metadata_path, json.dumps(metadata, indent=2, sort_keys=False, default=str) + "\n")

    def clean_temporary_files(self) -> int:
        """Remove temporary files a killed run left behind; return how many."""
        count = 0
        for path in self.root.rglob(".tmp-*"):
            path.unlink(missing_ok=True)
            count += 1
        return count


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
                destination = target.root / sub / path.relative_to(source)
                if destination.exists() and destination.read_bytes() != path.read_bytes():
                    raise ValueError(f"{path} conflicts with a different file of another shard ({destination})")
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, destination)
