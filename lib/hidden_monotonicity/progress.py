"""Progress records of long library work, for a watcher in another process.

``python -m hidden_monotonicity reproduce`` runs each notebook in a separate kernel and sets the environment
variable :data:`PROGRESS_FILE_VARIABLE` (``HM_PROGRESS_FILE``) to a file it follows; long loops in the library
(the evaluation runner's work units) append one JSON line per step to it with :func:`report_progress`. Without
the variable nothing is written, so the call costs one dictionary look-up.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

__all__ = ["PROGRESS_FILE_VARIABLE", "report_progress"]

PROGRESS_FILE_VARIABLE = "HM_PROGRESS_FILE"


def report_progress(**fields: Any) -> None:
    """Append ``{"time": <unix seconds>, **fields}`` as one JSON line to the file named by ``HM_PROGRESS_FILE``.

    Best effort: a progress file that cannot be written never stops the work it reports on.
    """
    path = os.environ.get(PROGRESS_FILE_VARIABLE)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as stream:
            stream.write(json.dumps({"time": time.time(), **fields}, default=str) + "\n")
    except OSError:
        pass
