"""Command line: ``python -m hidden_monotonicity <command> [options]``.

Commands
    evaluate   run the Quantus evaluation for a profile (see ``evaluate --help``)
    merge      merge the outputs of several evaluation shards into one table
    verify     compare an evaluation's tables with the committed reference within float noise (see ``verify --help``)
    fixture    write a small dataset fixture (``fixture imagenet-s DIR``) for offline dry runs
    train      train the benchmark classifiers (see ``train --help``)
    reproduce  execute every notebook with papermill and refresh ``figures/``
    claims     check every quantitative sentence of the prose against the outputs (exit 1 if one fails)
"""

from __future__ import annotations

import sys
from typing import Callable, Sequence

from . import claims, cli, reproduce, training

#: command -> entry point taking the arguments after the command (``evaluate`` and ``merge`` share
#: :func:`hidden_monotonicity.cli.main`, which reads the command itself).
COMMANDS: dict[str, Callable[[Sequence[str]], int | None]] = {
    "evaluate": lambda args: cli.main(["evaluate", *args]),
    "merge": lambda args: cli.main(["merge", *args]),
    "verify": cli.verify_main,
    "fixture": cli.fixture_main,
    "train": training.main,
    "reproduce": reproduce.main,
    "claims": lambda args: claims.main(args),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0 if argv else 2
    command = argv[0]
    if command not in COMMANDS:
        print(f"unknown command {command!r}; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return int(COMMANDS[command](argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
