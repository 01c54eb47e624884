"""Samples made at load time: window graphs (authors' definition), splits grouped by simulation."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from glasskit.util.errors import GlasskitError  # noqa: E402
from glasskit.ml.config import DMPNNSpec  # noqa: E402
from glasskit.ml.nets.featurize import draw_origin, featurize  # noqa: E402
from glasskit.ml.samples import GraphSet, ImageSet, SampleTable, kfold, split  # noqa: E402


def table(n_sims=12, N=400, seed=0):
    rng = np.random.default_rng(seed)
    sims = np.repeat(np.arange(n_sims), 2)
    return SampleTable(1, sims, np.tile([0, 5], n_sims), np.tile([1, 0], n_sims), np.tile([1.99, 0.05], n_sims),
                       rng.random((2 * n_sims, N, 2)).astype(np.float32), rng.integers(1, 3, N).astype(np.int8),
                       np.array([20.0, 20.0]))


def test_window_graph_is_the_authors_definition():
    rng = np.random.default_rng(3)
    xs, types, box = rng.random((500, 2)), rng.integers(1, 3, 500), np.array([20.0, 20.0])
    origin = np.array([0.2, 0.5])
    g = featurize(xs, types, box, 0.3, 3, origin, features="authors")
    inside = np.all((xs >= origin) & (xs < origin + 0.3), axis=1)
    assert np.array_equal(g["particle"], np.nonzero(inside)[0])  # a plain square, no periodic images
    assert np.allclose(g["x"][:, :2], xs[inside]) and set(np.unique(g["x"][:, 2])) <= {1.0, 2.0}
    src, dst = g["edge_index"]
    n = len(g["particle"])
    pos = xs[inside] * box
    # symmetric kNN: every particle's 3 nearest are its out-neighbours, and every edge has its reverse
    for i in range(n):
        d = np.linalg.norm(pos - pos[i], axis=1)
        d[i] = np.inf
        assert set(np.argsort(d)[:3]) <= set(dst[src == i].tolist())
    assert np.array_equal(src[g["rev"]], dst) and np.array_equal(dst[g["rev"]], src)
    assert np.allclose(g["edge_attr"][:, 0], np.linalg.norm(pos[src] - pos[dst], axis=1), rtol=1e-6)
    assert 3 * n <= len(src) <= 6 * n
    scaled = featurize(xs, types, box, 0.3, 3, origin, features="authors", distance="scaled")
    assert np.allclose(scaled["edge_attr"], g["edge_attr"] / 20.0, rtol=1e-5)  # the authors' units: sigma / L
    rel = featurize(xs, types, box, 0.3, 3, origin, features="relative")["x"]
    assert rel.shape == (n, 4) and rel[:, :2].min() >= 0 and rel[:, :2].max() < 1
    assert np.array_equal(rel[:, 2] + rel[:, 3], np.ones(n))


def test_windows_stay_inside_the_box_and_diagonal_option():
    rng = np.random.default_rng(0)
    o = np.array([draw_origin(rng, 0.3) for _ in range(2000)])
    assert o.min() >= 0 and o.max() <= 0.7 and abs(np.corrcoef(o.T)[0, 1]) < 0.1
    d = np.array([draw_origin(rng, 0.3, "diagonal") for _ in range(50)])
    assert np.array_equal(d[:, 0], d[:, 1])


def test_too_small_window_is_a_clear_error():
    t = table(N=50)
    with pytest.raises(GlasskitError, match="l_win"):
        featurize(t.xs[0], t.types, t.box, 0.05, 3, np.zeros(2))


def test_graphs_are_redrawn_each_epoch_and_reproducible():
    t = table()
    a = GraphSet(t, np.arange(len(t)), DMPNNSpec(l_win=0.4), seed=1)
    b = GraphSet(t, np.arange(len(t)), DMPNNSpec(l_win=0.4), seed=1)
    g0, g0b = a[3], b[3]
    assert torch.equal(g0.particle, g0b.particle) and g0.y.item() == t.label[3]
    a.set_epoch(1)
    assert not torch.equal(a[3].particle, g0.particle)


def test_splits_group_by_simulation_and_cover_everything():
    t = table(n_sims=20)
    parts = split(t, (0.8, 0.1, 0.1), seed=4)
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(t)))
    sims = [set(t.sim[p].tolist()) for p in parts]
    assert not (sims[0] & sims[1]) and not (sims[0] & sims[2]) and not (sims[1] & sims[2])
    assert [len(s) for s in sims] == [16, 2, 2]
    ungrouped = split(t, (0.8, 0.1, 0.1), seed=4, group_by="none")
    assert [len(p) for p in ungrouped] == [32, 4, 4]
    folds = kfold(t, 3, seed=0)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(t)))
    assert all(not (set(t.sim[f]) & set(t.sim[g])) for i, f in enumerate(folds) for g in folds[i + 1:])
    with pytest.raises(GlasskitError, match="too few"):
        kfold(table(n_sims=4), 3, seed=0)


def test_images_are_rgb_with_one_hot_class_index():
    t = table(n_sims=2)
    x, target, j = ImageSet(t, [0, 1], image_px=64)[1]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert int(target) == 1 - t.label[1] and int(j) == 1  # glass -> [0, 1] -> class 1


def _pair_distances(xs, box):
    d = xs[:, None, :] - xs[None, :, :]
    d -= np.rint(d)  # minimum image in the periodic box
    return np.sort(np.linalg.norm(d * box, axis=-1).ravel())


@pytest.mark.parametrize("box", [np.array([20.0, 20.0]), np.array([20.0, 30.0])])
def test_symmetry_views_keep_the_physics_and_move_the_picture(box):
    """Every augmented CNN view is the same configuration (every minimum-image distance and each
    particle's type kept) in another picture; views differ by epoch and view, not by call."""
    from glasskit.ml.samples import symmetry_view
    rng = np.random.default_rng(5)
    xs = rng.random((60, 2))
    ref = _pair_distances(xs, box)
    def disp(a):  # minimum-image displacement 0 -> 1 in sigma
        d = a[1] - a[0]
        return (d - np.rint(d)) * box
    ops = set()
    for seed in range(200):
        v = symmetry_view(xs, box, np.random.default_rng([seed]))
        assert v.shape == xs.shape and (v >= 0).all() and (v < 1).all()
        assert np.allclose(_pair_distances(v, box), ref, atol=1e-9)
        d0, d = disp(xs), disp(v)
        ops.add(next(k for k, (sx, sy, swap) in enumerate(np.ndindex(2, 2, 2))
                     if np.allclose(d, (np.array([(-1) ** sx, (-1) ** sy]) * d0)[::-1] if swap
                                    else np.array([(-1) ** sx, (-1) ** sy]) * d0)))
    square = box[0] == box[1]
    assert len(ops) == (8 if square else 4)  # the square's dihedral group; a rectangle keeps its axes
    t = table(n_sims=2, N=300)
    t.box = box
    aug = ImageSet(t, [0, 1], image_px=64, views=3, augment="symmetry", seed=1)
    assert len(aug) == 6 and [int(aug[i][2]) for i in range(6)] == [0, 0, 0, 1, 1, 1]
    assert not torch.equal(aug[0][0], aug[1][0])  # two views of one frame: two pictures
    assert torch.equal(aug[0][0], aug[0][0])  # the same view drawn twice: the same picture
    aug.set_epoch(1)
    first = aug[0][0]
    aug.set_epoch(0)
    assert not torch.equal(first, aug[0][0])
    fixed = ImageSet(t, [0, 1], image_px=64)
    assert len(fixed) == 2 and torch.equal(fixed[0][0], ImageSet(t, [0, 1], image_px=64, views=1)[0][0])


def test_a_frame_scores_the_mean_of_its_windows_and_padding_counts_once():
    """predict's gather: one score per sample, the mean over its distinct (sample, window) items;
    the DistributedSampler's padded repeats of an item do not weigh it twice."""
    from glasskit.ml.train import Dist, _gather
    ids = [torch.tensor([0, 0, 1, 1, 0, 2])]
    windows = [torch.tensor([0, 1, 0, 1, 0, 0])]  # (0, 0) again: padding
    scores = [torch.tensor([0.2, 0.4, 0.6, 0.9, 0.2, 0.1])]
    uniq, s = _gather(Dist(), ids, scores, windows)
    assert uniq.tolist() == [0, 1, 2] and np.allclose(s, [0.3, 0.75, 0.1])


def test_validation_sets_hold_eval_windows_of_each_frame():
    import dataclasses
    from glasskit.ml.config import load_models, resolve
    from conftest import ROOT
    cfg = resolve(load_models(ROOT / "jobs/models.toml"), "dmpnn", 1, None, {"eval_windows": 4, "windows": 2})
    from glasskit.ml.samples import make_set
    t = table(n_sims=3, N=400)
    val, tr = make_set(cfg, t, [0, 1]), make_set(cfg, t, [0, 1], training=True)
    assert len(val) == 8 and len(tr) == 4
    items = [val[i] for i in range(8)]
    assert [(int(d.sample), int(d.window)) for d in items] == [(j, w) for j in (0, 1) for w in range(4)]
    assert not torch.equal(items[0].particle, items[1].particle)
    cfg1 = dataclasses.replace(cfg, net=dataclasses.replace(cfg.net, eval_windows=1))
    assert len(make_set(cfg1, t, [0, 1])) == 2
