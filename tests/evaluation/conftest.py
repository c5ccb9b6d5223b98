"""pytest configuration of the evaluation tests: stand-ins and fixtures live in ``evaluation_standins`` (a uniquely
named module, so that test folders do not collide on the module name ``conftest``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from evaluation_standins import *  # noqa: E402,F401,F403  (fixtures and stand-ins)
