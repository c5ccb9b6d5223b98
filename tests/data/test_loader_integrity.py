"""Issue 24, data loaders: no silent wrong result from the digits cache, clear handling of unusable cache folders.

The digits cache (``digits_benchmark(cache_dir=...)``) holds an integrity record; an edited, truncated, bad-CRC or
unreadable cache file is rendered again with a warning naming the file, never used silently or raised as a bare
``BadZipFile``.
"""

from __future__ import annotations

import errno
import importlib
import struct
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from hidden_monotonicity.data import digits_benchmark

digits_module = importlib.import_module("hidden_monotonicity.data.digits_benchmark")

ARGS = {"split": "val", "n": 12, "size": 32, "seed": 3}


def _only_cache_file(folder: Path) -> Path:
    files = sorted(folder.glob("digits_*.npz"))
    assert len(files) == 1, files
    return files[0]


def _same(a, b) -> bool:
    return torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks) and torch.equal(a.labels, b.labels)


@pytest.fixture()
def cached(tmp_path: Path):
    """A fresh split, written to the cache in tmp_path, and the cache file."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # writing and re-reading a good cache warns about nothing
        fresh = digits_benchmark(**ARGS, cache_dir=tmp_path)
        assert _same(fresh, digits_benchmark(**ARGS, cache_dir=tmp_path))
    return fresh, _only_cache_file(tmp_path)


def _rebuilt_with_warning(tmp_path: Path, fresh, match: str) -> None:
    path = _only_cache_file(tmp_path)
    with pytest.warns(RuntimeWarning, match=match) as record:
        again = digits_benchmark(**ARGS, cache_dir=tmp_path)
    assert any(str(path) in str(w.message) for w in record), [str(w.message) for w in record]
    assert _same(again, fresh)
    with warnings.catch_warnings():  # the rewritten file passes its check
        warnings.simplefilter("error")
        assert _same(digits_benchmark(**ARGS, cache_dir=tmp_path), fresh)


def test_edited_labels_are_detected_and_the_cache_is_rebuilt(cached, tmp_path: Path) -> None:
    fresh, path = cached
    with np.load(path) as stored:
        arrays = {key: stored[key] for key in stored.files}
    arrays["labels"] = (arrays["labels"] + 1) % 10  # every label wrong; same dtype and shape
    np.savez_compressed(path, **arrays)
    _rebuilt_with_warning(tmp_path, fresh, r"array 'labels' does not match its SHA-256")


def test_truncated_cache_is_rebuilt_with_a_warning_naming_it(cached, tmp_path: Path) -> None:
    fresh, path = cached
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _rebuilt_with_warning(tmp_path, fresh, r"cannot be read \(BadZipFile")


def _zip_member_crc_offset(data: bytes, member: str) -> int:
    """Offset of the CRC-32 field of ``member`` in the zip's central directory."""
    position = data.find(b"PK\x01\x02")
    while position >= 0:
        name_length = struct.unpack_from("<H", data, position + 28)[0]
        if data[position + 46 : position + 46 + name_length] == member.encode():
            return position + 16
        position = data.find(b"PK\x01\x02", position + 46)
    raise AssertionError(f"{member} not in the archive")


def test_bad_crc_is_rebuilt_with_a_warning_naming_it(cached, tmp_path: Path) -> None:
    fresh, path = cached
    data = bytearray(path.read_bytes())
    offset = _zip_member_crc_offset(bytes(data), "labels.npy")
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    _rebuilt_with_warning(tmp_path, fresh, r"cannot be read \(BadZipFile: Bad CRC-32")


def test_corrupt_compressed_data_and_an_unreadable_path_are_rebuilt(cached, tmp_path: Path) -> None:
    fresh, path = cached
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the compressed images
    path.write_bytes(bytes(data))
    _rebuilt_with_warning(tmp_path, fresh, "cannot be read")
    path.unlink()
    path.mkdir()  # a folder where the cache file should be: unreadable and not replaceable
    with pytest.warns(RuntimeWarning) as record:
        again = digits_benchmark(**ARGS, cache_dir=tmp_path)
    messages = [str(w.message) for w in record]
    assert any("cannot be read" in m and str(path) in m for m in messages), messages
    assert any("could not write" in m and str(path) in m for m in messages), messages
    assert _same(again, fresh)


def test_cache_without_integrity_record_is_rebuilt(cached, tmp_path: Path) -> None:
    fresh, path = cached
    with np.load(path) as stored:
        arrays = {key: stored[key] for key in stored.files if not key.startswith("__")}
    np.savez_compressed(path, **arrays)  # as the earlier version wrote it
    _rebuilt_with_warning(tmp_path, fresh, "has no integrity record")


def test_cache_copied_under_another_name_is_rebuilt(tmp_path: Path) -> None:
    first = tmp_path / "a"
    digits_benchmark(**ARGS, cache_dir=first)
    fresh_other = digits_benchmark(**{**ARGS, "seed": 4}, cache_dir=tmp_path)
    other_path = _only_cache_file(tmp_path)
    _only_cache_file(first).replace(other_path)  # seed-3 data under the seed-4 name
    with pytest.warns(RuntimeWarning, match="integrity record's key differs"):
        again = digits_benchmark(**{**ARGS, "seed": 4}, cache_dir=tmp_path)
    assert _same(again, fresh_other)


def _warned_before_rendering(monkeypatch: pytest.MonkeyPatch, cache_dir: Path, match: str):
    """Run digits_benchmark with ``cache_dir``; the warning must match and come before the rendering starts."""
    render = digits_module._render_split
    seen_at_render: list[int] = []
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")

        def recording_render(*args, **kwargs):
            seen_at_render.append(len(record))
            return render(*args, **kwargs)

        monkeypatch.setattr(digits_module, "_render_split", recording_render)
        data = digits_benchmark(**ARGS, cache_dir=cache_dir)
    messages = [str(w.message) for w in record]
    assert len(messages) == 1 and seen_at_render == [1], messages
    assert match in messages[0] and "without a cache" in messages[0], messages
    assert _same(data, digits_benchmark(**ARGS))
    return messages[0]


def test_file_shaped_cache_dir_is_reported_before_rendering(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file")
    message = _warned_before_rendering(monkeypatch, not_a_folder, "is a file, not a folder")
    assert str(not_a_folder) in message
    _warned_before_rendering(monkeypatch, not_a_folder / "sub", "cannot be created")
    assert not_a_folder.read_text() == "a file"


def test_read_only_cache_dir_is_reported_before_rendering(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        probe = folder / "probe"
        try:
            probe.write_text("")
            probe.unlink()
        except OSError:
            pass
        else:  # root writes into read-only folders: let creating a file there fail as it does for other users

            def refuse(*args, **kwargs):
                raise PermissionError(errno.EACCES, "Permission denied", str(folder))

            monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
            monkeypatch.setattr(np, "savez_compressed", refuse)
        _warned_before_rendering(monkeypatch, folder, "is not writable")
    finally:
        folder.chmod(0o755)


def test_read_only_folder_with_a_good_cache_is_still_read(cached, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh, path = cached

    def fail(*args, **kwargs):
        raise AssertionError("a good cache must not be rendered again")

    monkeypatch.setattr(digits_module, "_render_split", fail)
    monkeypatch.setattr(digits_module, "_cache_write_problem", lambda folder: "not writable")  # never asked
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _same(digits_benchmark(**ARGS, cache_dir=tmp_path), fresh)
