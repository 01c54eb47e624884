"""Checkpoints of running cooling simulations: LAMMPS restarts beside the task's shard.

A running simulation writes, every ``[engine] checkpoint_every`` frames (and when its task is
told to stop: a Slurm warning signal before the time limit, a preemption's SIGTERM)::

    <shard dir>/checkpoints/sim-000123.f00040.restart   LAMMPS binary restart: positions,
                                                        velocities, step, Nose-Hoover state
    <shard dir>/checkpoints/sim-000123.f00040.json      its record (:data:`RECORD`), written last

Before the restart is written, the simulation's frames 1..k (coordinates and per-frame numbers)
are flushed into its shard row; the record names that row and holds each frame's CRC. A re-run
of the simulation (the same task requeued: the same row; a re-submission: a new row, the frames
copied) continues from the newest checkpoint that passes every check of :func:`choose`: its
record reads, it is this simulation (index, seed, t_cool) of this campaign, under the same
engine settings and LAMMPS, the restart's SHA-256 matches, and the frames it continues are in
the row with the CRCs it recorded. Anything else is refused with one log line and the next one
(or step 0) is used: frames of two trajectories are never mixed. The ramp continues exactly:
each block runs ``run N start 0 stop t_cool``, so the thermostat's target at a step depends on
the step alone. A simulation's checkpoints go when it is done (the shard then holds it all).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glasskit.campaign.layout import file_sha256 as sha256
from glasskit.util.log import logger
from glasskit.util.records import Field, RecordError, read_json

from glasskit.campaign.shard import CHECKPOINTS as DIRECTORY, checkpoint_listing as _listing, find_checkpoints as found

KEEP = 2  # the newest and the one before it (a kill while writing the newest leaves the other)


def _record_schema() -> dict:
    hexdigest = r"[0-9a-f]{64}"
    return {"sim": Field(int, lo=0), "seed": Field(int), "t_cool": Field(int, lo=1), "frame": Field(int, lo=1),
            "step": Field(int, lo=1), "campaign_id": Field(str, pattern=r"[0-9a-f]{16}"), "engine": Field(dict),
            "lammps_version": Field(str), "restart": Field(str, pattern=r"sim-\d{6,}\.f\d{5,}\.restart"),
            "sha256": Field(str, pattern=hexdigest), "shard": Field(str), "row": Field(int, lo=0),
            "crc": Field(list), "created": Field(str), "glasskit_version": Field(str, required=False)}


RECORD = _record_schema()


def directory(shard: Path) -> Path:
    """Where the simulations of a task's shard keep their checkpoints."""
    return Path(shard).parent / DIRECTORY


__all__ = ["DIRECTORY", "KEEP", "RECORD", "Resume", "choose", "directory", "found", "names", "prune", "remove",
           "sha256", "write"]


def names(sim: int, frame: int) -> tuple[str, str]:
    """(restart, record) file names of simulation ``sim``'s checkpoint at frame ``frame``."""
    stem = f"sim-{sim:06d}.f{frame:05d}"
    return stem + ".restart", stem + ".json"


def write(write_restart, shard: Path, workdir: Path, row: int, sim: int, seed: int, t_cool: int, frame: int,
          step: int, crcs, spec, lammps_version: str) -> Path:
    """Write simulation ``sim``'s checkpoint at ``frame`` and prune its older ones.

    ``write_restart(path)`` makes LAMMPS write its restart file there (a fresh temporary of
    :func:`glasskit.util.outputs.atomic`, renamed into place once whole); the record follows,
    renamed into place last, so a checkpoint with a record is complete. Returns the record."""
    from glasskit import __version__
    from glasskit.util.outputs import atomic, replace_text
    d = directory(shard)
    d.mkdir(parents=True, exist_ok=True)
    restart, record = names(sim, frame)
    with atomic(d / restart) as tmp:
        write_restart(tmp)
        digest = sha256(tmp)
    rec = {"sim": int(sim), "seed": int(seed), "t_cool": int(t_cool), "frame": int(frame), "step": int(step),
           "campaign_id": spec.campaign_id, "engine": spec.engine.identity(), "lammps_version": lammps_version,
           "restart": restart, "sha256": digest, "shard": str(Path(shard).relative_to(workdir)), "row": int(row),
           "crc": [int(c) for c in crcs], "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "glasskit_version": __version__}
    replace_text(d / record, json.dumps(rec))
    prune(d, sim, keep=KEEP)
    return d / record


def prune(d: Path, sim: int, keep: int) -> None:
    """Keep the ``keep`` newest checkpoints of ``sim`` in ``d`` (0: none), and no stray restart."""
    mine = sorted(((f, p) for s, f, p in _listing(d) if s == sim), reverse=True)
    for _, p in mine[keep:]:
        p.with_suffix(".restart").unlink(missing_ok=True)
        p.unlink(missing_ok=True)


def remove(directories, sim: int) -> None:
    """A finished simulation's checkpoints go from ``directories`` (its row holds it all now)."""
    for d in directories:
        prune(Path(d), sim, keep=0)
        try:
            Path(d).rmdir()  # only when empty: the task's last simulation with a checkpoint is done
        except OSError:
            pass


@dataclass
class Resume:
    """A checkpoint chosen to continue from: its record, restart file, and the frames 1..k it
    continues (``frames``: the arrays :meth:`glasskit.campaign.shard.SimulateShard.adopt` takes)."""

    record: dict
    path: Path
    restart: Path
    frames: dict

    @property
    def frame(self) -> int:
        return int(self.record["frame"])


def choose(candidates: list[Path], workdir: Path, spec, sim: int, seed: int, t_cool: int, lammps_version: str,
           read_frames) -> Resume | None:
    """The newest valid checkpoint of ``candidates`` (newest first), or None: each refused one
    is one log line saying why. ``read_frames(shard_path, row, k)`` returns the frames 1..k of a
    shard row as a dict of arrays (x, step, T, pe, temp), or raises OSError/KeyError."""
    from glasskit.campaign.shard import frame_crc
    for path in candidates:
        try:
            why, resume = _check(path, workdir, spec, sim, seed, t_cool, lammps_version, read_frames, frame_crc)
        except (OSError, KeyError, ValueError) as exc:
            why, resume = f"its frames cannot be read ({exc})", None
        if resume is not None:
            return resume
        logger.warning("simulate %d: checkpoint %s refused: %s; trying an older one (or step 0)", sim, path, why)
    return None


def _check(path, workdir, spec, sim, seed, t_cool, lammps_version, read_frames, frame_crc):
    try:
        rec = read_json(path, RECORD)
    except RecordError as exc:
        return f"its record is damaged ({exc.problem})", None
    mine = {"sim": sim, "seed": seed, "t_cool": t_cool, "campaign_id": spec.campaign_id}
    for key, value in mine.items():
        if rec[key] != value:
            return f"it is of another {'simulation' if key != 'campaign_id' else 'campaign or spec'} " \
                   f"({key} {rec[key]} != {value})", None
    if rec["engine"] != spec.engine.identity():
        return f"it was written under other [engine] settings ({rec['engine']})", None
    if rec["lammps_version"] != lammps_version:
        return f"it was written by LAMMPS {rec['lammps_version']}, this is {lammps_version}", None
    n = spec.n_frames(t_cool)
    k = rec["frame"]
    if not (1 <= k < n and len(rec["crc"]) == k and rec["step"] == k * spec.dump_every(t_cool)):
        return f"its frame {k}, step {rec['step']} and {len(rec['crc'])} CRCs do not describe this ramp", None
    restart = path.with_name(rec["restart"])
    if not restart.is_file() or sha256(restart) != rec["sha256"]:
        return "its restart file is missing or damaged (SHA-256 mismatch)", None
    shard = (Path(workdir) / rec["shard"]).resolve()
    if not shard.is_relative_to(Path(workdir).resolve()):
        return "its record names a shard outside the campaign", None
    frames = read_frames(shard, rec["row"], k)
    crcs = [frame_crc(frames["x"][j], scalars=(frames["step"][j], frames["T"][j], frames["pe"][j], frames["temp"][j]))
            for j in range(k)]
    if crcs != rec["crc"] or not np.array_equal(frames["step"], np.arange(1, k + 1) * spec.dump_every(t_cool)):
        bad = next((j + 1 for j in range(k) if crcs[j] != rec["crc"][j]), None)
        return f"the frames it continues are not in {rec['shard']} row {rec['row']} as written" + \
               (f" (frame {bad} differs)" if bad else ""), None
    frames["crc"] = np.asarray(crcs, dtype=np.uint32)
    return "", Resume(rec, path, restart, frames)
