"""The explorer offers the LRP methods their own layers ("input" first, the default) after a CAM's were listed:
the layer lists are cached per method family, not shared by every non-split method (issue 26, LRP at a layer)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_widgets import dataset, small_cnn  # noqa: E402, F401 (dataset: the fixture)

from hidden_monotonicity.widgets import ExplorerModel  # noqa: E402


def test_lrp_layers_after_layercam_start_with_the_input(dataset):
    core = ExplorerModel({"cnn": small_cnn(3)}, dataset, methods=("splitcam", "layercam", "lrp_gamma"), metrics=("Sparseness",))
    cam_layers = core.layer_options("cnn", "layercam")
    lrp_layers = core.layer_options("cnn", "lrp_gamma")
    assert "input" not in cam_layers
    assert lrp_layers[0] == "input" and set(cam_layers) <= set(lrp_layers)
    assert core.default_layer("cnn", "lrp_gamma") == "input"
    view = core.update(method="lrp_gamma", layer=lrp_layers[-1])
    assert view.error is None and view.state.layer == lrp_layers[-1]
    assert torch.isfinite(torch.as_tensor(view.saliency)).all()
