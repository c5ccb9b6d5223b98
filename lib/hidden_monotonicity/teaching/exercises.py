"""The self-checked exercises of the course: their objects, their staged hints and :func:`check`.

``check`` builds every exercise's objects itself (the toy networks, the digits benchmark VGG with its fixed
images): it never takes the objects of the expected answer from the student. The answers are stored only as
digests of the rounded answer (:mod:`.answers`), so reading the package does not reveal them. Exercises 05.1 and
05.2 are about the model the student trained in notebook 05: their check takes ``model=`` and ``x=``, accepts only
a DM model of :mod:`hidden_monotonicity.monotone` and the first 64 test digits, and computes the expected value from
them at check time. A wrong answer prints the next hint of a sequence (hint 1 on the first wrong try, hint 2 on the
second, ...); answers that are a known mistake (e.g. the reciprocal) get a hint that names it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import answers
from .answers import Quantity, map_quantities, values_quantities

#: the 2-D toy of notebook 01, part II (``toy_relu_network(2, (8, 8), seed=1, weight_scale=1.5)``) and its input
BACKWARD_TOY_INPUT = (0.5, -1.0)
#: the inputs of exercise 01.5 (the one-neuron network: unit active at 0, dead at 2) and its α values
HAND_INPUTS = (0.0, 2.0)
HAND_ALPHAS = (0.0, 0.5)
#: images of the localisation exercises (04.1, 04.2, 04.4): enough that guessing 0/1 hits cannot pass (2^-12)
LOCALISATION_IMAGES = 12
SALIENCY_LAYER = "features.4"
LAYERCAM_LAYER = "features.4"


class SaliencyExercise(NamedTuple):
    """The objects of exercises 03.x: the digits benchmark VGG, two digits at 32 px (seed 0), the predicted classes."""

    model: nn.Module
    x: torch.Tensor
    targets: torch.Tensor


class LocalisationExercise(NamedTuple):
    """The objects of exercises 04.x: the digits benchmark VGG, 12 digits at 32 px, their predicted classes, the
    plain-gradient maps (``hm.explain(..., "saliency")``, shape (12, 32, 32)) and the object masks."""

    model: nn.Module
    x: torch.Tensor
    targets: torch.Tensor
    maps: np.ndarray
    masks: np.ndarray


def backward_toy() -> tuple[nn.Sequential, torch.Tensor]:
    """The 2-D toy network of notebook 01 (sections 3–8, default seed) and its input ``x0`` (float64)."""
    from ..plots.toys import toy_relu_network

    return (toy_relu_network(2, (8, 8), seed=1, weight_scale=1.5),
            torch.tensor(BACKWARD_TOY_INPUT, dtype=torch.float64))


def saliency_exercise() -> SaliencyExercise:
    """The objects of exercises 03.1–03.3 (always seed 0, whatever the notebook's ``seed``)."""
    from ..notebook_params import load_images, load_model

    model, _ = load_model("benchmark_vgg", allow_random_init=True, seed=0, warn=False)
    x = load_images("digits", n=2, image_size=32, seed=0).images
    with torch.no_grad():
        targets = model(x).argmax(dim=1)
    return SaliencyExercise(model, x, targets)


def localisation_exercise() -> LocalisationExercise:
    """The objects of exercises 04.1, 04.2 and 04.4 (seed 0)."""
    from ..methods import explain
    from ..notebook_params import load_images, load_model

    model, _ = load_model("benchmark_vgg", allow_random_init=True, seed=0, warn=False)
    images = load_images("digits", n=LOCALISATION_IMAGES, image_size=32, seed=0)
    with torch.no_grad():
        targets = model(images.images).argmax(dim=1)
    maps = explain(model, images.images, targets, "saliency")[:, 0].numpy()
    return LocalisationExercise(model, images.images, targets, maps, images.masks[:, 0].numpy())


def evaluation_scores() -> pd.DataFrame:
    """The per-image scores of the default evaluation run (``figures/evaluation_scores.csv.gz``, exercise 04.3)."""
    from ..outputs import repository_root

    path = repository_root() / "figures" / "evaluation_scores.csv.gz"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run notebook 04 with the default profile (make reproduce) first")
    return pd.read_csv(path)


# ================================================================================================= answers → numbers
def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, torch.Tensor) for v in value):
        return np.stack([_numpy(v) for v in value])
    return np.asarray(value, dtype=np.float64)


def _array(shape: tuple[int, ...]) -> Callable[[Any], np.ndarray]:
    def convert(answer: Any) -> np.ndarray:
        values = _numpy(answer)
        if values.size != math.prod(shape):
            raise ValueError(f"expected {math.prod(shape)} numbers (shape {shape}), got shape {values.shape}")
        return values.reshape(shape)

    return convert


def _scalar(answer: Any) -> np.ndarray:
    values = _numpy(answer)
    if values.size != 1:
        raise ValueError(f"expected one number, got shape {values.shape}")
    return values.reshape(1)


def _functions_on_grid(answer: Any) -> np.ndarray:
    g, h = answer
    grid = np.linspace(-3.0, 3.0, 61)
    values = np.stack([np.broadcast_to(np.asarray(g(grid), dtype=np.float64), grid.shape),
                       np.broadcast_to(np.asarray(h(grid), dtype=np.float64), grid.shape)])
    return values


def _each(mode: str, digits: int = 3) -> Callable[[np.ndarray], list[Quantity]]:
    return lambda values: values_quantities(values, mode, digits)


def _map(values: np.ndarray) -> list[Quantity]:
    return map_quantities(values)


# ================================================================================================= recognised mistakes
def _digest_of(key: str, value: float) -> bool:
    return math.isfinite(value) and value != 0 and answers.matches(key, values_quantities([value]), answers.DIGESTS[key])


def _mistakes_01_3(values: np.ndarray) -> str | None:
    value = float(values[0])
    if not math.isfinite(value) or value <= 0:
        return None
    if value > 1 and _digest_of("01.3", 1.0 / value):
        return ("that is the reciprocal: the common mode at α = 0.3 is *smaller*, so the factor is below 1 "
                "(common mode at α = 0.3 divided by the one at α = 0).")
    if _digest_of("01.3", value * 0.4) or _digest_of("01.3", value / 0.4):
        return ("one shift too many or too few: count again which modules apply the shift — every Linear and every "
                "ReLU between the output and the input, the output layer included.")
    exponent = math.log(value) / math.log(0.7)
    if abs(exponent - round(exponent)) < 1e-3 and 1 <= round(exponent) <= 12:
        return ("(1 − α) per layer? The shift subtracts α(δ⁺ + δ⁻) from *both* members of the pair, so the sum "
                "δ⁺ + δ⁻ loses 2α of itself per layer.")
    return None


def _mistakes_halves(values: np.ndarray) -> str | None:
    if np.all(np.abs(values) < 1e-12):
        return "all zeros is not it: the chain rule needs both maps."
    return None


# ================================================================================================= live checks (05)
class ExerciseObjectError(ValueError):
    """The objects passed to a check are not the exercise's own (raised, not counted as a wrong answer)."""


def _own_dm_objects(model: Any, x: Any) -> torch.Tensor:
    from ..monotone import MonotoneDifference, load_dataset

    if not isinstance(model, MonotoneDifference) or getattr(model, "kind", None) != "dm" \
            or getattr(model, "h_input", None) != "inverted":
        raise ExerciseObjectError("model= must be the DM model of the exercise (a hm.monotone DM model in the form "
                        "g(x) - h(1 - x), e.g. streams_models['dm'] of notebook 05)")
    x = torch.as_tensor(x)
    if x.shape[0] != 64:
        raise ExerciseObjectError(f"x= must be the first 64 test digits (data.x_test[:64]), got {x.shape[0]} images")
    if x.shape[1] == 64:  # the digits data set: compare with its test split
        reference = load_dataset("digits").x_test[:64]
        if not torch.equal(x.to(reference.dtype), reference):
            raise ExerciseObjectError("x= must be the first 64 test digits of notebook 05 (data.x_test[:64])")
    return x


def _live_05_1(values: np.ndarray, model: Any, x: Any) -> bool:
    from ..monotone import stream_gradients

    x = _own_dm_objects(model, x)
    reference = stream_gradients(model, x)
    expected = (reference.g + reference.h).detach().double().numpy()  # f = g(x) − h(1 − x): the two signs cancel
    return bool(values.shape == expected.shape and np.allclose(values, expected, rtol=1e-4, atol=1e-6))


def _live_05_2(values: np.ndarray, model: Any, x: Any) -> bool:
    from ..monotone import stream_gradients
    from ..monotone.explanations import stream_mass_shares

    x = _own_dm_objects(model, x)
    expected = stream_mass_shares(stream_gradients(model, x), x)["g_lift"]
    return answers.same_rounded(values_quantities(values), values_quantities([expected]))


# ================================================================================================= the exercises
@dataclass(frozen=True)
class Exercise:
    """One self-checked exercise: its question (one line), its hints in the order they are given, how an answer
    is turned into numbers (``convert``) and rounded (``quantities``), and, for the exercises on the student's own
    model, the objects its check takes (``needs``) and the live comparison."""

    key: str
    question: str
    hints: tuple[str, ...]
    convert: Callable[[Any], np.ndarray]
    quantities: Callable[[np.ndarray], list[Quantity]] = field(default=_each("sig"))
    mistakes: Callable[[np.ndarray], str | None] | None = None
    needs: tuple[str, ...] = ()
    live: Callable[..., bool] | None = None


def _ex(key, question, hints, convert, quantities=_each("sig"), **more) -> Exercise:
    return Exercise(key, question, tuple(hints), convert, quantities, **more)


EXERCISES: dict[str, Exercise] = {exercise.key: exercise for exercise in (
    _ex("01.1", "g and h of f(x) = −2 ReLU(1 − x) with the positive split, as two functions (g, h) of x",
        ["start with the hidden layer: W⁽¹⁾ = −1 splits into W⁺ = 0, W⁻ = 1, and b⁽¹⁾ = 1 into b⁺ = 1, b⁻ = 0; with "
         "x⁺ = x, x⁻ = 0, what are z⁺ and z⁻?",
         "after the Maxout a⁺ = max(z⁺, z⁻), a⁻ = z⁻; the output weight −2 has W⁺ = 0, W⁻ = 2 — which of a⁺, a⁻ "
         "reaches g (through W⁺a⁺ + W⁻a⁻) and which reaches h (through W⁻a⁺ + W⁺a⁻)?",
         "check g − h = f at x = 0 and x = 2 before you run the check; both functions must accept numpy arrays."],
        _functions_on_grid, _each("dec")),
    _ex("01.2", "(z⁺, z⁻) of the layer hm.teaching.layer_input() for its input x with the center split",
        ["center split: x⁺ = ReLU(x), x⁻ = ReLU(−x).",
         "z⁺ = W⁺x⁺ + W⁻x⁻ + b⁺ and z⁻ = W⁻x⁺ + W⁺x⁻ + b⁻, with W⁺ = max(W, 0), W⁻ = max(−W, 0) (same for b).",
         "answer with a pair (z_pos, z_neg) of length-3 vectors; z⁺ − z⁻ must equal Wx + b."],
        _array((2, 3))),
    _ex("01.3", "the factor by which α = 0.3 shrinks the common mode at the input of the backward toy",
        ["one α-shift multiplies the common mode δ⁺ + δ⁻ by a factor: which one, for α = 0.3?",
         "the shift is applied after every module between the output and the input, the output layer included "
         "(library default): how many modules has net_2d?",
         "the factor is (that per-layer factor) to the power (that number of modules); it is below 1."],
        _scalar, mistakes=_mistakes_01_3),
    _ex("01.4", "SplitCAM^(l,+,g) at layer '3' of hm.teaching.small_conv_network() by hand (α = 0.4, targets [0, 2])",
        ["section 10 does this at layer '1': which record of split.sensitivities holds δ^{+,g} and a⁺ at layer '3'?",
         "α = 0.4 and targets [0, 2]; multiply δ^{+,g} and a⁺ elementwise and sum over the channel axis (dim 1) — "
         "no ReLU, no upsampling; shape (2, 8, 8)."],
        _array((2, 8, 8)), _map),
    _ex("01.5", "the four sensitivities at the input of f(x) = −2 ReLU(1 − x) for x = 0, 2 and α = 0, 0.5, by hand",
        ["start at the output with the unit seed (δ⁺ᵍ, δ⁻ᵍ, δ⁺ʰ, δ⁻ʰ) = (1, 0, 0, 1); the output weight −2 has W⁺ = 0, "
         "W⁻ = 2: apply the Linear rule to the g-pair and to the h-pair.",
         "then the ReLU rule with m = [1 − x ≥ 0] (m = 1 at x = 0, m = 0 at x = 2), then the first Linear "
         "(W⁺ = 0, W⁻ = 1); at α = 0.5 subtract α(δ⁺ + δ⁻) from both members of each pair after every layer, the "
         "output layer included.",
         "check your numbers with the invariants: δ⁺ᵍ − δ⁺ʰ = f′(x) (f′(0) = 2, f′(2) = 0) and δ⁺ᵍ + δ⁻ᵍ = δ⁺ʰ + δ⁻ʰ; "
         "answer shape (2, 2, 4): [x = 0, 2][α = 0, 0.5][δ⁺ᵍ, δ⁻ᵍ, δ⁺ʰ, δ⁻ʰ]."],
        _array((2, 2, 4))),
    _ex("02.1", "the average growth factor per ReLU of the unstabilised common mode a⁺ + a⁻ of the deep toy",
        ["split with stabilize='none', input_split='positive'; split.activations(x, relus) returns Streams whose .s "
         "is a⁺ + a⁻.",
         "ρ = (mean common mode after the last ReLU / after the first ReLU) ** (1 / (number of ReLUs − 1)); "
         "input hm.teaching.deep_toy_input()."],
        _scalar),
    _ex("02.2", "the smallest α of {0, 0.1, …, 0.5} at which the gradient part survives float64 on the 32-layer deep toy",
        ["hm.teaching.gradient_loss(network, input) measures the relative error of the pairwise invariant per α.",
         "'survives' means relative error < 1e-6: the smallest α of the list with that property."],
        _scalar),
    _ex("02.3", "max |δ⁺ᵍ + δ⁺ʰ| / max |∂f/∂x| at the input of the 6-layer deep toy at α = 0.5 without the output shift",
        ["hm.decompose(network, input_split='positive').sensitivities(x, 0, ['input'], alpha=0.5, shift_output=False) "
         "gives δ⁺ᵍ and δ⁺ʰ; ∂f/∂x comes from autograd.",
         "divide the largest |δ⁺ᵍ + δ⁺ʰ| over the 16 inputs by the largest |∂f/∂x|; with the output shift (the "
         "default) the same number is 0 — why (notebook 01, section 8)?"],
        _scalar),
    _ex("03.1", "SplitGrad at the input with α = 0.5, computed with torch.autograd only",
        ["SplitGrad at α = 0.5 (unit seed) is a fixed multiple of the plain gradient, averaged over the colour "
         "channels: which multiple (notebook 01, section 8)?",
         "in autograd: x.requires_grad_(), model(x).gather(1, targets[:, None]).sum().backward(), then x.grad.",
         "the map is that multiple of x.grad, averaged over dim 1; shape (2, 32, 32)."],
        _array((2, 32, 32)), _map),
    _ex("03.2", "SplitCAM^(l,+,g) at layer 'features.4' by hand from split.sensitivities (α = 0.4), before upsampling",
        ["the record of hm.decompose(model).sensitivities(x, targets, [layer], alpha=0.4) holds a_pos and "
         "delta_pos_g at the layer.",
         "SplitCAM^(l,+,g) = Σ_c δ^{+,g}_c a⁺_c: multiply and sum over dim 1; no upsampling, shape (2, 16, 16)."],
        _array((2, 16, 16)), _map),
    _ex("03.3", "Σ|SplitCAM_scale − ½ LayerCAM without ReLUs| / Σ|½ LayerCAM without ReLUs| at 'features.4', α = 0.5",
        ["LayerCAM without its ReLUs is Σ_c (∂f/∂A_c) A_c at the layer's output A: keep A with a forward hook and "
         "take ∂f/∂A with torch.autograd.grad.",
         "SplitCAM^(l,+,g) at α = 0.5 with the paper's stabilisation: the record of hm.decompose(model, "
         "stabilize='scale').sensitivities(x, targets, [layer], alpha=0.5), Σ_c δ⁺ᵍ a⁺.",
         "one number over both images: Σ|SplitCAM − ½ LayerCAM| / Σ|½ LayerCAM|; with stabilize='shift' it is at "
         "round-off level."],
        _scalar),
    _ex("04.1", "the Pointing Game hit (1 or 0) of each of the 12 maps: is its largest value inside the mask?",
        ["the Pointing Game looks at the single largest value of the map, signed (no absolute value).",
         "flatten each map, np.argmax, look the index up in the flattened mask; 12 answers, each 1 or 0."],
        _array((LOCALISATION_IMAGES,)), _each("dec", 0)),
    _ex("04.2", "Attribution Localisation of each of the 12 maps: share of |map| inside the mask",
        ["Quantus' default takes absolute values first.",
         "share = Σ|map| over the mask pixels / Σ|map| over the whole image, one number per map (3 decimals are "
         "enough)."],
        _array((LOCALISATION_IMAGES,)), _each("dec", 3)),
    _ex("04.3", "SplitCAM's rank among the methods under AUC@5 and under AUC@20 (benchmark_vgg, test split)",
        ["keep the rows of model 'benchmark_vgg' and split 'test'; average the score per method for the metric "
         "'AUC@5' and for 'AUC@20'.",
         "lower is better for both; rank 1 = smallest mean (Series.rank(method='min')); answer (rank at AUC@5, rank "
         "at AUC@20) of 'splitcam'."],
        _array((2,)), _each("dec", 0)),
    _ex("04.4", "mean Attribution Localisation of your rule 'SplitLRP, R⁺ only' on the 12 digits of 04.1",
        ["hm.decompose(model).relevance(x, targets, ['input'], epsilon=1e-6)['input'] holds R⁺ (.pos) and R⁻ (.neg) "
         "per input channel.",
         "your rule: Σ_c R⁺ over the colour channels; score each map with your Attribution Localisation of 04.2 "
         "and average over the 12 images (3 decimals)."],
        _scalar, _each("dec", 3)),
    _ex("05.1", "∂f/∂x of the self-explaining model from its two stream maps ∂g/∂x and ∂h/∂u",
        ["f(x) = g(x) − h(u) with u = 1 − x: which sign does ∂u/∂x bring into the chain rule?",
         "∂f/∂x = ∂g/∂x − (∂h/∂u)(∂u/∂x), with ∂u/∂x = −1; shape (64, 64)."],
        _array((64, 64)), mistakes=_mistakes_halves, needs=("model", "x"), live=_live_05_1),
    _ex("05.2", "the g-lift of the model on the images: share of |∂g/∂x| on stroke pixels / share of stroke pixels",
        ["stroke pixels: intensity > 0.5 (hm.monotone.stroke_mask); per image, the share of |∂g/∂x| that lies on "
         "them.",
         "average the per-image shares (torch.nanmean: an all-zero map has no share) and divide by the mean "
         "fraction of stroke pixels."],
        _scalar, needs=("model", "x"), live=_live_05_2),
)}

_TRIES: dict[str, int] = {}


def reset_hints(key: str | None = None) -> None:
    """Start the hints of exercise ``key`` (every exercise: None) again at hint 1."""
    if key is None:
        _TRIES.clear()
    else:
        _TRIES.pop(key, None)


def _is_right(exercise: Exercise, values: np.ndarray, context: dict[str, Any]) -> bool:
    if exercise.live is not None:
        return exercise.live(values, **context)
    stored = answers.DIGESTS.get(exercise.key)
    if stored is None:
        raise RuntimeError(f"no stored answer for exercise {exercise.key}: run notebooks/solutions/answer_key.py")
    return answers.matches(exercise.key, exercise.quantities(values), stored)


def check(key: str, answer: Any, *, quiet: bool = False, **context: Any) -> bool:
    """Check the answer to exercise ``key``: prints *right* or *not yet* with the next hint (never the solution)
    and returns whether it is right. Answers rounded to three significant digits (or to the decimals an exercise
    names) pass. ``context``: only for the exercises on the student's own model (05.x: ``model=``, ``x=``, as
    named in ``hm.teaching.EXERCISES[key].needs``); every other check builds its objects itself. A self-check for
    the student, not a grade (``COURSE.md``, "Grading")."""
    if key not in EXERCISES:
        raise KeyError(f"unknown exercise {key!r}; the exercises are {', '.join(EXERCISES)}")
    exercise = EXERCISES[key]
    missing = [name for name in exercise.needs if name not in context]
    if missing:
        raise TypeError(f"exercise {key} needs {', '.join(f'{n}=...' for n in missing)} (the objects of the exercise)")
    unknown = sorted(set(context) - set(exercise.needs))
    if unknown:
        raise TypeError(f"exercise {key} takes only {', '.join(exercise.needs) or 'no extra arguments'} "
                        f"(it builds its own objects), got {unknown}")
    reason = None
    try:
        values = exercise.convert(answer)
        if not np.all(np.isfinite(values)):
            raise ValueError("the answer contains NaN or infinity (not filled in yet?)")
        right = _is_right(exercise, values, context)
    except ExerciseObjectError:
        raise
    except (TypeError, ValueError, IndexError) as error:  # a malformed answer is a wrong answer, with the reason
        right, values, reason = False, None, f"{error}"
    if right:
        _TRIES.pop(key, None)
        message = f"✓ {key}: right."
    else:
        tries = _TRIES[key] = _TRIES.get(key, 0) + 1
        mistake = exercise.mistakes(values) if exercise.mistakes is not None and values is not None else None
        number = min(tries, len(exercise.hints))
        hint = mistake or f"hint {number}/{len(exercise.hints)}: {exercise.hints[number - 1]}"
        message = f"✗ {key}: not yet. " + (f"The answer could not be read ({reason}). " if reason else "") + \
            ("Hint: " + hint if mistake else hint[0].upper() + hint[1:])
    if not quiet:
        print(message)
    return right


def exercises_table() -> pd.DataFrame:
    """Every exercise with its question and the keyword arguments its check takes."""
    return pd.DataFrame([(e.key, e.question, ", ".join(e.needs)) for e in EXERCISES.values()],
                        columns=["key", "question", "check takes"]).set_index("key")
