"""Self-explaining models ``f(x) = g(x) - h(1 - x)`` built from two monotone (DM) or two
input-convex (DIC) networks, paper section F ("Hidden Monotonicity", arXiv 2601.07700).

Public API (``hm.monotone``)::

    data = load_digits_split()                                  # sklearn 8x8 digits in [0, 1]
    model = make_model(seed=0, kind="dic")                      # MonotoneDifference
    result = train_model(model, data, epochs=40, seed=0)        # tqdm, seeded, checkpoints
    maps = stream_gradients(model, data.x_test[:10])            # dg/dx, dh/d(1-x), df/dx
    monotonicity_check(model, data.x_test)                      # min df_k/dx_i over images, classes, pixels
    make_model(seed=0, kind="dm", h_input="identity")           # f(x) = g(x) - h(x): not monotone
    plain = model.as_plain_network()                            # traceable twin for hm.decompose/hm.explain
    split = split_sensitivities(model, data.x_test[:10])        # the engine's four input sensitivities
    table = run_experiment(seeds=(0, 1, 2))                     # figures/monotone_accuracy.md/.csv

Modules: :mod:`.layers` (sign-constrained layers), :mod:`.stream_networks` (monotone / ICNN / ReLU
streams), :mod:`.model` (``MonotoneDifference``), :mod:`.lipschitz` (``monotonicnetworks``
comparison streams), :mod:`.data`, :mod:`.difference_training` (training, checkpoints), :mod:`.explanations`, :mod:`.experiment`.
"""

from __future__ import annotations

from .data import DigitSplit, load_dataset, load_digits_split, load_mnist_split
from .explanations import (
    SplitSensitivities,
    StreamGradients,
    monotonicity_check,
    split_sensitivities,
    stream_gradients,
    stream_mass_shares,
    stroke_mask,
)
from .experiment import run_experiment, summarise, write_training_times
from .layers import CONSTRAINTS, ConstrainedConv2d, ConstrainedLinear
from .model import DEFAULT_CONSTRAINT, DEFAULT_H_INPUT, H_INPUTS, MODEL_KINDS, MonotoneDifference, PlainDifference
from ..training import evaluate_accuracy, predict_logits  # the one home of classifier evaluation
from .difference_training import TrainingResult, load_checkpoint, make_model, save_checkpoint, train_model
from .stream_networks import CNNStream, MLPStream, build_stream

__all__ = [
    "CONSTRAINTS",
    "DEFAULT_CONSTRAINT",
    "DEFAULT_H_INPUT",
    "H_INPUTS",
    "MODEL_KINDS",
    "CNNStream",
    "ConstrainedConv2d",
    "ConstrainedLinear",
    "DigitSplit",
    "MLPStream",
    "MonotoneDifference",
    "PlainDifference",
    "SplitSensitivities",
    "StreamGradients",
    "TrainingResult",
    "build_stream",
    "evaluate_accuracy",
    "load_checkpoint",
    "load_dataset",
    "load_digits_split",
    "load_mnist_split",
    "make_model",
    "monotonicity_check",
    "predict_logits",
    "run_experiment",
    "save_checkpoint",
    "split_sensitivities",
    "stream_gradients",
    "stream_mass_shares",
    "stroke_mask",
    "summarise",
    "train_model",
    "write_training_times",
]
