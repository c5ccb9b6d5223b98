"""Quantitative evaluation of saliency methods with Quantus (paper sections D and E).

``hm.evaluate(profile, out_dir)`` runs the selection protocol (validation split) and the test
evaluation of every method x model x metric of a profile, writes per-sample ``scores.csv``,
``selection.csv``, ``metadata.json`` and paper-style ``table.md/.tex/.csv``; runs resume after an
interruption and can be split into shards (:func:`merge`). Command line:
``python -m hidden_monotonicity evaluate --profile smoke --out DIR``.

Modules: :mod:`.profiles` (smoke / default / paper), :mod:`.metrics` (the metric catalogue and
Quantus workarounds), :mod:`.backend` (models, data and methods of a profile), :mod:`.selection`
(configuration selection on the validation split), :mod:`.store` (work units and the files of an
output folder), :mod:`.metadata` (``metadata.json``), :mod:`.runner` (the loop, resume, shards,
merge), :mod:`.parallel` and :mod:`.dask_backend` (worker processes, a Dask cluster: :func:`slurm_cluster`), :mod:`.tables` (tables). The command line and the figures live above this package
(:mod:`hidden_monotonicity.cli`, :mod:`hidden_monotonicity.plots.evaluation`).
"""

from .metrics import (
    CATALOGUE,
    MetricOutput,
    ToleranceCompleteness,
    build_metric,
    metric_outputs,
    normalise_by_max_per_sample,
    pixel_flipping_auc,
)
from .profiles import PROFILES, EvaluationProfile, MethodGrid, get_profile
from .backend import EvaluationBackend, default_backend
from .runner import EvaluationResult, evaluate, finalize, merge
from .dask_backend import parent_environment_kept, slurm_cluster
from .selection import select_configuration
from .tables import build_table, summarize, to_latex, to_markdown, write_tables

__all__ = [
    "CATALOGUE",
    "PROFILES",
    "EvaluationBackend",
    "EvaluationProfile",
    "EvaluationResult",
    "MethodGrid",
    "MetricOutput",
    "ToleranceCompleteness",
    "build_metric",
    "build_table",
    "default_backend",
    "evaluate",
    "finalize",
    "get_profile",
    "merge",
    "metric_outputs",
    "normalise_by_max_per_sample",
    "parent_environment_kept",
    "pixel_flipping_auc",
    "select_configuration",
    "slurm_cluster",
    "summarize",
    "to_latex",
    "to_markdown",
    "write_tables",
]
