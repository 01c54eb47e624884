"""What is done, running, failed and missing in a campaign: a function of the campaign index
(:class:`~glasskit.campaign.index.CampaignIndex`) and the scheduler's answer.

A simulation is *done* when some shard holds it with ``/sim/done`` set; *failed* when its last
attempt recorded a LAMMPS error or was interrupted (state RUNNING in a shard whose submission is
no longer active); *running* when an active submission (Slurm job still queued/running, or the
local executor's process still alive) owns it; *missing* otherwise. Which submissions and tasks
are active is the scheduler's answer, asked once per command by :mod:`glasskit.batch.watch`
and passed in as ``live``: submission id -> its active array tasks (None: all of them).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glasskit.campaign.index import CampaignIndex
from glasskit.campaign.layout import Campaign
from glasskit.campaign.seeds import simulation_seeds
from glasskit.campaign.shard import read_progress
from glasskit.campaign.sharding import plan as make_plan, stage_costs
from glasskit.util.arrayspec import format_ranges, parse_array

Live = dict  # submission id -> set of active array task ids, or None (every task of it)


@dataclass
class StageStatus:
    stage: str
    n_sims: int
    done: set[int] = field(default_factory=set)
    running: set[int] = field(default_factory=set)   # owned by a live submission: started or waiting
    waiting: set[int] = field(default_factory=set)   # ... of which not started yet (queued, or next on a rank)
    failed: dict[int, str] = field(default_factory=dict)
    logs: dict[int, str] = field(default_factory=dict)  # failed sim -> the log of the task that ran it
    unknown: set[str] = field(default_factory=set)  # submissions the scheduler did not answer for
    unreadable: list[str] = field(default_factory=list)
    frames_done: int | None = None  # minimize: inherent structures done / frames simulated
    frames_total: int | None = None
    progress: dict[int, dict] = field(default_factory=dict)  # simulate: running sim -> its last report
    checkpoints: dict[int, int] = field(default_factory=dict)  # simulate: unfinished sim -> newest checkpoint frame

    @property
    def missing(self) -> set[int]:
        return set(range(self.n_sims)) - self.done - self.running - set(self.failed)

    def as_dict(self) -> dict:
        return {"stage": self.stage, "n_sims": self.n_sims,
                "counts": {"done": len(self.done), "running": len(self.running - self.waiting),
                           "waiting": len(self.waiting), "failed": len(self.failed), "missing": len(self.missing)},
                "done": format_ranges(self.done), "running": format_ranges(self.running - self.waiting),
                "waiting": format_ranges(self.waiting),
                "missing": format_ranges(self.missing),
                "failed": {str(k): v for k, v in sorted(self.failed.items())},
                "failure_logs": {str(k): v for k, v in sorted(self.logs.items())},
                "unknown_submissions": sorted(self.unknown),
                "unreadable_shards": self.unreadable,
                **({"frames": {"done": self.frames_done, "total": self.frames_total}}
                   if self.frames_total is not None else {}),
                **({"progress": {str(k): v for k, v in sorted(self.progress.items())}} if self.progress else {}),
                **({"checkpoints": {str(k): v for k, v in sorted(self.checkpoints.items())}}
                   if self.checkpoints else {})}


def active_sims(campaign: Campaign, stage: str, live: Live) -> tuple[set[int], set[str]]:
    """Simulations owned by the live submissions of ``stage``, and those submissions: the
    scheduler's tasks mapped back to simulations through each submission's own plan."""
    active: set[int] = set()
    subs: set[str] = set()
    for rec in campaign.records(stage):
        sub = rec.get("submission")
        if sub not in live:
            continue
        tasks, sims = live[sub], parse_array(rec["sims"]).indices
        before = len(active)
        if tasks is None:
            active.update(sims)
        elif tasks:
            costs = stage_costs(campaign.spec, stage, sims) if rec.get("balance") == "cost" else None
            p = make_plan(sims, rec["ranks"], rec["n_tasks"], costs=costs)
            for t in tasks:
                if t < p.n_tasks:
                    active.update(p.task_sims(t))
        if len(active) > before:
            subs.add(sub)
    return active, subs


def stage_status(index: CampaignIndex, stage: str, live: Live, simulated: set[int] | None = None) -> StageStatus:
    """Status of one stage from the index and the scheduler's answer; for minimize,
    ``simulated`` (the simulate stage's done set) defaults to the index's."""
    campaign = index.campaign
    si = index[stage]
    st = StageStatus(stage, campaign.spec.campaign.n_sims)
    active, active_subs = active_sims(campaign, stage, live)
    st.done = set(si.done)
    st.unreadable = [f"{path}: {exc}" for path, exc in si.unreadable
                     if path.parent.name not in active_subs]  # a live task may be creating it right now
    st.running = active - st.done
    st.unknown = set(getattr(live, "unknown", set())) & active_subs
    from glasskit.campaign.shard import RUNNING
    started = {s for s, (path, state, _) in si.attempts.items()
               if s in st.running and state == RUNNING and path.parent.name in active_subs}
    if stage == "simulate":
        for sub in sorted(active_subs):
            reports = read_progress(campaign.shard_dir(stage, sub))
            st.progress.update({k: v for k, v in reports.items() if k in st.running})
    started |= set(st.progress)
    st.waiting = st.running - started
    for idx, (path, _, err) in si.attempts.items():
        if idx not in st.done and idx not in st.running:
            st.failed[idx] = err
            st.logs[idx] = str(task_log(campaign, path))
    if stage == "simulate":
        from glasskit.campaign.shard import find_checkpoints
        unfinished = (st.running - st.waiting) | set(st.failed) | started
        found = find_checkpoints(campaign.workdir, unfinished) if unfinished else {}
        st.checkpoints = {sim: int(paths[0].name.split(".f")[1].split(".")[0]) for sim, paths in found.items()}
        for sim, rep in st.progress.items():  # a reporting simulation: its report's own, of the same moment
            if "checkpoint" in rep:
                st.checkpoints[sim] = int(rep["checkpoint"])
    if stage == "minimize":
        sims = sorted(index["simulate"].done if simulated is None else simulated)
        spec = campaign.spec
        rates, counts = np.unique(spec.t_cool_of(sims), return_counts=True) if sims else ([], [])
        st.frames_total = int(sum(spec.n_frames(int(t)) * int(c) for t, c in zip(rates, counts)))
        st.frames_done = int(sum(si.frames_done.values()))
    return st


def task_log(campaign: Campaign, shard) -> Path:
    """The log of the array task that wrote ``shard`` (``task-NNNNN.h5``): the local executor's
    ``task-NNNNN.out`` or Slurm's ``<job>_<task>.out`` in the submission's log folder (the folder
    itself when neither is there)."""
    shard = Path(shard)
    logs = campaign.log_dir(shard.parent.name)
    try:
        task = int(shard.stem.split("-")[1])
    except (IndexError, ValueError):
        return logs
    for name in (f"task-{task:05d}.out",):
        if (logs / name).is_file():
            return logs / name
    found = sorted(logs.glob(f"*_{task}.out")) if logs.is_dir() else []
    return found[-1] if found else logs


def summary_lines(campaign: Campaign, st: StageStatus) -> list[str]:
    from glasskit.util.errors import one_line
    c = st.as_dict()["counts"]
    lines = [f"{st.stage}: {st.n_sims} simulations: done {c['done']}, running {c['running']}, "
             f"waiting {c['waiting']}, failed {c['failed']}, missing {c['missing']}"]
    if st.frames_total is not None:
        lines.append(f"  frames minimized: {st.frames_done} of {st.frames_total} simulated")
    if st.unknown:
        lines.append(f"  scheduler: squeue did not answer for {', '.join(sorted(st.unknown))}: their simulations "
                     "count as running (state unknown) and are not re-submitted")
    lines += progress_lines(st)
    quiet = sorted(sim for sim in st.running if sim in st.checkpoints and sim not in st.progress)
    if quiet:  # e.g. a requeued task waiting to run again
        shown = ", ".join(f"sim {sim} frame {st.checkpoints[sim]}" for sim in quiet[:8])
        lines.append(f"  checkpoints of {len(quiet)} running simulation(s) not reporting (a requeued task waits to "
                     f"continue them): {shown}{', ...' if len(quiet) > 8 else ''}")
    for name, sims in (("running", st.running - st.waiting), ("waiting", st.waiting), ("missing", st.missing)):
        if sims and len(sims) < st.n_sims:
            lines.append(f"  {name}: {format_ranges(sims)}")
    for idx, err in sorted(st.failed.items())[:20]:
        k = st.checkpoints.get(idx)
        lines.append(f"  failed {idx}: {one_line(err)} (log: {st.logs.get(idx, '?')})"
                     + (f"; a re-submission continues from its checkpoint at frame {k}" if k else ""))
    if len(st.failed) > 20:
        lines.append(f"  ... and {len(st.failed) - 20} more failed (see --json)")
    for bad in st.unreadable:
        lines.append(f"  unreadable shard {bad}")
    return lines


def progress_lines(st: StageStatus, shown: int = 8) -> list[str]:
    """How far the running simulations are: a total, then the least advanced ones."""
    if not st.progress:
        return []
    import time
    reps = sorted(st.progress.values(), key=lambda r: r["frame"] / max(r["frames"], 1))
    frames = sum(r["frame"] for r in reps)
    total = sum(r["frames"] for r in reps)
    lines = [f"  progress of {len(reps)} running simulation(s) reporting: {frames} of {total} frames "
             f"({100 * frames / max(total, 1):.0f} %)"]
    for r in reps[:shown]:
        age = max(0.0, time.time() - r["time"])
        k = st.checkpoints.get(r["sim"])
        lines.append(f"    sim {r['sim']}: frame {r['frame']}/{r['frames']}, step {r.get('step', '?')} of "
                     f"{r.get('t_cool', '?')}, T {float(r.get('temp', float('nan'))):.3f}, "
                     f"{r['matom_step_s']:.2f} Matom-step/s ({age:.0f} s ago)"
                     + (f", checkpoint at frame {k}" if k else ""))
    if len(reps) > shown:
        lines.append(f"    ... and {len(reps) - shown} more (see --json)")
    return lines


def report(index: CampaignIndex, stages: list[StageStatus]) -> dict:
    """The campaign part of ``glasskit status --json`` (the cli adds the training runs)."""
    campaign = index.campaign
    spec = campaign.spec
    done = sorted(stages[0].done)
    return {"campaign": spec.campaign.name, "workdir": str(campaign.workdir), "spec": spec.path,
            "stages": [s.as_dict() for s in stages],
            "seeds": {str(i): int(s) for i, s in zip(done, simulation_seeds(spec.campaign.seed, done))},
            "provenance": {s: index.provenance(s) for s in index.stages}}
