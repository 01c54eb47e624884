"""RDF normalisation and LAMMPS agreement, graph metrics, two-segment fits, artificial images."""
import numpy as np
import pytest
from scipy.spatial import cKDTree

from glasskit.data.artificial import nfold_configuration, random_configuration
from glasskit.stages.simulate import CoolingRun, ensure_initial
from glasskit.campaign.spec import load_spec
from glasskit.util.errors import GlasskitError
from glasskit.data.structure import PAIRS, PartialRDF, branch_fit, graph_metrics, lammps_rdf

from conftest import write_spec


def test_ideal_gas_rdf_is_one():
    rng = np.random.default_rng(0)
    box = np.array([40.0, 50.0])
    acc = PartialRDF(box, bins=50, r_max=10.0)
    types = np.where(rng.random(3000) < 0.35, 2, 1)
    for _ in range(5):
        acc.add(rng.random((3000, 2)) * box, types)
    for name, g in acc.g().items():
        assert abs(g[5:].mean() - 1) < 0.02, name
        assert np.abs(g[5:] - 1).max() < 0.15, name


def test_rdf_agrees_with_lammps_compute_rdf(tmp_path):
    spec = load_spec(write_spec(tmp_path / "s.toml", tmp_path / "c", lattice=(24, 28), n_b=235, runs=((1, 400),)))
    data = ensure_initial(spec, spec.workdir())
    frame = list(CoolingRun(spec, data).frames(0, 5, 400))[-1]
    box = frame.snap.box[:, 1] - frame.snap.box[:, 0]
    acc = PartialRDF(box, bins=200, r_max=10.0)
    acc.add(frame.snap.x, frame.snap.types)
    ref = lammps_rdf(spec, data, frame.snap.x.astype(float), 200, acc.r_max)
    assert np.allclose(acc.r, ref["r"], atol=1e-6)
    for name, *_ in PAIRS:
        # float32 coordinates: a pair may land in the neighbouring bin, nothing more
        assert np.abs(acc.g()[name] - ref[name]).max() < 1e-2, name
        assert np.abs(acc.g()[name] - ref[name]).mean() < 1e-4, name
    assert acc.g()["AB"].max() > 3  # a real liquid: a strong first A-B peak


def test_graph_metrics_on_a_hand_made_frame():
    box = np.array([100.0, 100.0])
    # two far-apart clusters: (B, B, A) and (A, A, A)
    x = np.array([[10, 10], [11, 10], [10, 11], [60, 60], [61, 60], [60, 61]], float)
    types = np.array([2, 2, 1, 1, 1, 1])
    m = graph_metrics(x, types, box, k=2)
    assert m == {"BB_edges": 1, "components": 1, "isolated_A": 3}


def test_branch_fit_intersects_the_glass_and_liquid_lines():
    """E_IS(T)-like data: flat-ish glass branch, steeper liquid branch, a curved crossover the
    restricted ranges leave out, and a high-T plateau that would bias a single free break."""
    rng = np.random.default_rng(2)
    T = np.repeat(np.linspace(0.05, 2.0, 200), 3)
    glass, liquid = (0.04, -3.90), (0.35, -4.015)  # cross at T = 0.115 / 0.31 = 0.371
    y = np.where(T < 0.3, glass[0] * T + glass[1], liquid[0] * T + liquid[1])
    y = np.where((T >= 0.3) & (T < 0.45), np.nan, y)
    y = np.where(T > 0.9, liquid[0] * 0.9 + liquid[1], y) + rng.normal(0, 0.002, T.size)
    fit = branch_fit(T, y)
    assert fit.Tg == pytest.approx(0.115 / 0.31, abs=0.01)
    assert 0 < fit.Tg_err < 0.01
    assert fit.glass[0] == pytest.approx(0.04, abs=0.01) and fit.liquid[0] == pytest.approx(0.35, abs=0.03)
    assert fit(0.1) == pytest.approx(glass[0] * 0.1 + glass[1], abs=1e-3)
    assert fit.inside and fit.determined and fit.describe().startswith("T_g = 0.37")
    flat = branch_fit(T, np.where(np.isnan(y), np.nan, -3.9 + 0.01 * T + rng.normal(0, 0.002, T.size)))
    assert not flat.determined and "undetermined" in flat.describe()  # one straight line: no transition
    with pytest.raises(GlasskitError, match="glass branch"):
        branch_fit(T[T > 0.5], y[T > 0.5])


def test_window_metrics_count_only_the_window_without_periodic_images():
    box = np.array([100.0, 100.0])
    x = np.array([[1, 1], [2, 1], [99, 1], [50, 50], [51, 50], [50, 51]], float)
    types = np.array([2, 2, 2, 1, 1, 1])
    whole = graph_metrics(x, types, box, k=1)
    win = graph_metrics(x, types, box, k=1, l_win=0.2, origin=(0.0, 0.0))  # holds the first two only
    assert win == {"BB_edges": 1, "components": 1, "isolated_A": 0}
    assert whole["BB_edges"] >= 1 and whole["isolated_A"] == 3


@pytest.mark.parametrize("n_fold", [5, 6])
def test_nfold_configuration_follows_the_si(n_fold):
    c = nfold_configuration(n_fold, seed=1)
    assert (c.types == 2).sum() == 1512 and (c.types == 1).sum() == 2808
    assert cKDTree(c.xs).query(c.xs, k=2)[0][:, 1].min() >= 1 / 90 - 1e-12
    rings_xs, rings_t = c.rings
    # neighbouring rings clash (grid spacing 1/39 vs ring radius 1/78): about 58 % of the ring
    # particles survive the 1/90 overlap removal
    assert 0.45 * 500 * n_fold < (rings_t == 1).sum() < 500 * n_fold
    # ring particles sit at radius 1/78 from a B particle
    b = c.xs[c.types == 2]
    d, _ = cKDTree(b).query(rings_xs[rings_t == 1])
    assert np.allclose(d, 1 / 78, atol=2e-3)
    r = random_configuration(seed=1)
    assert len(r.xs) == 4320 and (r.types == 2).sum() == 1512
