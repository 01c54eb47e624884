"""The image recipe and the fast rasterizer, on real LAMMPS frames."""
import numpy as np
import pytest

from glasskit.images import COLORS, rasterize, render_matplotlib, save_png
from glasskit.simulate import CoolingRun, ensure_initial
from glasskit.spec import load_spec

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


def test_recipe_is_slightly_cropped(frames):
    xs, types = frames[-1]
    xs = xs.copy()
    xs[0] = (0.005, 0.5)  # inside the box but in the cropped margin
    types = types.copy()
    types[0] = 2
    without = render_matplotlib(np.delete(xs, 0, 0), np.delete(types, 0))
    with_edge = render_matplotlib(xs, types)
    assert np.array_equal(without, with_edge)


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
