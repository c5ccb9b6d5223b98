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


# ------------------------------------------------------------------------------------------------ ImageNet-S
from PIL import Image  # noqa: E402

from hidden_monotonicity.data import imagenet_s  # noqa: E402
from hidden_monotonicity.data.imagenet_s import IGNORE_ID, mask_class_ids  # noqa: E402

WNIDS = ("n01443537", "n02504458")  # goldfish (mask id 1), African elephant (mask id 15)
CROP = 16


def _id_map(wnid: str, height: int = 30, width: int = 40, with_ignore: bool = True) -> np.ndarray:
    """Own class in a block, the other class beside it, ignore (1000) in a strip when the mode can hold it."""
    own, other = mask_class_ids()[wnid], mask_class_ids()[WNIDS[1 - WNIDS.index(wnid)]]
    ids = np.zeros((height, width), dtype=np.int64)
    ids[5:25, 4:20] = own
    ids[5:25, 22:36] = other
    if with_ignore:
        ids[:3, :] = IGNORE_ID
    return ids


def _mask_image(ids: np.ndarray, mode: str) -> Image.Image:
    """``ids`` written as a PNG image of the given mode, in that mode's convention."""
    if mode in ("RGB", "RGBA"):
        rgb = np.zeros((*ids.shape, 4 if mode == "RGBA" else 3), dtype=np.uint8)
        rgb[..., 0], rgb[..., 1] = ids % 256, ids // 256
        if mode == "RGBA":
            rgb[..., 3] = 255
        return Image.fromarray(rgb, mode=mode)
    if mode == "I;16":
        return Image.fromarray(ids.astype(np.uint16))
    if mode == "L":
        return Image.fromarray(ids.astype(np.uint8))
    if mode == "P":
        image = Image.fromarray(ids.astype(np.uint8)).convert("P")  # P image holding the same bytes as indices
        image.putdata(ids.astype(np.uint8).ravel().tolist())
        # colours unrelated to the index: decoding R + 256 G of the colours gives no class id
        image.putpalette([channel for k in range(256) for channel in ((k * 37 + 11) % 256, 200, 17)])
        return image
    raise AssertionError(mode)


def _write_imagenet_s(root: Path, mode: str, ids_of=None, encode=None) -> Path:
    """Two classes, one image each; masks of ``ids_of(wnid)`` (default :func:`_id_map`) written by ``encode``."""
    rng = np.random.default_rng(1)
    for wnid in WNIDS:
        ids = _id_map(wnid, with_ignore=mode in ("RGB", "RGBA", "I;16")) if ids_of is None else ids_of(wnid)
        image_dir = root / "ImageNetS50" / "validation" / wnid
        mask_dir = root / "ImageNetS50" / "validation-segmentation" / wnid
        image_dir.mkdir(parents=True, exist_ok=True)
        mask_dir.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, size=(*ids.shape, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(image_dir / f"{wnid}_0.JPEG", quality=90)
        image = (encode or _mask_image)(ids, mode)
        image.save(mask_dir / f"{wnid}_0.png")
        with Image.open(mask_dir / f"{wnid}_0.png") as written:
            assert written.mode == mode  # the fixture really is in the mode under test
    return root


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "I;16", "P"])
def test_masks_of_every_mode_decode_to_the_class_ids(tmp_path: Path, mode: str) -> None:
    reference = imagenet_s(_write_imagenet_s(tmp_path / "rgb", "RGB"), "all", n_val=1, image_size=CROP)
    data = imagenet_s(_write_imagenet_s(tmp_path / mode.replace(";", ""), mode), "all", n_val=1, image_size=CROP)
    assert list(data.sample_info["file"]) == list(reference.sample_info["file"])
    for i in range(len(data)):
        mask = data[i][2]
        assert mask.sum() > 0, f"{mode}: empty mask for {data.sample_info['file'][i]}"
        torch.testing.assert_close(mask, reference[i][2])
        # the own class only: the other class's block is never in the mask
        wnid = data.sample_info["wnid"][i]
        ids = _id_map(wnid)
        expected_fraction = (ids == mask_class_ids()[wnid]).mean()
        assert abs(float(mask.mean()) - expected_fraction) < 0.15


def test_mode_I_and_palette_indices_are_decoded_directly() -> None:
    from hidden_monotonicity.data.imagenet_s import decode_mask_ids

    ids = _id_map(WNIDS[1])
    as_int32 = Image.fromarray(ids.astype(np.int32))
    assert as_int32.mode == "I"  # Pillow opens some 16-bit PNGs in this mode; it cannot write it as PNG any more
    np.testing.assert_array_equal(decode_mask_ids(as_int32), ids)
    palette = _mask_image(_id_map(WNIDS[0], with_ignore=False), "P")
    np.testing.assert_array_equal(decode_mask_ids(palette), _id_map(WNIDS[0], with_ignore=False))


@pytest.mark.parametrize("mode", ["1", "LA"])
def test_a_mask_mode_without_class_ids_is_refused_naming_file_and_mode(tmp_path: Path, mode: str) -> None:
    root = _write_imagenet_s(tmp_path, "RGB")
    bad = root / "ImageNetS50" / "validation-segmentation" / WNIDS[1] / f"{WNIDS[1]}_0.png"
    ids = _id_map(WNIDS[1])
    Image.fromarray(ids == mask_class_ids()[WNIDS[1]]).convert(mode).save(bad)
    with pytest.raises(ValueError, match=rf"{bad}.* has PIL mode '{mode}'.*R \+ 256 G"):
        imagenet_s(root, "all", n_val=1, image_size=CROP)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_a_binary_0_255_mask_is_an_error_naming_the_file_and_its_ids(tmp_path: Path, mode: str) -> None:
    def binary(wnid: str) -> np.ndarray:
        return np.where(_id_map(wnid, with_ignore=False) == mask_class_ids()[wnid], 255, 0)

    def white_objects(ids: np.ndarray, _mode: str) -> Image.Image:  # R = G = B = 255: id 255 + 256 * 255
        return Image.fromarray(np.repeat(ids[..., None], 3, axis=2).astype(np.uint8))

    root = _write_imagenet_s(tmp_path, mode, ids_of=binary, encode=white_objects if mode == "RGB" else None)
    data = imagenet_s(root, "all", n_val=1, image_size=CROP)
    found = 255 if mode == "L" else 255 + 256 * 255
    with pytest.raises(ValueError, match=rf"mask .*{WNIDS[0]}_0\.png \(PIL mode '{mode}'.*holds ids \[{found}\]"):
        data[0]
    with pytest.raises(ValueError, match=r"holds ids"):
        imagenet_s(root, "test", n_val=1, image_size=CROP, test_filter="single_class")


def test_a_truncated_jpeg_is_skipped_at_scan_time_with_the_reason(tmp_path: Path) -> None:
    root = _write_imagenet_s(tmp_path, "RGB")
    cut = root / "ImageNetS50" / "validation" / WNIDS[0] / f"{WNIDS[0]}_0.JPEG"
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    padded = root / "ImageNetS50" / "validation" / WNIDS[1] / f"{WNIDS[1]}_0.JPEG"
    padded.write_bytes(padded.read_bytes() + b"\x00" * 16)  # complete, with padding after the end marker: kept
    with pytest.warns(RuntimeWarning, match=r"skipped 1 unreadable .*truncated JPEG"):
        dataset = imagenet_s(root, "all", n_val=1, image_size=CROP)
    assert list(dataset.sample_info["file"]) == [f"{WNIDS[1]}/{WNIDS[1]}_0"]
    (name, reason), = dataset.meta["skipped"].items()
    assert name == f"validation/{WNIDS[0]}/{WNIDS[0]}_0.JPEG" and reason.startswith("truncated JPEG")
    assert dataset[0][2].sum() > 0  # the kept pair reads


def test_the_scan_decodes_no_complete_jpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The truncation check reads the last two bytes of a complete JPEG; it never decodes it (50k files)."""
    from PIL import ImageFile

    root = _write_imagenet_s(tmp_path, "RGB")
    decoded = []
    original = ImageFile.ImageFile.load

    def counting_load(self):
        decoded.append(self.format)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    imagenet_s(root, "all", n_val=1, image_size=CROP)
    assert "JPEG" not in decoded
