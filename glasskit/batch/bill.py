"""What a submission will cost, before it is submitted: core- or node-hours, disk, the longest task.

A simulation costs t_cool x N atom-steps and a minimization frames x N atom-frames
(:func:`glasskit.campaign.sharding.stage_costs`); the cluster profile's measured throughputs of one
rank (``atom_steps_per_s``, ``minimize_frames_per_s`` at N = 4320; bench/overhead.py and
bench/minimize.py measure them for ``local``) turn those into seconds. The longest rank of the
cost-balanced plan sets the array's wall time: when it exceeds the profile's time limit,
:func:`check_fits` refuses the submission and says which ``--ranks`` would fit, or that one
simulation alone is too long for the limit. The same longest task, times the profile's
``time_margin``, is the ``--time`` each array task asks for (:attr:`Bill.request_min`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from glasskit.batch.cluster import ClusterProfile, slurm_time
from glasskit.util.errors import GlasskitError
from glasskit.campaign.sharding import ShardPlan, plan as make_plan
from glasskit.campaign.spec import Spec

REFERENCE_N = 4320  # the N at which minimize_frames_per_s is measured


@dataclass(frozen=True)
class Bill:
    core_hours: float          # the work: every rank's busy time
    shard_bytes: int
    campaign_bytes: int
    longest_task_s: float      # the slowest rank of the slowest task
    limit_s: float             # the profile's time limit
    ranks: int
    node_hours: float = 0.0    # each task a whole node for as long as its slowest rank
    charge: str = "core"       # what the site bills: "core" or "node"
    margin: float = 1.5        # a task asks for longest_task_s x margin
    requeue: bool = False      # tasks checkpoint and requeue themselves at Slurm's warning
    warn_s: int = 0            # --signal lead: seconds before the limit the warning comes
    at_risk_s: float = 0.0     # the most work of one rank a kill loses (checkpoint interval)
    checkpoint_text: str = ""  # how often simulations are checkpointed, in words
    charge_factor: float = 1.0 # the qos's charge per hour relative to the regular rate
    preemptible: bool = False
    rate_note: str = ""        # where the throughput figure comes from, when not measured for the style

    @property
    def fits(self) -> bool:
        return self.longest_task_s <= self.limit_s

    @property
    def request_min(self) -> int:
        """The --time a task asks for, in minutes: the longest task x the margin, rounded up to
        10 minutes, at most the profile's limit (short tasks backfill; 36 h asks wait)."""
        want = 10 * math.ceil(self.longest_task_s * self.margin / 600)
        return int(min(max(10, want), max(1, self.limit_s // 60)))

    @property
    def attempts(self) -> int:
        """How many times the longest task runs (requeued at each warning) to finish its work."""
        usable = max(self.request_min * 60 - self.warn_s, 60)
        return max(1, math.ceil(self.longest_task_s / usable))

    def lines(self) -> list[str]:
        hours = self.node_hours if self.charge == "node" else self.core_hours
        unit = "node-hours" if self.charge == "node" else "core-hours"
        charged = (f"{hours * self.charge_factor:,.1f} {unit} charged"
                   + (f" (qos charge x{self.charge_factor:g}: {hours:,.1f} at the regular rate)"
                      if self.charge_factor != 1 else "")
                   + (f" (whole nodes; the work is {self.core_hours:,.1f} core-hours)" if self.charge == "node" else ""))
        out = [f"# bill: {charged}; shards {_size(self.shard_bytes)}, campaign file {_size(self.campaign_bytes)}",
               f"# longest task: {_hours(self.longest_task_s)} on each of {self.ranks} rank(s); asks "
               f"--time={slurm_time(self.request_min)} (x{self.margin:g}, rounded up; limit {_hours(self.limit_s)}: "
               + ("fits)" if self.fits else f"over it: requeued about {self.attempts - 1} time(s), continuing from "
                  "checkpoints)" if self.requeue else "DOES NOT FIT)")]
        if self.rate_note:
            out.append(f"# throughput: {self.rate_note}")
        if self.checkpoint_text:
            out.append(f"# checkpoints: {self.checkpoint_text}; a kill loses at most {_hours(self.at_risk_s)} of a "
                       "rank's work" + (f"; Slurm warns {self.warn_s} s before the limit, the task checkpoints and "
                                        "requeues itself" if self.requeue else ""))
        if self.preemptible:
            out.append(f"# preemptible qos: each preemption costs up to {_hours(self.at_risk_s)} of work per rank, "
                       "re-done, plus the wait to be scheduled again; finished simulations are never re-done")
        return out


def _size(b: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if b < 1024 or unit == "PiB":
            return f"{b:,.1f} {unit}"
        b /= 1024


def _hours(s: float) -> str:
    """A duration for a person: hours, minutes, or seconds under a minute (never "0.0 min")."""
    if s >= 3600:
        return f"{s / 3600:,.2f} h"
    return f"{s / 60:,.1f} min" if s >= 60 else f"{s:.0f} s"


def seconds_per_cost(spec: Spec, stage: str, profile: ClusterProfile) -> float:
    """Seconds one rank needs per unit of :func:`stage_costs` (MD: the profile's figure for the
    spec's pair style)."""
    if stage == "simulate":
        return 1.0 / profile.md_rate(spec.engine.pair_style)[0]
    return 1.0 / (profile.minimize_frames_per_s * REFERENCE_N)


def requeues(spec: Spec, stage: str) -> bool:
    """Whether a task of this stage can stop at Slurm's warning and continue when requeued:
    minimize keeps every frame it finishes; simulate needs checkpoints."""
    return stage == "minimize" or spec.engine.checkpoint_every > 0


def unit_seconds(spec: Spec, stage: str, sims, profile: ClusterProfile) -> float:
    """The longest stretch of one rank's work between two chances to stop: a frame of the
    slowest ramp (simulate), a frame's minimization (minimize), in seconds."""
    n = spec.system.n_atoms
    if stage == "minimize":
        return n / REFERENCE_N / profile.minimize_frames_per_s
    rate = profile.md_rate(spec.engine.pair_style)[0]
    return max(spec.dump_every(int(t)) for t in set(spec.t_cool_of(list(sims)).tolist())) * n / rate


def estimate(spec: Spec, stage: str, plan: ShardPlan, profile: ClusterProfile, shard_bytes: int) -> Bill:
    per = seconds_per_cost(spec, stage, profile)
    blocks = plan.block_costs() * per
    tasks = blocks.reshape(plan.n_tasks, plan.ranks_per_task).max(axis=1)
    campaign_bytes = 4096 * plan.n_tasks + 64 * spec.campaign.n_sims  # virtual mappings + /sim arrays
    unit = unit_seconds(spec, stage, plan.sims, profile)
    e = spec.engine
    if stage == "minimize":
        at_risk, text = unit, "every minimized frame is kept"
    elif e.checkpoint_every:
        at_risk = (e.checkpoint_every + 1) * unit
        text = f"every {e.checkpoint_every} frame(s)"
    else:
        at_risk, text = float(blocks.max()), "off ([engine] checkpoint_every = 0): a kill loses whole simulations"
    limit_s = profile.time_limit_s
    # the warning must leave time to run on to the next checkpoint frame (simulate: at most
    # checkpoint_every + 1 frames) or finish the frame under way (minimize), with a 20 % margin;
    # Slurm sends it up to a minute early. At most half the limit (a short test limit still works).
    span = (e.checkpoint_every + 1) * unit if stage == "simulate" and e.checkpoint_every else unit
    warn = int(min(max(60, 10 * math.ceil((1.2 * span + 60) / 10)), limit_s / 2))
    rate_note = profile.md_rate(e.pair_style)[1] if stage == "simulate" else "measured"
    return Bill(float(blocks.sum()) / 3600, int(shard_bytes), int(campaign_bytes), float(blocks.max()),
                limit_s, plan.ranks_per_task, float(tasks.sum()) / 3600, profile.charge,
                profile.time_margin, requeues(spec, stage), warn, at_risk, text, profile.charge_factor,
                profile.preemptible, "" if rate_note == "measured" else rate_note)


def check_fits(spec: Spec, stage: str, plan: ShardPlan, profile: ClusterProfile, bill: Bill) -> None:
    """Refuse a plan whose longest task cannot finish inside the time limit (suggest --ranks),
    unless its tasks checkpoint and requeue themselves: they then finish over several runs."""
    if bill.fits:
        return
    per = seconds_per_cost(spec, stage, profile)
    fitting = _fitting_ranks(plan, profile, per, bill.limit_s)
    if bill.requeue:
        from glasskit.util.log import logger
        logger.warning("the longest task needs about %s, over the limit %s of cluster '%s': each task checkpoints at "
                       "Slurm's warning and requeues itself (about %d run(s))%s", _hours(bill.longest_task_s),
                       profile.time, profile.name, bill.attempts,
                       f"; --ranks {fitting} would fit the limit without requeues" if fitting else "")
        return
    single = max(plan.costs or [0.0]) * per
    if single > bill.limit_s:
        raise GlasskitError(
            f"one simulation alone needs about {_hours(single)} on a rank, over the time limit {profile.time} of "
            f"cluster '{profile.name}'", f"raise 'time' in {profile.source or profile.name}, or set [engine] "
            "checkpoint_every > 0 in the spec: the task then checkpoints and requeues itself at the limit")
    if fitting:
        raise GlasskitError(
            f"the longest array task would run about {_hours(bill.longest_task_s)}, over the time limit "
            f"{profile.time} of cluster '{profile.name}'",
            f"use --ranks {fitting} (more simulations side by side per task), or raise 'time' in the profile")
    raise GlasskitError(f"the longest array task would run about {_hours(bill.longest_task_s)}, over the time limit "
                        f"{profile.time}", f"raise 'time' in {profile.source or profile.name}")


def _fitting_ranks(plan: ShardPlan, profile: ClusterProfile, per: float, limit_s: float) -> int | None:
    """The fewest ranks per task (doubling, up to a node) whose longest task fits the limit."""
    if max(plan.costs or [0.0]) * per > limit_s:
        return None
    ranks = plan.ranks_per_task
    while ranks < profile.cores_per_node:
        ranks = min(2 * ranks, profile.cores_per_node)
        trial = make_plan(plan.sims, ranks, profile.max_array_size, costs=plan.costs)
        if float(np.max(trial.block_costs())) * per <= limit_s:
            return ranks
    return None
