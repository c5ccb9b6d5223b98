"""Teaching helpers of the course (``COURSE.md``): self-checked exercises and the backward pass on toys.

**Exercises** (:mod:`.exercises`). Every exercise of the teaching notebooks ends with
``hm.teaching.check("01.2", answer)``, which prints *right* or *not yet* with the next of a few staged hints and
returns ``True``/``False``. The check builds the exercise's objects itself and compares the answer, rounded, with a
stored digest of the rounded answer (:mod:`.answers`): neither the package nor the student notebooks hold an answer
or code that returns one. The worked solutions and the answer key are in ``notebooks/solutions/`` (left out of the
student export, ``make student``). ``EXERCISES`` lists every key with its question in one line.

**The backward pass on toys** (:mod:`.toys`, paper B.3, notebook 01 part II): :func:`backward_by_hand`,
:func:`invariant_table`, :func:`common_mode_table`, :func:`gradient_loss`.
"""

from __future__ import annotations

from .exercises import (
    EXERCISES,
    Exercise,
    backward_toy,
    check,
    evaluation_scores,
    exercises_table,
    localisation_exercise,
    reset_hints,
    saliency_exercise,
)
from .toys import (
    ALPHAS,
    LAYER_BIAS,
    LAYER_INPUT,
    LAYER_WEIGHT,
    backward_by_hand,
    common_mode_table,
    deep_conv_network,
    deep_toy_input,
    deep_toy_network,
    exercise_network,
    gradient_loss,
    invariant_table,
    layer_input,
    small_conv_input,
    small_conv_network,
)

__all__ = [
    "EXERCISES",
    "Exercise",
    "backward_by_hand",
    "backward_toy",
    "check",
    "common_mode_table",
    "deep_conv_network",
    "deep_toy_input",
    "deep_toy_network",
    "evaluation_scores",
    "exercise_network",
    "exercises_table",
    "gradient_loss",
    "invariant_table",
    "layer_input",
    "localisation_exercise",
    "reset_hints",
    "saliency_exercise",
    "small_conv_input",
    "small_conv_network",
]
