"""What an evaluation result depends on, fingerprinted; checked on every resume and merge (issue 24).

``metadata.json`` of an output folder records a *fingerprint* (:func:`run_fingerprint`):

``profile``
    SHA-256 of the profile's full definition (:meth:`EvaluationProfile.to_dict`; the seed is part of it).
``code``
    SHA-256 of every ``.py`` file of the installed package (path and bytes), the number of files, and - recorded
    only, not compared - the git commit and whether ``lib/`` had uncommitted changes.
``versions``
    the versions of the packages that determine the numbers (:func:`.metadata.package_versions`).
``models``
    per model: SHA-256 of every parameter and buffer (name, dtype, shape, bytes) as the run loaded it.
``data``
    per split: SHA-256 of the labels and masks (exact); SHA-256 of the images (exact) and, per image, two
    checksums (mean, position-weighted mean, root mean square; float64).

A resume (:func:`~.runner.evaluate` on a folder that holds results) or a merge compares the stored fingerprint with
the current one (:func:`differences`). Any difference in the profile, the code, the versions, a model's weights, the
labels, the masks or an image beyond floating-point noise stops the run with a message naming what changed; results
computed from two different things are never mixed. Images whose exact hash differs while every checksum agrees to
``IMAGE_RTOL`` (the last bits that another CPU's vector code moves) resume with a warning.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from torch import nn

from .profiles import EvaluationProfile
from .store import OutputFolderError, ResultStore

FINGERPRINT_FORMAT = 1
#: relative tolerance of the per-image checksums: last-bit differences between CPUs pass, a changed image does not
IMAGE_RTOL = 1e-6
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def _sha256_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 over every entry of ``model.state_dict()`` (parameters and buffers): name, dtype, shape and bytes."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if not isinstance(tensor, torch.Tensor):
            digest.update(f"{name}:{tensor!r}\n".encode())
            continue
        values = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{values.dtype}:{tuple(values.shape)}\n".encode())
        digest.update(values.reshape(-1).view(torch.uint8).numpy().tobytes() if values.numel() else b"")
    return digest.hexdigest()


def image_checksums(images: np.ndarray) -> np.ndarray:
    """``(N, 3)``: per image, the mean, the position-weighted mean and the root mean square of its values
    (float64). Compared to ``IMAGE_RTOL`` times the root mean square, so that an image of mean 0 (normalised) is
    judged on the scale of its values."""
    flat = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    if flat.shape[1] == 0:
        return np.zeros((len(images), 3))
    weights = np.arange(1, flat.shape[1] + 1, dtype=np.float64) / flat.shape[1]
    return np.stack([flat.mean(axis=1), flat @ weights / flat.shape[1], np.sqrt((flat ** 2).mean(axis=1))], axis=1)


def data_fingerprint(images: np.ndarray, labels: np.ndarray, masks: np.ndarray) -> dict[str, Any]:
    """The fingerprint of one split (see the module docstring)."""
    labels_masks = hashlib.sha256()
    for array in (np.asarray(labels, dtype=np.int64), np.asarray(masks, dtype=np.float32)):
        labels_masks.update(f"{array.dtype}:{array.shape}\n".encode())
        labels_masks.update(np.ascontiguousarray(array).tobytes())
    images = np.ascontiguousarray(images, dtype=np.float32)
    return {
        "n": int(len(labels)),
        "image_shape": list(images.shape[1:]),
        "labels_masks_sha256": labels_masks.hexdigest(),
        "images_sha256": hashlib.sha256(images.tobytes()).hexdigest(),
        "image_checksums": [[float(f"{v:.12g}") for v in row] for row in image_checksums(images)],
    }


def _git(*arguments: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(PACKAGE_ROOT), *arguments], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_fingerprint(root: Path | None = None) -> dict[str, Any]:
    """SHA-256 of the package's source (every ``.py`` file under ``root``: relative path and bytes) and its file count;
    the git commit and dirty flag where the package sits in a git checkout (recorded, not compared)."""
    root = Path(root or PACKAGE_ROOT)
    digest = hashlib.sha256()
    files = sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    for path in files:
        digest.update(f"{path.relative_to(root).as_posix()}\n".encode())
        digest.update(path.read_bytes())
        digest.update(b"\n")
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--", ".") if commit else None
    return {"sha256": digest.hexdigest(), "files": len(files), "git_commit": commit,
            "git_dirty": None if status is None else bool(status)}


def run_fingerprint(profile_description: Mapping[str, Any], versions: Mapping[str, str],
                    models: Mapping[str, str], data: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The fingerprint recorded in ``metadata.json`` (see the module docstring)."""
    return {
        "format": FINGERPRINT_FORMAT,
        "profile_sha256": _sha256_json(profile_description),
        "code": code_fingerprint(),
        "versions": dict(versions),
        "models": dict(sorted(models.items())),
        "data": {split: dict(value) for split, value in sorted(data.items())},
    }


def _short(digest: Any) -> str:
    return f"{digest[:12]}…" if isinstance(digest, str) and len(digest) > 12 else str(digest)


def _version_changes(old: Mapping[str, str], new: Mapping[str, str]) -> str:
    changed = [f"{name} {old.get(name, '(absent)')} -> {new.get(name, '(absent)')}"
               for name in sorted(set(old) | set(new)) if old.get(name) != new.get(name)]
    return ", ".join(changed)


def _data_changes(split: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(a real change, a last-bit difference) between two fingerprints of one split."""
    if old.get("n") != new.get("n") or old.get("image_shape") != new.get("image_shape"):
        return (f"the {split} images ({old.get('n')} of shape {old.get('image_shape')} -> "
                f"{new.get('n')} of shape {new.get('image_shape')})"), None
    if old.get("labels_masks_sha256") != new.get("labels_masks_sha256"):
        return f"the {split} labels or masks (sha256 {_short(old.get('labels_masks_sha256'))} -> " \
               f"{_short(new.get('labels_masks_sha256'))})", None
    if old.get("images_sha256") == new.get("images_sha256"):
        return None, None
    before, after = np.asarray(old.get("image_checksums"), float), np.asarray(new.get("image_checksums"), float)
    if before.shape != after.shape:
        return f"the {split} images (checksums of {before.shape[0]} -> {after.shape[0]} images)", None
    scale = np.maximum(before[:, 2:], after[:, 2:])  # the root mean square of each image
    off = np.flatnonzero((np.abs(before - after) > IMAGE_RTOL * np.maximum(scale, 1e-12)).any(axis=1))
    if len(off):
        listed = ", ".join(map(str, off[:5])) + (f" and {len(off) - 5} more" if len(off) > 5 else "")
        return f"the {split} images (image(s) {listed} differ)", None
    return None, f"the {split} images differ from those the folder was written with only in the last bits " \
                 f"(every per-image checksum agrees to {IMAGE_RTOL:g}: another CPU?)"


def differences(stored: Mapping[str, Any] | None, current: Mapping[str, Any],
                models: Iterable[str] | None = None) -> tuple[list[str], list[str], list[str]]:
    """Compare two fingerprints.

    Returns ``(changes, changed_models, notes)``: ``changes`` names everything that differs (the empty list when the
    results can be resumed or merged), ``changed_models`` the models whose weights alone differ (their results can be
    recomputed without touching the others'), ``notes`` differences that do not stop a resume (last-bit image noise).
    ``models`` restricts the model comparison to these names (a shard compares the models both sides loaded).
    """
    if not stored:
        return ["nothing: the folder was written before fingerprints were recorded (an older version of the "
                "companion), so what produced its results cannot be checked"], [], []
    changes: list[str] = []
    notes: list[str] = []
    if stored.get("format") != current.get("format"):
        changes.append(f"the fingerprint format ({stored.get('format')} -> {current.get('format')})")
    if stored.get("profile_sha256") != current.get("profile_sha256"):
        changes.append("the profile's definition")
    old_code, new_code = stored.get("code") or {}, current.get("code") or {}
    if old_code.get("sha256") != new_code.get("sha256"):
        where = f"; commit {old_code.get('git_commit') or '?'} -> {new_code.get('git_commit') or '?'}" \
            if old_code.get("git_commit") != new_code.get("git_commit") else ""
        changes.append(f"the library's source code (sha256 of {new_code.get('files')} files under "
                       f"lib/hidden_monotonicity {_short(old_code.get('sha256'))} -> {_short(new_code.get('sha256'))}"
                       f"{where})")
    if stored.get("versions") != current.get("versions"):
        changes.append(f"the package versions ({_version_changes(stored.get('versions') or {}, current.get('versions') or {})})")
    old_data, new_data = stored.get("data") or {}, current.get("data") or {}
    for split in sorted(set(old_data) & set(new_data)):
        change, note = _data_changes(split, old_data[split], new_data[split])
        changes += [change] if change else []
        notes += [note] if note else []
    old_models, new_models = stored.get("models") or {}, current.get("models") or {}
    names = set(old_models) & set(new_models) if models is None else set(models) & set(old_models) & set(new_models)
    changed_models = sorted(n for n in names if old_models[n] != new_models[n])
    for name in changed_models:
        changes.append(f"the weights of model {name!r} (sha256 {_short(old_models[name])} -> {_short(new_models[name])})")
    return changes, changed_models, notes


def only_models_changed(changes: list[str], changed_models: list[str]) -> bool:
    """Whether every change is a model's weights (so only those models' results need recomputing)."""
    return bool(changed_models) and len(changes) == len(changed_models)


# -------------------------------------------------------------------------------------------- resume


def _with_new_fields(described: Any) -> Any:
    """A stored profile description with the fields added since it was written filled in at their defaults (a
    folder written before a field existed resumes as long as the new field keeps its default)."""
    if not isinstance(described, dict):
        return described
    defaults = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                for f in dataclasses.fields(EvaluationProfile)
                if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}
    plain = (bool, int, float, str, type(None))  # and empty mappings: fields such as fresh_test, whose default is {}
    return {**{k: v for k, v in defaults.items() if k not in described
               and (isinstance(v, plain) or (isinstance(v, dict) and not v))}, **described}


_FRESH_OR_RESTART = ("use a fresh --out folder, or pass --restart (restart=True) to recompute in place what changed")


def _start_over(store: ResultStore, fresh: dict[str, Any], why: str) -> dict[str, Any]:
    warnings.warn(f"recomputing every result in {store.root}: {why}", stacklevel=4)
    store.remove_results()
    return fresh


def stored_metadata(store: ResultStore, fresh: dict[str, Any], restart: bool) -> dict[str, Any] | None:
    """The folder's metadata when it holds a resumable run of the same profile and shard; None for a new (or, with
    ``restart``, a cleared) folder. Checked before the models and data are loaded."""
    from .metadata import describe_difference  # metadata imports this module

    try:
        metadata = store.read_metadata()
    except OutputFolderError as error:
        if not restart:
            raise OutputFolderError(f"{error}; or pass --restart (restart=True) to recompute in place") from None
        _start_over(store, fresh, "its metadata.json is damaged")
        return None
    if metadata is None:
        held = store.result_files()
        if held and not restart:
            raise OutputFolderError(
                f"{store.root} holds result files ({', '.join(held[:3])}) but no metadata.json, so what produced them "
                f"cannot be checked and they would be mixed into this run's tables; {_FRESH_OR_RESTART} (it deletes them)"
            )
        if held:
            _start_over(store, fresh, "it held result files but no metadata.json")
        return None
    metadata["profile"] = _with_new_fields(metadata.get("profile"))
    for key in ("profile", "shard", "num_shards"):
        if metadata.get(key) != fresh[key]:
            difference = describe_difference(metadata.get(key), fresh[key])
            if restart:
                _start_over(store, fresh, f"it held another run ({key} differs: {difference})")
                return None
            raise OutputFolderError(
                f"{store.root} holds results of another run ({key} differs: {difference}); use a fresh --out folder to "
                "start a new evaluation, the same settings to resume this one, or --restart (restart=True) to replace it"
            )
    return metadata


def resume_metadata(store: ResultStore, stored: dict[str, Any] | None, fresh: dict[str, Any],
                     restart: bool) -> dict[str, Any]:
    """The metadata to continue with: ``fresh`` for a new folder; the stored one when its fingerprint matches this
    run's; otherwise an error naming what changed, or (``restart``) the changed part recomputed."""
    if stored is None:
        return fresh
    changes, changed_models, notes = differences(stored.get("fingerprint"), fresh["fingerprint"])
    for note in notes:
        warnings.warn(f"resuming {store.root}: {note}", stacklevel=3)
    if changes and not restart:
        raise OutputFolderError(
            f"{store.root} was computed from something else than this run uses; changed since: {'; '.join(changes)}. "
            f"Its results are not mixed with new ones: {_FRESH_OR_RESTART}"
        )
    if changes and not only_models_changed(changes, changed_models):
        return _start_over(store, fresh, "; ".join(changes) + " changed")
    for name in changed_models:
        warnings.warn(f"recomputing the results of model {name!r} in {store.root}: its weights changed", stacklevel=3)
        store.remove_model_results(name)
        stored.setdefault("recomputed", []).append(
            {"model": name, "reason": "weights changed", "old_sha256": stored["fingerprint"]["models"][name],
             "at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    stored["fingerprint"]["models"] = {**stored["fingerprint"].get("models", {}), **fresh["fingerprint"]["models"]}
    return stored
