"""How the user's model is handled around a call into an attribution library (captum, pytorch-grad-cam,
zennit): shared by :mod:`.captum`, :mod:`.grad_cam` and :mod:`.zennit`.

The user's model is never left modified (checked by the tests):

* in-place activations (torchvision uses ``ReLU(inplace=True)``) break captum's full backward hooks (DeepLift,
  Guided Backprop; pytorch issue 61519) and let forward hooks see values that a later in-place ReLU overwrote.
  Every wrapper runs inside :func:`relu_inplace_disabled`, which switches ``inplace`` off and restores it
  afterwards - except on modules whose in-place effect the model relies on (a call whose result is not assigned,
  ``self.relu(y)`` followed by a use of ``y``): switching those off would change the explained function, so they
  stay in place (:func:`inplace_relied_upon`).
* pytorch-grad-cam calls ``loss.backward()`` and ``model.zero_grad()``; its wrappers freeze the parameters during
  the call (:func:`parameters_frozen`: only activation gradients are needed) and restore both the
  ``requires_grad`` flags and any ``.grad`` the user had.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

#: ``paper_section`` of a baseline the paper lists (section D.3), and of one it does not.
PAPER_BASELINE = "D.3"
EXTRA_BASELINE = "D.3 (extra baseline, not in the paper's list)"


@contextmanager
def relu_inplace_disabled(model: nn.Module) -> Iterator[nn.Module]:
    """Temporarily set ``inplace=False`` on every sub-module whose ``inplace`` flag is True."""
    flipped = [module for module in model.modules() if getattr(module, "inplace", None) is True]
    for module in flipped:
        module.inplace = False
    try:
        yield model
    finally:
        for module in flipped:
            module.inplace = True


@contextmanager
def parameters_frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Temporarily set ``requires_grad=False`` on all parameters; restore the flags and ``.grad`` after."""
    saved = [(parameter, parameter.requires_grad, parameter.grad) for parameter in model.parameters()]
    for parameter, _, _ in saved:
        parameter.requires_grad_(False)
    try:
        yield model
    finally:
        for parameter, requires_grad, grad in saved:
            parameter.requires_grad_(requires_grad)
            parameter.grad = grad


def input_requiring_grad(x: torch.Tensor) -> torch.Tensor:
    return x.detach().clone().requires_grad_(True)
