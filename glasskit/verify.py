"""``glasskit verify``: check every shard of a campaign and name what is wrong.

Per shard: it opens (a truncated file does not), has the stage's datasets with consistent
shapes, and for every row flagged done: the frame count matches the spec's ramp, energies and
temperatures are finite, and each frame's coordinates read back (HDF5 fletcher32 on serial
shards) with the CRC-32 stored when they were written. Rows left incomplete by a crash are
named unless a later submission completed the same simulation.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from .campaign import Campaign
from .shard import FAILED, RUNNING, frame_crc

REQUIRED = {
    "simulate": ("sim/index", "sim/done", "sim/state", "sim/t_cool", "frames/step", "frames/T",
                 "frames/pe", "frames/xs", "frames/x", "frames/crc", "frames/type"),
    "minimize": ("sim/index", "sim/done", "sim/state", "sim/t_cool", "is/pe", "is/xs", "is/done", "is/crc"),
}


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    shards: int = 0
    rows_ok: int = 0
    flagged: list[str] = field(default_factory=list)  # complete but suspect (minimizer hit maxiter)

    def bad(self, path: Path, text: str) -> None:
        self.problems.append(f"{path}: {text}")


def verify(campaign: Campaign, stages=("simulate", "minimize")) -> Report:
    rep = Report()
    for stage in stages:
        paths = campaign.shards(stage)
        done_anywhere: set[int] = set()
        incomplete: list[tuple[Path, int, int]] = []
        for path in tqdm(paths, desc=f"verify {stage}", unit="shard", disable=None):
            rep.shards += 1
            try:
                with h5py.File(path, "r", locking=False) as f:
                    _check_shard(campaign, stage, f, path, rep, done_anywhere, incomplete)
            except OSError as exc:
                rep.bad(path, f"unreadable ({_short(exc)}): delete it and re-submit its simulations")
        for path, sim, state in incomplete:
            if sim not in done_anywhere:
                what = {FAILED: "failed", RUNNING: "incomplete (interrupted mid-run)"}.get(
                    state, "never started (its task ended early)")
                rep.bad(path, f"{stage} of simulation {sim} {what}: re-submit to repair")
    return rep


def _check_shard(campaign, stage, f, path, rep, done_anywhere, incomplete) -> None:
    missing = [d for d in REQUIRED[stage] if d not in f]
    if missing:
        rep.bad(path, f"not a {stage} shard: missing {', '.join(missing)}")
        return
    spec = campaign.spec
    index, done, state = f["sim/index"][...], f["sim/done"][...], f["sim/state"][...]
    S = index.shape[0]
    if not (done.shape == state.shape == (S,)) or f["sim/t_cool"].shape != (S,):
        rep.bad(path, "inconsistent /sim shapes")
        return
    for row in range(S):
        sim = int(index[row])
        if not done[row]:
            incomplete.append((path, sim, int(state[row])))
            continue
        n = spec.n_frames(int(spec.t_cool_of([sim])[0]))
        err = _check_simulate_row(f, row, n) if stage == "simulate" else _check_minimize_row(f, row, n)
        if stage == "minimize" and not err and "is/stop" in f:
            hit = np.nonzero(f["is/stop"][row, :n] == 1)[0]
            if hit.size:
                rep.flagged.append(f"{path}: minimize of simulation {sim}: {hit.size} frame(s) stopped on the "
                                   f"iteration limit ([minimize] maxiter = {spec.minimize.maxiter}), not a "
                                   f"tolerance: frames {', '.join(map(str, hit[:10].tolist()))}"
                                   + (" ..." if hit.size > 10 else ""))
        if err:
            rep.bad(path, f"{stage} of simulation {sim}: {err}")
        else:
            rep.rows_ok += 1
            done_anywhere.add(sim)


def _check_simulate_row(f, row: int, n: int) -> str | None:
    step = f["frames/step"][row]
    have = int((step >= 0).sum())
    if have != n:
        return f"{have} frames, the spec's ramp has {n}"
    for name in ("frames/T", "frames/pe"):
        if not np.isfinite(f[name][row, :n]).all():
            return f"non-finite values in /{name}"
    return _check_crc(f, row, n, ("frames/xs", "frames/x"), "frames/crc")


def _check_minimize_row(f, row: int, n: int) -> str | None:
    isdone = f["is/done"][row, :n]
    if not isdone.all():
        return f"{int(isdone.sum())} of {n} frames minimized"
    if not np.isfinite(f["is/pe"][row, :n]).all():
        return "non-finite inherent-structure energies"
    return _check_crc(f, row, n, ("is/xs",), "is/crc")


def _check_crc(f, row: int, n: int, names, crc_name) -> str | None:
    crc = f[crc_name][row, :n]
    for k in range(n):
        try:
            arrays = [f[name][row, k] for name in names]
        except OSError as exc:  # fletcher32 mismatch or unreadable chunk
            return f"frame {k}: data chunk unreadable ({_short(exc)})"
        if frame_crc(*arrays) != int(crc[k]):
            return f"frame {k}: checksum mismatch (corrupted data)"
        if not all(np.isfinite(a).all() for a in arrays):
            return f"frame {k}: non-finite coordinates"
    return None


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:160]
