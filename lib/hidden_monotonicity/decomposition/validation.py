"""The checks of the arguments every entry point shares (``hm.explain``, ``SplitNetwork.sensitivities`` and
``.relevance``, the method functions): target class indices and numeric parameters, each with one message; and
:func:`check_finite_tensors`, the model's weights (no NaN or Inf in a parameter or buffer)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

#: the α-shift range of the paper (B.3): 0 = the true split gradient, 0.5 = a multiple of the gradient
PAPER_ALPHA_RANGE = (0.0, 0.5)


def as_target_tensor(targets: Any, batch_size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Targets as a long tensor of length ``batch_size``: an int is broadcast, a sequence must match.

    Accepts a Python/numpy integer, a 0-d integer tensor, or a 1-D list/tuple/np.ndarray/tensor of integers.
    Refused: floats (1.7 is not a class), bools, 2-D targets such as (N, 1), a length other than ``batch_size``
    (unlike pytorch-grad-cam, which silently blanks the maps of the samples beyond a too short target list).
    """
    if isinstance(targets, (bool, np.bool_, float, np.floating)):
        raise TypeError(f"targets must be integer class indices, got the {type(targets).__name__} {targets!r}")
    if isinstance(targets, (int, np.integer)):
        return torch.full((batch_size,), int(targets), dtype=torch.long, device=device)
    if isinstance(targets, torch.Tensor):
        values = targets.detach()
    elif isinstance(targets, (list, tuple, np.ndarray)):
        array = np.asarray(targets)
        if array.dtype == object or array.dtype == np.bool_ or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
            raise TypeError(f"targets must be integer class indices, got {targets!r} (dtype {array.dtype})")
        values = torch.as_tensor(array.astype(np.int64))
    else:
        raise TypeError(
            "targets must be an int, a list, a numpy array or a tensor of class indices, "
            f"got {type(targets).__name__}"
        )
    if values.is_floating_point() or values.is_complex() or values.dtype == torch.bool:
        raise TypeError(f"targets must be integer class indices, got a tensor of dtype {values.dtype}")
    if values.ndim == 0:
        return torch.full((batch_size,), int(values), dtype=torch.long, device=device)
    if values.ndim != 1:
        raise ValueError(f"targets must be 1-D (one class index per image), got shape {tuple(values.shape)}")
    if values.shape[0] != batch_size:
        raise ValueError(
            f"got {values.shape[0]} targets for a batch of {batch_size} images; pass one target per image "
            "(or a single int for all of them)"
        )
    return values.to(device=device, dtype=torch.long)


def check_targets_in_range(targets: torch.Tensor, num_classes: int) -> None:
    outside = ((targets < 0) | (targets >= num_classes)).nonzero().flatten().tolist()
    if outside:
        index = outside[0]
        raise ValueError(
            f"target {int(targets[index])} (image {index}) is out of range: the model has {num_classes} outputs, "
            f"so targets must lie in [0, {num_classes})"
        )


def real_number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                low_open: bool = False) -> float:
    """``value`` as a float after checking it is a finite real number (not a bool) within ``[low, high]``
    (``(low, high]`` with ``low_open``); the error names the parameter, the range and the value."""
    lower, upper = ("-inf" if low is None else f"{low:g}"), ("inf" if high is None else f"{high:g}")
    bounds = f"{'(' if low_open else '['}{lower}, {upper}]"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number in {bounds}, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number in {bounds}, got {number}")
    if (low is not None and (number < low or (low_open and number == low))) or (high is not None and number > high):
        raise ValueError(f"{name} must lie in {bounds}, got {number}")
    return number


def check_alpha(alpha: Any, allow_large_alpha: bool = False) -> float:
    """α of the α-shift (paper B.3): the paper's range [0, 0.5]; ``allow_large_alpha=True`` opts into (0.5, 1]
    (the common mode is then multiplied by 1 − 2α < 0, and values grow like (2α − 1)^depth: 1e10 and more)."""
    if allow_large_alpha:
        return real_number("alpha", alpha, low=0.0, high=1.0)
    try:
        return real_number("alpha", alpha, low=PAPER_ALPHA_RANGE[0], high=PAPER_ALPHA_RANGE[1])
    except ValueError as error:
        raise ValueError(
            f"{error} (the paper's range, B.3; above 0.5 the sensitivities grow like (2α − 1)^depth; "
            "SplitNetwork.sensitivities(..., allow_large_alpha=True) allows up to 1)"
        ) from None


def check_finite_tensors(model: torch.nn.Module) -> None:
    """Refuse a model with a NaN or ±Inf value in a floating parameter or buffer, naming each such tensor (up to five)
    and its counts.

    Every explanation of such a model is NaN (or meaningless) without a word: a NaN weight spreads to every output it
    reaches, and ``0 · Inf`` is NaN in the split streams even where the model's own output stays finite. The usual
    cause is a diverged training run or a corrupted checkpoint. Meta-device tensors (no values) are skipped:
    :func:`~.graph.check_model` explains those. ``hm.decompose`` and every method of ``hm.explain`` call it.

    Cheap enough for every call: the fast test is the sum of each tensor (NaN and ±Inf propagate into it; one pass, no
    temporary, about 20x faster than ``torch.isfinite(t).all()`` on a CPU), with one transfer per device. Only a tensor
    whose sum is not finite - a real NaN/Inf, or an overflow of large finite values (half precision is summed in
    float32 for that reason) - is examined value by value, and the values are counted only when something is wrong."""
    named = [("parameter", name, tensor) for name, tensor in model.named_parameters()]
    named += [("buffer", name, tensor) for name, tensor in model.named_buffers()]
    named = [(kind, name, tensor.detach()) for kind, name, tensor in named
             if not tensor.is_meta and (tensor.is_floating_point() or tensor.is_complex())]

    def finite_sum(tensor: torch.Tensor) -> torch.Tensor:
        low_precision = tensor.is_floating_point() and tensor.element_size() < 4  # fp16/bf16 sums overflow early
        return torch.isfinite(tensor.sum(dtype=torch.float32) if low_precision else tensor.sum())

    by_device: dict[torch.device, list[int]] = {}
    flags = []
    for index, (_, _, tensor) in enumerate(named):
        flags.append(finite_sum(tensor))
        by_device.setdefault(tensor.device, []).append(index)
    suspects = []
    for indices in by_device.values():
        finite = torch.stack([flags[i] for i in indices]).tolist()  # one transfer per device
        suspects += [index for index, ok in zip(indices, finite) if not ok]
    bad = []
    for index in sorted(suspects):
        tensor = named[index][2]
        nans, infs = int(torch.isnan(tensor).sum()), int(torch.isinf(tensor).sum())
        if nans or infs:  # else the sum overflowed and every value is finite
            bad.append((index, nans, infs))
    if not bad:
        return
    described = []
    for index, nans, infs in bad[:5]:
        kind, name, tensor = named[index]
        values = " and ".join(part for part in (f"{nans} NaN value(s)" if nans else "",
                                                f"{infs} infinite value(s)" if infs else "") if part)
        described.append(f"{kind} {name!r} holds {values} of {tensor.numel()}")
    more = f", and {len(bad) - 5} more tensor(s)" if len(bad) > 5 else ""
    raise ValueError(
        f"the model has non-finite weights: {'; '.join(described)}{more}: every explanation would be NaN; reload "
        "finite weights (model.load_state_dict(...); a diverged training run or a corrupted checkpoint is the usual "
        "cause)"
    )
