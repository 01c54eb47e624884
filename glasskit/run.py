"""What one array task runs (``glasskit run simulate``): its ranks, its shard, its simulations.

Every rank of the task opens the shard collectively, then runs its own contiguous block of
simulations one at a time on its own LAMMPS (``COMM_SELF``), writing each frame as it comes.
A LAMMPS error fails that simulation only: it is recorded (state FAILED, and the message in the
rank's ``.errors.jsonl``) and the rank goes on with the next one.
"""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .campaign import Campaign
from .engine import lammps_version
from .errors import GlasskitError, LammpsFailure
from .log import logger
from .mpi import world as get_world
from .render import template_hashes
from .seeds import simulation_seeds
from .shard import FAILED, RUNNING, ShardLayout, ShardWriter
from .sharding import ShardPlan
from .simulate import CoolingRun, ensure_initial, initial_types

INJECT_ENV = "GLASSKIT_TEST_INJECT"  # tests: JSON {"<sim index>": "<LAMMPS commands>"}


@dataclass(frozen=True)
class TaskResult:
    done: list[int]
    failed: dict[int, str]


def run_simulate_task(campaign: Campaign, plan: ShardPlan, task: int, submission: str) -> TaskResult:
    """Run array task ``task`` of ``plan`` on this process's MPI world; return this rank's results."""
    w = get_world()
    spec = campaign.spec
    blocks = [b for b in range(plan.ranks_per_task) if b % w.size == w.rank]
    if w.size != plan.ranks_per_task and w.rank == 0:
        logger.info("task %d planned for %d rank(s), running on %d: each rank takes every %d-th block",
                    task, plan.ranks_per_task, w.size, w.size)
    if w.rank == 0:
        ensure_initial(spec, campaign.workdir, w.self_comm)
    w.barrier()
    data_file = campaign.workdir / "init.data"
    sims = np.asarray(plan.task_sims(task), dtype=np.int64)
    t_cool = spec.t_cool_of(sims)
    layout = ShardLayout(sims, simulation_seeds(spec.campaign.seed, sims), t_cool,
                         max(spec.n_frames(t) for t in t_cool), initial_types(campaign.workdir))
    path = campaign.shard_path("simulate", submission, task)
    attrs = dict(spec=spec.text, spec_path=spec.path, stage="simulate", submission=submission,
                 task=task, lammps_version=w.bcast(lammps_version() if w.rank == 0 else None),
                 templates=json.dumps(template_hashes()), host=socket.gethostname(),
                 pair_shift=spec.system.shift)
    writer = ShardWriter(path, layout, w, attrs)
    seeds = dict(zip(layout.sims.tolist(), layout.seeds.tolist()))
    inject = json.loads(os.environ.get(INJECT_ENV, "{}"))
    runner = CoolingRun(spec, data_file, w.self_comm)
    done, failed = [], {}
    try:
        for b in blocks:
            for sim in plan.block(task, b):
                try:
                    _one(writer, runner, sim, seeds[sim], int(spec.t_cool_of([sim])[0]),
                         inject.get(str(sim), ""))
                    done.append(sim)
                except LammpsFailure as exc:
                    failed[sim] = exc.message
                    writer.set_state(sim, FAILED)
                    _record_failure(path, w.rank, sim, exc.message)
                    logger.error("simulation %d failed: LAMMPS error: %s", sim, exc.message)
    finally:
        writer.close()
    logger.info("task %d rank %d: %d done, %d failed -> %s", task, w.rank, len(done), len(failed), path)
    return TaskResult(done, failed)


def _one(writer: ShardWriter, runner: CoolingRun, sim: int, seed: int, t_cool: int, inject: str) -> None:
    t0 = time.perf_counter()
    writer.set_state(sim, RUNNING)
    for frame in runner.frames(sim, seed, t_cool, inject=inject):
        writer.write_frame(sim, frame)
    writer.mark_done(sim)
    logger.info("simulation %d done (t_cool %d, %.1f s)", sim, t_cool, time.perf_counter() - t0)


def _record_failure(shard: Path, rank: int, sim: int, message: str) -> None:
    path = shard.with_name(f"{shard.stem}.rank-{rank}.errors.jsonl")
    with open(path, "a") as fh:
        fh.write(json.dumps({"sim": sim, "error": message, "time": time.time()}) + "\n")


def read_failures(shard: Path) -> dict[int, str]:
    """Failure messages recorded next to a shard, by simulation index."""
    out: dict[int, str] = {}
    for p in sorted(shard.parent.glob(f"{shard.stem}.rank-*.errors.jsonl")):
        for line in p.read_text().splitlines():
            try:
                rec = json.loads(line)
                out[int(rec["sim"])] = str(rec["error"])
            except (ValueError, KeyError):
                continue
    return out


def check_task(plan: ShardPlan, task: int) -> None:
    if not 0 <= task < plan.n_tasks:
        raise GlasskitError(f"--task {task} is outside this submission's {plan.n_tasks} array tasks")
