"""Entry of ``glasskit run``: rebuild the submission's plan and run this task."""
from __future__ import annotations

import os
import re

from glasskit.util.arrayspec import parse_array
from glasskit.util.errors import GlasskitError
from glasskit.campaign.layout import Campaign
from glasskit.stages.task import EXIT_REQUEUE, run_task as run_stage_task
from glasskit.campaign.sharding import ShardPlan, stage_costs
from glasskit.campaign.spec import load_spec


def run_task(stage: str, spec_path: str, workdir: str | None, sims: str, n_tasks: int, ranks: int,
             task: int, submission: str, balance: str = "count") -> int:
    """Exit code 0 when every simulation of this rank finished, 1 when some failed,
    :data:`EXIT_REQUEUE` (75) when it stopped on request with its work checkpointed."""
    if not re.fullmatch(r"sub-[A-Za-z0-9-]{1,60}", submission):
        raise GlasskitError(f"invalid --submission {submission!r}", "it is written by glasskit submit")
    if not (1 <= ranks <= 4096 and 1 <= n_tasks <= 10_000_000 and 0 <= task < n_tasks):
        raise GlasskitError(f"--ranks {ranks}, --tasks {n_tasks}, --task {task} do not describe a plan",
                            "glasskit run is started by the sbatch script glasskit submit writes")
    campaign = Campaign.of(load_spec(spec_path, workdir))
    # each rank is one core's simulation: an /omp pair style must not take every core per rank
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    indices = parse_array(sims).indices
    costs = stage_costs(campaign.spec, stage, indices) if balance == "cost" else None
    plan = ShardPlan(tuple(sorted(indices)), n_tasks, ranks, costs)
    result = run_stage_task(campaign, plan, task, submission, stage)
    if result.interrupted:  # the array script requeues the task on this code
        return EXIT_REQUEUE
    return 1 if result.failed else 0
