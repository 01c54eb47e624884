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


GRAPHS_FORMAT = "glasskit-graphs-1"


def save_graphs(path, graphs, labels, sims, frames) -> None:
    """Write graphs as plain tensors, the collated form torch-geometric's InMemoryDataset uses
    (every graph's rows concatenated, ``node_ptr`` / ``edge_ptr`` (G+1,) where each starts), so
    plain ``torch.load`` (``weights_only=True``) reads it without glasskit or torch-geometric.

    Keys: ``x`` (n, 2) float32 one-hot [A, B]; ``pos`` (n, 2) float32 window coordinates (sigma_AA);
    ``particle`` (n,) atom index in the frame; ``edge_index`` (2, E) int64 (indices within each
    graph); ``edge_attr`` (E, 1) float32 distance (sigma_AA); ``y`` (G,) int64 label (0 glass,
    1 liquid); ``sim``, ``frame`` (G,) where each graph comes from; ``classes``, ``format``."""
    import torch
    node_ptr = np.cumsum([0] + [int(g.num_nodes) for g in graphs])
    edge_ptr = np.cumsum([0] + [int(g.edge_index.shape[1]) for g in graphs])
    cat = (lambda key, dim=0: torch.cat([getattr(g, key) for g in graphs], dim=dim) if graphs else torch.empty(0))
    torch.save({"format": GRAPHS_FORMAT, "classes": ["glass", "liquid"],
                "x": cat("x"), "pos": cat("pos"), "particle": cat("particle"),
                "edge_index": cat("edge_index", 1), "edge_attr": cat("edge_attr"),
                "node_ptr": torch.as_tensor(node_ptr, dtype=torch.int64),
                "edge_ptr": torch.as_tensor(edge_ptr, dtype=torch.int64),
                "y": torch.as_tensor(labels, dtype=torch.int64), "sim": torch.as_tensor(sims, dtype=torch.int64),
                "frame": torch.as_tensor(frames, dtype=torch.int64)}, path)


def load_graphs(path) -> list:
    """Load a dataset's ``graphs.pt`` as torch-geometric graphs.

    Parameters
    ----------
    path : str or pathlib.Path
        A file written by :func:`save_graphs`.

    Returns
    -------
    list of torch_geometric.data.Data
        One graph per sample, with ``y`` (0 glass, 1 liquid), ``sim`` and ``frame``.
    """
    import torch
    from torch_geometric.data import Data
    d = torch.load(path)  # plain tensors: the safe default weights_only=True loader
    if d.get("format") != GRAPHS_FORMAT:
        raise ValueError(f"{path} is not a glasskit graphs file (format {d.get('format')!r})")
    out = []
    for i in range(len(d["y"])):
        n0, n1, e0, e1 = int(d["node_ptr"][i]), int(d["node_ptr"][i + 1]), int(d["edge_ptr"][i]), int(d["edge_ptr"][i + 1])
        out.append(Data(x=d["x"][n0:n1], pos=d["pos"][n0:n1], particle=d["particle"][n0:n1],
                        edge_index=d["edge_index"][:, e0:e1], edge_attr=d["edge_attr"][e0:e1],
                        y=d["y"][i:i + 1], sim=int(d["sim"][i]), frame=int(d["frame"][i])))
    return out
