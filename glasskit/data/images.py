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
CROP = 0.002  # fraction of the box cut on each side: "slightly cropped", about 0.2 % as the authors did
COLORS = {1: "orange", 2: "blue"}  # type A, type B
MARKER_S = 1.0  # points^2


@functools.lru_cache(maxsize=8)
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
    h = int(np.ceil(radius_px + 0.5))  # a pixel further out cannot overlap the disk
    sub = (np.arange((2 * h + 1) * supersample) + 0.5) / supersample - (h + 0.5)
    yy, xx = np.meshgrid(sub, sub, indexing="ij")
    inside = (xx ** 2 + yy ** 2 <= radius_px ** 2).astype(np.float64)
    cov = inside.reshape(2 * h + 1, supersample, 2 * h + 1, supersample).mean(axis=(1, 3))
    return cov, h


# matplotlib draws an s = 1 marker (diameter 1 pt) with a 1 pt edge in the face colour:
# effective diameter 2 pt = 2 * 100 / 72 px at 100 dpi.
RADIUS_PX = 100 / 72


@functools.lru_cache(maxsize=4)
def _palette(color_a: str, color_b: str) -> np.ndarray:
    """(65536,) uint32 RGBA words: white with A at alpha i/255, then B at j/255 (index i*256+j)."""
    a = np.arange(256, dtype=np.float64)[:, None, None] / 255
    b = np.arange(256, dtype=np.float64)[None, :, None] / 255
    rgb = np.rint(((1 - a * (1 - _rgb(color_a))) * (1 - b) + _rgb(color_b) * b) * 255).astype(np.uint8)
    rgba = np.concatenate([rgb, np.full((256, 256, 1), 255, np.uint8)], axis=2)
    return rgba.reshape(-1, 4).view(np.uint32).ravel()


@functools.lru_cache(maxsize=8)
def _stamp(radius_px: float, full: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Flat index offsets and log(1 - coverage) weights of one marker's nonzero pixels."""
    kern, h = _kernel(radius_px)
    dy, dx = np.nonzero(kern)
    weights = np.log1p(-np.minimum(kern[dy, dx], 1 - 1e-7))
    return (dy - h) * full + (dx - h), weights, h


def rasterize(xs: np.ndarray, types: np.ndarray, size: int = SIZE_PX, crop: float = CROP,
              radius_px: float = RADIUS_PX) -> np.ndarray:
    """Fast numpy rendering of the same image as :func:`render_matplotlib`: (size, size, 3) uint8.

    Every marker is the same stamp (matplotlib snaps markers to pixels): one ``np.bincount``
    sums log(1 - coverage) of all stamps into an A plane and a B plane, and per plane
    alpha = 1 - exp(sum) is exactly "over" compositing of that type's markers. A, then B, go
    over white as ``scatter`` draws them, through a 256 x 256 palette of alpha pairs.
    """
    scale = size / (1 - 2 * crop)
    h = _kernel(radius_px)[1]
    pad = 2 * h  # markers up to h pixels outside the image still reach into it
    full = size + 2 * pad
    offsets, weights, _ = _stamp(radius_px, full)
    cx = np.rint((xs[:, 0] - crop) * scale).astype(np.int64) + pad  # snapped, as matplotlib does
    cy = np.rint((1 - crop - xs[:, 1]) * scale).astype(np.int64) + pad
    ok = (cx >= h) & (cx < full - h) & (cy >= h) & (cy < full - h) & ((types == 1) | (types == 2))
    base = cy[ok] * full + cx[ok] + (types[ok] == 2) * (full * full)  # B in the second plane
    idx = (base[:, None] + offsets).ravel()
    logs = np.bincount(idx, np.broadcast_to(weights, (base.size, weights.size)).ravel(),
                       minlength=2 * full * full).reshape(2, full, full)[:, pad:pad + size, pad:pad + size]
    q = (np.float32(255.5) - np.float32(255) * np.exp(logs.astype(np.float32))).astype(np.uint16)
    rgba = np.take(_palette(COLORS[1], COLORS[2]), (q[0] << 8) | q[1])
    return rgba.view(np.uint8).reshape(size, size, 4)[..., :3]


def save_png(path: Path, image: np.ndarray) -> None:
    """Write an RGB uint8 image as PNG (250 x 250 px, 100 dpi metadata)."""
    from PIL import Image
    Image.fromarray(image).save(path, dpi=(DPI, DPI))
