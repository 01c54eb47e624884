"""Per-simulation random seeds: deterministic, recorded, and never repeated.

The paper drew seeds from bash ``$RANDOM`` (0..32767), so two of its 20,000 simulations very
likely shared one. glasskit instead maps ``(campaign seed, simulation index)`` through a
bijection of the 30-bit integers (an offset followed by an invertible xor-shift-multiply
mixer), so distinct indices below 2**30 always get distinct seeds, and neighbouring indices get
unrelated ones. Seeds lie in [1, 2**30], valid for LAMMPS ``velocity ... create``.
"""
from __future__ import annotations

import numpy as np

_BITS = 30
_MASK = (1 << _BITS) - 1
_M1 = 0x2C1B3C6D & _MASK | 1  # odd multipliers are invertible modulo 2**30
_M2 = 0x297A2D39 & _MASK | 1


def _mix(v: np.ndarray) -> np.ndarray:
    v = v & _MASK
    v ^= v >> 15
    v = (v * _M1) & _MASK
    v ^= v >> 13
    v = (v * _M2) & _MASK
    v ^= v >> 16
    return v


def simulation_seeds(campaign_seed: int, indices) -> np.ndarray:
    """Seeds, shape (len(indices),) int64, for simulation ``indices`` of a campaign."""
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() > _MASK):
        raise ValueError("simulation indices must lie in [0, 2**30)")
    offset = int(_mix(np.array([campaign_seed], dtype=np.int64))[0])
    return _mix((idx + offset) & _MASK) + 1
