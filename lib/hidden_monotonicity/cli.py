"""Command line of the evaluation: ``python -m hidden_monotonicity evaluate|merge|fixture ...``.

``evaluate --profile {smoke,default,paper,...} --out DIR [--shard i --num-shards n] [--data-dir PATH]
[--device DEV] [--max-units K] [--threads T] [--workers W | --dask ADDRESS | --dask-local N] [--figures] [--no-progress]
[--restart]`` runs or resumes an evaluation (``--dask``: the work units as tasks of the Dask scheduler at ADDRESS;
``--dask-local N``: of N local Dask worker processes; :mod:`hidden_monotonicity.evaluation.dask_backend`)
(a folder whose fingerprint - weights, data, code, packages, profile - differs from this run's is refused, or with
``--restart`` recomputed where it changed); ``[--weights {imagenet,random}] [--image-size S] [--max-images N]
[--test-filter {all,single_class,correct}] [--models A,B] [--methods R1,R2]`` change the profile
(:func:`hidden_monotonicity.evaluation.cost.adapt_profile`). A run with random weights, a smaller image size, fewer
images or a subset of models / rows is a *dry run*: at its end it prints the measured seconds per work unit and the
projected cost of the full run on this device (:func:`hidden_monotonicity.evaluation.cost.project_cost`). Offline dry
run of the paper's setting::

    python -m hidden_monotonicity fixture imagenet-s DATA
    python -m hidden_monotonicity evaluate --profile paper --data-dir DATA --weights random --image-size 64 \
        --max-images 4 --out OUT

``merge DIR1 DIR2 ... --out DIR [--allow-incomplete] [--overwrite] [--figures]`` combines shard folders.
``verify [--profile smoke] [--run DIR | --out DIR] [--reference DIR] [--report FILE]`` compares a finished run's
``table.csv``, ``comparisons.csv`` and ``selection.csv`` with the committed reference of the profile, cell by cell
within each metric's float-noise tolerance (:mod:`.evaluation.verify`); without ``--run`` it first runs the profile's
evaluation (into ``--out`` or a temporary folder). Exit 0: every cell within tolerance, 1: some outside (listed).
``fixture imagenet-s DIR [--per-class K] [--seed S]`` writes the small ImageNet-S-50-layout fixture the tests use
(:func:`hidden_monotonicity.data.imagenet_s.write_fixture`).

This layer sits above :mod:`.evaluation` and :mod:`.plots`: the evaluation computes and writes
scores and tables, and the figures (``--figures``) are drawn here from its result.

Exit status: 0 complete, 3 incomplete (run the same command again to resume), 2 a usage or setup
error - printed as one line on stderr, without a traceback (bad arguments, a missing data folder, an
unusable or busy output folder, damaged result files, missing model weights).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn, Sequence

from .evaluation.backend import check_data_dir
from .evaluation.cost import TEST_FILTERS, adapt_profile, project_cost, reduction
from .evaluation.profiles import PROFILES, EvaluationProfile
from .evaluation.runner import EvaluationResult, evaluate, merge
from .evaluation.store import EvaluationSetupError
from .models import WeightsNotFoundError

EXIT_USAGE = 2
EXIT_INCOMPLETE = 3


class UsageError(Exception):
    """A command-line error: printed as one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse prints usage + message over several lines
        raise UsageError(f"{message} (see {self.prog} --help)")


def _evaluate_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m hidden_monotonicity evaluate",
        description="Quantus evaluation of saliency methods (paper sections D, E): selection on the validation "
        "split, per-sample scores on the test split, paper-style tables. Re-running on the same --out resumes.",
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="smoke", help="evaluation profile (default: smoke)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (created; resumed if it exists)")
    parser.add_argument("--shard", type=int, default=0, help="index of this shard, 0 <= shard < num-shards")
    parser.add_argument("--num-shards", type=int, default=1, help="number of shards the work is split into")
    parser.add_argument("--data-dir", default=None, help="dataset folder (ImageNet-S-50 for the paper profile)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 or auto (default: the profile's)")
    parser.add_argument("--max-units", type=int, default=None, help="stop after this many work units (resume later)")
    parser.add_argument("--figures", action="store_true", help="also write seaborn figures into OUT/figures")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (torch.set_num_threads); 1 is fastest on a busy small machine")
    parser.add_argument("--workers", default="1", type=lambda v: v if v == "auto" else int(v),
                        help="processes sharing the rows, same results as 1 (default); auto: one per CPU core")
    dask = parser.add_mutually_exclusive_group()
    dask.add_argument("--dask", metavar="ADDRESS", default=None,
                      help="run the work units as tasks of the Dask scheduler at ADDRESS (e.g. tcp://host:8786); "
                      "its workers must see --out under the same path")
    dask.add_argument("--dask-local", metavar="N", type=int, default=None,
                      help="run the work units as tasks of a local Dask cluster of N worker processes")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.add_argument("--on-error", choices=("record", "raise"), default="record",
                        help="record failed scores in scores.csv (default) or stop at the first error")
    parser.add_argument("--restart", action="store_true",
                        help="when --out holds results computed from something else (other weights, data, library "
                        "code, package versions or profile: see metadata.json's fingerprint), recompute in place what "
                        "changed instead of stopping with an error")
    dry = parser.add_argument_group(
        "dry run", "change the profile; a run with any of these but --test-filter prints the measured seconds per "
        "unit and the projected cost of the full run on this device at the end")
    dry.add_argument("--weights", choices=("imagenet", "random"), default=None,
                     help="imagenet: torchvision's ImageNet weights, read from the torch hub cache (the paper "
                     "profile's default); random: randomly initialised models (seeded), whatever is cached")
    dry.add_argument("--image-size", type=int, default=None,
                     help="crop side in pixels (ImageNet-S; the paper: 224); pixel-sized parameters are rescaled")
    dry.add_argument("--max-images", type=int, default=None,
                     help="at most N images: N//2 validation, the rest test (e.g. 4: 2 + 2)")
    dry.add_argument("--test-filter", choices=TEST_FILTERS, default=None,
                     help="test images: all; single_class (masks without another ImageNet-S class); correct (those "
                     "each model classifies correctly, applied per model; the count is printed)")
    dry.add_argument("--models", default=None, help="comma-separated subset of the profile's models (e.g. resnet18)")
    dry.add_argument("--methods", default=None, help="comma-separated subset of the profile's rows (e.g. saliency,splitcam)")
    return parser


def _fixture_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m hidden_monotonicity fixture",
        description="Write a small data set in the layout of a real one, so that its path can be dry-run offline.",
    )
    parser.add_argument("kind", choices=("imagenet-s",), help="imagenet-s: ImageNet-S-50 layout (random pixels, "
                        "rectangular masks), 2 classes; 50 images are held out for selection as in the paper's split")
    parser.add_argument("dir", type=Path, help="folder to write (new or empty); ImageNetS50/ is created in it")
    parser.add_argument("--per-class", type=int, default=26, help="images per class (default 26: 50 validation + 2 test)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random pixels")
    return parser


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [name.strip() for name in text.split(",") if name.strip()]


def _missing_weights_message(name: str, path: Path, url: str) -> str:
    return (f"ImageNet weights for {name!r} not found: looked for {path} (the torch hub cache, torch.hub.get_dir(); "
            f"TORCH_HOME moves it). Put torchvision's checkpoint {path.name} there (from {url}, downloaded on a machine "
            f"with internet access), or pass --weights random for a dry run on randomly initialised models")


def _weights_error(error: WeightsNotFoundError) -> UsageError:
    """The library's missing-weights error in the command line's words (it has no weights= or download=True)."""
    if getattr(error, "expected_file", None) is not None:
        return UsageError(_missing_weights_message(error.model_name, Path(error.expected_file), error.url))
    return UsageError(f"{error} On the command line: --weights random runs the profile on randomly initialised "
                      "models (a dry run)")


def _check_weights(profile: EvaluationProfile) -> None:
    """Fail before any data is read when an ImageNet model's weights are not in the torch hub cache."""
    from . import models

    if profile.weights == "random" or profile.allow_random_init:
        return
    for name in profile.models:
        if name in models.IMAGENET_MODELS:
            path = models.imagenet_weights_path(name)
            if not path.is_file():
                raise UsageError(_missing_weights_message(name, path, models.IMAGENET_MODELS[name][1].url))


def _merge_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m hidden_monotonicity merge",
        description="Merge the output folders of sharded evaluation runs into one result with the same tables "
        "as an unsharded run.",
    )
    parser.add_argument("shard_dirs", nargs="+", type=Path, help="output folders of the shards")
    parser.add_argument("--out", required=True, type=Path,
                        help="folder for the merged result: new, empty, or an earlier merge of the same shard folders")
    parser.add_argument("--allow-incomplete", action="store_true", help="merge even if shards are missing or unfinished")
    parser.add_argument("--overwrite", action="store_true", help="replace the results an existing --out folder holds")
    parser.add_argument("--figures", action="store_true", help="also write seaborn figures into OUT/figures")
    return parser


def _write_figures(result: EvaluationResult) -> list[Path]:
    from .plots.evaluation import write_evaluation_figures

    return write_evaluation_figures(result.scores, result.out_dir / "figures", metadata=result.metadata,
                                    selection=result.selection)


def _run_evaluate(rest: Sequence[str]) -> tuple[EvaluationResult, bool]:
    args = _evaluate_parser().parse_args(rest)
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads must be >= 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    base = PROFILES[args.profile]
    try:
        profile = adapt_profile(base, weights=args.weights, image_size=args.image_size, max_images=args.max_images,
                                test_filter=args.test_filter, models=_names(args.models), methods=_names(args.methods))
        reference = adapt_profile(base, test_filter=args.test_filter)  # the full run the dry run is projected to
    except ValueError as error:
        raise UsageError(str(error)) from None
    check_data_dir(profile, args.data_dir)
    _check_weights(profile)
    try:
        result = evaluate(profile, args.out, shard=args.shard, num_shards=args.num_shards, data_dir=args.data_dir,
                          device=args.device, max_units=args.max_units, progress=not args.no_progress,
                          on_error=args.on_error, restart=args.restart, workers=args.workers,
                          dask=args.dask if args.dask is not None else args.dask_local)
    except WeightsNotFoundError as error:
        raise _weights_error(error) from None
    if result.complete and reduction(profile):
        try:
            result.projection = project_cost(profile, reference, result.metadata, result.selection)
        except ValueError as error:
            print(f"no cost projection: {error}")
    return result, args.figures


def _run_merge(rest: Sequence[str]) -> tuple[EvaluationResult, bool]:
    args = _merge_parser().parse_args(rest)
    result = merge(args.shard_dirs, args.out, allow_incomplete=args.allow_incomplete, overwrite=args.overwrite)
    return result, args.figures


COMMANDS = {"evaluate": _run_evaluate, "merge": _run_merge}


def fixture_main(argv: Sequence[str]) -> int:
    """``python -m hidden_monotonicity fixture imagenet-s DIR``: write the fixture and print how to dry-run on it."""
    from .data.imagenet_s import write_fixture

    try:
        args = _fixture_parser().parse_args(list(argv))
        root = write_fixture(args.dir, per_class=args.per_class, seed=args.seed)
    except (UsageError, ValueError, OSError) as error:
        print(f"python -m hidden_monotonicity fixture: error: {' '.join(str(error).split())}", file=sys.stderr)
        return EXIT_USAGE
    images = sorted((root / "ImageNetS50" / "validation").glob("*/*.JPEG"))
    print(f"wrote {len(images)} images with masks in the ImageNet-S-50 layout under {root / 'ImageNetS50'} "
          f"(random pixels: for dry runs only). Dry run of the paper's setting:")
    print(f"  python -m hidden_monotonicity evaluate --profile paper --data-dir {root} --weights random "
          f"--image-size 64 --max-images 4 --out OUT")
    return 0


def _verify_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m hidden_monotonicity verify",
        description="Compare an evaluation's tables with the committed reference, cell by cell, within each metric's "
        "float-noise tolerance (byte-identical reruns hold only on the same CPU). Exit 0: all within; 1: not.",
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="smoke", help="evaluation profile (default: smoke)")
    parser.add_argument("--run", type=Path, default=None,
                        help="folder of a finished evaluation to check (default: run the profile's evaluation now)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where the evaluation runs when --run is not given (default: a temporary folder)")
    parser.add_argument("--reference", type=Path, default=None,
                        help="folder with the reference table.csv, comparisons.csv, selection.csv (default: the "
                        "committed one: tests/reference/smoke for smoke, figures/ for default and natural)")
    parser.add_argument("--report", type=Path, default=None, help="also write the printed report to this text file")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads of the evaluation")
    return parser


def verify_main(argv: Sequence[str]) -> int:
    """``python -m hidden_monotonicity verify``: run (or take) an evaluation and compare it with the reference."""
    import shlex
    import tempfile

    from .evaluation import verify as checks
    from .outputs import display_path

    prog = "python -m hidden_monotonicity verify"
    command = " ".join([prog, *(shlex.quote(a) for a in argv)])
    scratch = None
    try:
        args = _verify_parser().parse_args(list(argv))
        if args.run is not None and args.out is not None:
            raise UsageError("--run and --out exclude each other: --run checks a finished run, --out says where to run one")
        if args.threads is not None and args.threads < 1:
            raise UsageError(f"--threads must be >= 1, got {args.threads}")
        files = checks.reference_files(args.profile, args.reference)
        run_dir = args.run
        if run_dir is None:
            if args.threads is not None:
                import torch

                torch.set_num_threads(args.threads)
            profile = PROFILES[args.profile]
            _check_weights(profile)
            if args.out is None:
                scratch = tempfile.TemporaryDirectory(prefix=f"verify-{args.profile}-")
            run_dir = Path(scratch.name) / args.profile if scratch is not None else args.out
            result = evaluate(profile, run_dir, progress=False)
            if not result.complete:
                raise UsageError(f"the {args.profile} evaluation in {run_dir} did not finish; run the command again")
        cells = checks.compare_tables(files, run_dir)
    except (UsageError, ValueError, EvaluationSetupError, WeightsNotFoundError, OSError) as error:
        print(f"{prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
        if scratch is not None:
            scratch.cleanup()
        return EXIT_USAGE
    where = sorted({str(display_path(p.parent)) for p in files.values()})
    run_text = (f"a fresh {args.profile} evaluation in a temporary folder" if scratch is not None
                else str(display_path(run_dir)))
    lines = checks.report_lines(cells, command=command, reference=", ".join(where) + " ("
                                + ", ".join(p.name for p in files.values()) + ")", run=run_text)
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.report is not None:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text, encoding="utf-8")
    if scratch is not None:
        scratch.cleanup()
    return 0 if checks.summary(cells)["outside"] == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; ``argv[0]`` is the sub-command (``evaluate`` or ``merge``; ``fixture``: :func:`fixture_main`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "fixture":
        return fixture_main(argv[1:])
    if not argv or argv[0] not in COMMANDS:
        print("usage: python -m hidden_monotonicity {evaluate,merge,fixture} ... (see --help of each)", file=sys.stderr)
        return EXIT_USAGE
    command, rest = argv[0], argv[1:]
    try:
        result, figures_wanted = COMMANDS[command](rest)
    except (UsageError, EvaluationSetupError, WeightsNotFoundError) as error:
        message = " ".join(str(error).split())  # one line, whatever the message holds
        print(f"python -m hidden_monotonicity {command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    figures = _write_figures(result) if figures_wanted else []
    if result.complete:
        state = "complete"
    elif command == "merge":
        state = ("INCOMPLETE (shards missing or unfinished: finish each shard with its evaluate command, then run this "
                 "merge again - it redoes the merge in the same --out)")
    else:
        state = "INCOMPLETE (run the same command again to resume)"
    print(f"{command}: {state}; wall time {result.metadata.get('wall_time_s', 0):.1f} s; results in {result.out_dir}")
    for name in ("md", "tex", "csv", "scores", "selection", "metadata"):
        if name in result.paths:
            print(f"  {result.paths[name]}")
    for path in figures:
        print(f"  {path}")
    if result.complete:
        print()
        print(result.paths["md"].read_text(encoding="utf-8"))
    projection = getattr(result, "projection", None)
    if projection is not None:
        print(f"Dry run ({reduction(EvaluationProfile.from_dict(result.metadata['profile']))}).")
        print("\n".join(projection.lines()))
    return 0 if result.complete else EXIT_INCOMPLETE
