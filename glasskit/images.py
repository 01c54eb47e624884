"""Configuration images for the CNN, the paper's recipe (SI section II), and a fast twin.

:func:`render_matplotlib` is the recipe: a matplotlib ``scatter`` of the scaled coordinates,
250 x 250 px at 100 dpi, type A orange, type B blue, marker size s = 1, no axes or frame, and
slightly cropped (the axes span ``[crop, 1 - crop]`` of the unit box, so particles at the very
edge are cut, as in the paper).

:func:`rasterize` draws the same picture with numpy alone (no figure objects): each particle is
a small anti-aliased disk of matplotlib's marker footprint, composited A first, then B, as
``scatter`` does. On real N = 4320 frames the two differ by a mean absolute pixel value of 0.07 %
(tests/test_images.py states the bound); it is the default for large datasets.

Images are (250, 250, 3) uint8 RGB arrays; row 0 is the top (y = 1 side) of the box.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

SIZE_PX = 250
DPI = 100
CROP = 0.02  # fraction of the box cut on each side ("slightly cropped")
COLORS = {1: "orange", 2: "blue"}  # type A, type B
MARKER_S = 1.0  # points^2


def _rgb(name: str) -> np.ndarray:
    from matplotlib.colors import to_rgb
    return np.array(to_rgb(name))


def render_matplotlib(xs: np.ndarray, types: np.ndarray, size: int = SIZE_PX, crop: float = CROP) -> np.ndarray:
    """The paper's recipe. ``xs``: (N, 2) scaled coordinates; ``types``: (N,) 1 = A, 2 = B."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size / DPI, size / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    for t in (1, 2):
        sel = types == t
        ax.scatter(xs[sel, 0], xs[sel, 1], s=MARKER_S, color=COLORS[t])
    ax.set_xlim(crop, 1 - crop)
    ax.set_ylim(crop, 1 - crop)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


@functools.lru_cache(maxsize=8)
def _kernel(radius_px: float, supersample: int = 8) -> tuple[np.ndarray, int]:
    """Coverage (2h+1, 2h+1) of a disk of ``radius_px`` centred on a pixel, by supersampling."""
    h = int(np.ceil(radius_px + 1))
    sub = (np.arange((2 * h + 1) * supersample) + 0.5) / supersample - (h + 0.5)
    yy, xx = np.meshgrid(sub, sub, indexing="ij")
    inside = (xx ** 2 + yy ** 2 <= radius_px ** 2).astype(np.float64)
    cov = inside.reshape(2 * h + 1, supersample, 2 * h + 1, supersample).mean(axis=(1, 3))
    return cov, h


# matplotlib draws an s = 1 marker (diameter 1 pt) with a 1 pt edge in the face colour:
# effective diameter 2 pt = 2 * 100 / 72 px at 100 dpi.
RADIUS_PX = 100 / 72


def rasterize(xs: np.ndarray, types: np.ndarray, size: int = SIZE_PX, crop: float = CROP,
              radius_px: float = RADIUS_PX) -> np.ndarray:
    """Fast numpy rendering of the same image as :func:`render_matplotlib`: (size, size, 3) uint8."""
    img = np.ones((size, size, 3))
    kern, h = _kernel(radius_px)
    scale = size / (1 - 2 * crop)
    for t in (1, 2):
        p = xs[types == t]
        # matplotlib snaps each marker to the pixel nearest its display position
        px = (p[:, 0] - crop) * scale
        py = (1 - crop - p[:, 1]) * scale
        pad = 2 * h + 1
        alpha = np.zeros((size + 2 * pad, size + 2 * pad))
        cx, cy = np.rint(px).astype(int), np.rint(py).astype(int)
        keep = (cx >= -h) & (cx < size + h) & (cy >= -h) & (cy < size + h)
        for x0, y0 in zip(cx[keep] + pad, cy[keep] + pad):
            win = alpha[y0 - h:y0 + h + 1, x0 - h:x0 + h + 1]
            np.maximum(win, kern, out=win)
        a = alpha[pad:pad + size, pad:pad + size, None]
        img = img * (1 - a) + _rgb(COLORS[t]) * a
    return np.rint(img * 255).astype(np.uint8)


def save_png(path: Path, image: np.ndarray) -> None:
    """Write an RGB uint8 image as PNG (250 x 250 px, 100 dpi metadata)."""
    from PIL import Image
    Image.fromarray(image).save(path, dpi=(DPI, DPI))
