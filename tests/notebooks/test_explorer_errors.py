"""The explorer (hm.widgets) with labels its model has no class for, and with models in train mode (issue 24: a clear
error instead of an IndexError or a silently wrong class; the caller's model keeps its mode).

Independent numbers: the maps and logits of a deep copy of the model put in eval mode here and explained with direct
``hm.explain`` calls, and the model's batch-norm running statistics (a forward pass in train mode would change them).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

import hidden_monotonicity as hm
from hidden_monotonicity.data import LocalisationDataset
from hidden_monotonicity.widgets import Explorer, ExplorerModel, SelfExplainingModel
from hidden_monotonicity.widgets.explorer_model import eval_mode

SIDE = 8


def five_class_cnn(seed: int = 0) -> nn.Module:
    """A tiny CNN with batch norm and dropout (layers 0..7) and 5 classes, in eval mode."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(4 * (SIDE // 2) ** 2, 5),
    )
    batch_norm = model[1]
    with torch.no_grad():  # running statistics that differ from the batch statistics of any input
        batch_norm.running_mean.copy_(torch.linspace(-0.5, 0.5, 4))
        batch_norm.running_var.copy_(torch.linspace(0.5, 2.0, 4))
        batch_norm.weight.copy_(torch.linspace(0.8, 1.2, 4))
        batch_norm.bias.copy_(torch.linspace(-0.1, 0.1, 4))
    return model.eval()


def dataset(labels, class_names=tuple("abcdef")) -> LocalisationDataset:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(len(labels), 3, SIDE, SIDE, generator=generator)
    masks = torch.zeros(len(labels), 1, SIDE, SIDE)
    masks[:, :, 2:6, 2:6] = 1
    return LocalisationDataset(images, labels, masks, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
                               class_names=list(class_names))


# ----------------------------------------------------------------------------------------- labels and targets
def test_a_label_the_model_has_no_class_for_is_refused_with_the_image_named():
    # the dataset names 6 classes, the model has 5 outputs: the count comes from the model's output
    with pytest.raises(ValueError) as error:
        ExplorerModel({"five": five_class_cnn()}, dataset([0, 1, 2, 5]), methods=("splitcam",), metrics=())
    message = str(error.value)
    assert message.startswith("label 5 of image 3 is outside the model's 5 classes (0..4; model 'five'")
    assert "use a dataset labelled for it" in message and "IndexError" not in message
    with pytest.raises(ValueError, match=r"label 7 of image 1 .*; 2 images have such labels: 1, 3"):
        Explorer({"five": five_class_cnn()}, dataset([0, 7, 2, 5]), methods=("splitcam",), metrics=())


def test_a_negative_label_is_refused_not_read_as_the_last_class():
    # label -1 used to index the last logit: a silently wrong explained class
    with pytest.raises(ValueError, match=r"label -1 of image 2 is outside the model's 5 classes \(0\.\.4"):
        ExplorerModel({"five": five_class_cnn()}, dataset([0, 1, -1]), methods=("splitcam",), metrics=())


def test_a_class_index_target_is_checked_against_the_models_classes():
    core = ExplorerModel({"five": five_class_cnn()}, dataset([0, 1, 4]), methods=("splitcam",), metrics=())
    assert core.num_classes("five") == 5
    assert core.update(image=2, target=4).target == 4  # the last class is fine
    # the dataset names 6 classes, but the model has no logit 5
    with pytest.raises(ValueError, match=r"class index of model 'five' in 0\.\.4 \(its 5 classes\), got 5"):
        core.update(target=5)
    with pytest.raises(ValueError, match=r"in 0\.\.4 \(its 5 classes\), got -1"):
        core.update(target=-1)
    assert core.state.target == 4  # a refused change leaves the state as it was


def test_the_self_explaining_panel_checks_labels_and_targets():
    model = hm.monotone.make_model(seed=0, kind="dm", in_features=16, num_classes=3, hidden=(8,))
    images = torch.rand(3, 16, generator=torch.Generator().manual_seed(1))
    with pytest.raises(ValueError, match=r"label 3 of image 2 is outside the model's 3 classes \(0\.\.2; model 'DM'"):
        SelfExplainingModel({"DM": model}, images, torch.tensor([0, 1, 3]))
    panel = SelfExplainingModel({"DM": model}, images, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"class index of model 'DM' in 0\.\.2 \(its 3 classes\), got 3"):
        panel.update(target=3)


# ----------------------------------------------------------------------------------------- the caller's model mode
def test_a_model_in_train_mode_stays_in_train_mode_and_maps_are_computed_in_eval_mode():
    model = five_class_cnn().train()
    model[5].eval()  # a mixed mode (e.g. frozen dropout) is kept module by module
    modes = {name: module.training for name, module in model.named_modules()}
    statistics = [tensor.clone() for tensor in (model[1].running_mean, model[1].running_var)]
    reference = copy.deepcopy(model).eval()
    data = dataset([0, 1, 4])

    explorer = Explorer({"five": model}, data, methods=("splitcam", "saliency"), metrics=("Sparseness",))
    explorer.build()
    first = explorer.update(image=1, method="splitcam")
    assert {name: module.training for name, module in model.named_modules()} == modes
    again = explorer.update(image=1, method="saliency")
    again_saliency = explorer.update(image=2).saliency
    assert {name: module.training for name, module in model.named_modules()} == modes
    # no forward pass ran in train mode: the batch-norm running statistics are untouched
    for before, after in zip(statistics, (model[1].running_mean, model[1].running_var)):
        assert torch.equal(before, after)

    x = data.images[1:2]
    with torch.no_grad():
        np.testing.assert_allclose(first.logits, reference(x)[0].double().numpy(), rtol=1e-6)
    assert first.current and again.current
    expected = hm.explain(reference, x, 1, "splitcam", layer=first.parameters["layer"], alpha=0.4, stream="pos",
                          output="g", stabilize="scale")
    np.testing.assert_allclose(first.saliency, expected[0, 0].numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(again.saliency, hm.explain(reference, x, 1, "saliency")[0, 0].numpy(), rtol=1e-6,
                               atol=1e-9)
    assert abs(first.f - float(first.logits[1])) <= 1e-5 * max(1.0, abs(first.f))  # Theorem 1 on the eval network
    # deterministic: the same view twice gives the same map (dropout was off)
    np.testing.assert_array_equal(explorer.update(image=1).saliency, again.saliency)
    assert not np.array_equal(again_saliency, again.saliency)
    assert {name: module.training for name, module in model.named_modules()} == modes


def test_the_self_explaining_panel_keeps_the_models_mode():
    model = hm.monotone.make_model(seed=0, kind="dic", in_features=16, num_classes=3, hidden=(8,)).train()
    images = torch.rand(3, 16, generator=torch.Generator().manual_seed(1))
    panel = SelfExplainingModel({"DIC": model}, images, torch.tensor([0, 1, 2]))
    view = panel.update(image=1, target=2)
    assert view.error is None and model.training
    assert all(module.training for module in model.modules())


def test_eval_mode_restores_each_flag_also_after_an_error():
    model = five_class_cnn().train()
    model[1].eval()
    with pytest.raises(RuntimeError, match="inside"):
        with eval_mode([model, model]):  # the same model twice is fine
            assert not any(module.training for module in model.modules())
            with eval_mode([model]):  # nested
                pass
            assert not any(module.training for module in model.modules())
            raise RuntimeError("inside")
    assert model.training and not model[1].training and model[0].training
