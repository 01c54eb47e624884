"""Parse and format ``--array`` specifications of *simulation* indices.

The syntax is Slurm's: comma-separated items, each ``N`` or ``A-B`` or ``A-B:S`` (step S),
optionally followed by ``%K`` for "at most K array tasks at once". Indices are decoupled
from Slurm array task ids: :mod:`glasskit.campaign.sharding` maps them onto tasks x ranks.

>>> parse_array("0-9,20,40-50:5%4")
ArraySpec(indices=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 20, 40, 45, 50), throttle=4)
>>> format_ranges([0, 1, 2, 3, 7, 9, 10])
'0-3,7,9-10'
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from glasskit.util.errors import GlasskitError

_ITEM = re.compile(r"^(\d+)(?:-(\d+)(?::(\d+))?)?$")
_HELP = "use e.g. 0-19999, 0-9,20,40-50, 0-99:2 or 0-19999%50"
MAX_INDEX = 10**7  # a sanity bound: no campaign holds more simulations than this (spec.LIMITS)


@dataclass(frozen=True)
class ArraySpec:
    """Sorted unique simulation indices and an optional throttle (max concurrent tasks)."""

    indices: tuple[int, ...]
    throttle: int | None = None

    def __len__(self) -> int:
        return len(self.indices)


def parse_array(text: str, flag: str = "--array") -> ArraySpec:
    """Parse an ``--array`` value (or another option's ranges, ``flag``); raise
    :class:`GlasskitError` naming the bad part."""
    if not isinstance(text, str) or not text.strip():
        raise GlasskitError(f"{flag} is empty", _HELP)
    body, throttle = text.strip(), None
    if "%" in body:
        body, _, thr = body.partition("%")
        if not thr.isdigit() or int(thr) < 1:
            raise GlasskitError(f"invalid {flag} throttle '%{thr}': must be a positive integer", _HELP)
        throttle = int(thr)
    items = [_parse_item(item.strip(), text, flag) for item in body.split(",")]
    if sum(len(r) for r in items) > MAX_INDEX:  # checked before any index is materialized
        raise GlasskitError(f"{flag} names more than {MAX_INDEX:,} simulations", _HELP)
    indices: set[int] = set()
    for r in items:
        indices.update(r)
    return ArraySpec(tuple(sorted(indices)), throttle)


def _parse_item(item: str, whole: str, flag: str = "--array") -> range:
    m = _ITEM.match(item)
    if not m:
        raise GlasskitError(f"invalid {flag} item {item!r} in {whole!r}", _HELP)
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) is not None else lo
    step = int(m.group(3)) if m.group(3) is not None else 1
    if hi < lo:
        raise GlasskitError(f"invalid {flag} range {item!r}: end {hi} is before start {lo}", _HELP)
    if step < 1:
        raise GlasskitError(f"invalid {flag} step in {item!r}: must be >= 1", _HELP)
    if hi > MAX_INDEX:
        raise GlasskitError(f"{flag} index {hi} is too large (max {MAX_INDEX})", _HELP)
    return range(lo, hi + 1, step)


def format_ranges(indices: Iterable[int]) -> str:
    """Compact sorted indices into ``A-B,C`` form (the inverse of :func:`parse_array`)."""
    vals = sorted(set(int(i) for i in indices))
    parts: list[str] = []
    i = 0
    while i < len(vals):
        j = i
        while j + 1 < len(vals) and vals[j + 1] == vals[j] + 1:
            j += 1
        parts.append(str(vals[i]) if i == j else f"{vals[i]}-{vals[j]}")
        i = j + 1
    return ",".join(parts)


def check_within(spec: ArraySpec, n_sims: int, campaign: str) -> None:
    """Every requested index must name a simulation of the campaign (0 .. n_sims-1)."""
    bad = [i for i in spec.indices if i >= n_sims]
    if bad:
        raise GlasskitError(
            f"--array index {bad[0]} is outside campaign '{campaign}' (simulations 0-{n_sims - 1})",
            "check the campaign's [[campaign.runs]] counts or the --spec you meant",
        )
