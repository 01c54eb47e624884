"""HDF5 shards: one file per array task, written by all its MPI ranks at once.

Layout (S simulations, F = most frames of any of them, N atoms; units, dimension names and codes
are attributes of each dataset, from :mod:`glasskit.campaign.schema`)::

    /attrs            glasskit version, spec (TOML), template hashes, LAMMPS version, created (UTC),
                      units system, species, box layout, ...
    /box              (2, 2)      float64  [[xlo, xhi], [ylo, yhi]] (sigma_AA), periodic, fixed
    /sim/index        (S,)        int64    simulation indices (rows of every /sim and /frames set)
    /sim/seed         (S,)        int64
    /sim/t_cool       (S,)        int64
    /sim/state        (S,)        enum i1  pending, running, done, failed
    /sim/done         (S,)        bool     written last, once all frames of the row are on disk
    /frames/step      (S, F)      int64    -1 where a row has fewer frames
    /frames/T         (S, F)      float64  target temperature of the frame
    /frames/pe        (S, F)      float64  potential energy per particle
    /frames/temp      (S, F)      float64  measured kinetic temperature (thermostat check)
    /frames/x         (S, F, N, 2) float32 positions (sigma_AA), one chunk per frame; the scaled
                                           form is derived on read (CampaignReader)
    /frames/type      (N,)        enum i1  A = 1, B = 2

All datasets are created collectively when the shard is opened; afterwards each rank writes
only its own rows, independently (``driver="mpio"``). Parallel HDF5 allocates space at creation,
so independent writes touch no metadata and a killed rank leaves a readable file whose
``done`` flags tell exactly which rows are complete. Parallel HDF5 applies filters only to
collective writes, and ranks here are never in step, so mpio shards are uncompressed; serial
shards (one rank) use shuffle + gzip. Readers see no difference.
"""
from __future__ import annotations

import json
import re
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from glasskit import __version__
from glasskit.campaign import schema
from glasskit.util.mpi import World

PENDING, RUNNING, DONE, FAILED = 0, 1, 2, 3


@dataclass(frozen=True)
class ShardLayout:
    """Rows and sizes of one shard; identical on every rank of a task."""

    sims: np.ndarray  # (S,) int64
    seeds: np.ndarray  # (S,) int64
    t_cool: np.ndarray  # (S,) int64
    n_frames: int
    types: np.ndarray  # (N,) int8
    box: np.ndarray  # (2, 2) float64 [[xlo, xhi], [ylo, yhi]]

    @property
    def n_atoms(self) -> int:
        return int(self.types.shape[0])


# shard attribute ``crc_scheme``: 3 = positions (frames/x only) and every per-frame number; 2 = the same
# over frames/xs and frames/x (shards that stored both); absent = coordinates only
# 4 = 3 plus a CRC of each done row's /sim numbers (/sim/crc) and of each constant dataset
# (``crc32`` attribute of /box and /frames/type): every dataset of a shard is covered
CRC_SCHEME = 4
CRC_COORDS = {4: ("frames/x",), 3: ("frames/x",), 2: ("frames/xs", "frames/x"), 1: ("frames/xs", "frames/x")}
SIM_ROW = ("sim/index", "sim/seed", "sim/t_cool", "sim/state", "sim/done")  # in /sim/crc, this order


def dataset_crc(values) -> int:
    """CRC-32 of a whole (small, constant) dataset's values, its dtype's kind and its shape:
    the ``crc32`` attribute verify recomputes."""
    a = np.ascontiguousarray(values)
    return zlib.crc32(a.view(np.uint8) if a.size else b"", zlib.crc32(f"{a.dtype.kind}{a.shape}".encode()))


def row_crc(values) -> int:
    """CRC-32 of one done row's /sim numbers (:data:`SIM_ROW`), each as int64."""
    return zlib.crc32(np.asarray([int(v) for v in values], dtype=np.int64).tobytes())


def frame_crc(*arrays: np.ndarray, scalars=()) -> int:
    """CRC-32 of one frame's record, stored per frame for verify: the bytes of ``arrays``
    (float32 coordinates) and of ``scalars`` (the frame's numbers, e.g. step, T, pe, temp) as
    float64, so a flipped bit in an energy fails verify as one in a coordinate does."""
    crc = 0
    for a in arrays:
        crc = zlib.crc32(np.ascontiguousarray(a, dtype=np.float32), crc)  # buffer protocol, no copy
    if len(scalars):
        crc = zlib.crc32(np.asarray(scalars, dtype=np.float64).tobytes(), crc)
    return crc


SIMULATE_SCALARS = ("frames/step", "frames/T", "frames/pe", "frames/temp")  # in /frames/crc, this order
MINIMIZE_SCALARS = ("is/pe", "is/iters", "is/stop")  # in /is/crc


class ShardWriter:
    """Open (create) a shard on all ranks of ``world``; write rows; close collectively.

    Subclasses add their stage's datasets in :meth:`_create_data`.
    """

    stage = ""

    def __init__(self, path: Path, layout: ShardLayout, world: World, attrs: dict):
        from glasskit.util.outputs import refuse_link
        self.path, self.layout, self.world = Path(path), layout, world
        self.path.parent.mkdir(parents=True, exist_ok=True)
        refuse_link(self.path)  # h5py would create the file a link points to
        self.mpio = world.comm is not None and world.parallel_h5 and world.size > 1
        # the same task run again (a requeued Slurm task): its shard is reopened, not truncated, so
        # its finished rows and the frames its checkpoints continue stay
        why = world.bcast(self._reusable(attrs) if world.rank == 0 else None)
        self.reopened = why == ""
        mode = "r+" if self.reopened else "w"
        if why not in ("", None):
            from glasskit.util.log import logger
            logger.warning("%s exists but is not this task's shard to continue (%s): it is written anew", self.path, why)
        if self.mpio:
            self.f = h5py.File(self.path, mode, driver="mpio", comm=world.comm)
            self.f.atomic = False
        else:
            self.f = h5py.File(self.path, mode)
        self.row = {int(s): i for i, s in enumerate(layout.sims)}
        if self.reopened:
            self.f.attrs["reopened"] = world.bcast(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            self._bind()
            return
        schema.describe_root(self.f, "shard")
        attrs = dict(attrs, created=world.bcast(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
                     glasskit_version=__version__, ranks=world.size, stage=self.stage, crc_scheme=CRC_SCHEME,
                     driver="mpio" if self.mpio else "sec2")
        for key, value in attrs.items():
            self.f.attrs[key] = value
        self._create_rows()
        self._create_data(len(layout.sims), max(layout.n_frames, 1), layout.n_atoms)
        self._bind()
        self.f.flush()

    def _reusable(self, attrs: dict) -> str | None:
        """None: no file there; "": this task's own shard (same stage, campaign, submission, task,
        rows and shapes), to continue; else why it is not (it is then written anew)."""
        if not self.path.is_file():
            return None
        try:
            with h5py.File(self.path, "r", locking=False) as f:
                a = f.attrs
                for key in ("campaign_id", "submission", "task"):
                    if key in attrs and str(a.get(key)) != str(attrs[key]):
                        return f"its {key} differs"
                if a.get("stage") != self.stage or int(a.get("crc_scheme", 0)) != CRC_SCHEME:
                    return "another stage or format"
                if not np.array_equal(f["sim/index"][...], self.layout.sims):
                    return "other simulations"
                if not self._shapes_match(f):
                    return "other shapes"
        except (OSError, KeyError, ValueError) as exc:
            return f"unreadable: {exc}"
        return ""

    def _shapes_match(self, f) -> bool:
        return True

    def _bind(self) -> None:
        """Handles of an open shard's datasets (created or reopened)."""

    def state(self, sim: int) -> tuple[int, bool]:
        """(state, done) of ``sim``'s row as the file holds it (a reopened shard's earlier run)."""
        r = self.row[sim]
        return int(self.f["sim/state"][r]), bool(self.f["sim/done"][r])

    def _create_rows(self) -> None:
        L, f, S = self.layout, self.f, len(self.layout.sims)
        for name, values in {"index": L.sims, "seed": L.seeds, "t_cool": L.t_cool}.items():
            ds = schema.create(f, f"sim/{name}", (S,), "i8")
            if self.world.rank == 0:
                ds[...] = values
        schema.create(f, "sim/state", (S,), fillvalue=PENDING)
        schema.create(f, "sim/done", (S,), bool, fillvalue=False)
        schema.create(f, "sim/crc", (S,), "u4", fillvalue=0)
        ds = schema.create(f, "box", (2, 2), "f8")
        ds.attrs["crc32"] = dataset_crc(np.asarray(L.box, dtype="f8"))  # every rank: attributes are collective
        if self.world.rank == 0:
            ds[...] = L.box

    def _create_data(self, S: int, F: int, N: int) -> None:
        raise NotImplementedError

    def _coords(self, name: str, S: int, F: int, N: int) -> None:
        """(S, F, N, 2) float32, one chunk per frame; shuffle+gzip+fletcher32 when serial."""
        filters = {} if self.mpio else dict(compression="gzip", compression_opts=1, shuffle=True,
                                            fletcher32=True)
        schema.create(self.f, name, (S, F, N, 2), "f4", chunks=(1, 1, N, 2), fillvalue=np.nan, **filters)

    def set_state(self, sim: int, state: int) -> None:
        self.f["sim/state"][self.row[sim]] = state
        self._sync()

    def mark_done(self, sim: int) -> None:
        """Flag a row complete: written after (and flushed after) all its frames; its /sim
        numbers' CRC first, then the state, the done flag last."""
        self._sync()
        r, L = self.row[sim], self.layout
        self.f["sim/crc"][r] = row_crc((L.sims[r], L.seeds[r], L.t_cool[r], DONE, True))
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


class SimulateShard(ShardWriter):
    stage = "simulate"

    def _create_data(self, S: int, F: int, N: int) -> None:
        f = self.f
        schema.create(f, "frames/step", (S, F), "i8", fillvalue=-1)
        for name in ("T", "pe", "temp"):
            schema.create(f, f"frames/{name}", (S, F), "f8", fillvalue=np.nan)
        schema.create(f, "frames/crc", (S, F), "u4", fillvalue=0)
        self._coords("frames/x", S, F, N)
        ds = schema.create(f, "frames/type", (N,))
        ds.attrs["crc32"] = dataset_crc(np.asarray(self.layout.types, dtype="i1"))
        if self.world.rank == 0:
            ds[...] = self.layout.types

    def _bind(self) -> None:
        self._pending: dict[int, dict[str, np.ndarray]] = {}
        self._x = self.f["frames/x"]  # a handle: no name lookup per frame

    def _shapes_match(self, f) -> bool:
        L = self.layout
        return f["frames/x"].shape == (len(L.sims), max(L.n_frames, 1), L.n_atoms, 2)

    _SCALARS = {"step": ("i8", -1), "T": ("f8", np.nan), "pe": ("f8", np.nan), "temp": ("f8", np.nan),
                "crc": ("u4", 0)}

    def _row(self, sim: int) -> dict[str, np.ndarray]:
        return self._pending.setdefault(sim, {name: np.full(self._x.shape[1], fill, dtype)
                                              for name, (dtype, fill) in self._SCALARS.items()})

    def write_frame(self, sim: int, frame) -> None:
        """Store one :class:`glasskit.stages.simulate.Frame` of simulation ``sim``.

        Coordinates go to disk at once; the per-frame scalars of the row are kept in memory and
        written with the row in :meth:`mark_done`, or at a checkpoint (:meth:`flush_row`): small
        writes per frame would halve the bandwidth."""
        r, k = self.row[sim], frame.k - 1
        self._x[r, k] = frame.snap.x
        row = self._row(sim)
        row["step"][k], row["T"][k], row["pe"][k], row["temp"][k] = frame.step, frame.T, frame.pe, frame.temp
        row["crc"][k] = frame_crc(frame.snap.x, scalars=(frame.step, frame.T, frame.pe, frame.temp))

    def frame_crcs(self, sim: int, k: int) -> list[int]:
        """The CRCs of frames 1..k of ``sim`` as written (a checkpoint records them)."""
        return [int(c) for c in self._row(sim)["crc"][:k]]

    def flush_row(self, sim: int) -> None:
        """Put the row's per-frame numbers so far on disk (before a checkpoint names them)."""
        r = self.row[sim]
        for name, values in self._row(sim).items():
            self.f[f"frames/{name}"][r] = values
        self._sync()
        if not self.mpio:
            import os
            os.fsync(self.f.id.get_vfd_handle())

    def read_frames(self, row: int, k: int) -> dict[str, np.ndarray]:
        """Frames 1..k of one of this shard's rows (coordinates and numbers)."""
        return read_frames(self.f, row, k)

    def adopt(self, sim: int, frames: dict[str, np.ndarray], copy_x: bool) -> None:
        """Continue ``sim`` after frames 1..k of a checkpoint: their numbers become the row's
        (and, ``copy_x``, their coordinates are copied in from the other shard they came from)."""
        k = len(frames["step"])
        row = self._row(sim)
        for name in self._SCALARS:
            row[name][:] = self._SCALARS[name][1]
            row[name][:k] = frames[name]
        if copy_x:
            r = self.row[sim]
            for j in range(k):
                self._x[r, j] = frames["x"][j]
        self.flush_row(sim)

    def mark_done(self, sim: int) -> None:
        for name, values in self._pending.pop(sim, {}).items():
            self.f[f"frames/{name}"][self.row[sim]] = values
        super().mark_done(sim)


def read_frames(f: h5py.File, row: int, k: int) -> dict[str, np.ndarray]:
    """Frames 1..k of a simulate shard's row: x (k, N, 2) float32, step, T, pe, temp (k,)."""
    out = {"x": f["frames/x"][row, :k]}
    for name in ("step", "T", "pe", "temp"):
        out[name] = f[f"frames/{name}"][row, :k]
    return out


class MinimizeShard(ShardWriter):
    """Inherent structures: ``/is/pe`` (S, F) float64, ``/is/xs`` (S, F, N, 2) float32,
    ``/is/done`` (S, F) bool (per frame, written after its data), ``/is/crc`` (S, F) uint32 of
    the frame's xs, pe, iters and stop,
    ``/is/iters`` (S, F) int32 FIRE iterations, ``/is/stop`` (S, F) int8 why FIRE stopped
    (0 the energy tolerance, 1 the iteration limit, 2 the force tolerance; -1 unknown)."""

    stage = "minimize"

    def _create_data(self, S: int, F: int, N: int) -> None:
        f = self.f
        schema.create(f, "is/pe", (S, F), "f8", fillvalue=np.nan)
        schema.create(f, "is/done", (S, F), bool, fillvalue=False)
        schema.create(f, "is/crc", (S, F), "u4", fillvalue=0)
        schema.create(f, "is/iters", (S, F), "i4", fillvalue=-1)
        schema.create(f, "is/stop", (S, F), fillvalue=-1)
        self._coords("is/xs", S, F, N)

    def _shapes_match(self, f) -> bool:
        L = self.layout
        return f["is/xs"].shape == (len(L.sims), max(L.n_frames, 1), L.n_atoms, 2)

    def frames_done(self, sim: int) -> set[int]:
        """0-based frames of ``sim`` this shard already holds (a requeued task's earlier run)."""
        return set(np.nonzero(self.f["is/done"][self.row[sim]])[0].tolist())

    def write_is(self, sim: int, k: int, pe: float, xs: np.ndarray, iters: int = -1, stop: int = -1) -> None:
        """Store the inherent structure of frame index ``k`` (0-based) and flag it done."""
        r, f = self.row[sim], self.f
        f["is/xs"][r, k] = xs
        f["is/pe"][r, k] = pe
        f["is/crc"][r, k] = frame_crc(xs, scalars=(pe, iters, stop))
        f["is/iters"][r, k] = iters
        f["is/stop"][r, k] = stop
        self._sync()
        f["is/done"][r, k] = True
        self._sync()


PROGRESS_SUFFIX = ".progress.json"
CHECKPOINTS = "checkpoints"  # beside each simulate shard: glasskit.stages.checkpoint writes them
_CHECKPOINT_NAME = re.compile(r"sim-(\d{6,})\.f(\d{5,})\.json")


def checkpoint_listing(d: Path) -> list[tuple[int, int, Path]]:
    """(sim, frame, record path) of the checkpoint records in folder ``d``."""
    out = []
    try:
        entries = list(d.iterdir())
    except OSError:
        return out
    for p in entries:
        m = _CHECKPOINT_NAME.fullmatch(p.name)
        if m:
            out.append((int(m.group(1)), int(m.group(2)), p))
    return out


def find_checkpoints(workdir: Path, sims) -> dict[int, list[Path]]:
    """sim -> its checkpoint records anywhere in the campaign, newest frame first (one listing
    of each submission's checkpoint folder: only unfinished simulations have any)."""
    wanted = set(int(s) for s in sims)
    out: dict[int, list[tuple[int, float, Path]]] = {}
    root = Path(workdir) / "shards" / "simulate"
    for d in sorted(root.glob(f"*/{CHECKPOINTS}")):
        for sim, frame, p in checkpoint_listing(d):
            if sim in wanted:
                try:
                    mtime = p.stat().st_mtime
                except OSError:
                    continue
                out.setdefault(sim, []).append((frame, mtime, p))
    return {s: [p for _, _, p in sorted(v, reverse=True)] for s, v in out.items()}





def stop_path(shard: Path) -> Path:
    """The file that asks a running task to checkpoint and stop (``task-NNNNN.stop`` beside its
    shard): the array script creates it when Slurm warns of the time limit or preempts."""
    shard = Path(shard)
    return shard.with_suffix(".stop")


def progress_path(shard: Path, rank: int) -> Path:
    """Where rank ``rank`` of a task reports its running simulation (JSON, replaced every
    half minute by the simulate stage): beside the task's shard."""
    shard = Path(shard)
    return shard.with_name(f"{shard.stem}.rank{rank}{PROGRESS_SUFFIX}")


def read_progress(directory: Path) -> dict[int, dict]:
    """sim -> the newest progress report of the ranks writing shards in ``directory``; a torn
    or foreign file is skipped (it is only a report)."""
    from glasskit.util.records import RecordError, read_json
    out: dict[int, dict] = {}
    for p in Path(directory).glob(f"*{PROGRESS_SUFFIX}"):
        try:
            r = read_json(p, PROGRESS)
        except RecordError:
            continue  # only a report: a torn or forged one is not shown
        if r["frame"] <= r["frames"] and (r["sim"] not in out or r["time"] > out[r["sim"]]["time"]):
            out[r["sim"]] = {k: r[k] for k in PROGRESS if k in r}
    return out


def _progress_schema() -> dict:
    from glasskit.util.records import Field
    return {"sim": Field(int, lo=0, hi=10**7), "frame": Field(int, lo=0, hi=10**5), "frames": Field(int, lo=1, hi=10**5),
            "step": Field(int, required=False, lo=0), "t_cool": Field(int, required=False, lo=1),
            "T": Field(float, required=False), "temp": Field(float, required=False),
            "checkpoint": Field(int, required=False, lo=0, hi=10**5),
            "matom_step_s": Field(float, lo=0, hi=1e9), "time": Field(float, lo=0)}


PROGRESS = _progress_schema()  # <shard>.rank<R>.progress.json


def read_rows(path: Path) -> dict:
    """Index, state and done flag of every row of a shard; raises OSError if unreadable."""
    # no file lock: a shard is read (status, verify) while its task still writes it
    with h5py.File(path, "r", locking=False) as f:
        return {"index": f["sim/index"][...], "state": f["sim/state"][...],
                "done": f["sim/done"][...]}


# failures, one JSON line per failed simulation, beside the shard (a rank appends to its own file)
def record_failure(shard: Path, rank: int, sim: int, message: str) -> None:
    from glasskit.util.outputs import append_line
    append_line(shard.with_name(f"{shard.stem}.rank-{rank}.errors.jsonl"),
                json.dumps({"sim": sim, "error": message, "time": time.time()}) + "\n")


def read_failures(shard: Path, listing: list[str] | None = None) -> dict[int, str]:
    """Failure messages recorded next to a shard, by simulation index; ``listing``: the names in
    the shard's directory, when the caller already has them (status reads 1,000s of shards)."""
    out: dict[int, str] = {}
    prefix = f"{shard.stem}.rank-"
    names = listing if listing is not None else [p.name for p in shard.parent.glob(f"{prefix}*.errors.jsonl")]
    for p in sorted(shard.parent / n for n in names if n.startswith(prefix) and n.endswith(".errors.jsonl")):
        for line in p.read_text().splitlines():
            try:
                rec = json.loads(line)
                out[int(rec["sim"])] = str(rec["error"])
            except (ValueError, KeyError):
                continue
    return out
