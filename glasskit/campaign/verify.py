"""``glasskit verify``: check everything a later stage reads and name what is wrong.

- The initial configuration (init.data, init.h5): present, readable, N atoms with the spec's
  n_B type-B atoms, the spec's square box.
- Per shard: it opens (a truncated file does not), has the stage's datasets with consistent
  shapes, and for every row flagged done: the frame count, steps and target temperatures match
  the spec's ramp, every per-frame scalar (energies, kinetic temperature) is finite, and each
  frame's coordinates read back (HDF5 fletcher32 on serial shards) with the CRC-32 stored when
  they were written. A bad copy of a simulation that a later submission redid correctly is
  superseded (the newest done copy is what collect and every reader use).
- The campaign file: opens, was written by collect, and is not older than the shards.

Simulations whose newest copy is bad, or that are incomplete, are *condemned*; the report ends
with the exact command that re-runs them (``glasskit submit <stage> --array ... --redo``).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from glasskit.campaign.index import CampaignIndex
from glasskit.campaign.layout import Campaign
from glasskit.campaign.seeds import simulation_seeds
from glasskit.campaign import schema
from glasskit.campaign.shard import (CRC_COORDS, FAILED, MINIMIZE_SCALARS, RUNNING, SIM_ROW, SIMULATE_SCALARS,
                                     dataset_crc, frame_crc, row_crc)

REQUIRED = {
    "simulate": ("sim/index", "sim/done", "sim/state", "sim/t_cool", "frames/step", "frames/T",
                 "frames/pe", "frames/x", "frames/crc", "frames/type"),
    "minimize": ("sim/index", "sim/done", "sim/state", "sim/t_cool", "is/pe", "is/xs", "is/done", "is/crc"),
}


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    shards: int = 0
    rows_ok: int = 0
    flagged: list[str] = field(default_factory=list)  # complete but suspect (minimizer hit maxiter)
    condemned: dict[str, set[int]] = field(default_factory=dict)  # stage -> simulations to re-run
    index: CampaignIndex | None = None  # built in the same pass

    def repair(self, spec_path: str) -> list[str]:
        """The commands that re-run every condemned simulation."""
        from glasskit.util.arrayspec import format_ranges
        return [f"glasskit submit {stage} --spec {spec_path} --array {format_ranges(sorted(sims))} --redo"
                for stage, sims in self.condemned.items() if sims]

    def bad(self, path: Path, text: str) -> None:
        self.problems.append(f"{path}: {text}")


def verify(campaign: Campaign, stages=("simulate", "minimize")) -> Report:
    """Check every shard of ``stages`` (each opened once, in the same pass that builds the
    campaign index, kept as ``Report.index``), the initial configuration and the campaign file."""
    rep = Report()
    _check_init(campaign, rep)
    newest: dict[str, dict[int, tuple[Path, str | None]]] = {s: {} for s in stages}  # newest done copy
    incomplete: dict[str, list[tuple[Path, int, int]]] = {s: [] for s in stages}
    for stage in stages:
        _check_submission_dirs(campaign, stage, rep)
    bar = tqdm(total=sum(len(campaign.shards(s)) for s in stages), desc="verify", unit="shard", disable=None)

    def visit(stage, f, path, exc) -> None:
        rep.shards += 1
        bar.update()
        if f is None:
            rep.bad(path, f"unreadable ({_short(exc)}): move it away and re-submit its simulations")
            rep.condemned.setdefault(stage, set())
            return
        _check_shard(campaign, stage, f, path, rep, newest[stage], incomplete[stage])

    rep.index = CampaignIndex.scan(campaign, stages, visit=visit)  # oldest first
    bar.close()
    for stage in stages:
        bad = rep.condemned.setdefault(stage, set())
        for sim, (path, err) in sorted(newest[stage].items()):
            if err:
                rep.bad(path, f"{stage} of simulation {sim}: {err}")
                bad.add(sim)
            else:
                rep.rows_ok += 1
        for path, sim, state in incomplete[stage]:
            if sim not in newest[stage]:
                what = {FAILED: "failed", RUNNING: "incomplete (interrupted mid-run)"}.get(
                    state, "never started (its task ended early)")
                rep.bad(path, f"{stage} of simulation {sim} {what}: re-submit to repair")
                bad.add(sim)
    _check_campaign_file(campaign, rep)
    return rep


def _check_submission_dirs(campaign: Campaign, stage: str, rep: Report) -> None:
    """Every entry of shards/<stage>/ must be a submission directory: a file or link in its place
    hides that submission's shards from every command."""
    base = campaign.workdir / "shards" / stage
    if base.is_symlink() or (base.exists() and not base.is_dir()):
        rep.bad(base, f"not a directory: glasskit keeps the {stage} shards here; move it away")
        return
    for entry in sorted(base.iterdir()) if base.is_dir() else ():
        if not entry.is_dir() or entry.is_symlink():
            rep.bad(entry, f"not a submission directory (a {'link' if entry.is_symlink() else 'file'} where "
                           f"glasskit keeps a submission's {stage} shards): move it away and re-submit")


def _check_init(campaign: Campaign, rep: Report) -> None:
    """init.data and init.h5: every simulation starts from them."""
    from glasskit.campaign.layout import INIT_DATA, INIT_H5
    s = campaign.spec.system
    data, meta = campaign.workdir / INIT_DATA, campaign.workdir / INIT_H5
    if not data.is_file() and not meta.is_file() and not campaign.shards("simulate"):
        return  # nothing simulated yet: nothing to check
    if not data.is_file() or data.stat().st_size == 0:
        rep.bad(data, "missing or empty initial configuration: move init.h5 away too and re-submit (both are rebuilt)")
        return
    try:
        with h5py.File(meta, "r", locking=False) as f:
            types, box = f["type"][...], f["box"][...]
    except (OSError, KeyError) as exc:
        rep.bad(meta, f"unreadable initial configuration ({_short(exc)}): move init.data and init.h5 away "
                      "and re-submit")
        return
    from glasskit.campaign.layout import file_sha256, initial_identity
    try:
        recorded = initial_identity(campaign.workdir)
        if recorded and file_sha256(data) != recorded:
            rep.bad(data, "changed since the campaign's simulations started from it (its SHA-256 differs from the one "
                          "init.h5 records): restore it, or move init.data and init.h5 away and re-submit everything")
            return
    except OSError:
        pass
    sides = box[:, 1] - box[:, 0]
    if types.shape != (s.n_atoms,) or int((types == 2).sum()) != s.n_b:
        rep.bad(meta, f"{types.shape[0]} atoms / {int((types == 2).sum())} of type B, the spec says "
                      f"{s.n_atoms} / {s.n_b}: this campaign was initialized from another spec")
    elif not np.allclose(sides, s.side, rtol=1e-6):
        rep.bad(meta, f"box {sides[0]:.6g} x {sides[1]:.6g}, the spec's square box is {s.side:.6g} per side: "
                      "initialized by an older glasskit or another spec")


@functools.lru_cache(maxsize=4)
def _init_types(path: str, mtime_ns: int):
    from glasskit.campaign.layout import initial_types
    try:
        return initial_types(Path(path).parent)
    except (OSError, KeyError):
        return None


def _check_campaign_file(campaign: Campaign, rep: Report) -> None:
    from glasskit.campaign.store import CAMPAIGN_FILE
    path = campaign.workdir / CAMPAIGN_FILE
    if not path.exists():
        return
    try:
        with h5py.File(path, "r", locking=False) as f:
            ok = "sim/done" in f and "frames/T" in f
    except OSError as exc:
        rep.bad(path, f"unreadable ({_short(exc)}): re-run glasskit collect")
        return
    if not ok:
        rep.bad(path, "not a campaign file (no /sim/done or /frames/T): re-run glasskit collect")
        return
    from glasskit.campaign.store import owned_datasets, stored_crc
    with h5py.File(path, "r", locking=False) as f:
        undescribed = schema.check(f)
        ident = _identity_problem(campaign, f)
        changed = [f"/{name}" for name in owned_datasets(f)
                   if "crc32" in f[name].attrs and stored_crc(f[name]) != int(f[name].attrs["crc32"])]
        unsealed = [f"/{name}" for name in owned_datasets(f) if "crc32" not in f[name].attrs]
    for text in undescribed:
        rep.bad(path, f"{text}: re-run glasskit collect")
    if ident:
        rep.bad(path, f"{ident}: re-run glasskit collect")
    for name in changed:
        rep.bad(path, f"{name} changed since glasskit collect wrote it (its crc32 attribute): re-run glasskit collect")
    if unsealed:
        rep.bad(path, f"{', '.join(unsealed[:4])} carry no checksum (written by an older glasskit): re-run glasskit collect")
    shards = campaign.shards("simulate") + campaign.shards("minimize")
    newer = [p for p in shards if p.stat().st_mtime > path.stat().st_mtime]
    if newer:
        rep.flagged.append(f"{path}: older than {len(newer)} shard(s): re-run glasskit collect to include them")


def _check_shard(campaign, stage, f, path, rep, newest, incomplete) -> None:
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
    if index.min(initial=0) < 0 or index.max(initial=-1) >= spec.campaign.n_sims:
        rep.bad(path, f"simulation indices outside the spec's 0-{spec.campaign.n_sims - 1}: written for another "
                      "campaign; move it away")
        return
    if not np.array_equal(f["sim/t_cool"][...], spec.t_cool_of(index)):
        rep.bad(path, "/sim/t_cool differs from the spec's [[campaign.runs]] for its /sim/index: written for another "
                      "campaign or spec, or changed; move it away and re-submit its simulations")
        return
    if "sim/seed" in f and not np.array_equal(f["sim/seed"][...], simulation_seeds(spec.campaign.seed, index)):
        rep.bad(path, f"/sim/seed differs from the seeds of campaign.seed = {spec.campaign.seed} for its /sim/index: "
                      "written for another campaign, or changed; move it away and re-submit its simulations")
        return
    undescribed = schema.check(f)
    if undescribed:
        rep.flagged.append(f"{path}: does not fully describe itself ({undescribed[0]}"
                           + (f"; {len(undescribed) - 1} more" if len(undescribed) > 1 else "")
                           + "): written by an older glasskit; its data are checked as usual")
    ident = _identity_problem(campaign, f)
    if ident:
        rep.bad(path, ident + ": move it away and re-submit its simulations")
        return
    changed = _constant_datasets_changed(f)
    if changed:
        rep.bad(path, f"{changed} changed since the shard was written (its crc32 attribute): move it away and "
                      "re-submit its simulations")
        for row in range(S):
            if done[row]:
                rep.condemned.setdefault(stage, set()).add(int(index[row]))
        return
    init = campaign.workdir / "init.h5"
    init_types = _init_types(str(init), init.stat().st_mtime_ns if init.exists() else 0)
    if stage == "simulate" and init_types is not None and not np.array_equal(f["frames/type"][...], init_types):
        rep.bad(path, "/frames/type differs from the campaign's initial configuration (init.h5): written for "
                      "another campaign; move it away and re-submit its simulations")
        return
    crcs = f["sim/crc"][...] if "sim/crc" in f else np.zeros(S, np.uint32)
    for row in range(S):
        sim = int(index[row])
        if not done[row]:
            if crcs[row] and int(state[row]) == 2:  # its checksum and state were written, then the flag lost
                newest[sim] = (path, "/sim/done is unset though /sim/state and /sim/crc say the row was "
                                     "completed (changed since written)")
                continue
            incomplete.append((path, sim, int(state[row])))
            continue
        t_cool = int(spec.t_cool_of([sim])[0])
        n = spec.n_frames(t_cool)
        err = _check_sim_row(f, row) or (_check_simulate_row(f, row, n, spec, t_cool) if stage == "simulate"
                                         else _check_minimize_row(f, row, n))
        if stage == "minimize" and not err and "is/stop" in f:
            hit = np.nonzero(f["is/stop"][row, :n] == 1)[0]
            if hit.size:
                rep.flagged.append(f"{path}: minimize of simulation {sim}: {hit.size} frame(s) stopped on the "
                                   f"iteration limit ([minimize] maxiter = {spec.minimize.maxiter}), not a "
                                   f"tolerance: frames {', '.join(map(str, hit[:10].tolist()))}"
                                   + (" ..." if hit.size > 10 else ""))
        newest[sim] = (path, err)  # shards come oldest first: the last done copy wins


def _identity_problem(campaign, f) -> str | None:
    """A shard (or campaign file) of another campaign, or made from another init.data."""
    from glasskit.campaign.index import foreign_campaign
    other = foreign_campaign(f, campaign.spec.campaign_id)
    if other:
        return f"written {other}"
    init = campaign.workdir / "init.h5"
    made_from = f.attrs.get("init_sha256")
    if made_from and init.is_file():
        from glasskit.campaign.layout import initial_identity
        try:
            now = initial_identity(campaign.workdir)
        except OSError:
            return None  # init.h5 itself is reported by _check_init
        if now and str(made_from) != now:
            return "made from another initial configuration (init_sha256 differs from init.h5's)"
    return None


def _constant_datasets_changed(f) -> str | None:
    for name in ("box", "frames/type"):
        if name in f and "crc32" in f[name].attrs and dataset_crc(f[name][...]) != int(f[name].attrs["crc32"]):
            return f"/{name}"
    return None


def _check_sim_row(f, row: int) -> str | None:
    """A done row's /sim numbers against the CRC written with them (crc_scheme 4)."""
    if int(f.attrs.get("crc_scheme", 1)) < 4:
        return None
    if "sim/crc" not in f:
        return "missing /sim/crc (its checksum of the row's /sim numbers)"
    if row_crc([f[name][row] for name in SIM_ROW]) != int(f["sim/crc"][row]):
        return ("checksum mismatch of the row's " + ", ".join("/" + n for n in (*SIM_ROW, "sim/crc"))
                + " (one changed since written)")
    return None


def _check_simulate_row(f, row: int, n: int, spec, t_cool: int) -> str | None:
    step = f["frames/step"][row]
    have = int((step >= 0).sum())
    if have != n:
        return f"{have} frames, the spec's ramp has {n}"
    want = spec.dump_every(t_cool) * np.arange(1, n + 1)
    if not np.array_equal(step[:n], want):
        return "/frames/step differs from the spec's ramp (written with another [protocol], or changed)"
    if not np.allclose(f["frames/T"][row, :n], spec.frame_temperature(want, t_cool), atol=1e-9):
        return "/frames/T differs from the spec's ramp"
    for name in ("frames/pe", "frames/temp"):
        if name in f and not np.isfinite(f[name][row, :n]).all():
            return f"non-finite values in /{name}"
    coords = CRC_COORDS.get(int(f.attrs.get("crc_scheme", 1)), CRC_COORDS[1])
    return _check_crc(f, row, n, coords, "frames/crc", SIMULATE_SCALARS)


def _check_minimize_row(f, row: int, n: int) -> str | None:
    isdone = f["is/done"][row, :n]
    if not isdone.all():
        return f"{int(isdone.sum())} of {n} frames minimized (/is/done)"
    if not np.isfinite(f["is/pe"][row, :n]).all():
        return "non-finite inherent-structure energies"
    return _check_crc(f, row, n, ("is/xs",), "is/crc", MINIMIZE_SCALARS)


def _check_crc(f, row: int, n: int, names, crc_name, scalar_names) -> str | None:
    """Recompute each frame's CRC: coordinates, and (``crc_scheme`` 2) every per-frame number."""
    crc = f[crc_name][row, :n]
    scheme = int(f.attrs.get("crc_scheme", 1))
    missing = [name for name in scalar_names if scheme >= 2 and name not in f]
    if missing:
        return f"missing /{', /'.join(missing)} (its checksums cover them)"
    scalars = (np.stack([f[name][row, :n].astype(np.float64) for name in scalar_names], axis=1)
               if scheme >= 2 else np.zeros((n, 0)))
    for k in range(n):
        try:
            arrays = [f[name][row, k] for name in names]
        except OSError as exc:  # fletcher32 mismatch or unreadable chunk
            return f"frame {k}: data chunk unreadable ({_short(exc)})"
        if frame_crc(*arrays, scalars=scalars[k]) != int(crc[k]):
            what = ", ".join("/" + n for n in (*names, *scalar_names[:scalars.shape[1]], crc_name))
            return f"frame {k}: checksum mismatch (one of {what} changed since written)"
        if not all(np.isfinite(a).all() for a in arrays):
            return f"frame {k}: non-finite coordinates"
    return None


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:160]
