"""ImageNet-S-50 loader on a fixture written in the official layout (JPEG images, R + 256 G PNG masks)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms
from torchvision.models import VGG16_Weights

from hidden_monotonicity.data import IMAGENET_S50_TO_IMAGENET, IMAGENET_S50_WNIDS, imagenet_s, imagenet_s_split
from hidden_monotonicity.data.imagenet_s import IMAGENET_MEAN, IMAGENET_S50_NAMES, IMAGENET_STD, mask_class_ids

CLASSES = ("n01443537", "n02504458", "n12998815")  # goldfish, African elephant, agaric
SIZES = ((120, 90), (96, 96), (80, 130))  # (width, height) of the three images of every class
IMAGE_SIZE = 64  # small crops keep the test fast: resize 73 -> crop 64


def _encode(ids: np.ndarray) -> np.ndarray:
    """Class-id map -> RGB array with id = R + 256 G (ImageNet-S's PNG encoding)."""
    rgb = np.zeros((*ids.shape, 3), dtype=np.uint8)
    rgb[..., 0] = ids % 256
    rgb[..., 1] = ids // 256
    return rgb


def _write_fixture(root: Path) -> dict[str, np.ndarray]:
    """Three classes x three images; every mask has the own class, another class, ignore (1000) and 0."""
    rng = np.random.default_rng(0)
    id_maps = {}
    for wnid in CLASSES:
        own = mask_class_ids()[wnid]
        other = mask_class_ids()[CLASSES[(CLASSES.index(wnid) + 1) % 3]]
        for k, (width, height) in enumerate(SIZES):
            name = f"{wnid}_{k}"
            image_dir = root / "ImageNetS50" / "validation" / wnid
            mask_dir = root / "ImageNetS50" / "validation-segmentation" / wnid
            image_dir.mkdir(parents=True, exist_ok=True)
            mask_dir.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(image_dir / f"{name}.JPEG", quality=95)
            ids = np.zeros((height, width), dtype=np.int64)
            ids[height // 4 : 3 * height // 4, width // 5 : width // 2] = own
            ids[height // 4 : 3 * height // 4, width // 2 : 4 * width // 5] = other
            ids[: height // 8, :] = 1000  # ignored strip
            ids[height // 2 : height // 2 + 3, width // 5 : width // 2] = 1000  # ignore inside the object
            Image.fromarray(_encode(ids)).save(mask_dir / f"{name}.png")
            id_maps[f"{wnid}/{name}"] = ids
    return id_maps


@pytest.fixture()
def fixture_root(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    return tmp_path, _write_fixture(tmp_path)


def _expected_mask(ids: np.ndarray, class_id: int) -> np.ndarray:
    """Independent reference: binarise, nearest resize of the shorter side to 73, centre crop 64."""
    height, width = ids.shape
    resize_to = round(IMAGE_SIZE * 256 / 224)
    if width <= height:
        new_w, new_h = resize_to, int(resize_to * height / width)
    else:
        new_h, new_w = resize_to, int(resize_to * width / height)
    binary = Image.fromarray(((ids == class_id) * 255).astype(np.uint8))
    resized = np.asarray(binary.resize((new_w, new_h), Image.NEAREST)) > 127
    top = int(round((new_h - IMAGE_SIZE) / 2.0))
    left = int(round((new_w - IMAGE_SIZE) / 2.0))
    return resized[top : top + IMAGE_SIZE, left : left + IMAGE_SIZE].astype(np.float32)


def test_round_trip_images_labels_and_masks(fixture_root) -> None:
    root, id_maps = fixture_root
    data = imagenet_s(root, "all", image_size=IMAGE_SIZE, n_val=3)
    assert data.is_lazy and len(data) == 9
    reference = transforms.Compose(
        [
            transforms.Resize(round(IMAGE_SIZE * 256 / 224)),
            transforms.CenterCrop(IMAGE_SIZE),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    for i in range(len(data)):
        image, label, mask = data[i]
        name = data.sample_info["file"][i]
        wnid = name.split("/")[0]
        assert label == IMAGENET_S50_TO_IMAGENET[wnid]
        assert data.class_names[label] == IMAGENET_S50_NAMES[wnid]
        assert image.shape == (3, IMAGE_SIZE, IMAGE_SIZE) and mask.shape == (1, IMAGE_SIZE, IMAGE_SIZE)
        with Image.open(root / "ImageNetS50" / "validation" / f"{name}.JPEG") as opened:
            torch.testing.assert_close(image, reference(opened.convert("RGB")))
        expected = _expected_mask(id_maps[name], mask_class_ids()[wnid])
        np.testing.assert_array_equal(mask[0].numpy(), expected)
        assert set(np.unique(mask.numpy()).tolist()) == {0.0, 1.0}
    # eager access materialises everything once and agrees with the items
    assert data.images.shape == (9, 3, IMAGE_SIZE, IMAGE_SIZE) and not data.is_lazy
    torch.testing.assert_close(data.masks[4], data[4][2])


def test_mask_binarisation_excludes_ignore_and_other_classes(fixture_root) -> None:
    root, id_maps = fixture_root
    data = imagenet_s(root, "all", image_size=IMAGE_SIZE, n_val=3)
    for i in range(len(data)):
        name = data.sample_info["file"][i]
        ids = id_maps[name]
        own = mask_class_ids()[name.split("/")[0]]
        full = np.zeros_like(ids)
        full[ids.shape[0] // 4 : 3 * ids.shape[0] // 4, ids.shape[1] // 5 : ids.shape[1] // 2] = 1
        mask_fraction = float(data[i][2].mean())
        own_fraction = float((ids == own).mean())
        # the object covers a quarter-ish of the image minus the ignore line; other class / 1000 never count
        assert 0.5 * own_fraction < mask_fraction < 2.0 * full.mean()
        assert (ids == own).sum() < full.sum()  # the ignore line really removed object pixels


def test_split_is_one_per_class_recorded_and_reproducible(fixture_root, tmp_path) -> None:
    root, _ = fixture_root
    val = imagenet_s(root, "val", n_val=3, seed=1, image_size=IMAGE_SIZE)
    test = imagenet_s(root, "test", n_val=3, seed=1, image_size=IMAGE_SIZE)
    val_files, test_files = list(val.sample_info["file"]), list(test.sample_info["file"])
    assert len(val_files) == 3 and len(test_files) == 6
    assert {f.split("/")[0] for f in val_files} == set(CLASSES)  # one selection image per class
    assert not set(val_files) & set(test_files)
    assert val.meta["val_files"] == val_files and val.meta["test_files"] == test_files
    assert test.meta["val_files"] == val_files
    again = imagenet_s(root, "val", n_val=3, seed=1, image_size=IMAGE_SIZE)
    assert list(again.sample_info["file"]) == val_files
    choices = {tuple(imagenet_s(root, "val", n_val=3, seed=s, image_size=IMAGE_SIZE).sample_info["file"]) for s in range(6)}
    assert len(choices) > 1  # the seed matters
    # a split file freezes the split, whatever n_val / seed say afterwards
    split_file = tmp_path / "split.json"
    imagenet_s(root, "val", n_val=3, seed=1, image_size=IMAGE_SIZE, split_file=split_file)
    recorded = json.loads(split_file.read_text())
    assert recorded["val"] == val_files and recorded["test"] == test_files
    frozen = imagenet_s(root, "test", n_val=5, seed=9, image_size=IMAGE_SIZE, split_file=split_file)
    assert list(frozen.sample_info["file"]) == test_files
    assert frozen.meta["split_origin"] == str(split_file)


def test_split_function_uses_round_robin_over_classes() -> None:
    pairs = [(f"n{c}", f"img{k}") for c in range(4) for k in range(5)]
    val, test = imagenet_s_split(pairs, n_val=6, seed=0)
    classes = [name.split("/")[0] for name in val]
    assert sorted(np.unique(classes, return_counts=True)[1].tolist()) == [1, 1, 2, 2]
    assert len(test) == 14 and not set(val) & set(test)
    with pytest.raises(ValueError, match="n_val"):
        imagenet_s_split(pairs, n_val=21)


def test_missing_folder_explains_the_layout(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="validation-segmentation"):
        imagenet_s(tmp_path / "nowhere")
    (tmp_path / "ImageNetS50" / "validation").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"ImageNetS50/validation/<wnid>/<name>\.JPEG"):
        imagenet_s(tmp_path)


def test_image_without_mask_is_an_error(fixture_root) -> None:
    root, _ = fixture_root
    (root / "ImageNetS50" / "validation-segmentation" / CLASSES[0] / f"{CLASSES[0]}_1.png").unlink()
    with pytest.raises(ValueError, match="without a mask"):
        imagenet_s(root)


def test_mask_without_image_is_an_error(fixture_root) -> None:
    root, _ = fixture_root
    (root / "ImageNetS50" / "validation" / CLASSES[2] / f"{CLASSES[2]}_0.JPEG").unlink()
    with pytest.raises(ValueError, match="without an image"):
        imagenet_s(root)


def test_size_mismatch_is_an_error(fixture_root) -> None:
    root, _ = fixture_root
    Image.fromarray(np.zeros((10, 12, 3), dtype=np.uint8)).save(
        root / "ImageNetS50" / "validation-segmentation" / CLASSES[1] / f"{CLASSES[1]}_2.png"
    )
    with pytest.raises(ValueError, match="differ in size"):
        imagenet_s(root)


def test_unknown_class_folder_is_an_error(fixture_root) -> None:
    root, _ = fixture_root
    for sub, suffix in (("validation", "JPEG"), ("validation-segmentation", "png")):
        folder = root / "ImageNetS50" / sub / "n99999999"
        folder.mkdir()
        Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(folder / f"x.{suffix}")
    with pytest.raises(ValueError, match="n99999999"):
        imagenet_s(root)


def test_unreadable_files_are_skipped_with_a_warning(fixture_root) -> None:
    root, _ = fixture_root
    (root / "ImageNetS50" / "validation" / CLASSES[0] / f"{CLASSES[0]}_2.JPEG").write_bytes(b"not a jpeg at all")
    (root / "ImageNetS50" / "validation-segmentation" / CLASSES[1] / f"{CLASSES[1]}_0.png").write_bytes(b"\x89PNG broken")
    with pytest.warns(RuntimeWarning, match="skipped 2 unreadable"):
        data = imagenet_s(root, "all", image_size=IMAGE_SIZE, n_val=2)
    assert len(data) == 7
    assert len(data.meta["skipped"]) == 2
    assert f"{CLASSES[0]}/{CLASSES[0]}_2" not in set(data.sample_info["file"])


def test_dataset_folder_may_be_given_directly_and_bad_split_rejected(fixture_root) -> None:
    root, _ = fixture_root
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = imagenet_s(root / "ImageNetS50", "all", image_size=IMAGE_SIZE, n_val=3)
    assert len(data) == 9
    with pytest.raises(ValueError, match="split"):
        imagenet_s(root, "train")


def test_class_mapping_is_consistent_with_imagenet() -> None:
    """50 sorted wnids; ImageNet indices follow sorted-wnid order and match torchvision's category names."""
    assert len(IMAGENET_S50_WNIDS) == 50 == len(set(IMAGENET_S50_WNIDS))
    assert list(IMAGENET_S50_WNIDS) == sorted(IMAGENET_S50_WNIDS)
    indices = [IMAGENET_S50_TO_IMAGENET[w] for w in IMAGENET_S50_WNIDS]
    assert all(a < b for a, b in zip(indices, indices[1:]))  # index = rank among sorted ImageNet wnids
    assert 0 <= min(indices) and max(indices) <= 999
    categories = VGG16_Weights.IMAGENET1K_V1.meta["categories"]
    for wnid in IMAGENET_S50_WNIDS:
        assert categories[IMAGENET_S50_TO_IMAGENET[wnid]] == IMAGENET_S50_NAMES[wnid], wnid
    assert IMAGENET_S50_TO_IMAGENET["n01443537"] == 1 and IMAGENET_S50_TO_IMAGENET["n12998815"] == 992
    ids = mask_class_ids()
    assert ids[IMAGENET_S50_WNIDS[0]] == 1 and ids[IMAGENET_S50_WNIDS[-1]] == 50


def test_single_class_filter_keeps_test_images_without_another_class(fixture_root, capsys) -> None:
    root, id_maps = fixture_root
    assert len(imagenet_s(root, "test", n_val=3, image_size=IMAGE_SIZE, test_filter="single_class")) == 0
    test_files = list(imagenet_s(root, "test", n_val=3, image_size=IMAGE_SIZE).sample_info["file"])
    assert len(test_files) == 6 and "6 images (test_filter='all'" in capsys.readouterr().out
    keep = test_files[2]
    ids = id_maps[keep].copy()
    ids[ids == mask_class_ids()[CLASSES[(CLASSES.index(keep.split("/")[0]) + 1) % 3]]] = 0  # drop the other class
    Image.fromarray(_encode(ids)).save(root / "ImageNetS50" / "validation-segmentation" / f"{keep}.png")
    filtered = imagenet_s(root, "test", n_val=3, image_size=IMAGE_SIZE, test_filter="single_class")
    assert list(filtered.sample_info["file"]) == [keep] and filtered.meta["n_test_before_filter"] == 6
    assert "1 images (test_filter='single_class'; 6 before filtering" in capsys.readouterr().out
    with pytest.raises(ValueError, match="test_filter"):
        imagenet_s(root, "test", n_val=3, image_size=IMAGE_SIZE, test_filter="correct")
