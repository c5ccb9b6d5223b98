"""Fingerprints of the course's answers: how an answer is reduced to a few rounded numbers and hashed.

An answer is never stored: the package holds, per exercise, only the PBKDF2-SHA256 digest of the answer *after
rounding* (three significant digits, or a stated number of decimals; a map is first reduced to four summary numbers:
its L1 norm and three seeded random projections relative to it). :func:`hm.teaching.check` rounds the student's answer
the same way and compares digests, so an answer rounded to three significant digits passes, and reading the package
does not reveal any answer (each digest costs ~10 ms, so enumerating all three-digit numbers costs hours).
A value within 5 % of a rounding step from a rounding boundary is tried on both sides, so a correct answer computed
in another precision (float32 against float64) or on another machine still matches.

The digests are written by ``notebooks/solutions/answer_key.py`` (the lecturer's answer key, not part of the
package and not part of the student export, ``make student``).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from typing import Iterable, Sequence

import numpy as np

#: PBKDF2 iterations per digest (~10 ms): slow enough that enumerating rounded answers takes hours
ITERATIONS = 20_000
_SALT = b"hidden-monotonicity-course"
#: a value this close to a rounding boundary (in rounding steps) is tried on both sides
BAND = 0.05
#: at most this many rounded candidates are hashed per answer
MAX_CANDIDATES = 128
#: absolute values below this round to 0 under "sig"
ZERO = 1e-9

#: one (value, mode, digits) per number: mode "sig" (significant digits) or "dec" (decimals)
Quantity = tuple[float, str, int]


def _sig_candidates(value: float, digits: int) -> list[tuple[int, int]]:
    if not math.isfinite(value):
        raise ValueError(f"the answer contains {value}: give finite numbers")
    if abs(value) < ZERO:
        return [(0, 0)]
    exponent = math.floor(math.log10(abs(value))) - (digits - 1)
    scaled = value / 10.0**exponent
    nearest = round(scaled)
    found = [nearest]
    fraction = scaled - math.floor(scaled)
    if abs(fraction - 0.5) < BAND:  # near a boundary: both neighbours
        found = [math.floor(scaled), math.floor(scaled) + 1]
    result = []
    for mantissa in found:
        m, e = mantissa, exponent
        while abs(m) >= 10**digits:  # 999.7 → 1000 → 100·10
            m, e = int(round(m / 10)), e + 1
        while 0 < abs(m) < 10 ** (digits - 1):
            m, e = m * 10, e - 1
        result.append((int(m), int(e)))
    return list(dict.fromkeys(result))


def _dec_candidates(value: float, digits: int) -> list[tuple[int, int]]:
    if not math.isfinite(value):
        raise ValueError(f"the answer contains {value}: give finite numbers")
    scaled = value * 10.0**digits
    fraction = scaled - math.floor(scaled)
    found = [math.floor(scaled), math.floor(scaled) + 1] if abs(fraction - 0.5) < BAND else [round(scaled)]
    return [(int(m), -digits) for m in found]


def candidates(quantities: Sequence[Quantity]) -> list[tuple[tuple[int, int], ...]]:
    """Every rounded reading of ``quantities`` (one per combination of the values near a rounding boundary)."""
    options = [(_sig_candidates if mode == "sig" else _dec_candidates)(float(value), int(digits))
               for value, mode, digits in quantities]
    combinations = 1
    for index, option in enumerate(options):
        if combinations * len(option) > MAX_CANDIDATES:
            options[index] = option[:1]
        combinations *= len(options[index])
    return list(itertools.product(*options))


def digest(key: str, rounded: Iterable[tuple[int, int]]) -> str:
    """The stored form of one rounded answer of exercise ``key``."""
    text = f"{key}|" + ";".join(f"{m}e{e}" for m, e in rounded)
    return hashlib.pbkdf2_hmac("sha256", text.encode(), _SALT, ITERATIONS).hex()[:32]


def map_quantities(values: np.ndarray, *, digits: int = 3) -> list[Quantity]:
    """Four numbers that pin a map down: ``Σ|A|`` (``digits`` significant digits) and three seeded random
    projections ``Σ wⱼ·A / Σ|A|`` (``digits`` decimals; ``wⱼ`` uniform in [−1, 1], seeded by the map's size)."""
    values = np.asarray(values, dtype=np.float64)
    l1 = float(np.abs(values).sum())
    rng = np.random.default_rng(20260101 + values.size)
    weights = rng.uniform(-1.0, 1.0, size=(3, values.size))
    projections = weights @ values.reshape(-1) / (l1 or 1.0)
    return [(l1, "sig", digits), *[(float(p), "dec", digits) for p in projections]]


def values_quantities(values, mode: str = "sig", digits: int = 3) -> list[Quantity]:
    """One quantity per element of ``values`` (flattened)."""
    return [(float(v), mode, digits) for v in np.asarray(values, dtype=np.float64).reshape(-1)]


def matches(key: str, quantities: Sequence[Quantity], stored: str) -> bool:
    """Whether any rounded reading of ``quantities`` has the digest ``stored``."""
    return any(digest(key, rounded) == stored for rounded in candidates(quantities))


def same_rounded(quantities: Sequence[Quantity], expected: Sequence[Quantity]) -> bool:
    """Whether two answers agree after rounding (used where the answer depends on the student's own model)."""
    if len(quantities) != len(expected):
        return False
    return bool(set(candidates(quantities)) & set(candidates(expected)))


#: digest of the rounded answer of every exercise whose objects are fixed (written by the answer key)
DIGESTS: dict[str, str] = {
    "01.1": "1c86212c4186e8868b6e6836f3eb3098",
    "01.2": "a41fb15243e59b54e547e809a6bd5221",
    "01.3": "bd348b88b90d2f70f43ca64876c59a67",
    "01.4": "8238bf30bf5eaf7ac13cb482495a2641",
    "01.5": "91e89eff2add8162d875827f9e41cb23",
    "02.1": "447926ec5fc8a67d19919c32f03fe363",
    "02.2": "e8a40fac2f288357a861ffd68cdbce1d",
    "02.3": "7dab4aa7d83440060b83fc743ab50852",
    "03.1": "21b8e6123cc7893a2b1bad5bd8f31eac",
    "03.2": "37ec08c07de49b636c77ecc41f69f4bc",
    "03.3": "8d91acb71ae88682d93dd972bf5b13bd",
    "04.1": "56ed211702bac07511455b820a1df04b",
    "04.2": "7ce277adb6b9e8b5f74dda31f3768ea5",
    "04.3": "7a9a8883c2e3dd220d7f8defa1de376a",
    "04.4": "575a11b5124512a1bf582fc0827adfb3",
}
