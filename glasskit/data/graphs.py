"""Particle graphs for the D-MPNN: a square window of a frame, k-nearest-neighbour edges.

Definition implemented (the authors' public code, read for facts; see jobs/datasets.toml):

* window: a square of side ``l_win`` (a fraction of the box side, 0 < l_win <= 1) with its
  lower-left corner at ``origin`` (scaled coordinates). The box is periodic, so a window that
  crosses the box edge continues on the other side: particles are unwrapped into the window's
  frame before neighbours are searched. With ``l_win = 1`` the whole periodic box is used and
  neighbours are found across its boundaries (scipy ``cKDTree`` with ``boxsize``).
* nodes: particles inside the window; features = one-hot type [A, B] (``x``, float32 (n, 2));
  ``pos`` (n, 2) holds the window-frame coordinates in sigma.
* edges: each particle's k nearest neighbours (Euclidean distance in sigma, periodic images
  when l_win = 1), made symmetric: if j is among i's k nearest, both i->j and j->i are edges.
  ``edge_index`` (2, E) int64 with k * n <= E <= 2 * k * n; ``edge_attr`` (E, 1) the distance.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def window(x: np.ndarray, box: np.ndarray, l_win: float, origin) -> tuple[np.ndarray, np.ndarray]:
    """Indices (n,) of particles inside the periodic window and their coordinates (n, 2) in sigma,
    relative to the window's corner. ``x``: (N, 2) unscaled; ``box``: (2,) side lengths."""
    if not 0 < l_win <= 1:
        raise ValueError(f"l_win must be in (0, 1], got {l_win}")
    box = np.asarray(box, dtype=np.float64)
    rel = np.mod(np.asarray(x, dtype=np.float64) - np.asarray(origin) * box, box)
    inside = np.all(rel < l_win * box, axis=1) if l_win < 1 else np.ones(len(rel), bool)
    return np.nonzero(inside)[0], rel[inside]


def knn_edges(pos: np.ndarray, k: int, boxsize=None) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric kNN edges: (2, E) int64 and distances (E,) float32."""
    n = len(pos)
    if n <= k:
        raise ValueError(f"a window with {n} particles cannot have {k} neighbours each: enlarge l_win")
    tree = cKDTree(pos, boxsize=boxsize)
    dist, nbr = tree.query(pos, k=k + 1)  # the first hit is the particle itself
    src = np.repeat(np.arange(n), k)
    dst = nbr[:, 1:].reshape(-1)
    pairs = np.unique(np.concatenate([np.stack([src, dst]), np.stack([dst, src])], axis=1), axis=1)
    d = pos[pairs[1]] - pos[pairs[0]]
    if boxsize is not None:
        d -= np.asarray(boxsize) * np.rint(d / np.asarray(boxsize))
    return pairs.astype(np.int64), np.linalg.norm(d, axis=1).astype(np.float32)


def frame_graph(x: np.ndarray, types: np.ndarray, box: np.ndarray, l_win: float, k: int, origin=(0.0, 0.0)):
    """A torch-geometric ``Data`` for one frame's window (see the module docstring)."""
    import torch
    from torch_geometric.data import Data

    idx, pos = window(x, box, l_win, origin)
    edge_index, dist = knn_edges(pos, k, boxsize=np.asarray(box) if l_win >= 1 else None)
    onehot = np.zeros((len(idx), 2), dtype=np.float32)
    onehot[np.arange(len(idx)), np.asarray(types)[idx] - 1] = 1.0
    return Data(x=torch.from_numpy(onehot), edge_index=torch.from_numpy(edge_index),
                edge_attr=torch.from_numpy(dist[:, None]), pos=torch.from_numpy(pos.astype(np.float32)),
                particle=torch.from_numpy(idx.astype(np.int64)))
