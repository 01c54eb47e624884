"""Artificial n-fold-symmetry configurations (SI section IV, Fig 4), in scaled coordinates.

The SI's construction, for n = 5: 1,512 type B particles on an evenly spaced grid over
[0, 1]^2, each displaced by a uniform random amount in [-1/195, 1/195] per axis; 500 of them
get a ring of n type A particles at radius 1/78 with a random rotation in [-2 pi, 2 pi], each
next centre being a grid neighbour of an earlier one with probability 3/4; of any two
particles closer than 1/90 one is removed (A before B, later before earlier); the remaining A
particles (to 2,808 in all) are placed at random, never closer than 1/90 to another particle.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class Artificial:
    """``xs`` (N, 2) scaled coordinates, ``types`` (N,) int8 (1 = A, 2 = B); ``rings`` = the
    configuration before the random A fill (Fig 4a), as (xs, types)."""

    xs: np.ndarray
    types: np.ndarray
    rings: tuple[np.ndarray, np.ndarray]


def _grid_shape(n: int) -> tuple[int, int]:
    nx = max(d for d in range(1, int(np.sqrt(n)) + 1) if n % d == 0)
    return n // nx, nx  # (columns, rows), columns >= rows


def _centres(nx: int, ny: int, count: int, p_neighbour: float, rng) -> list[int]:
    chosen, free = [], np.ones(nx * ny, bool)
    for _ in range(count):
        pick = None
        if chosen and rng.random() < p_neighbour:
            base = chosen[rng.integers(len(chosen))]
            i, j = divmod(base, nx)
            nbrs = [a * nx + b for a, b in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1))
                    if 0 <= a < ny and 0 <= b < nx and free[a * nx + b]]
            pick = nbrs[rng.integers(len(nbrs))] if nbrs else None
        if pick is None:
            pick = int(rng.choice(np.nonzero(free)[0]))
        chosen.append(pick)
        free[pick] = False
    return chosen


def _remove_overlaps(xs: np.ndarray, min_dist: float) -> np.ndarray:
    """Keep-mask: of each pair closer than ``min_dist`` drop the later particle."""
    keep = np.ones(len(xs), bool)
    for i, j in sorted(cKDTree(xs).query_pairs(min_dist)):
        if keep[i] and keep[j]:
            keep[j] = False
    return keep


def _fill(xs: np.ndarray, count: int, min_dist: float, rng, max_tries: int = 2000) -> np.ndarray:
    """Random sequential addition of ``count`` points at least ``min_dist`` from all others."""
    pts, added = list(xs), 0
    tree = cKDTree(np.array(pts))
    for _ in range(max_tries):
        if added >= count:
            break
        cand = rng.random((min(4096, 4 * (count - added)), 2))
        ok = tree.query(cand, k=1)[0] >= min_dist
        cand = cand[ok]
        cand = cand[_remove_overlaps(cand, min_dist)][: count - added]
        pts.extend(cand)
        added += len(cand)
        tree = cKDTree(np.array(pts))
    if added < count:
        raise RuntimeError(f"could place only {added} of {count} particles at min distance {min_dist}")
    return np.array(pts[len(xs):])


def nfold_configuration(n_fold: int = 5, n_b: int = 1512, n_a: int = 2808, n_centres: int = 500,
                        radius: float = 1 / 78, jitter: float = 1 / 195, min_dist: float = 1 / 90,
                        p_neighbour: float = 0.75, seed: int = 0) -> Artificial:
    """Build one artificial configuration (defaults: the SI's five-fold one, N = 4320)."""
    rng = np.random.default_rng(seed)
    nx, ny = _grid_shape(n_b)
    gx, gy = np.meshgrid((np.arange(nx) + 0.5) / nx, (np.arange(ny) + 0.5) / ny)
    b = np.stack([gx.ravel(), gy.ravel()], axis=1) + rng.uniform(-jitter, jitter, (n_b, 2))
    rings = []
    for c in _centres(nx, ny, n_centres, p_neighbour, rng):
        phi = rng.uniform(-2 * np.pi, 2 * np.pi) + 2 * np.pi * np.arange(n_fold) / n_fold
        rings.append(b[c] + radius * np.stack([np.cos(phi), np.sin(phi)], axis=1))
    a = np.concatenate(rings) if rings else np.empty((0, 2))
    xs = np.concatenate([b, a])
    types = np.concatenate([np.full(n_b, 2, np.int8), np.full(len(a), 1, np.int8)])
    keep = _remove_overlaps(xs, min_dist)
    xs, types = xs[keep], types[keep]
    n_missing = n_a - int((types == 1).sum())
    if n_missing < 0:
        raise ValueError(f"{n_centres} rings of {n_fold} already exceed {n_a} type A particles")
    extra = _fill(xs, n_missing, min_dist, rng)
    full = np.concatenate([xs, extra])
    full_types = np.concatenate([types, np.ones(len(extra), np.int8)])
    return Artificial(full, full_types, (xs, types))


def random_configuration(n_b: int = 1512, n_a: int = 2808, min_dist: float = 1 / 90, seed: int = 0) -> Artificial:
    """Random non-overlapping particles with random types (the SI's random control)."""
    rng = np.random.default_rng(seed)
    first = rng.random((1, 2))
    xs = np.concatenate([first, _fill(first, n_a + n_b - 1, min_dist, rng)])
    types = np.ones(len(xs), np.int8)
    types[rng.choice(len(xs), n_b, replace=False)] = 2
    return Artificial(xs, types, (xs, types))
