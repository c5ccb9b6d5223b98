"""The DM / DIC experiment of paper section F as numbers: accuracy and the Fig. 3 claim.

:func:`run_experiment` trains every :class:`Variant` for every seed on the same fixed digits
split, measures test accuracy and the per-stream gradient mass shares of
:func:`.explanations.stream_mass_shares` on the whole test set (explained class = predicted
class), and returns one tidy row per (variant, seed). :func:`summarise` aggregates mean and
standard deviation over seeds; :func:`write_report` writes ``monotone_accuracy.csv`` (the
tidy rows) and ``monotone_accuracy.md`` (the summary tables) to the output folder.

**What the report leaves out.** The training wall times (column ``train_seconds`` and the run's
``frame.attrs["wall_seconds"]``) depend on the machine and on what else it does, so a committed report holding them
changed at every rerun although every result was the same. :data:`MACHINE_DEPENDENT_COLUMNS` stay in the frame
that :func:`run_experiment` returns and go to their own file, :func:`write_training_times` (notebook 05 writes
``results/monotone/training_times.csv``, which git ignores): a rerun of ``make reproduce`` on one machine leaves
``monotone_accuracy.csv`` / ``.md`` byte-identical.

The variants (:data:`DEFAULT_VARIANTS`): DM, DIC, the unconstrained ReLU baseline of the same
size and the ``monotonicnetworks`` LMN difference as MLPs, the CNN variants of DM / DIC / ReLU,
and the constraint comparison (DM and DIC with each non-negativity method) used to choose
:data:`.model.DEFAULT_CONSTRAINT`.

**The DM form** (``dm_forms``). Every model reads ``f(x) = g(x) - h(1 - x)`` by default; for DM that is a
monotone classifier (every logit non-decreasing in every pixel). ``default_variants(dm_forms=("inverted",
"identity"))`` (or ``run_experiment(dm_forms=...)``) adds, after each main-table DM row (MLP and CNN), the same
model in the form ``f(x) = g(x) - h(x)`` (label suffix ``", g(x) - h(x)"``, ``h_input="identity"``), and the
report then gets a section comparing the forms: accuracy and the measured monotonicity of the logits
(:func:`.explanations.monotonicity_check` on the test images; columns ``min_logit_slope`` and
``negative_slope_share`` of every row).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import torch

from .data import DigitSplit, load_digits_split
from .explanations import DEFAULT_STROKE_THRESHOLD, monotonicity_check, stream_gradients, stream_mass_shares
from .layers import ConstrainedLayer
from .model import DEFAULT_CONSTRAINT, DEFAULT_H_INPUT, H_INPUTS, MonotoneDifference, check_h_input
from .difference_training import (
    DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, default_learning_rate, load_checkpoint, make_model, train_model,
)

CHECKPOINT_PREFIX = "monotone_"
#: label suffix of a DM row in the identity form f(x) = g(x) - h(x)
IDENTITY_SUFFIX = ", g(x) - h(x)"


@dataclass(frozen=True)
class Variant:
    """One row group of the experiment: a label, :class:`MonotoneDifference` arguments and a table."""

    label: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    table: str = "main"  # "main" or "constraint"
    learning_rate: float | None = None  # None: training.default_learning_rate(model)
    checkpoint: bool = False  # save the model of the first seed to the checkpoint folder


def check_dm_forms(dm_forms: Sequence[str]) -> tuple[str, ...]:
    """``dm_forms`` without repeats, in order; ``ValueError`` for an unknown form or none."""
    if isinstance(dm_forms, str):
        dm_forms = (dm_forms,)
    forms = tuple(dict.fromkeys(dm_forms))
    unknown = [form for form in forms if form not in H_INPUTS]
    if unknown or not forms:
        raise ValueError(
            f"dm_forms must name one or more of {H_INPUTS} ('inverted': g(x) - h(1 - x), 'identity': g(x) - h(x)); "
            f"got {tuple(dm_forms)!r}"
        )
    return forms


def dm_form_variants(variant: Variant, dm_forms: Sequence[str]) -> list[Variant]:
    """``variant`` (a DM model) once per form in ``dm_forms``: ``"inverted"`` as is, ``"identity"`` with
    ``h_input="identity"`` and the label suffix :data:`IDENTITY_SUFFIX`."""
    out = []
    for form in check_dm_forms(dm_forms):
        if form == DEFAULT_H_INPUT:
            out.append(variant)
        else:
            out.append(Variant(f"{variant.label}{IDENTITY_SUFFIX}", {**variant.model_kwargs, "h_input": form},
                               variant.table, variant.learning_rate, variant.checkpoint))
    return out


def default_variants(
    include_cnn: bool = True,
    compare_constraints: bool = True,
    include_library: bool = True,
    dm_forms: Sequence[str] = (DEFAULT_H_INPUT,),
) -> list[Variant]:
    """The variants of the reported experiment (see module docstring).

    ``dm_forms``: the forms of the main-table DM rows (MLP and CNN), ``("inverted",)`` by default (the rows as
    before); ``("inverted", "identity")`` adds ``f(x) = g(x) - h(x)`` after each (same sizes, constraint and
    learning rate). The constraint comparison keeps the default form.
    """
    forms = check_dm_forms(dm_forms)
    variants = [
        *dm_form_variants(Variant("DM", {"kind": "dm"}, checkpoint=True), forms),
        Variant("DIC", {"kind": "dic"}, checkpoint=True),
        Variant("ReLU baseline", {"kind": "unconstrained"}),
    ]
    if include_library:
        variants.append(Variant("LMN difference (monotonicnetworks)", {"kind": "lmn"}))
    if include_cnn:
        variants += [
            *dm_form_variants(Variant("DM-CNN", {"kind": "dm", "architecture": "cnn"}, checkpoint=True), forms),
            Variant("DIC-CNN", {"kind": "dic", "architecture": "cnn"}, checkpoint=True),
            Variant("ReLU-CNN baseline", {"kind": "unconstrained", "architecture": "cnn"}),
        ]
    if compare_constraints:
        for kind in ("dm", "dic"):
            for constraint in ("clamp", "softplus", "exp"):
                if constraint != DEFAULT_CONSTRAINT:
                    variants.append(Variant(f"{kind.upper()}", {"kind": kind, "constraint": constraint}, table="constraint"))
    return variants


DEFAULT_VARIANTS: tuple[Variant, ...] = tuple(default_variants())


def zero_weight_fraction(model: MonotoneDifference) -> float:
    """Share of the sign-constrained weights that are exactly 0 (NaN if there are none)."""
    weights = [
        layer.effective_weight.detach().flatten()
        for layer in model.modules()
        if isinstance(layer, ConstrainedLayer) and layer.is_nonnegative
    ]
    if not weights:
        return float("nan")
    return float((torch.cat(weights) == 0).float().mean())


def checkpoint_name(model: MonotoneDifference, seed: int) -> str:
    """``monotone_<kind>_<architecture>_seed<seed>.pt``; ``..._identity_seed<seed>.pt`` for ``h_input="identity"``."""
    return _checkpoint_file(model.kind, model.architecture, model.h_input, seed)


def _checkpoint_file(kind: str, architecture: str, h_input: str, seed: int) -> str:
    form = "" if h_input == DEFAULT_H_INPUT else f"_{h_input}"
    return f"{CHECKPOINT_PREFIX}{kind}_{architecture}{form}_seed{seed}.pt"


def load_variant_checkpoint(
    checkpoint_dir: str | os.PathLike, seed: int, *, kind: str, architecture: str = "mlp", h_input: str = DEFAULT_H_INPUT,
) -> MonotoneDifference:
    """The model :func:`run_experiment` saved for a ``Variant(checkpoint=True)`` of this kind, architecture and DM form
    (``h_input``) and ``seed``, read from ``checkpoint_dir / checkpoint_name(...)``, in eval mode.

    The file name carries the form (:func:`checkpoint_name`), and the loaded model's own ``kind``, ``architecture``
    and ``h_input`` are checked against the request: a checkpoint of one DM form is never used as the other, even
    if a file was renamed or copied by hand. ``FileNotFoundError`` (from :func:`load_checkpoint`) when it is missing.
    """
    check_h_input(h_input)
    path = Path(checkpoint_dir) / _checkpoint_file(kind, architecture, h_input, seed)
    model = load_checkpoint(path)[0]
    found = (model.kind, model.architecture, model.h_input)
    if found != (kind, architecture, h_input):
        raise ValueError(
            f"{path} holds a model with kind={found[0]!r}, architecture={found[1]!r}, h_input={found[2]!r}, not the "
            f"requested kind={kind!r}, architecture={architecture!r}, h_input={h_input!r}; delete the file and rerun "
            f"run_experiment to write it again"
        )
    return model


def run_experiment(
    seeds: Sequence[int] = (0, 1, 2),
    *,
    data: DigitSplit | None = None,
    variants: Sequence[Variant] | None = None,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    stroke_threshold: float = DEFAULT_STROKE_THRESHOLD,
    output_dir: str | os.PathLike | None = "figures",
    checkpoint_dir: str | os.PathLike | None = "data/checkpoints",
    progress: bool = True,
    num_threads: int | None = 1,
    dm_forms: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Train all ``variants`` for all ``seeds`` and return one tidy row per (variant, seed).

    Columns: ``model, table, kind, architecture, constraint, h_input, seed, epochs, learning_rate,
    parameters, test_accuracy, train_accuracy, train_seconds, zero_weight_fraction,
    constraint_violation, g_mass_on_stroke, h_mass_on_background, f_mass_on_stroke,
    stroke_fraction, background_fraction, g_lift, h_lift, g_zero_maps, h_zero_maps, min_logit_slope,
    negative_slope_share, stroke_threshold`` (the last two: :func:`.explanations.monotonicity_check` on the test
    images). With ``output_dir`` set, also writes ``monotone_accuracy.csv``/``.md`` there; with
    ``checkpoint_dir`` set, saves the first seed's model of each ``Variant(checkpoint=True)``
    as :func:`checkpoint_name` (``monotone_<kind>_<architecture>_seed<seed>.pt``). ``num_threads`` sets torch's
    intra-op threads for the run (restored afterwards; ``None`` leaves it): these models are so small
    that one thread is fastest, and on a busy machine two threads were ~10x slower. ``dm_forms``: the DM forms of
    the default variants (see :func:`default_variants`); ``None`` = ``("inverted",)``. To combine it with your own
    ``variants``, build them with ``default_variants(dm_forms=...)`` or :func:`dm_form_variants`.
    """
    if not seeds:
        raise ValueError("run_experiment needs at least one seed")
    if variants is not None and dm_forms is not None:
        raise ValueError(
            "give either variants or dm_forms, not both: build the variants with default_variants(dm_forms=...) "
            "(or dm_form_variants) and pass only variants"
        )
    data = load_digits_split() if data is None else data
    if variants is None:
        variants = DEFAULT_VARIANTS if dm_forms is None else default_variants(dm_forms=dm_forms)
    variants = list(variants)
    previous_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        frame = _run(seeds, data, variants, epochs, batch_size, stroke_threshold, checkpoint_dir, progress)
    finally:
        torch.set_num_threads(previous_threads)
    if output_dir is not None:
        write_report(frame, output_dir)
    return frame


def _run(
    seeds: Sequence[int],
    data: DigitSplit,
    variants: Sequence[Variant],
    epochs: int,
    batch_size: int,
    stroke_threshold: float,
    checkpoint_dir: str | os.PathLike | None,
    progress: bool,
) -> pd.DataFrame:
    """Body of :func:`run_experiment` (without thread handling and report writing)."""
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for variant in variants:
        for seed in seeds:
            kwargs = {"in_features": data.in_features, "num_classes": data.num_classes, **variant.model_kwargs}
            model = make_model(seed, **kwargs)
            learning_rate = variant.learning_rate or default_learning_rate(model)
            checkpoint = None
            if checkpoint_dir is not None and variant.checkpoint and seed == seeds[0]:
                checkpoint = Path(checkpoint_dir) / checkpoint_name(model, seed)
            result = train_model(
                model, data, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                checkpoint_path=checkpoint, progress=progress,
            )
            gradients = stream_gradients(model, data.x_test)
            shares = stream_mass_shares(gradients, data.x_test, stroke_threshold)
            slopes = monotonicity_check(model, data.x_test)
            rows.append(
                {
                    "model": variant.label,
                    "table": variant.table,
                    "kind": model.kind,
                    "architecture": model.architecture,
                    "constraint": model.constraint,
                    "h_input": model.h_input,
                    "seed": seed,
                    "epochs": epochs,
                    "learning_rate": learning_rate,
                    "parameters": sum(p.numel() for p in model.parameters()),
                    "test_accuracy": result.test_accuracy,
                    "train_accuracy": result.train_accuracy,
                    "train_seconds": result.seconds,
                    "zero_weight_fraction": zero_weight_fraction(model),
                    "constraint_violation": model.constraint_violation(),
                    **shares,
                    "min_logit_slope": slopes["min_slope"],
                    "negative_slope_share": slopes["negative_share"],
                    "stroke_threshold": stroke_threshold,
                }
            )
    frame = pd.DataFrame(rows)
    frame.attrs["wall_seconds"] = time.perf_counter() - started
    frame.attrs["dataset"] = data.name
    frame.attrs["n_train"], frame.attrs["n_test"] = len(data.x_train), len(data.x_test)
    return frame


#: Columns that :func:`run_experiment` measures with a clock: kept out of :func:`write_report`'s files (they would
#: change at every rerun) and written by :func:`write_training_times`.
MACHINE_DEPENDENT_COLUMNS = ("train_seconds",)

SUMMARY_METRICS = (
    "test_accuracy",
    "g_mass_on_stroke",
    "stroke_fraction",
    "h_mass_on_background",
    "background_fraction",
    "g_lift",
    "h_lift",
    "train_seconds",
    "zero_weight_fraction",
    "g_zero_maps",
    "h_zero_maps",
    "negative_slope_share",
)


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation (ddof=1) over seeds per (table, model, architecture, constraint, h_input);
    ``min_logit_slope_min`` is the smallest slope over the seeds. Frames written before the ``h_input`` column
    existed read as ``"inverted"`` (their slope columns as NaN); a frame read back from ``monotone_accuracy.csv``
    has no ``train_seconds`` (:data:`MACHINE_DEPENDENT_COLUMNS`), so its summary has no ``train_seconds_*``."""
    frame = _with_form_columns(frame)
    keys = ["table", "model", "kind", "architecture", "constraint", "h_input"]
    grouped = frame.groupby(keys, sort=False)
    metrics = [metric for metric in SUMMARY_METRICS if metric in frame.columns]  # no train_seconds in a written csv
    summary = grouped[metrics].agg(["mean", "std"])
    summary.columns = [f"{metric}_{stat}" for metric, stat in summary.columns]
    summary["min_logit_slope_min"] = grouped["min_logit_slope"].min()
    summary["seeds"] = grouped["seed"].nunique()
    summary["parameters"] = grouped["parameters"].first()
    summary["learning_rate"] = grouped["learning_rate"].first()
    return summary.reset_index()


def _with_form_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the columns added by the DM-form comparison (defaults for frames from before it)."""
    missing = {"h_input": DEFAULT_H_INPUT, "min_logit_slope": float("nan"), "negative_slope_share": float("nan")}
    missing = {column: value for column, value in missing.items() if column not in frame.columns}
    return frame.assign(**missing) if missing else frame


def _pm(mean: float, std: float, digits: int = 3) -> str:
    if pd.isna(mean):
        return "n/a"
    return f"{mean:.{digits}f} ± {0.0 if pd.isna(std) else std:.{digits}f}"


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_training_times(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the clock-measured columns of ``frame`` (:data:`MACHINE_DEPENDENT_COLUMNS`) with the keys of each row
    (model, table, kind, architecture, constraint, h_input, seed, learning rate) to the csv ``path``, and the whole
    run's ``frame.attrs["wall_seconds"]`` as a last row of model ``"all"``. These are what :func:`write_report`
    leaves out; keep them out of a committed folder: they differ between two runs of the same code."""
    missing = [column for column in MACHINE_DEPENDENT_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(
            f"the frame has no {missing}: write_training_times needs the frame that run_experiment returned, not one "
            "read back from monotone_accuracy.csv (which never holds the training times)"
        )
    keys = ["model", "table", "kind", "architecture", "constraint", "h_input", "seed", "learning_rate"]
    times = _with_form_columns(frame)[keys + list(MACHINE_DEPENDENT_COLUMNS)]
    total = pd.DataFrame([{"model": "all", "train_seconds": frame.attrs.get("wall_seconds", float("nan"))}])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.concat([times, total], ignore_index=True).to_csv(path, index=False, float_format="%.6g")
    return path


def write_report(frame: pd.DataFrame, output_dir: str | os.PathLike = "figures") -> tuple[Path, Path]:
    """Write ``monotone_accuracy.csv`` (tidy rows) and ``monotone_accuracy.md`` (summary): every column but the
    training times (:data:`MACHINE_DEPENDENT_COLUMNS`, see :func:`write_training_times`), so that the same code and
    seeds on the same machine write the same bytes."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    frame = _with_form_columns(frame)
    csv_path, md_path = output_dir / "monotone_accuracy.csv", output_dir / "monotone_accuracy.md"
    frame.drop(columns=list(MACHINE_DEPENDENT_COLUMNS), errors="ignore").to_csv(
        csv_path, index=False, float_format="%.6g"
    )
    summary = summarise(frame)
    seeds = sorted(frame["seed"].unique().tolist())
    threshold = float(frame["stroke_threshold"].iloc[0])
    main = summary[summary["table"] == "main"]
    main_rows = [
        [
            row.model, row.architecture, row.constraint, f"{int(row.parameters):,}",
            _pm(row.test_accuracy_mean, row.test_accuracy_std),
            f"{_pm(row.g_mass_on_stroke_mean, row.g_mass_on_stroke_std)} (chance {row.stroke_fraction_mean:.3f})",
            f"{_pm(row.h_mass_on_background_mean, row.h_mass_on_background_std)} (chance {row.background_fraction_mean:.3f})",
            _pm(row.g_lift_mean, row.g_lift_std, 2), _pm(row.h_lift_mean, row.h_lift_std, 2),
            f"{row.g_zero_maps_mean:.2f} / {row.h_zero_maps_mean:.2f}",
        ]
        for row in main.itertuples()
    ]
    constraint = summary[summary["kind"].isin(["dm", "dic"]) & (summary["architecture"] == "mlp")]
    constraint_rows = [
        [
            row.model, row.constraint, f"{row.learning_rate:g}",
            _pm(row.test_accuracy_mean, row.test_accuracy_std),
            _pm(row.zero_weight_fraction_mean, row.zero_weight_fraction_std),
            _pm(row.g_lift_mean, row.g_lift_std, 2), _pm(row.h_lift_mean, row.h_lift_std, 2),
            f"{row.g_zero_maps_mean:.2f} / {row.h_zero_maps_mean:.2f}",
        ]
        for row in constraint.sort_values(["kind", "constraint"]).itertuples()
    ]
    attrs = frame.attrs
    has_identity = bool((frame["h_input"] != DEFAULT_H_INPUT).any())
    form_note = (f" (rows labelled `...{IDENTITY_SUFFIX}`: f(x) = g(x) - h(x), the h-stream reads x)"
                 if has_identity else "")
    text = f"""# Self-explaining DM / DIC models (paper section F) -- accuracy and stream maps

Generated by `hidden_monotonicity.monotone.run_experiment(seeds={tuple(seeds)})`; raw per-seed rows in
`monotone_accuracy.csv`. Data: {attrs.get('dataset', 'digits')} (scikit-learn 8x8 handwritten digits scaled to [0, 1],
fixed stratified split with split seed 0: {attrs.get('n_train', '?')} train / {attrs.get('n_test', '?')} test images).
Model f(x) = g(x) - h(1 - x){form_note}; {int(frame.epochs.iloc[0])} epochs of Adam, batch {DEFAULT_BATCH_SIZE}, data-dependent
initialisation; mean ± std over {len(seeds)} seeds (seed = model init and batch order).
Training times are not part of this report: they change from run to run (notebook 05 writes them to
`results/monotone/training_times.csv`).

Stream-map columns: share of |dg/dx| mass on stroke pixels and of |dh/du| (u = 1 - x) mass on background pixels,
explained class = predicted class, averaged over all test images. Stroke pixel = intensity > {threshold:g}
(i.e. > {threshold * 16:g}/16). Chance = mean fraction of stroke (background) pixels per image, i.e. the share a map spread
uniformly over the pixels would get. Lift = share / chance (1 = chance; g-lift > 1: the g-map concentrates on ink,
h-lift > 1: the h-map concentrates on the missing ink). Shares and lifts average over the images whose map is
not identically zero; "zero maps g / h" = mean share of test images whose g- / h-map is identically zero (a dead
stream, e.g. h constant: then its share is undefined and the seed drops out of that mean). For the unconstrained
baseline g and h carry no constraint, so its columns are only a reference.

## Accuracy and the Fig. 3 claim

{_markdown_table(["model", "arch", "constraint", "params", "test accuracy", "abs(dg/dx) on stroke", "abs(dh/du) on background", "g-lift", "h-lift", "zero maps g / h"], main_rows)}

## Choice of the non-negativity method (MLP)

clamp = projection max(W, 0) after every Adam step; softplus / exp = re-parameterisation W = softplus(V) / exp(V).
Each method at its own learning rate (re-parameterised weights change multiplicatively, so they need a larger one;
rates chosen on a validation split of the training images, see `training.DEFAULT_LEARNING_RATES`).
Zero weights = share of the constrained weights that are exactly 0. Default used in the main table:
`{DEFAULT_CONSTRAINT}` (reasons in the docstring of `hidden_monotonicity/monotone/model.py`).

{_markdown_table(["model", "constraint", "lr", "test accuracy", "zero weights", "g-lift", "h-lift", "zero maps g / h"], constraint_rows)}
"""
    if has_identity:
        text += _form_section(main)
    md_path.write_text(text, encoding="utf-8")
    return csv_path, md_path


def _form_section(main: pd.DataFrame) -> str:
    """The report section comparing f(x) = g(x) - h(1 - x) with g(x) - h(x): accuracy and measured monotonicity."""
    rows = [
        [
            row.model, row.architecture, "1 - x" if row.h_input == "inverted" else "x",
            _pm(row.test_accuracy_mean, row.test_accuracy_std),
            f"{row.min_logit_slope_min:.3g}",
            _pm(row.negative_slope_share_mean, row.negative_slope_share_std),
            "yes" if row.negative_slope_share_mean == 0 else "no",
        ]
        for row in main.itertuples()
    ]
    table = _markdown_table(
        ["model", "arch", "h reads", "test accuracy", "min df_k/dx_i", "negative slopes", "every logit monotone"], rows
    )
    return f"""
## The DM form: g(x) - h(1 - x) is a monotone classifier

With non-negative weights and ReLU both DM streams are non-decreasing, so f(x) = g(x) - h(1 - x) has
df_k/dx_i = g_k'(x) + h_k'(1 - x) >= 0: every class logit is non-decreasing in every pixel (a monotone
classifier), while f(x) = g(x) - h(x) has df_k/dx_i = g_k'(x) - h_k'(x) of either sign. The inverted input is attested
for the DIC experiment (paper Fig. 3); for DM it is this library's reading. Measured on the test images: the input
Jacobian of every class (min df_k/dx_i: smallest slope over images, classes, pixels and seeds; negative slopes: share
of (image, class, pixel) slopes below -64 eps max|slope|, mean ± std over seeds). A monotone DM still classifies:
the prediction argmax_k f_k(x) compares logits that all rise with the ink, by class-specific amounts.

{table}
"""
