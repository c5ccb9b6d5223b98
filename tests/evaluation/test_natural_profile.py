"""The natural evaluation profile (issue 14.5): its sizing, its smoke variant, the selected configurations of a run,
and the figure of its mosaics."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from hidden_monotonicity.data.localisation import LocalisationDataset  # noqa: E402
from hidden_monotonicity.evaluation.profiles import (  # noqa: E402
    DEFAULT,
    EVERY_CATEGORY_METRICS,
    NATURAL,
    NATURAL_SIZE,
    candidate_count,
    get_profile,
)
from hidden_monotonicity.evaluation.results import chosen_configurations  # noqa: E402
from hidden_monotonicity.plots.benchmark import plot_mosaics  # noqa: E402


def test_the_natural_profile_keeps_the_default_protocol_at_its_own_size():
    profile = get_profile("natural")
    assert profile is NATURAL and profile.dataset_kwargs["size"] == NATURAL_SIZE
    assert profile.metrics == EVERY_CATEGORY_METRICS  # every category
    assert profile.selection_metrics == DEFAULT.selection_metrics and profile.selection_criterion == DEFAULT.selection_criterion
    # the same candidates as the default profile (73 with two layers per layer rule)
    assert sum(candidate_count(row, 2) for row in profile.methods) == sum(candidate_count(row, 2) for row in DEFAULT.methods) == 73
    n_features = 3 * NATURAL_SIZE * NATURAL_SIZE
    step = profile.metric_params["PixelFlipping"]["features_in_step"]
    assert n_features % step == 0 and n_features // step == 48  # as the default profile: 3 * 64 * 64 / 256
    assert (NATURAL_SIZE * NATURAL_SIZE) % step == 0  # Quantus flips whole pixels per step
    patch = profile.metric_params["Selectivity"]["patch_size"]
    assert NATURAL_SIZE % patch == 0 and NATURAL_SIZE // patch == DEFAULT.dataset_kwargs["size"] // DEFAULT.metric_params["Selectivity"]["patch_size"]
    assert NATURAL_SIZE % profile.dataset_kwargs["grid"] == 0


def test_the_smoke_variant_is_a_valid_profile_of_the_same_data():
    smoke = get_profile("natural_smoke")
    assert smoke.dataset == NATURAL.dataset and smoke.models == NATURAL.models
    assert set(smoke.metrics) <= set(EVERY_CATEGORY_METRICS)
    n_features = 3 * smoke.dataset_kwargs["size"] ** 2
    assert n_features // smoke.metric_params["PixelFlipping"]["features_in_step"] == 48


def _selection(rows):
    return pd.DataFrame(rows, columns=["model", "method", "candidate", "config", "params", "chosen"])


def test_chosen_configurations_reads_the_selected_candidate_of_every_row():
    profile = get_profile("natural_smoke")
    selection = _selection([
        ("efficientnet_lite0", "saliency", 0, "abs=False", json.dumps({"abs": False}), False),
        ("efficientnet_lite0", "saliency", 1, "abs=True", json.dumps({"abs": True}), True),
        ("efficientnet_lite0", "layercam", 0, "layer=x", json.dumps({"layer": "x"}), True),
        ("efficientnet_lite0", "splitcam", 0, "a", json.dumps({"layer": "y", "alpha": 0.4}), True),
        ("other_model", "saliency", 0, "abs=False", json.dumps({"abs": False}), True),
    ])
    chosen = chosen_configurations(selection, profile, "efficientnet_lite0")
    assert list(chosen) == ["saliency", "layercam", "splitcam"]  # the profile's order
    assert chosen["saliency"] == ("saliency", {"abs": True})
    assert chosen["splitcam"] == ("splitcam", {"layer": "y", "alpha": 0.4})
    with pytest.raises(ValueError, match=r"no selected configuration for \['layercam', 'splitcam'\]"):
        chosen_configurations(selection.iloc[[0, 1, 4]], profile, "efficientnet_lite0")


def test_plot_mosaics_outlines_the_target_cell_and_names_its_class():
    images = torch.zeros(3, 3, 8, 8)
    masks = torch.zeros(3, 1, 8, 8)
    masks[:, :, :4, :4] = 1
    dataset = LocalisationDataset(images, [0, 2, 1], masks, mean=(0, 0, 0), std=(1, 1, 1), class_names=["cat", "cup", "camera"])
    figure = plot_mosaics(dataset, count=2, title="mosaics")
    axes = figure.axes
    assert len(axes) == 2 and [ax.get_title() for ax in axes] == ["cat", "camera"]
    assert all(ax.collections for ax in axes)  # the mask contour is drawn
    plt.close(figure)
    with pytest.raises(ValueError, match="at least one image"):
        plot_mosaics(dataset, count=0)
