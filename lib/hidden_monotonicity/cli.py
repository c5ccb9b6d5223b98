"""Command line of the evaluation: ``python -m hidden_monotonicity evaluate|merge ...``.

``evaluate --profile {smoke,default,paper} --out DIR [--shard i --num-shards n] [--data-dir PATH]
[--device DEV] [--max-units K] [--threads T] [--figures] [--no-progress] [--restart]`` runs or resumes an evaluation
(a folder whose fingerprint - weights, data, code, packages, profile - differs from this run's is refused, or with
``--restart`` recomputed where it changed);
``merge DIR1 DIR2 ... --out DIR [--allow-incomplete] [--overwrite] [--figures]`` combines shard folders.

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

from .evaluation.profiles import PROFILES
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
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.add_argument("--on-error", choices=("record", "raise"), default="record",
                        help="record failed scores in scores.csv (default) or stop at the first error")
    parser.add_argument("--restart", action="store_true",
                        help="when --out holds results computed from something else (other weights, data, library "
                        "code, package versions or profile: see metadata.json's fingerprint), recompute in place what "
                        "changed instead of stopping with an error")
    return parser


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
    result = evaluate(args.profile, args.out, shard=args.shard, num_shards=args.num_shards, data_dir=args.data_dir,
                      device=args.device, max_units=args.max_units, progress=not args.no_progress, on_error=args.on_error,
                      restart=args.restart)
    return result, args.figures


def _run_merge(rest: Sequence[str]) -> tuple[EvaluationResult, bool]:
    args = _merge_parser().parse_args(rest)
    result = merge(args.shard_dirs, args.out, allow_incomplete=args.allow_incomplete, overwrite=args.overwrite)
    return result, args.figures


COMMANDS = {"evaluate": _run_evaluate, "merge": _run_merge}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; ``argv[0]`` is the sub-command (``evaluate`` or ``merge``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print("usage: python -m hidden_monotonicity {evaluate,merge} ... (see --help of each)", file=sys.stderr)
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
    return 0 if result.complete else EXIT_INCOMPLETE
