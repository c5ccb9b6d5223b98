"""Natural photos shipped inside installed packages, and the grid pointing game built from them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hidden_monotonicity import models
from hidden_monotonicity.data import NATURAL_PHOTO_CLASSES, NATURAL_PHOTO_SOURCES, grid_pointing_game, natural_photos


@pytest.fixture(scope="module")
def lite0() -> nn.Module:
    return models.load("efficientnet_lite0", weights="imagenet")


@pytest.fixture(scope="module")
def game(lite0: nn.Module):
    return grid_pointing_game(lite0, 6, grid=2, size=224, seed=0)


def test_natural_photos_contract() -> None:
    photos = natural_photos(64)
    assert photos.images.shape == (len(NATURAL_PHOTO_SOURCES), 3, 64, 64) and photos.images.dtype == torch.float32
    assert photos.names == list(NATURAL_PHOTO_SOURCES) and len(photos.sources) == len(photos.names)
    assert photos.images.min() >= 0 and photos.images.max() <= 1
    assert (photos.images.flatten(1).std(1) > 0.05).all()  # real content, not blank
    assert set(NATURAL_PHOTO_CLASSES) == set(NATURAL_PHOTO_SOURCES)
    again = natural_photos(64, names=["coffee"])
    assert torch.equal(again.images[0], photos["coffee"])  # deterministic, independent of the other photos
    camera = photos["camera"]
    assert torch.equal(camera[0], camera[1]) and torch.equal(camera[1], camera[2])  # the grey photo as RGB


def test_natural_photos_centre_crop_keeps_the_middle() -> None:
    from hidden_monotonicity.data.natural import _photo_array

    original = torch.from_numpy(_photo_array("china"))  # 427 x 640 landscape
    height, width = original.shape[1:]
    photo = natural_photos(height, names=["china"]).images[0]  # no resize: a pure centre crop
    left = (width - height) // 2
    torch.testing.assert_close(photo, original[:, :, left : left + height], rtol=0, atol=1e-6)


@pytest.mark.parametrize("size", [31, 0, -5, 2.5, True])
def test_sizes_below_32_or_not_integers_are_refused(size) -> None:
    with pytest.raises(ValueError, match="at least 32"):
        natural_photos(size)


def test_unknown_photo_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown photo"):
        natural_photos(64, names=["lena"])


def test_masks_cover_exactly_one_cell(game) -> None:
    n, grid, size = 6, 2, 224
    cell = size // grid
    assert game.images.shape == (n, 3, size, size) and game.masks.shape == (n, 1, size, size)
    assert set(torch.unique(game.masks).tolist()) == {0.0, 1.0}
    for i in range(n):
        row, col = int(game.sample_info["target_row"][i]), int(game.sample_info["target_col"][i])
        expected = torch.zeros(size, size)
        expected[row * cell : (row + 1) * cell, col * cell : (col + 1) * cell] = 1
        assert torch.equal(game.masks[i, 0], expected)
        classes = [int(c) for c in game.sample_info["cell_classes"][i].split(",")]
        assert len(set(classes)) == grid * grid  # distinct classes
        assert int(game.targets[i]) == classes[row * grid + col]
    assert len({(int(r), int(c)) for r, c in zip(game.sample_info["target_row"], game.sample_info["target_col"])}) > 1


def test_cells_are_photos_the_model_classifies_alone(game, lite0: nn.Module) -> None:
    raw = game.denormalise(game.images)
    cell = 112
    photos_used = set()
    for i in range(len(game)):
        names = game.sample_info["cell_photos"][i].split(",")
        classes = [int(c) for c in game.sample_info["cell_classes"][i].split(",")]
        for position, (name, label) in enumerate(zip(names, classes)):
            photos_used.add(name)
            assert label in NATURAL_PHOTO_CLASSES[name]
            row, col = divmod(position, 2)
            view = raw[i : i + 1, :, row * cell : (row + 1) * cell, col * cell : (col + 1) * cell]
            alone = torch.nn.functional.interpolate(view, size=224, mode="bilinear", antialias=True, align_corners=False)
            with torch.no_grad():
                probabilities = lite0(models.efficientnet_lite_normalise(alone.clamp(0, 1))).softmax(1)[0]
            assert int(probabilities.argmax()) == label and probabilities[label] >= 0.25 - 1e-3
    assert photos_used == set(game.meta["pool"])


def test_deterministic_and_seed_dependent(game, lite0: nn.Module) -> None:
    cheap = dict(grid=2, size=224, views_per_photo=2)
    first, again = grid_pointing_game(lite0, 3, seed=0, **cheap), grid_pointing_game(lite0, 3, seed=0, **cheap)
    assert torch.equal(again.images, first.images) and torch.equal(again.masks, first.masks)
    other = grid_pointing_game(lite0, 3, seed=1, **cheap)
    assert not torch.equal(other.images, first.images)
    flips = {flag for row in game.sample_info["cell_flips"] for flag in row.split(",")}
    assert flips == {"0", "1"}  # both orientations occur


def test_too_few_confident_photos_is_explained(lite0: nn.Module) -> None:
    with pytest.raises(ValueError, match="needs 9"):
        grid_pointing_game(lite0, 1, grid=3, size=96)
    with pytest.raises(ValueError, match="multiple of grid"):
        grid_pointing_game(lite0, 1, grid=3, size=224)
    lite0.train()
    try:
        with pytest.raises(ValueError, match="training mode"):
            grid_pointing_game(lite0, 1)
    finally:
        lite0.eval()


def test_data_load_and_the_natural_profile() -> None:
    from hidden_monotonicity import data
    from hidden_monotonicity.evaluation.profiles import DEFAULT, get_profile

    val = data.load("grid_pointing_game", "val", n=2, views_per_photo=2)
    test = data.load("grid_pointing_game", "test", n=2, views_per_photo=2)
    assert len(val) == len(test) == 2 and val.meta["split"] == "val" and test.meta["split"] == "test"
    assert val.meta["seed"] != test.meta["seed"] and not torch.equal(val.images, test.images)
    with pytest.raises(ValueError, match="unknown split"):
        data.load("grid_pointing_game", "validation", n=1)
    profile = get_profile("natural")
    assert profile.dataset == "grid_pointing_game" and profile.models == ("efficientnet_lite0",)
    assert [row.method for row in profile.methods] == [row.method for row in DEFAULT.methods]  # every method
    assert profile.metrics == DEFAULT.metrics and profile.selection_metrics == DEFAULT.selection_metrics
    factor = profile.dataset_kwargs["size"] / DEFAULT.dataset_kwargs["size"]
    for natural_row, default_row in zip(profile.methods, DEFAULT.methods):  # the same candidates, pixel sizes scaled
        assert set(natural_row.grid) == set(default_row.grid)
        for name, values in default_row.grid.items():
            expected = tuple(round(v * factor) if name in ("window", "stride", "patch_size") else v for v in values)
            assert natural_row.grid[name] == expected
