"""Command line: ``python -m hidden_monotonicity <command> [options]``.

Commands
    evaluate   run the Quantus evaluation for a profile (see ``evaluate --help``)
    merge      merge the outputs of several evaluation shards into one table
    train      train the benchmark classifiers (see ``train --help``)
    reproduce  execute every notebook with papermill and refresh ``figures/``
"""

from __future__ import annotations

import importlib
import sys

_COMMANDS = {
    "evaluate": "hidden_monotonicity.evaluation.cli",
    "merge": "hidden_monotonicity.evaluation.cli",
    "train": "hidden_monotonicity.training",
    "reproduce": "hidden_monotonicity.reproduce",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0 if argv else 2
    command = argv[0]
    if command not in _COMMANDS:
        print(f"unknown command {command!r}; choose one of: {', '.join(_COMMANDS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(_COMMANDS[command])
    # evaluation.cli handles both of its sub-commands itself and needs to know which one was asked for
    sub_argv = argv if module.__name__.endswith("evaluation.cli") else argv[1:]
    return int(module.main(sub_argv) or 0)


if __name__ == "__main__":
    sys.exit(main())
