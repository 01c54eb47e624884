"""What is done, running, failed and missing in a campaign, read from the shards themselves.

A simulation is *done* when some shard holds it with ``/sim/done`` set; *failed* when its last
attempt recorded a LAMMPS error or was interrupted (state RUNNING in a shard whose submission is
no longer active); *running* when an active submission (Slurm job still queued/running, or the
local executor's process still alive) owns it; *missing* otherwise.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from glasskit.util.arrayspec import format_ranges, parse_array
from glasskit.campaign.layout import Campaign
from glasskit.batch.executors import LocalExecutor, SlurmExecutor
from glasskit.batch.cluster import load_cluster
from glasskit.campaign.seeds import simulation_seeds
from glasskit.util.errors import GlasskitError
from glasskit.campaign.store import locate
from glasskit.stages.task import read_failures
from glasskit.campaign.shard import FAILED, RUNNING, read_progress, read_rows
from glasskit.campaign.sharding import plan as make_plan, stage_costs


@dataclass
class StageStatus:
    stage: str
    n_sims: int
    done: set[int] = field(default_factory=set)
    running: set[int] = field(default_factory=set)
    failed: dict[int, str] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    frames_done: int | None = None  # minimize: inherent structures done / frames simulated
    frames_total: int | None = None
    progress: dict[int, dict] = field(default_factory=dict)  # simulate: running sim -> its last report

    @property
    def missing(self) -> set[int]:
        return set(range(self.n_sims)) - self.done - self.running - set(self.failed)

    def as_dict(self) -> dict:
        return {"stage": self.stage, "n_sims": self.n_sims,
                "counts": {"done": len(self.done), "running": len(self.running),
                           "failed": len(self.failed), "missing": len(self.missing)},
                "done": format_ranges(self.done), "running": format_ranges(self.running),
                "missing": format_ranges(self.missing),
                "failed": {str(k): v for k, v in sorted(self.failed.items())},
                "unreadable_shards": self.unreadable,
                **({"frames": {"done": self.frames_done, "total": self.frames_total}}
                   if self.frames_total is not None else {}),
                **({"progress": {str(k): v for k, v in sorted(self.progress.items())}} if self.progress else {})}


def _active_sims(campaign: Campaign, stage: str) -> tuple[set[int], set[str]]:
    """Simulations owned by submissions that are still queued or running, and those submissions."""
    active: set[int] = set()
    subs: set[str] = set()
    for rec in campaign.records(stage):
        before = len(active)
        if rec.get("executor") == "local":
            if LocalExecutor.active(rec):
                active.update(parse_array(rec["sims"]).indices)
        elif rec.get("executor") == "slurm":
            try:
                profile = load_cluster(rec.get("cluster", "local"))
            except GlasskitError:
                profile = None
            tasks = SlurmExecutor.active_tasks(rec, profile)
            sims = parse_array(rec["sims"]).indices
            if tasks is None:
                active.update(sims)
            elif tasks:
                costs = stage_costs(campaign.spec, stage, sims) if rec.get("balance") == "cost" else None
                p = make_plan(sims, rec["ranks"], rec["n_tasks"], costs=costs)
                for t in tasks:
                    if t < p.n_tasks:
                        active.update(p.task_sims(t))
        if len(active) > before:
            subs.add(rec["submission"])
    return active, subs


def stage_status(campaign: Campaign, stage: str = "simulate", simulated: set[int] | None = None) -> StageStatus:
    """Status of one stage; for minimize, ``simulated`` (the simulate stage's done set) is
    computed when not given."""
    st = StageStatus(stage, campaign.spec.campaign.n_sims)
    active, active_subs = _active_sims(campaign, stage)
    attempts: dict[int, tuple[str, int, str]] = {}  # sim -> (shard name, state, error) of latest attempt
    listings: dict[Path, list[str]] = {}  # each submission's directory listed once
    for path in campaign.shards(stage):
        try:
            rows = read_rows(path)
        except (OSError, KeyError) as exc:
            if path.parent.name not in active_subs:  # a live task may be creating it right now
                st.unreadable.append(f"{path}: {exc}")
            continue
        unfinished = (~rows["done"]) & np.isin(rows["state"], (RUNNING, FAILED))
        errors = {}
        if unfinished.any():
            if path.parent not in listings:
                listings[path.parent] = [n for n in os.listdir(path.parent) if n.endswith(".errors.jsonl")]
            errors = read_failures(path, listings[path.parent])
        for idx, state, done in zip(rows["index"].tolist(), rows["state"].tolist(), rows["done"].tolist()):
            if done:
                st.done.add(idx)
            elif state in (RUNNING, FAILED):
                attempts[idx] = (str(path), state, errors.get(idx, "interrupted (the task was killed)"))
    st.running = (active - st.done)
    if stage == "simulate":
        for sub in sorted(active_subs):
            reports = read_progress(campaign.shard_dir(stage, sub))
            st.progress.update({k: v for k, v in reports.items() if k in st.running})
    for idx, (_, state, err) in attempts.items():
        if idx not in st.done and idx not in st.running:
            st.failed[idx] = err
    if stage == "minimize":
        if simulated is None:
            simulated = stage_status(campaign, "simulate").done
        _count_frames(campaign, st, sorted(simulated))
    return st


def _count_frames(campaign: Campaign, st: StageStatus, simulated: list[int]) -> None:
    """Frame-level progress of minimize: frames with an inherent structure / frames simulated."""
    spec = campaign.spec
    rates, counts = np.unique(spec.t_cool_of(simulated), return_counts=True) if simulated else ([], [])
    st.frames_total = int(sum(spec.n_frames(int(t)) * int(c) for t, c in zip(rates, counts)))
    rows_by_shard: dict = {}
    for loc in locate(campaign, "minimize").values():
        rows_by_shard.setdefault(loc.path, []).append(loc.row)
    done = 0
    for path, rows in rows_by_shard.items():  # each shard opened once
        try:
            with h5py.File(path, "r", locking=False) as f:
                done += int(f["is/done"][...][sorted(rows)].sum())
        except (OSError, KeyError):
            continue
    st.frames_done = done


def summary_lines(campaign: Campaign, st: StageStatus) -> list[str]:
    c = st.as_dict()["counts"]
    lines = [f"{st.stage}: {st.n_sims} simulations: done {c['done']}, running {c['running']}, "
             f"failed {c['failed']}, missing {c['missing']}"]
    if st.frames_total is not None:
        lines.append(f"  frames minimized: {st.frames_done} of {st.frames_total} simulated")
    lines += progress_lines(st)
    for name in ("running", "missing"):
        sims = getattr(st, name)
        if sims and len(sims) < st.n_sims:
            lines.append(f"  {name}: {format_ranges(sims)}")
    for idx, err in sorted(st.failed.items())[:20]:
        lines.append(f"  failed {idx}: {err}")
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
        lines.append(f"    sim {r['sim']}: frame {r['frame']}/{r['frames']}, step {r.get('step', '?')} of "
                     f"{r.get('t_cool', '?')}, T {float(r.get('temp', float('nan'))):.3f}, "
                     f"{r['matom_step_s']:.2f} Matom-step/s ({age:.0f} s ago)")
    if len(reps) > shown:
        lines.append(f"    ... and {len(reps) - shown} more (see --json)")
    return lines


def training_lines(workdir) -> list[str]:
    """One line per training run under <workdir>/models (empty without runs or without torch)."""
    try:
        from glasskit.ml.runs import all_states
    except ImportError:  # the [ml] extra is not installed: no training runs to show
        return []
    from glasskit.ml.search.driver import all_states as all_searches
    lines = []
    states = all_states(workdir)
    if states:
        counts = {s: sum(r.state == s for r in states) for s in ("done", "running", "interrupted", "failed", "damaged")}
        lines += [f"train: {len(states)} run(s): " + ", ".join(f"{k} {v}" for k, v in counts.items())]
        lines += [f"  {r.state:<11} {r.run}  {r.detail}" for r in states]
    searches = all_searches(workdir)
    if searches:
        lines += [f"search: {len(searches)} experiment(s)"] + [f"  {r.state:<11} {r.name}  {r.detail}" for r in searches]
    return lines


def provenance(campaign: Campaign, stage: str) -> list[dict]:
    """Distinct (spec, templates, LAMMPS, glasskit) combinations that wrote a stage's shards."""
    seen: dict[tuple, dict] = {}
    for path in campaign.shards(stage):
        try:
            with h5py.File(path, "r", locking=False) as f:
                a = f.attrs
                key = (str(a.get("spec", "")), str(a.get("templates", "")), str(a.get("lammps_version", "")),
                       str(a.get("glasskit_version", "")), str(a.get("engine", "")))
        except OSError:
            continue
        entry = seen.setdefault(key, {"spec": key[0], "templates": _json(key[1]),
                                      "lammps_version": key[2], "glasskit_version": key[3],
                                      "engine": _json(key[4]), "shards": 0})
        entry["shards"] += 1
    return list(seen.values())


def _json(text: str) -> dict:
    try:
        obj = json.loads(text or "{}")
    except ValueError:
        return {"unreadable": text[:200]}
    return obj if isinstance(obj, dict) else {"unreadable": text[:200]}


def report(campaign: Campaign) -> dict:
    """Everything ``glasskit status --json`` prints."""
    sim = stage_status(campaign, "simulate")
    stages = [sim, stage_status(campaign, "minimize", simulated=sim.done)]
    spec = campaign.spec
    done = sorted(stages[0].done)
    return {"campaign": spec.campaign.name, "workdir": str(campaign.workdir), "spec": spec.path,
            "stages": [s.as_dict() for s in stages],
            "seeds": {str(i): int(s) for i, s in zip(done, simulation_seeds(spec.campaign.seed, done))},
            "provenance": {s: provenance(campaign, s) for s in ("simulate", "minimize")},
            "training": _training(campaign.workdir), "searches": _searches(campaign.workdir)}


def _training(workdir) -> list[dict]:
    try:
        from glasskit.ml.runs import all_states
    except ImportError:
        return []
    return [{"run": r.run, "state": r.state, "detail": r.detail} for r in all_states(workdir)]


def _searches(workdir) -> list[dict]:
    try:
        from glasskit.ml.search.driver import all_states
    except ImportError:
        return []
    return [{"experiment": r.name, "state": r.state, "detail": r.detail} for r in all_states(workdir)]
