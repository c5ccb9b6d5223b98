"""Digits localisation benchmark: determinism, masks, balance, disjoint splits, normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.transform import resize
from sklearn.datasets import load_digits

from hidden_monotonicity.data import DIGITS_MEAN, DIGITS_STD, LocalisationDataset, digits_benchmark, source_digit_pools
from hidden_monotonicity.data.digits_benchmark import _bilinear_taps, _resize_bilinear


@pytest.fixture(scope="module")
def test_split() -> LocalisationDataset:
    return digits_benchmark("test", n=120, seed=3)


def test_items_follow_the_contract(test_split: LocalisationDataset) -> None:
    image, label, mask = test_split[0]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    assert isinstance(label, int) and 0 <= label < 10
    assert mask.shape == (1, 64, 64) and mask.dtype == torch.float32
    assert set(torch.unique(test_split.masks).tolist()) <= {0.0, 1.0}
    assert test_split.images.shape == (120, 3, 64, 64)
    assert test_split.labels.dtype == torch.int64
    assert test_split.class_names == [str(d) for d in range(10)]
    assert test_split.meta["split"] == "test" and test_split.meta["seed"] == 3
    assert test_split.meta["generator"]["size"] == 64


def test_same_seed_gives_identical_tensors_and_other_seed_differs() -> None:
    first = digits_benchmark("val", n=30, seed=11)
    second = digits_benchmark("val", n=30, seed=11)
    other = digits_benchmark("val", n=30, seed=12)
    assert torch.equal(first.images, second.images)
    assert torch.equal(first.masks, second.masks)
    assert torch.equal(first.labels, second.labels)
    assert not torch.equal(first.images, other.images)
    assert not torch.equal(first.masks, other.masks)


def test_cache_round_trip_is_exact(tmp_path) -> None:
    fresh = digits_benchmark("val", n=20, seed=5, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    cached = digits_benchmark("val", n=20, seed=5, cache_dir=tmp_path)
    assert torch.equal(fresh.images, cached.images) and torch.equal(fresh.masks, cached.masks)
    different = digits_benchmark("val", n=20, seed=6, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2
    assert not torch.equal(fresh.images, different.images)


def test_fresh_and_cached_splits_have_one_memory_layout_and_give_the_same_explanation(tmp_path) -> None:
    """A freshly rendered split used to be channels-last and a cached one not: float64 convolutions then rounded
    differently, flipped max-pool ties and changed SplitGrad by 0.05 (the explanations depended on the cache)."""
    import hidden_monotonicity as hm

    fresh = digits_benchmark("test", n=2, size=32, seed=0, cache_dir=tmp_path)
    cached = digits_benchmark("test", n=2, size=32, seed=0, cache_dir=tmp_path)
    assert fresh.images.is_contiguous() and cached.images.is_contiguous() and fresh.masks.is_contiguous()
    assert fresh.images.stride() == cached.images.stride()
    model = hm.models.load("benchmark_vgg", allow_random_init=True, seed=0)
    maps = [hm.explain(model, d.images, d.labels, "splitgrad", layer="input", alpha=0.5) for d in (fresh, cached)]
    assert torch.equal(maps[0], maps[1])


def test_classes_are_balanced() -> None:
    data = digits_benchmark("train", n=205, seed=1)
    counts = torch.bincount(data.labels, minlength=10)
    assert counts.sum() == 205
    assert counts.max() - counts.min() <= 1


def test_source_digits_of_the_splits_are_disjoint_and_class_stratified() -> None:
    pools = source_digit_pools(0)
    train, val, test = (set(pools[s].tolist()) for s in ("train", "val", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    assert len(train | val | test) == 1797  # every scan is used exactly once
    targets = load_digits().target
    for split, rows in pools.items():
        assert set(np.unique(targets[rows]).tolist()) == set(range(10)), split
    assert 0.15 < len(test) / 1797 < 0.25
    data = digits_benchmark("test", n=60, seed=2)
    assert set(data.sample_info["source_index"].tolist()) <= test
    assert data.meta["source_digits"] == sorted(test)


def test_labels_are_the_labels_of_the_source_scans(test_split: LocalisationDataset) -> None:
    targets = load_digits().target
    np.testing.assert_array_equal(targets[test_split.sample_info["source_index"]], test_split.labels.numpy())


def test_masks_cover_the_digit_checked_with_an_independent_resampler(test_split: LocalisationDataset) -> None:
    """Re-render every digit with skimage's bilinear resize at the recorded box and compare with the mask."""
    scans = load_digits().images / 16.0
    threshold = test_split.meta["generator"]["alpha_threshold"]
    for i in range(len(test_split)):
        top, left, height, width = test_split.sample_info["digit_box"][i]
        grey = resize(scans[test_split.sample_info["source_index"][i]], (height, width), order=1, mode="edge", anti_aliasing=False)
        placed = np.zeros((64, 64))
        placed[top : top + height, left : left + width] = grey
        mask = test_split.masks[i, 0].numpy() > 0.5
        clearly_ink = placed > threshold + 0.05
        clearly_background = placed < threshold - 0.05
        assert mask[clearly_ink].all(), f"sample {i}: digit pixels outside the mask"
        assert not mask[clearly_background].any(), f"sample {i}: mask pixels where the digit is absent"
        area = mask.mean()
        assert 0.01 < area < 0.4, f"sample {i}: mask area {area}"
        rows, cols = np.nonzero(mask)
        assert rows.min() >= top and rows.max() < top + height and cols.min() >= left and cols.max() < left + width


def test_digit_pixels_take_the_recorded_colour(test_split: LocalisationDataset) -> None:
    """Where the digit is fully opaque, the raw pixel equals its colour (up to 8-bit rounding)."""
    scans = load_digits().images / 16.0
    opaque_level = test_split.meta["generator"]["alpha_threshold"] + test_split.meta["generator"]["alpha_ramp"]
    raw = test_split.denormalise(test_split.images)
    checked = 0
    for i in range(len(test_split)):
        top, left, height, width = test_split.sample_info["digit_box"][i]
        grey = resize(scans[test_split.sample_info["source_index"][i]], (height, width), order=1, mode="edge", anti_aliasing=False)
        opaque = np.zeros((64, 64), dtype=bool)
        opaque[top : top + height, left : left + width] = grey > opaque_level + 0.05
        if opaque.any():
            pixels = raw[i].permute(1, 2, 0).numpy()[opaque]
            np.testing.assert_allclose(pixels, np.broadcast_to(test_split.sample_info["colour"][i], pixels.shape), atol=1.5 / 255)
            checked += 1
    assert checked > 0.9 * len(test_split)


def test_digit_colour_contrasts_with_its_background(test_split: LocalisationDataset) -> None:
    """Mean luminance inside the stroke differs from the ring around it (the digit is visible)."""
    raw = test_split.denormalise(test_split.images).numpy()
    luminance = np.tensordot(np.array([0.299, 0.587, 0.114]), raw, axes=([0], [1]))
    differences = []
    for i in range(len(test_split)):
        mask = test_split.masks[i, 0].numpy() > 0.5
        grown = torch.nn.functional.max_pool2d(torch.from_numpy(mask.astype(np.float32))[None, None], 5, 1, 2)[0, 0].numpy() > 0
        ring = grown & ~mask
        differences.append(abs(luminance[i][mask].mean() - luminance[i][ring].mean()))
    assert np.median(differences) > 0.25


def test_bbox_masks_are_the_bounding_boxes_of_the_strokes() -> None:
    stroke = digits_benchmark("val", n=15, seed=4, mask="stroke")
    box = digits_benchmark("val", n=15, seed=4, mask="bbox")
    assert torch.equal(stroke.images, box.images)
    for i in range(15):
        rows, cols = np.nonzero(stroke.masks[i, 0].numpy())
        expected = np.zeros((64, 64))
        expected[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = 1
        np.testing.assert_array_equal(box.masks[i, 0].numpy(), expected)
    assert (box.masks >= stroke.masks).all()


def test_normalisation_constants_match_the_training_split_and_give_both_signs() -> None:
    data = digits_benchmark("train", n=600, seed=0)
    assert data.mean == DIGITS_MEAN and data.std == DIGITS_STD
    raw = data.denormalise(data.images)
    np.testing.assert_allclose(raw.mean(dim=(0, 2, 3)).numpy(), DIGITS_MEAN, atol=0.02)
    np.testing.assert_allclose(raw.std(dim=(0, 2, 3)).numpy(), DIGITS_STD, atol=0.02)
    normalised = data.images
    assert abs(float(normalised.mean())) < 0.1 and 0.9 < float(normalised.std()) < 1.1
    positive, negative = torch.relu(normalised), torch.relu(-normalised)
    assert (positive > 0).float().mean() > 0.3 and (negative > 0).float().mean() > 0.3
    # denormalise inverts normalise on the quantised pixels
    torch.testing.assert_close(data.normalise(raw), normalised, atol=1e-5, rtol=0)
    assert torch.allclose(raw * 255, torch.round(raw * 255), atol=1e-3)  # 8-bit images


def test_subset_keeps_samples_and_metadata(test_split: LocalisationDataset) -> None:
    subset = test_split.subset([5, 2, 7])
    assert len(subset) == 3
    torch.testing.assert_close(subset.images, test_split.images[[5, 2, 7]])
    torch.testing.assert_close(subset.masks, test_split.masks[[5, 2, 7]])
    assert subset.labels.tolist() == test_split.labels[[5, 2, 7]].tolist()
    np.testing.assert_array_equal(subset.sample_info["digit_box"], test_split.sample_info["digit_box"][[5, 2, 7]])
    assert subset.meta["subset"] == [5, 2, 7] and subset.meta["split"] == "test"
    with pytest.raises(IndexError):
        test_split.subset([len(test_split)])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "training"}, "split"),
        ({"mask": "polygon"}, "mask"),
        ({"n": 0}, "positive"),
        ({"size": 8}, "size"),
        ({"digit_size": (0.7, 0.3)}, "digit_size"),
        ({"min_contrast": 0.8}, "min_contrast"),
        ({"alpha_ramp": 0.0}, "alpha_ramp"),
        ({"split_fractions": (0.5, 0.5, 0.5)}, "split_fractions"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        digits_benchmark(**kwargs)


def test_unknown_generator_option_lists_the_valid_ones() -> None:
    with pytest.raises(TypeError, match="n_distractors"):
        digits_benchmark("val", n=2, distractors=3)


def test_other_image_sizes_work() -> None:
    data = digits_benchmark("val", n=10, size=32, seed=0)
    assert data.images.shape == (10, 3, 32, 32) and data.masks.shape == (10, 1, 32, 32)
    assert (data.masks.sum(dim=(1, 2, 3)) > 0).all()


@settings(max_examples=40, deadline=None)
@given(n_in=st.integers(1, 40), n_out=st.integers(1, 90))
def test_bilinear_resampling_matches_torch_interpolate(n_in: int, n_out: int) -> None:
    """The numpy resampler equals torch's bilinear interpolate (align_corners=False, no antialias)."""
    rng = np.random.default_rng(n_in * 100 + n_out)
    image = rng.uniform(size=(n_in, max(1, n_in // 2 + 1)))
    ours = _resize_bilinear(image, n_out, n_out + 1)
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(image)[None, None], size=(n_out, n_out + 1), mode="bilinear", align_corners=False
    )[0, 0].numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-12)
    lower, upper, weight = _bilinear_taps(n_in, n_out)
    assert (0 <= weight).all() and (weight <= 1).all() and (lower <= upper).all()
