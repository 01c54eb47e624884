"""The image recipe and the fast rasterizer, on real LAMMPS frames."""
import numpy as np
import pytest

from glasskit.data.images import COLORS, rasterize, render_matplotlib, save_png
from glasskit.stages.simulate import CoolingRun, ensure_initial
from glasskit.campaign.spec import load_spec

from conftest import write_spec

MAX_MEAN_ABS_DIFF = 0.01  # fraction of full scale, mean over pixels and channels (measured ~0.0007)


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("img")
    spec = load_spec(write_spec(tmp / "s.toml", tmp / "c", lattice=(30, 36), n_b=378, runs=((1, 600),)))
    data = ensure_initial(spec, spec.workdir())
    return [(f.snap.xs, f.snap.types) for f in CoolingRun(spec, data).frames(0, 99, 600)]


def _rgb255(name):
    from matplotlib.colors import to_rgb
    return np.rint(np.array(to_rgb(name)) * 255).astype(int)


def test_recipe_size_colours_and_no_axes(frames, tmp_path):
    xs, types = frames[-1]
    img = render_matplotlib(xs, types)
    assert img.shape == (250, 250, 3) and img.dtype == np.uint8
    flat = img.reshape(-1, 3).astype(int)
    for t in (1, 2):  # orange A and blue B are both present as pure marker colours
        assert (np.abs(flat - _rgb255(COLORS[t])).sum(axis=1) == 0).sum() > 50
    # no axis lines, ticks or frame: no black or grey pixels anywhere
    grey = (np.ptp(flat, axis=1) < 10) & (flat.max(axis=1) < 200)
    assert grey.sum() == 0
    white = (flat == 255).all(axis=1).mean()
    assert 0.3 < white < 0.95
    save_png(tmp_path / "a.png", img)
    from PIL import Image
    with Image.open(tmp_path / "a.png") as im:
        assert im.size == (250, 250) and round(im.info["dpi"][0]) == 100


@pytest.mark.parametrize("render", [render_matplotlib, rasterize])
def test_recipe_is_cropped_by_about_0_2_percent_per_side(render):
    """The axes span [CROP, 1 - CROP] with CROP = 0.002 (the authors'), not 2 %: two B particles
    half a box apart sit 0.5 x 250 / (1 - 2 CROP) = 125.25 px apart (2 % would give 130.2)."""
    from glasskit.data.images import CROP
    assert CROP == 0.002
    xs = np.array([[0.25, 0.5], [0.75, 0.5]])
    img = render(xs, np.array([2, 2])).astype(float)
    blue = (255 - img[..., 0]) * (img[..., 2] > 128)  # the B colour has no red
    cols = blue.sum(axis=0)
    left, right = cols[:125], cols[125:]
    cx = [(np.arange(125) * left).sum() / left.sum(), 125 + (np.arange(125) * right).sum() / right.sum()]
    assert abs((cx[1] - cx[0]) - 125.25) < 1.0, cx


def test_a_particle_on_the_box_edge_is_partly_cut(frames):
    xs, types = frames[-1]
    keep = (xs[:, 0] > 0.05) & (xs[:, 0] < 0.95) & (xs[:, 1] > 0.05) & (xs[:, 1] < 0.95)
    xs, types = xs[keep].copy(), types[keep].copy()
    edge = np.vstack([xs, [[0.0, 0.5]]])
    with_edge = render_matplotlib(edge, np.append(types, 2))
    without = render_matplotlib(xs, types)
    diff = np.abs(with_edge.astype(int) - without.astype(int)).sum(axis=2)
    cols = np.nonzero(diff.any(axis=0))[0]
    assert cols.size and cols.max() <= 1  # only the inner half of its disk, in the first columns


def test_fast_rasterizer_matches_matplotlib(frames):
    diffs = []
    for xs, types in frames[::2]:
        a = render_matplotlib(xs, types).astype(float)
        b = rasterize(xs, types).astype(float)
        assert b.shape == a.shape
        diffs.append(np.abs(a - b).mean() / 255)
    assert max(diffs) < MAX_MEAN_ABS_DIFF, diffs
    # and the bound is meaningful: a shifted picture is far off
    xs, types = frames[-1]
    shifted = rasterize(np.mod(xs + 0.013, 1.0), types).astype(float)
    assert np.abs(render_matplotlib(xs, types) - shifted).mean() / 255 > 2 * MAX_MEAN_ABS_DIFF
