"""HDF5 shards: one file per array task, written by all its MPI ranks at once.

Layout (S simulations, F = most frames of any of them, N atoms)::

    /attrs            glasskit version, spec (TOML), template hashes, LAMMPS version, created, ...
    /sim/index        (S,)        int64    simulation indices (rows of every /sim and /frames set)
    /sim/seed         (S,)        int64
    /sim/t_cool       (S,)        int64
    /sim/state        (S,)        int8     0 pending, 1 running, 2 done, 3 failed
    /sim/done         (S,)        bool     written last, once all frames of the row are on disk
    /frames/step      (S, F)      int64    -1 where a row has fewer frames
    /frames/T         (S, F)      float64  target temperature of the frame
    /frames/pe        (S, F)      float64  potential energy per particle
    /frames/temp      (S, F)      float64  measured kinetic temperature (thermostat check)
    /frames/xs, /x    (S, F, N, 2) float32 scaled / unscaled coordinates, one chunk per frame
    /frames/type      (N,)        int8

All datasets are created collectively when the shard is opened; afterwards each rank writes
only its own rows, independently (``driver="mpio"``). Parallel HDF5 allocates space at creation,
so independent writes touch no metadata and a killed rank leaves a readable file whose
``done`` flags tell exactly which rows are complete. Parallel HDF5 applies filters only to
collective writes, and ranks here are never in step, so mpio shards are uncompressed; serial
shards (one rank) use shuffle + gzip. Readers see no difference.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from . import __version__
from .mpi import World

PENDING, RUNNING, DONE, FAILED = 0, 1, 2, 3


@dataclass(frozen=True)
class ShardLayout:
    """Rows and sizes of one shard; identical on every rank of a task."""

    sims: np.ndarray  # (S,) int64
    seeds: np.ndarray  # (S,) int64
    t_cool: np.ndarray  # (S,) int64
    n_frames: int
    types: np.ndarray  # (N,) int8

    @property
    def n_atoms(self) -> int:
        return int(self.types.shape[0])


class ShardWriter:
    """Open (create) a shard on all ranks of ``world``; write rows; close collectively."""

    def __init__(self, path: Path, layout: ShardLayout, world: World, attrs: dict):
        self.path, self.layout, self.world = Path(path), layout, world
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.mpio = world.comm is not None and world.parallel_h5 and world.size > 1
        if self.mpio:
            self.f = h5py.File(self.path, "w", driver="mpio", comm=world.comm)
            self.f.atomic = False
        else:
            self.f = h5py.File(self.path, "w")
        attrs = dict(attrs, created=world.bcast(time.strftime("%Y-%m-%dT%H:%M:%S%z")),
                     glasskit_version=__version__, ranks=world.size,
                     driver="mpio" if self.mpio else "sec2")
        for key, value in attrs.items():
            self.f.attrs[key] = value
        self._create()
        self.row = {int(s): i for i, s in enumerate(layout.sims)}
        self.f.flush()

    def _create(self) -> None:
        L, f = self.layout, self.f
        S, F, N = len(L.sims), max(L.n_frames, 1), L.n_atoms
        big = {} if self.mpio else dict(compression="gzip", compression_opts=1, shuffle=True)
        sims = {"index": L.sims, "seed": L.seeds, "t_cool": L.t_cool}
        for name, values in sims.items():
            ds = f.create_dataset(f"sim/{name}", shape=(S,), dtype="i8")
            if self.world.rank == 0:
                ds[...] = values
        f.create_dataset("sim/state", shape=(S,), dtype="i1", fillvalue=PENDING)
        f.create_dataset("sim/done", shape=(S,), dtype=bool, fillvalue=False)
        f.create_dataset("frames/step", shape=(S, F), dtype="i8", fillvalue=-1)
        f.create_dataset("frames/T", shape=(S, F), dtype="f8", fillvalue=np.nan)
        f.create_dataset("frames/pe", shape=(S, F), dtype="f8", fillvalue=np.nan)
        f.create_dataset("frames/temp", shape=(S, F), dtype="f8", fillvalue=np.nan)
        for name in ("xs", "x"):
            f.create_dataset(f"frames/{name}", shape=(S, F, N, 2), dtype="f4",
                             chunks=(1, 1, N, 2), fillvalue=np.nan, **big)
        ds = f.create_dataset("frames/type", shape=(N,), dtype="i1")
        if self.world.rank == 0:
            ds[...] = L.types

    def set_state(self, sim: int, state: int) -> None:
        self.f["sim/state"][self.row[sim]] = state
        self._sync()

    def write_frame(self, sim: int, frame) -> None:
        """Store one :class:`glasskit.simulate.Frame` of simulation ``sim``."""
        r, k = self.row[sim], frame.k - 1
        self.f["frames/xs"][r, k] = frame.snap.xs
        self.f["frames/x"][r, k] = frame.snap.x
        self.f["frames/step"][r, k] = frame.step
        self.f["frames/T"][r, k] = frame.T
        self.f["frames/pe"][r, k] = frame.pe
        self.f["frames/temp"][r, k] = frame.temp

    def mark_done(self, sim: int) -> None:
        """Flag a row complete: written after (and flushed after) all its frames."""
        self._sync()
        r = self.row[sim]
        self.f["sim/state"][r] = DONE
        self.f["sim/done"][r] = True
        self._sync()

    def _sync(self) -> None:
        # serial: flush HDF5's caches so a crash leaves a consistent file. mpio: data writes go
        # straight to MPI-IO (no metadata changes after creation) and flush is collective.
        if not self.mpio:
            self.f.flush()

    def close(self) -> None:
        self.f.close()  # collective under mpio


def read_rows(path: Path) -> dict:
    """Index, state and done flag of every row of a shard; raises OSError if unreadable."""
    # no file lock: a shard is read (status, verify) while its task still writes it
    with h5py.File(path, "r", locking=False) as f:
        return {"index": f["sim/index"][...], "state": f["sim/state"][...],
                "done": f["sim/done"][...]}
