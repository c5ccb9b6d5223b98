"""Which padding were the packaged EfficientNet-Lite0 weights trained with? A measurement on the shipped photos.

The weights' provenance already says TensorFlow "same" padding (see ``hidden_monotonicity.models.efficientnet_lite``);
this script checks it: the photos with a correct ImageNet class (``hm.data.NATURAL_PHOTO_CLASSES``, all but the
astronaut) are cut into ``--views`` random square crops each (side 0.6-1.0 of the shorter side, every second one
flipped left-right, seeded), resized to 224 px, and classified by the same weights under both paddings. Reported:
top-1 accuracy (top-1 among the photo's correct classes) and the mean negative log of the probability of the
correct classes. The padding the weights were trained with should do better.

    .venv/bin/python benchmarks/efficientnet_padding.py [--views 8] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import hidden_monotonicity as hm
from hidden_monotonicity.data.natural import _photo_array, _square_crop


def views(names: list[str], count: int, seed: int) -> tuple[torch.Tensor, list[str]]:
    rng = np.random.default_rng(seed)
    images, owners = [], []
    for name in names:
        photo = torch.from_numpy(_photo_array(name))
        height, width = photo.shape[1:]
        for index in range(count):
            side = int(min(height, width) * rng.uniform(0.6, 1.0))
            top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
            images.append(_square_crop(photo, 224, top, left, side, flip=bool(index % 2)))
            owners.append(name)
    return torch.stack(images), owners


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--views", type=int, default=8, help="random crops per photo (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    names = [name for name, classes in hm.data.NATURAL_PHOTO_CLASSES.items() if classes]
    x, owners = views(names, args.views, args.seed)
    print(f"{len(names)} photos x {args.views} views = {len(x)} images at 224 px ({', '.join(names)})\n")
    print("| padding | top-1 accuracy | mean -log p(correct classes) |")
    print("|---|---|---|")
    for padding in ("tf_same", "symmetric"):
        model = hm.models.efficientnet_lite0(padding=padding)
        with torch.no_grad():
            probabilities = model(hm.models.efficientnet_lite_normalise(x)).softmax(dim=1)
        correct = [list(hm.data.NATURAL_PHOTO_CLASSES[name]) for name in owners]
        top1 = np.mean([int(p.argmax()) in c for p, c in zip(probabilities, correct)])
        nll = np.mean([-float(torch.log(p[c].sum())) for p, c in zip(probabilities, correct)])
        print(f"| {padding} | {top1:.3f} | {nll:.3f} |")


if __name__ == "__main__":
    main()
