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

    @property
    def fits(self) -> bool:
        return self.longest_task_s <= self.limit_s

    @property
    def request_min(self) -> int:
        """The --time a task asks for, in minutes: the longest task x the margin, rounded up to
        10 minutes, at most the profile's limit (short tasks backfill; 36 h asks wait)."""
        want = 10 * math.ceil(self.longest_task_s * self.margin / 600)
        return int(max(10, min(want, self.limit_s // 60)))

    def lines(self) -> list[str]:
        charged = (f"{self.node_hours:,.1f} node-hours charged (whole nodes; the work is {self.core_hours:,.1f} "
                   "core-hours)" if self.charge == "node" else f"{self.core_hours:,.1f} core-hours")
        return [f"# bill: {charged}; shards {_size(self.shard_bytes)}, campaign file {_size(self.campaign_bytes)}",
                f"# longest task: {_hours(self.longest_task_s)} on each of {self.ranks} rank(s); asks "
                f"--time={slurm_time(self.request_min)} (x{self.margin:g}, rounded up; limit {_hours(self.limit_s)}: "
                f"{'fits' if self.fits else 'DOES NOT FIT'})"]


def _size(b: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if b < 1024 or unit == "PiB":
            return f"{b:,.1f} {unit}"
        b /= 1024


def _hours(s: float) -> str:
    return f"{s / 3600:,.2f} h" if s >= 3600 else f"{s / 60:,.1f} min"


def seconds_per_cost(spec: Spec, stage: str, profile: ClusterProfile) -> float:
    """Seconds one rank needs per unit of :func:`stage_costs`."""
    if stage == "simulate":
        return 1.0 / profile.atom_steps_per_s
    return 1.0 / (profile.minimize_frames_per_s * REFERENCE_N)


def estimate(spec: Spec, stage: str, plan: ShardPlan, profile: ClusterProfile, shard_bytes: int) -> Bill:
    per = seconds_per_cost(spec, stage, profile)
    blocks = plan.block_costs() * per
    tasks = blocks.reshape(plan.n_tasks, plan.ranks_per_task).max(axis=1)
    campaign_bytes = 4096 * plan.n_tasks + 64 * spec.campaign.n_sims  # virtual mappings + /sim arrays
    return Bill(float(blocks.sum()) / 3600, int(shard_bytes), int(campaign_bytes), float(blocks.max()),
                profile.time_limit_s, plan.ranks_per_task, float(tasks.sum()) / 3600, profile.charge,
                profile.time_margin)


def check_fits(spec: Spec, stage: str, plan: ShardPlan, profile: ClusterProfile, bill: Bill) -> None:
    """Refuse a plan whose longest task cannot finish inside the time limit; suggest --ranks."""
    if bill.fits:
        return
    per = seconds_per_cost(spec, stage, profile)
    single = max(plan.costs or [0.0]) * per
    if single > bill.limit_s:
        raise GlasskitError(
            f"one simulation alone needs about {_hours(single)} on a rank, over the time limit {profile.time} of "
            f"cluster '{profile.name}'", f"raise 'time' in {profile.source or profile.name} (a simulation is not split "
            "across tasks)")
    ranks = plan.ranks_per_task
    while ranks < profile.cores_per_node:
        ranks = min(2 * ranks, profile.cores_per_node)
        trial = make_plan(plan.sims, ranks, profile.max_array_size, costs=plan.costs)
        if float(np.max(trial.block_costs())) * per <= bill.limit_s:
            raise GlasskitError(
                f"the longest array task would run about {_hours(bill.longest_task_s)}, over the time limit "
                f"{profile.time} of cluster '{profile.name}'",
                f"use --ranks {ranks} (more simulations side by side per task), or raise 'time' in the profile")
    raise GlasskitError(f"the longest array task would run about {_hours(bill.longest_task_s)}, over the time limit "
                        f"{profile.time}", f"raise 'time' in {profile.source or profile.name}")
