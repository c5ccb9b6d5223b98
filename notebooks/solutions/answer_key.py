"""The answer key of the course (lecturer only; left out of the student export, ``make student``).

Computes the answer of every exercise whose objects are fixed, with the library, and prints the digests of the
rounded answers that ``hm.teaching.answers.DIGESTS`` stores::

    PYTHONPATH=lib python notebooks/solutions/answer_key.py          # print the DIGESTS dict
    PYTHONPATH=lib python notebooks/solutions/answer_key.py --values # print the answers themselves

``tests/test_teaching.py`` recomputes these answers and checks that the stored digests still match them (a change
of a checkpoint or of the evaluation scores shows up there). Exercises 05.x are checked against the student's own
model at check time and have no digest.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

import hidden_monotonicity as hm
from hidden_monotonicity.teaching import answers, exercises, toys


def answer_01_1():
    grid = np.linspace(-3.0, 3.0, 61)
    return (lambda x: 2 * np.asarray(x, dtype=np.float64), lambda x: 2 * np.maximum(1.0, x)), grid


def values_01_1():
    (g, h), grid = answer_01_1()
    return np.stack([g(grid), h(grid)])


def values_01_2():
    layer, x = toys.layer_input()
    streams = hm.decompose(torch.nn.Sequential(layer).eval(), stabilize="none", input_split="center").activations(x, ["0"])["0"]
    return np.stack([streams.pos[0].numpy(), streams.neg[0].numpy()])


def values_01_3():
    net, x = exercises.backward_toy()
    split = hm.decompose(net, stabilize="none", input_split="positive")
    common = []
    for alpha in (0.0, 0.3):
        record = split.sensitivities(x.reshape(1, -1), 0, ["input"], alpha=alpha)["input"]
        common.append(float((record.delta_pos_g + record.delta_neg_g).abs().sum()))
    return np.array([common[1] / common[0]])


def values_01_4():
    return hm.explain(toys.small_conv_network(), toys.small_conv_input(), [0, 2], "splitcam", layer="3", alpha=0.4)[:, 0].double().numpy()


def values_01_5():
    split = hm.decompose(toys.exercise_network(), stabilize="none", input_split="positive")
    out = np.zeros((2, 2, 4))
    for i, x in enumerate(exercises.HAND_INPUTS):
        for j, alpha in enumerate(exercises.HAND_ALPHAS):
            r = split.sensitivities(torch.tensor([[x]], dtype=torch.float64), 0, ["input"], alpha=alpha)["input"]
            out[i, j] = [float(r.delta_pos_g), float(r.delta_neg_g), float(r.delta_pos_h), float(r.delta_neg_h)]
    return out


def values_02_1():
    net, x = toys.deep_toy_network(), toys.deep_toy_input()
    split = hm.decompose(net, stabilize="none", input_split="positive")
    relus = [name for name, module in net.named_children() if isinstance(module, torch.nn.ReLU)]
    kept = split.activations(x, relus)
    first, last = float(kept[relus[0]].s.mean()), float(kept[relus[-1]].s.mean())
    return np.array([(last / first) ** (1.0 / (len(relus) - 1))])


def values_02_2():
    table = toys.gradient_loss(toys.deep_toy_network(depth=32), toys.deep_toy_input())
    return np.array([float(table.loc[table["relative_error"] < 1e-6, "alpha"].min())])


def values_02_3():
    net, x = toys.deep_toy_network(depth=6), toys.deep_toy_input()
    record = hm.decompose(net, input_split="positive").sensitivities(x, 0, ["input"], alpha=0.5, shift_output=False)["input"]
    xg = x.clone().requires_grad_(True)
    net(xg)[0, 0].backward()
    return np.array([float((record.delta_pos_g + record.delta_pos_h).abs().max() / xg.grad.abs().max())])


def values_03_1():
    model, x, targets = exercises.saliency_exercise()
    return hm.explain(model, x, targets, "splitgrad", layer="input", alpha=0.5)[:, 0].double().numpy()


def values_03_2():
    model, x, targets = exercises.saliency_exercise()
    record = hm.decompose(model).sensitivities(x, targets, [exercises.SALIENCY_LAYER], alpha=0.4)[exercises.SALIENCY_LAYER]
    return (record.delta_pos_g * record.a_pos).sum(1).double().numpy()


def layercam_without_relus(model, x, targets, layer):
    kept = {}
    handle = dict(model.named_modules())[layer].register_forward_hook(lambda m, i, o: kept.__setitem__("a", o))
    logits = model(x)
    handle.remove()
    (gradient,) = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), kept["a"])
    return (gradient * kept["a"]).sum(1).detach().double()


def values_03_3():
    model, x, targets = exercises.saliency_exercise()
    layer = exercises.LAYERCAM_LAYER
    half = 0.5 * layercam_without_relus(model, x, targets, layer)
    record = hm.decompose(model, stabilize="scale").sensitivities(x, targets, [layer], alpha=0.5)[layer]
    cam = (record.delta_pos_g * record.a_pos).sum(1).double()
    return np.array([float((cam - half).abs().sum() / half.abs().sum())])


def values_04_1():
    objects = exercises.localisation_exercise()
    flat = objects.maps.reshape(len(objects.maps), -1)
    return objects.masks.reshape(len(flat), -1)[np.arange(len(flat)), flat.argmax(axis=1)].astype(np.float64)


def localisation(maps, masks):
    maps, masks = np.abs(np.asarray(maps, dtype=np.float64)), np.asarray(masks).astype(bool)
    return (maps * masks).reshape(len(maps), -1).sum(1) / maps.reshape(len(maps), -1).sum(1)


def values_04_2():
    objects = exercises.localisation_exercise()
    return localisation(objects.maps, objects.masks)


def values_04_3():
    scores = exercises.evaluation_scores()
    scores = scores[(scores["model"] == "benchmark_vgg") & (scores["split"] == "test")]
    ranks = [scores[scores["metric"] == metric].groupby("method")["score"].mean().rank(method="min")["splitcam"]
             for metric in ("AUC@5", "AUC@20")]
    return np.array(ranks, dtype=np.float64)


def values_04_4():
    objects = exercises.localisation_exercise()
    relevance = hm.decompose(objects.model).relevance(objects.x, objects.targets, ["input"], epsilon=1e-6)["input"]
    return np.array([localisation(relevance.pos.sum(1).double().numpy(), objects.masks).mean()])


VALUES = {
    "01.1": values_01_1, "01.2": values_01_2, "01.3": values_01_3, "01.4": values_01_4, "01.5": values_01_5,
    "02.1": values_02_1, "02.2": values_02_2, "02.3": values_02_3,
    "03.1": values_03_1, "03.2": values_03_2, "03.3": values_03_3,
    "04.1": values_04_1, "04.2": values_04_2, "04.3": values_04_3, "04.4": values_04_4,
}


def digests() -> dict[str, str]:
    """The digest of every fixed answer, as ``hm.teaching.answers.DIGESTS`` stores it."""
    result = {}
    for key, compute in VALUES.items():
        exercise = exercises.EXERCISES[key]
        rounded = answers.candidates(exercise.quantities(np.asarray(compute(), dtype=np.float64)))[0]
        result[key] = answers.digest(key, rounded)
    return result


if __name__ == "__main__":
    if "--values" in sys.argv:
        for key, compute in VALUES.items():
            print(key, np.array2string(np.asarray(compute()).ravel()[:16], precision=5))
    else:
        print("DIGESTS: dict[str, str] = {")
        for key, value in digests().items():
            print(f'    "{key}": "{value}",')
        print("}")
