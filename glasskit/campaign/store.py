"""The campaign store: find data in shards, collect them into one file, read frames back.

* :func:`locate` — for each simulation, the shard and row that hold its data for a stage.
* :func:`collect` — ``<workdir>/campaign.h5``: HDF5 *virtual* datasets over the shards (no
  copy), one row per simulation of the campaign, NaN / False where nothing is done yet.
* :func:`open_campaign` -> :class:`CampaignReader` — select frames by (T, t_cool) and iterate
  over them in chunks. Everything downstream (analysis, datasets) reads through it.
"""
from __future__ import annotations

import json

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import h5py
import numpy as np

from glasskit.campaign.index import CampaignIndex, Location
from glasskit.campaign.layout import Campaign
from glasskit.util.errors import GlasskitError
from glasskit.util.log import logger
from glasskit.campaign.seeds import simulation_seeds

CAMPAIGN_FILE = "campaign.h5"


def locate(campaign: Campaign, stage: str) -> dict[int, Location]:
    """Simulation index -> where its ``stage`` data lives: the copy that counts
    (:meth:`glasskit.campaign.index.StageIndex`'s rule: a done copy if one exists (the newest),
    else the newest partial row). Unreadable shards are skipped (``verify`` names them)."""
    return CampaignIndex.scan(campaign, (stage,))[stage].located


# dataset name in campaign.h5 -> (stage, name in shard, per-frame shape suffix, dtype, fill)
_VIRTUAL = {
    "frames/step": ("simulate", "frames/step", (), "i8", -1),
    "frames/T": ("simulate", "frames/T", (), "f8", np.nan),
    "frames/pe": ("simulate", "frames/pe", (), "f8", np.nan),
    "frames/temp": ("simulate", "frames/temp", (), "f8", np.nan),
    "frames/xs": ("simulate", "frames/xs", (2,), "f4", np.nan),
    "frames/x": ("simulate", "frames/x", (2,), "f4", np.nan),
    "is/pe": ("minimize", "is/pe", (), "f8", np.nan),
    "is/done": ("minimize", "is/done", (), "bool", False),
    "is/xs": ("minimize", "is/xs", (2,), "f4", np.nan),
    "is/iters": ("minimize", "is/iters", (), "i4", -1),
    "is/stop": ("minimize", "is/stop", (), "i1", -1),
}


def _runs(pairs: list[tuple[int, int]]) -> Iterator[tuple[int, int, int]]:
    """Group sorted (sim, row) pairs into (first sim, first row, length) contiguous runs."""
    start = None
    for sim, row in pairs:
        if start and sim == start[0] + start[2] and row == start[1] + start[2]:
            start[2] += 1
            continue
        if start:
            yield tuple(start)
        start = [sim, row, 1]
    if start:
        yield tuple(start)


def collect(campaign: Campaign, out: Path | None = None, index: CampaignIndex | None = None) -> Path:
    """Write the campaign file: virtual datasets over every done shard row (from ``index``, or a
    fresh scan of the shards, each opened once); returns its path."""
    spec = campaign.spec
    out = Path(out or campaign.workdir / CAMPAIGN_FILE)
    index = index or CampaignIndex.scan(campaign)
    where = {stage: {s: loc for s, loc in index[stage].located.items() if loc.done}
             for stage in ("simulate", "minimize")}
    if not where["simulate"]:
        raise GlasskitError(f"campaign '{spec.campaign.name}' has no completed simulation to collect",
                            "run glasskit submit simulate first")
    _check_replaceable(out)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    try:
        _write_campaign(campaign, out, tmp, where)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise GlasskitError(f"cannot write the campaign file {out}: {getattr(exc, 'strerror', None) or exc}",
                            "collect -o a writable path, or fix the directory's permissions or space") from None
    os.replace(tmp, out)
    logger.info("collected %d simulated and %d minimized simulations of %d into %s",
                len(where["simulate"]), len(where["minimize"]), spec.campaign.n_sims, out)
    return out


def _write_campaign(campaign: Campaign, out: Path, tmp: Path, where: dict) -> None:
    spec = campaign.spec
    S = spec.campaign.n_sims
    t_cool = spec.t_cool_of(np.arange(S))
    F = max(spec.n_frames(t) for t in set(t_cool.tolist()))
    N = spec.system.n_atoms
    with h5py.File(tmp, "w") as f:
        f.attrs["glasskit_file"] = "campaign"  # what collect may replace later
        f.attrs["spec"] = spec.text
        f.attrs["campaign"] = spec.campaign.name
        f.attrs["engine"] = json.dumps(spec.engine_settings())
        f["sim/index"] = np.arange(S, dtype=np.int64)
        f["sim/t_cool"] = t_cool
        f["sim/seed"] = simulation_seeds(spec.campaign.seed, np.arange(S))
        f["sim/done"] = np.isin(np.arange(S), list(where["simulate"]))
        shapes = _source_shapes({loc.path for locs in where.values() for loc in locs.values()})
        for name, (stage, src, tail, dtype, fill) in _VIRTUAL.items():
            _virtual(f, out.parent, name, src, (S, F) + ((N,) + tail if tail else ()), dtype, fill,
                     where[stage], shapes)
        first = where["simulate"][min(where["simulate"])]
        with h5py.File(first.path, "r", locking=False) as src:
            f["frames/type"] = src["frames/type"][...]
        with h5py.File(campaign.workdir / "init.h5", "r") as init:
            f["box"] = init["box"][...]  # (2, 2) [[xlo, xhi], [ylo, yhi]]: fixed under NVT


def _check_replaceable(out: Path) -> None:
    """collect replaces only a campaign file it wrote: never a shard, a spec or a foreign file."""
    if not out.exists():
        return
    try:
        with h5py.File(out, "r", locking=False) as f:
            ours = f.attrs.get("glasskit_file") == "campaign" or (
                "submission" not in f.attrs and "campaign" in f.attrs and "sim/index" in f and "frames/type" in f)
    except OSError:
        ours = False
    if not ours or not out.is_file():
        raise GlasskitError(f"{out} exists and is not a campaign file written by glasskit collect: refusing to "
                            "replace it", "choose another -o path (or move that file away yourself)")


def _source_shapes(paths) -> dict[Path, dict[str, tuple]]:
    """Shapes of the mapped datasets in every source shard, each file opened once."""
    out = {}
    for path in paths:
        with h5py.File(path, "r", locking=False) as sf:
            out[path] = {src: sf[src].shape for _, src, *_ in _VIRTUAL.values() if src in sf}
    return out


def _virtual(f, base: Path, name, src_name, shape, dtype, fill, locations: dict[int, Location],
             shapes: dict[Path, dict[str, tuple]]) -> None:
    layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
    by_shard: dict[Path, list[tuple[int, int]]] = {}
    for sim, loc in sorted(locations.items()):
        by_shard.setdefault(loc.path, []).append((sim, loc.row))
    for path, pairs in by_shard.items():
        src_shape = shapes[path][src_name]
        rel = os.path.relpath(path, base)  # relative: the campaign directory can move
        vs = h5py.VirtualSource(rel, src_name, shape=src_shape)
        Fs = min(src_shape[1], shape[1])
        for sim, row, n in _runs(pairs):
            layout[sim:sim + n, :Fs] = vs[row:row + n, :Fs]
    f.create_virtual_dataset(name, layout, fillvalue=fill)


@dataclass(frozen=True)
class Selection:
    """Frames picked from a campaign: parallel arrays (M,) of simulation index, frame index
    (0-based), target temperature and t_cool."""

    sim: np.ndarray
    frame: np.ndarray
    T: np.ndarray
    t_cool: np.ndarray

    def __len__(self) -> int:
        return int(self.sim.size)


class CampaignReader:
    """Read-only access to a collected campaign file (``glasskit collect``)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise GlasskitError(f"campaign file {self.path} does not exist", "run glasskit collect first")
        try:
            self.f = h5py.File(self.path, "r", locking=False)
        except OSError as exc:
            raise GlasskitError(f"cannot open {self.path}: {exc}", "re-run glasskit collect") from None
        self._check_sources()

    def _check_sources(self) -> None:
        """A virtual dataset over shards that are gone reads as fill values: refuse instead."""
        gone = set()
        for name in ("frames/xs", "is/xs"):
            ds = self.f.get(name)
            if ds is not None and ds.is_virtual:
                for src in ds.virtual_sources():
                    p = Path(src.file_name)
                    p = p if p.is_absolute() else self.path.parent / p
                    if not p.is_file():
                        gone.add(str(p))
        if gone:
            self.f.close()
            raise GlasskitError(f"campaign file {self.path} maps {len(gone)} shard(s) that are gone (e.g. "
                                f"{sorted(gone)[0]})", "re-run glasskit collect; glasskit status then lists the "
                                "simulations to re-submit")

    @property
    def box(self) -> np.ndarray:
        """Box side lengths (2,) in sigma (constant: every run is NVT in the same box)."""
        b = self.f["box"][...]
        return b[:, 1] - b[:, 0]

    def select(self, T: float | None = None, t_cool: int | None = None, tol: float = 0.005,
               minimized: bool = False) -> Selection:
        """Frames of done simulations with |T_frame - T| <= tol (and the given t_cool)."""
        Tf = self.f["frames/T"][...]
        tc = self.f["sim/t_cool"][...]
        ok = self.f["sim/done"][...][:, None] & np.isfinite(Tf)
        if T is not None:
            ok &= np.abs(Tf - T) <= tol
        if t_cool is not None:
            ok &= (tc == int(t_cool))[:, None]
        if minimized:
            ok &= self.f["is/done"][...]
        sim, frame = np.nonzero(ok)
        return Selection(sim.astype(np.int64), frame.astype(np.int64), Tf[sim, frame], tc[sim])

    def iter_chunks(self, sel: Selection, fields: Sequence[str] = ("frames/xs",),
                    size: int = 256) -> Iterator[dict[str, np.ndarray]]:
        """Yield dicts of arrays for ``size`` frames at a time: each field as (m, ...) plus
        ``sim``, ``frame``, ``T`` (m,) and ``type`` (N,)."""
        types = self.f["frames/type"][...]
        for start in range(0, len(sel), size):
            sl = slice(start, start + size)
            out = {"sim": sel.sim[sl], "frame": sel.frame[sl], "T": sel.T[sl], "type": types}
            for name in fields:
                ds = self.f[name]
                out[name] = np.stack([ds[s, k] for s, k in zip(sel.sim[sl], sel.frame[sl])]) \
                    if len(sel.sim[sl]) else np.empty((0,) + ds.shape[2:], ds.dtype)
            yield out

    def close(self) -> None:
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_campaign(path_or_campaign) -> CampaignReader:
    """Open ``campaign.h5`` given its path, a campaign directory, or a :class:`Campaign`."""
    if isinstance(path_or_campaign, Campaign):
        return CampaignReader(path_or_campaign.workdir / CAMPAIGN_FILE)
    p = Path(path_or_campaign)
    return CampaignReader(p / CAMPAIGN_FILE if p.is_dir() else p)
