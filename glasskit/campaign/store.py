"""The campaign store: find data in shards, collect them into one file, read frames back.

* :func:`locate` — for each simulation, the shard and row that hold its data for a stage.
* :func:`collect` — ``<workdir>/campaign.h5``: HDF5 *virtual* datasets over the shards (no
  copy), one row per simulation of the campaign, NaN / False where nothing is done yet; with
  ``standalone=True`` the data are copied in, so the file travels alone. Every dataset carries
  its units, dimension names and meaning (:mod:`glasskit.campaign.schema`); ``/provenance/shards``
  says which shard, submission, host, glasskit and LAMMPS made each part.
* :func:`open_campaign` -> :class:`CampaignReader` — select frames by (T, t_cool, simulation,
  frame), read numpy arrays, iterate lazily over :class:`FrameView` objects, get a freud box.
  Everything downstream (analysis, datasets, export) reads through it.
"""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import h5py
import numpy as np

from glasskit import __version__
from glasskit.campaign import schema
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


# dataset name in campaign.h5 -> (stage, name in shard, per-frame shape suffix, dtype, fill).
# Positions are stored once (frames/x, sigma_AA); the reader derives the scaled form.
_VIRTUAL = {
    "frames/step": ("simulate", "frames/step", (), "i8", -1),
    "frames/T": ("simulate", "frames/T", (), "f8", np.nan),
    "frames/pe": ("simulate", "frames/pe", (), "f8", np.nan),
    "frames/temp": ("simulate", "frames/temp", (), "f8", np.nan),
    "frames/x": ("simulate", "frames/x", (2,), "f4", np.nan),
    "is/pe": ("minimize", "is/pe", (), "f8", np.nan),
    "is/done": ("minimize", "is/done", (), "bool", False),
    "is/xs": ("minimize", "is/xs", (2,), "f4", np.nan),
    "is/iters": ("minimize", "is/iters", (), "i4", -1),
    "is/stop": ("minimize", "is/stop", (), schema.STOP_T, -1),
}
# what a shard's root says about how it was made: the campaign file's /provenance/shards table
PROVENANCE = ("stage", "submission", "task", "created", "host", "glasskit_version", "lammps_version", "driver",
              "ranks", "engine", "templates")
ADVICE_GONE = ("copy the shards/ folder with it (same place relative to the file), or make a copy that "
               "travels alone: glasskit collect --standalone")


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


def collect(campaign: Campaign, out: Path | None = None, index: CampaignIndex | None = None,
            standalone: bool = False) -> Path:
    """Write the campaign file.

    Parameters
    ----------
    campaign : Campaign
        The campaign whose shards are collected.
    out : pathlib.Path, optional
        The file (default ``<workdir>/campaign.h5``); only a file collect wrote is replaced.
    index : CampaignIndex, optional
        A scan of the shards already made (default: a fresh one, each shard opened once).
    standalone : bool
        Copy the data in instead of mapping the shards with virtual datasets.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    spec = campaign.spec
    out = Path(out or campaign.workdir / CAMPAIGN_FILE)
    index = index or CampaignIndex.scan(campaign)
    where = {stage: {s: loc for s, loc in index[stage].located.items() if loc.done}
             for stage in ("simulate", "minimize")}
    if not where["simulate"]:
        raise GlasskitError(f"campaign '{spec.campaign.name}' has no completed simulation to collect",
                            "run glasskit submit simulate first")
    _check_replaceable(out)
    from glasskit.util.outputs import atomic
    try:
        with atomic(out) as tmp:
            _write_campaign(campaign, out, tmp, where, standalone)
    except OSError as exc:
        raise GlasskitError(f"cannot write the campaign file {out}: {getattr(exc, 'strerror', None) or exc}",
                            "collect -o a writable path, or fix the directory's permissions or space") from None
    logger.info("collected %d simulated and %d minimized simulations of %d into %s (%s)",
                len(where["simulate"]), len(where["minimize"]), spec.campaign.n_sims, out,
                "standalone: the data copied in" if standalone else "virtual datasets over the shards; "
                "collect --standalone makes a copy that travels alone")
    return out


def _write_campaign(campaign: Campaign, out: Path, tmp: Path, where: dict, standalone: bool) -> None:
    spec = campaign.spec
    S = spec.campaign.n_sims
    t_cool = spec.t_cool_of(np.arange(S))
    F = max(spec.n_frames(t) for t in set(t_cool.tolist()))
    N = spec.system.n_atoms
    sources = {loc.path for locs in where.values() for loc in locs.values()}
    shapes, provenance = _source_info(sources, campaign.workdir)
    with h5py.File(tmp, "w") as f:
        schema.describe_root(f, "campaign")  # what collect may replace later, and what it holds
        f.attrs["spec"] = spec.text
        f.attrs["campaign"] = spec.campaign.name
        f.attrs["engine"] = json.dumps(spec.engine_settings())
        f.attrs["timestep"] = spec.protocol.timestep
        f.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        f.attrs["glasskit_version"] = __version__
        f.attrs["host"] = socket.gethostname()
        f.attrs["lammps_versions"] = sorted({p["lammps_version"] for p in provenance if p["lammps_version"]})
        f.attrs["simulated"], f.attrs["minimized"] = len(where["simulate"]), len(where["minimize"])
        f.attrs["campaign_id"] = spec.campaign_id
        from glasskit.campaign.layout import initial_identity
        f.attrs["init_sha256"] = initial_identity(campaign.workdir)
        f.attrs["standalone"] = standalone
        f.attrs["storage"] = ("standalone: every dataset holds its data" if standalone else
                              "virtual: the per-frame datasets read from the shards listed in /provenance/shards "
                              "(paths relative to this file); without them they read as fill values. " + ADVICE_GONE)
        row_of = {p["path"]: i for i, p in enumerate(provenance)}
        src = {stage: np.full(S, -1, np.int32) for stage in where}
        for stage, locs in where.items():
            for sim, loc in locs.items():
                src[stage][sim] = row_of[os.path.relpath(loc.path, campaign.workdir)]
        for name, values in (("sim/index", np.arange(S, dtype=np.int64)), ("sim/t_cool", t_cool),
                             ("sim/seed", simulation_seeds(spec.campaign.seed, np.arange(S))),
                             ("sim/done", np.isin(np.arange(S), list(where["simulate"]))),
                             ("sim/source", src["simulate"]), ("sim/is_source", src["minimize"])):
            schema.create(f, name, values.shape, values.dtype)[...] = values
        for name, (stage, src, tail, dtype, fill) in _VIRTUAL.items():
            shape = (S, F) + ((N,) + tail if tail else ())
            (_copied if standalone else _virtual)(f, out.parent, name, src, shape, dtype, fill, where[stage], shapes)
            schema.describe(f[name], name)
        first = where["simulate"][min(where["simulate"])]
        with h5py.File(first.path, "r", locking=False) as src:
            schema.create(f, "frames/type", (N,))[...] = src["frames/type"][...]
        with h5py.File(campaign.workdir / "init.h5", "r") as init:
            schema.create(f, "box", (2, 2), "f8")[...] = init["box"][...]  # fixed under NVT
        table = np.array([tuple(str(p[k]) for k in ("path",) + PROVENANCE) for p in provenance],
                         dtype=[(k, h5py.string_dtype()) for k in ("path",) + PROVENANCE])
        ds = f.create_dataset("provenance/shards", data=table)
        ds.attrs["long_name"] = ("one row per shard this file reads (or copied from): its path relative to this "
                                 "file and the attributes of its root that say how it was made")
        seal(f)


def seal(f) -> None:
    """Write the ``crc32`` attribute of every dataset the campaign file holds itself (all of
    them in a standalone file; the virtual ones read the shards, which carry their own)."""
    for name in owned_datasets(f):
        f[name].attrs["crc32"] = stored_crc(f[name])


def stored_crc(ds) -> int:
    """:func:`glasskit.campaign.shard.dataset_crc` of a dataset as stored, read a few rows at a
    time (a standalone campaign file's coordinates do not fit in memory)."""
    import zlib
    from glasskit.campaign.shard import dataset_crc
    if ds.dtype.names or ds.ndim == 0 or ds.size < (1 << 20):
        return dataset_crc(_values(ds))
    crc = zlib.crc32(f"{ds.dtype.kind}{ds.shape}".encode())
    step = max(1, (1 << 24) // max(1, ds.dtype.itemsize * (ds.size // ds.shape[0])))
    for i in range(0, ds.shape[0], step):
        crc = zlib.crc32(np.ascontiguousarray(ds[i:i + step]).view(np.uint8), crc)
    return crc


def sources_sha1(f, names=("sim/source", "sim/is_source")) -> str:
    """SHA-1 of which shard holds each simulation's data (the /provenance/shards path behind each
    row of ``names``): a --redo repair makes it another shard, so what was built from the data
    before the repair (a dataset, a training run) is stale, never "already done"."""
    import hashlib
    prov = [r["path"] for r in f["provenance/shards"][...]] if "provenance/shards" in f else []
    paths = [prov[i] if 0 <= i < len(prov) else b"" for name in names if name in f for i in f[name][...]]
    return hashlib.sha1(b"\n".join(p if isinstance(p, bytes) else str(p).encode() for p in paths)).hexdigest()


def owned_datasets(f) -> list[str]:
    out = []
    f.visititems(lambda name, obj: out.append(name) if isinstance(obj, h5py.Dataset) and not obj.is_virtual else None)
    return sorted(out)


def _values(ds) -> np.ndarray:
    a = ds[...]
    if a.dtype.names:  # the provenance table: its text, field by field
        return np.frombuffer("\x1f".join("\x1e".join(str(v.decode() if isinstance(v, bytes) else v) for v in row)
                                         for row in a.tolist()).encode(), np.uint8)
    return a


def _check_replaceable(out: Path) -> None:
    """collect replaces only a campaign file it wrote: never a shard, a spec, a link or a foreign file."""
    from glasskit.util.outputs import refuse_link
    refuse_link(out)
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


def _source_info(paths, workdir: Path) -> tuple[dict[Path, dict[str, tuple]], list[dict]]:
    """Shapes of the mapped datasets in every source shard and the shard's provenance (its root
    attributes), each file opened once."""
    shapes, prov = {}, []
    for path in sorted(paths):
        with h5py.File(path, "r", locking=False) as sf:
            shapes[path] = {src: sf[src].shape for _, src, *_ in _VIRTUAL.values() if src in sf}
            row = {k: sf.attrs.get(k, "") for k in PROVENANCE}
        prov.append({"path": os.path.relpath(path, workdir), **{k: v.decode() if isinstance(v, bytes) else v
                                                              for k, v in row.items()}})
    return shapes, prov


def _by_shard(locations: dict[int, Location]) -> dict[Path, list[tuple[int, int]]]:
    by_shard: dict[Path, list[tuple[int, int]]] = {}
    for sim, loc in sorted(locations.items()):
        by_shard.setdefault(loc.path, []).append((sim, loc.row))
    return by_shard


def _virtual(f, base: Path, name, src_name, shape, dtype, fill, locations: dict[int, Location],
             shapes: dict[Path, dict[str, tuple]]) -> None:
    layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
    for path, pairs in _by_shard(locations).items():
        src_shape = shapes[path][src_name]
        rel = os.path.relpath(path, base)  # relative: the campaign directory can move
        vs = h5py.VirtualSource(rel, src_name, shape=src_shape)
        Fs = min(src_shape[1], shape[1])
        for sim, row, n in _runs(pairs):
            layout[sim:sim + n, :Fs] = vs[row:row + n, :Fs]
    f.create_virtual_dataset(name, layout, fillvalue=fill)


def _copied(f, base: Path, name, src_name, shape, dtype, fill, locations: dict[int, Location],
            shapes: dict[Path, dict[str, tuple]]) -> None:
    """The standalone form of :func:`_virtual`: the same rows, copied in (compressed, one chunk
    per frame for coordinates, a few rows at a time so memory stays bounded)."""
    chunks = (1, 1) + shape[2:] if len(shape) > 2 else None
    ds = f.create_dataset(name, shape=shape, dtype=dtype, fillvalue=fill, chunks=chunks or True,
                          compression="gzip", compression_opts=1, shuffle=True)
    step = 8 if len(shape) > 2 else 4096
    for path, pairs in _by_shard(locations).items():
        Fs = min(shapes[path][src_name][1], shape[1])
        with h5py.File(path, "r", locking=False) as sf:
            src = sf[src_name]
            for sim, row, n in _runs(pairs):
                for i in range(0, n, step):
                    m = min(step, n - i)
                    ds[sim + i:sim + i + m, :Fs] = src[row + i:row + i + m, :Fs]


@dataclass(frozen=True)
class Selection:
    """Frames picked from a campaign: parallel arrays (M,) of simulation index, frame index
    (0-based), target temperature (epsilon_AA/k_B) and t_cool (MD steps)."""

    sim: np.ndarray
    frame: np.ndarray
    T: np.ndarray
    t_cool: np.ndarray

    def __len__(self) -> int:
        return int(self.sim.size)


@dataclass(frozen=True)
class FrameView:
    """One stored frame, read on demand by :meth:`CampaignReader.frames`.

    ``x``: (N, 2) float32 positions in sigma_AA (the inherent structure's with ``inherent``);
    ``types``: (N,) int8, 1 = A, 2 = B; ``box``: (2, 2) ``[[xlo, xhi], [ylo, yhi]]``;
    ``step`` MD steps since the ramp began; ``T`` its target temperature; ``pe`` and ``is_pe``
    potential energies per particle (epsilon_AA; NaN where not minimized)."""

    sim: int
    frame: int
    step: int
    T: float
    t_cool: int
    pe: float
    is_pe: float
    x: np.ndarray
    types: np.ndarray
    box: np.ndarray

    @property
    def xs(self) -> np.ndarray:
        """(N, 2) positions scaled by the box, in [0, 1) up to atoms that just crossed it."""
        return scaled(self.x, self.box)

    @property
    def points(self) -> np.ndarray:
        """(N, 3) float32 positions wrapped into a box centred on the origin, z = 0: what freud
        (and HOOMD/GSD) expect with :meth:`CampaignReader.freud_box`."""
        return centered(self.x, self.box)


def scaled(x: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Scale positions by the box.

    Parameters
    ----------
    x : numpy.ndarray
        (..., 2) positions in sigma_AA.
    box : numpy.ndarray
        (2, 2) ``[[xlo, xhi], [ylo, yhi]]`` in sigma_AA.

    Returns
    -------
    numpy.ndarray
        (..., 2) float32 ``(x - lo) / (hi - lo)``.
    """
    box = np.asarray(box, dtype=np.float64)
    return ((np.asarray(x, np.float64) - box[:, 0]) / (box[:, 1] - box[:, 0])).astype(np.float32)


def unscaled(xs: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Positions scaled by the box back to sigma_AA, the inverse of :func:`scaled`.

    Parameters
    ----------
    xs : numpy.ndarray
        (..., 2) scaled positions.
    box : numpy.ndarray
        (2, 2) ``[[xlo, xhi], [ylo, yhi]]`` in sigma_AA.

    Returns
    -------
    numpy.ndarray
        (..., 2) float32 positions in sigma_AA.
    """
    box = np.asarray(box, dtype=np.float64)
    return (box[:, 0] + np.asarray(xs, np.float64) * (box[:, 1] - box[:, 0])).astype(np.float32)


def centered(x: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Positions centred on the origin, as freud and HOOMD expect.

    Parameters
    ----------
    x : numpy.ndarray
        (N, 2) positions in sigma_AA.
    box : numpy.ndarray
        (2, 2) ``[[xlo, xhi], [ylo, yhi]]`` in sigma_AA.

    Returns
    -------
    numpy.ndarray
        (N, 3) float32, wrapped into [-L/2, L/2) per axis, z = 0.
    """
    box = np.asarray(box, dtype=np.float64)
    L = box[:, 1] - box[:, 0]
    c = np.mod(np.asarray(x, np.float64) - box[:, 0], L) - L / 2
    out = np.zeros((len(c), 3), np.float32)
    out[:, :2] = c
    return out


# names a reader derives from what is stored: name -> (stored name, conversion)
DERIVED = {"frames/xs": ("frames/x", scaled), "is/x": ("is/xs", unscaled)}


class CampaignReader:
    """Read-only access to a collected campaign file (``glasskit collect``).

    >>> with open_campaign("runs/demo") as c:                      # doctest: +SKIP
    ...     sel = c.select(T=0.05, t_cool=200, minimized=True)
    ...     for fr in c.frames(sel):                                # lazily, one frame at a time
    ...         print(fr.sim, fr.T, fr.is_pe, fr.x.shape)

    Stored names (``/frames/x``, ``/is/pe``, ...) and the derived ``frames/xs`` (scaled) and
    ``is/x`` (sigma_AA) can be read with :meth:`read` and :meth:`iter_chunks`.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise GlasskitError(f"campaign file {self.path} does not exist", "run glasskit collect first")
        try:
            self.f = h5py.File(self.path, "r", locking=False)
        except OSError as exc:
            raise GlasskitError(f"cannot open {self.path}: {exc}", "re-run glasskit collect") from None
        self._check_sources()
        self._box = self.f["box"][...]
        self._types = self.f["frames/type"][...].astype(np.int8)

    def _check_sources(self) -> None:
        """A virtual dataset over shards that are gone reads as fill values: refuse instead."""
        sources, gone = set(), set()
        for name in ("frames/x", "frames/xs", "is/xs"):
            ds = self.f.get(name)
            if ds is not None and ds.is_virtual:
                for src in ds.virtual_sources():
                    p = Path(src.file_name)
                    p = p if p.is_absolute() else self.path.parent / p
                    sources.add(str(p))
                    if not p.is_file():
                        gone.add(str(p))
        if gone:
            self.f.close()
            if gone == sources:  # the file travelled without its shards
                raise GlasskitError(f"campaign file {self.path} reads its frames from {len(gone)} shard(s) that are "
                                    f"not beside it (e.g. {sorted(gone)[0]})", ADVICE_GONE)
            raise GlasskitError(f"campaign file {self.path} maps {len(gone)} of its {len(sources)} shard(s) that are "
                                f"gone (e.g. {sorted(gone)[0]})", "re-run glasskit collect; glasskit status then lists "
                                "the simulations to re-submit")

    @property
    def box(self) -> np.ndarray:
        """Box side lengths (2,) in sigma (constant: every run is NVT in the same box)."""
        return self._box[:, 1] - self._box[:, 0]

    @property
    def box_bounds(self) -> np.ndarray:
        """(2, 2) ``[[xlo, xhi], [ylo, yhi]]`` in sigma_AA."""
        return self._box.copy()

    @property
    def types(self) -> np.ndarray:
        """(N,) int8 species of every atom: 1 = A, 2 = B (LAMMPS types)."""
        return self._types

    def freud_box(self):
        """The periodic 2-D box as freud's.

        Returns
        -------
        freud.box.Box
            A 2-D box of the campaign's side lengths; use it with :attr:`FrameView.points`.
        """
        import freud
        Lx, Ly = self.box
        return freud.box.Box(Lx=float(Lx), Ly=float(Ly), is2D=True)

    def select(self, T: float | None = None, t_cool: int | None = None, tol: float = 0.005,
               minimized: bool = False, sim=None, frames=None) -> Selection:
        """Pick stored frames of finished simulations.

        Every criterion left at None selects everything.

        Parameters
        ----------
        T : float, optional
            Target temperature of the frames (epsilon_AA/k_B); a frame matches within ``tol``.
        t_cool : int, optional
            Length of the cooling ramp (MD steps).
        tol : float
            Half-width of the temperature window (epsilon_AA/k_B).
        minimized : bool
            Only frames whose inherent structure is stored.
        sim : int or sequence of int, optional
            Simulation indices.
        frames : int or sequence of int, optional
            Frame indices within each ramp (0-based).

        Returns
        -------
        Selection
            Parallel arrays of simulation, frame, temperature and t_cool, ordered by simulation.
        """
        Tf = self.f["frames/T"][...]
        tc = self.f["sim/t_cool"][...]
        ok = self.f["sim/done"][...][:, None] & np.isfinite(Tf)
        if T is not None:
            if not np.isfinite(T):
                raise GlasskitError(f"T = {T} selects no frame", "give a finite temperature")
            ok &= np.abs(Tf - T) <= tol
        if t_cool is not None:
            ok &= (tc == int(t_cool))[:, None]
        if sim is not None:
            ok &= np.isin(np.arange(ok.shape[0]), np.atleast_1d(sim))[:, None]
        if frames is not None:
            ok &= np.isin(np.arange(ok.shape[1]), np.atleast_1d(frames))[None, :]
        if minimized:
            ok &= self.f["is/done"][...]
        s, k = np.nonzero(ok)
        return Selection(s.astype(np.int64), k.astype(np.int64), Tf[s, k], tc[s])

    def read(self, name: str, sim: int, frame: int) -> np.ndarray:
        """One frame's row of a dataset.

        Parameters
        ----------
        name : str
            A stored dataset (``frames/x``, ``is/pe``, ...) or a derived one: ``frames/xs``
            (positions scaled by the box) or ``is/x`` (inherent structure in sigma_AA).
        sim, frame : int
            Simulation index and frame index (0-based).

        Returns
        -------
        numpy.ndarray
            (N, 2) float32 for positions, a scalar array for per-frame numbers.
        """
        if name in DERIVED:
            stored, convert = DERIVED[name]
            return convert(self.f[stored][sim, frame], self._box)
        return self.f[name][sim, frame]

    def iter_chunks(self, sel: Selection, fields: Sequence[str] = ("frames/x",),
                    size: int = 256) -> Iterator[dict[str, np.ndarray]]:
        """Read selected frames in chunks.

        Parameters
        ----------
        sel : Selection
            The frames, from :meth:`select`.
        fields : sequence of str
            Dataset names, stored or derived (see :meth:`read`).
        size : int
            Frames per chunk.

        Yields
        ------
        dict
            Each field as an (m, ...) array, plus ``sim``, ``frame``, ``T`` (m,) and ``type`` (N,).
        """
        for start in range(0, len(sel), size):
            sl = slice(start, start + size)
            out = {"sim": sel.sim[sl], "frame": sel.frame[sl], "T": sel.T[sl], "type": self._types}
            for name in fields:
                rows = [self.read(name, s, k) for s, k in zip(sel.sim[sl], sel.frame[sl])]
                out[name] = np.stack(rows) if rows else np.empty(
                    (0,) + self.f[DERIVED.get(name, (name,))[0]].shape[2:], np.float32)
            yield out

    def frames(self, sel: Selection, inherent: bool = False) -> Iterator[FrameView]:
        """Iterate lazily over selected frames.

        Parameters
        ----------
        sel : Selection
            The frames, from :meth:`select`.
        inherent : bool
            Give the inherent structure's positions instead of the trajectory's (NaN where a
            frame is not minimized).

        Yields
        ------
        FrameView
            One frame, read from the file when the iteration reaches it.
        """
        for s, k, T, tc in zip(sel.sim.tolist(), sel.frame.tolist(), sel.T.tolist(), sel.t_cool.tolist()):
            x = self.read("is/x", s, k) if inherent else self.f["frames/x"][s, k]
            yield FrameView(s, k, int(self.f["frames/step"][s, k]), T, tc, float(self.f["frames/pe"][s, k]),
                            float(self.f["is/pe"][s, k]), x, self._types, self._box)

    def close(self) -> None:
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_campaign(path_or_campaign) -> CampaignReader:
    """Open a collected campaign file for reading.

    Parameters
    ----------
    path_or_campaign : str, pathlib.Path or Campaign
        The ``campaign.h5`` file, the campaign directory that holds it, or a campaign.

    Returns
    -------
    CampaignReader
        Use it as a context manager; it refuses a virtual file whose shards are not beside it.
    """
    if isinstance(path_or_campaign, Campaign):
        return CampaignReader(path_or_campaign.workdir / CAMPAIGN_FILE)
    from glasskit.util.paths import in_project
    p = in_project(path_or_campaign)  # runs/demo from any subdirectory of the project
    return CampaignReader(p / CAMPAIGN_FILE if p.is_dir() else p)
