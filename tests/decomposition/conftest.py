"""pytest configuration of the decomposition tests: the shared small networks live in ``decomposition_nets``
(a uniquely named module, so that test folders do not collide on the module name ``conftest``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from decomposition_nets import generator  # noqa: E402,F401  (fixture)
