"""Window graphs for the D-MPNN, made from one frame at load time.

The authors' definition (the paper's SI and their public code, read for facts), the default here:

* **window**: a square of side ``l_win`` (fraction of the box) whose lower-left corner ``origin``
  is drawn uniformly in ``[0, 1 - l_win]`` of the scaled box, so the window never crosses the
  periodic boundary and no periodic images are used. The authors drew *one* offset for both
  axes (windows on the box diagonal: ``window = "diagonal"``); the default draws x and y
  independently (``"independent"``), which samples the whole box.
* **edges**: each particle's k nearest neighbours inside the window (scipy ``cKDTree``), made
  symmetric: if j is among i's k nearest, both i->j and j->i are edges (k n <= E <= 2 k n).
  Edge feature (E, 1) float32: the distance in sigma (``distance = "sigma"``, the default, a
  departure: a feature of order 1 beside the other inputs) or, as the authors computed it
  (their ``distance_PyTorch.py``), in scaled coordinates (``"scaled"``: sigma / box side,
  ~0.017 for neighbours in the paper's 60-sigma box).
* **nodes**: ``features = "authors"``: [xs, ys, type] with absolute scaled coordinates and
  type 1.0 (A) / 2.0 (B), (n, 3), the authors' code; ``"relative"`` (the shipped default, a
  measured departure): [(xs - ox) / l_win, (ys - oy) / l_win, one-hot A, one-hot B], (n, 4).
  On paper-sized windows (N = 4,320, l_win 0.3, k 3, 60 runs, dataset 1, 10 epochs of one
  window per frame, 3 seeds) the then default model (T 3, f 2) reached test AUC 1.00, 1.00, 0.69 with
  "relative" against 0.78, 0.64, 0.53 with "authors" (accuracy 0.5: every sample on one side):
  the position of a window in the box carries no class information, and a type of 1.0 / 2.0
  enters W_i as a per-type offset twice the size of an A's, against one-hot types that W_i can
  weigh independently (jobs/models.toml has the table).
* **rev**: (E,) int64, the index of the reverse edge w->v of every edge v->w, which directed
  message passing subtracts (chemprop's ``b2revb``). In a batch it is offset by the number of
  edges of the graphs before it (:class:`WindowGraph`).
"""
from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import Data

from glasskit.util.errors import GlasskitError
from glasskit.data.graphs import knn_edges

NODE_DIM = {"authors": 3, "relative": 4}


class WindowGraph(Data):
    """A torch-geometric ``Data`` whose ``rev`` edge index is shifted by edges when batched."""

    def __inc__(self, key, value, *args, **kwargs):
        if key == "rev":
            return self.edge_index.size(1)
        return super().__inc__(key, value, *args, **kwargs)


def draw_origin(rng: np.random.Generator, l_win: float, window: str = "independent") -> np.ndarray:
    """Lower-left corner (2,) of a window of side ``l_win`` inside the unit (scaled) box."""
    if window == "diagonal":
        return np.full(2, rng.uniform(0.0, 1.0 - l_win))
    return rng.uniform(0.0, 1.0 - l_win, size=2)


def reverse_index(edge_index: np.ndarray, n: int) -> np.ndarray:
    """For symmetric edges sorted by (src, dst): the position (E,) of each edge's reverse."""
    key = edge_index[0] * n + edge_index[1]
    want = edge_index[1] * n + edge_index[0]
    rev = np.minimum(np.searchsorted(key, want), len(key) - 1)
    if not np.array_equal(key[rev], want):
        raise ValueError("edges are not symmetric: every edge needs its reverse")
    return rev


def featurize(xs: np.ndarray, types: np.ndarray, box: np.ndarray, l_win: float, k: int,
              origin: np.ndarray, features: str = "relative", distance: str = "sigma") -> dict[str, np.ndarray]:
    """Arrays of one window graph. ``xs``: (N, 2) scaled coordinates; ``types``: (N,) 1/2;
    ``box``: (2,) side lengths in sigma; ``origin``: (2,) scaled. Returns ``x`` (n, F) float32,
    ``edge_index`` (2, E) int64, ``edge_attr`` (E, 1) float32 (sigma, or scaled units when
    ``distance = "scaled"``), ``rev`` (E,) int64 and ``particle`` (n,) int64 (indices into the
    frame)."""
    xs = np.mod(np.asarray(xs, dtype=np.float64), 1.0)
    rel = xs - np.asarray(origin, dtype=np.float64)
    inside = np.all((rel >= 0) & (rel < l_win), axis=1)
    idx = np.nonzero(inside)[0]
    if len(idx) <= k:
        raise GlasskitError(f"a window of side l_win = {l_win} holds {len(idx)} particles, too few for "
                            f"k = {k} neighbours each", "use a larger l_win or a smaller k")
    pos = xs[idx] if distance == "scaled" else xs[idx] * np.asarray(box, dtype=np.float64)
    edge_index, dist = knn_edges(pos, k)
    t = np.asarray(types)[idx].astype(np.float32)
    if features == "authors":
        x = np.column_stack([xs[idx], t]).astype(np.float32)
    else:
        x = np.column_stack([rel[idx] / l_win, t == 1, t == 2]).astype(np.float32)
    return {"x": x, "edge_index": edge_index, "edge_attr": dist[:, None],
            "rev": reverse_index(edge_index, len(idx)), "particle": idx.astype(np.int64)}


def to_data(arrays: dict[str, np.ndarray], y: float | None = None) -> WindowGraph:
    """A :class:`WindowGraph` of :func:`featurize`'s arrays, with label ``y`` (1 liquid, 0 glass)."""
    data = WindowGraph(**{k: torch.from_numpy(v) for k, v in arrays.items()})
    if y is not None:
        data.y = torch.tensor([float(y)])
    return data
