"""What one array task runs (``glasskit run <stage>``): its ranks, its shard, its simulations.

Every rank of the task opens the task's shard collectively, then works through its own
contiguous block of simulations one at a time on its own LAMMPS (``COMM_SELF``), writing as it
goes. A LAMMPS error fails that simulation only: it is recorded (state FAILED, and the message
in the rank's ``.errors.jsonl``) and the rank goes on with the next one.

* simulate: one cooling run per simulation (:class:`glasskit.stages.simulate.CoolingRun`).
* minimize: every stored frame of the simulation, on one reused instance per rank
  (:class:`glasskit.stages.minimize.InherentStructures`); frames already minimized by an earlier,
  interrupted submission are copied over, not recomputed.
"""
from __future__ import annotations

import json
import sys
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from glasskit.campaign.layout import Campaign
from glasskit.stages.engine import lammps_version
from glasskit.util.errors import GlasskitError, LammpsFailure
from glasskit.util.log import logger
from glasskit.stages.minimize import InherentStructures
from glasskit.util.outputs import replace_text
from glasskit.util.mpi import World, world as get_world
from glasskit.util.render import template_hashes
from glasskit.campaign.seeds import simulation_seeds
from glasskit.campaign.shard import (FAILED, RUNNING, MinimizeShard, ShardLayout, ShardWriter, SimulateShard,
                                     progress_path, record_failure)
from glasskit.campaign.sharding import ShardPlan
from glasskit.campaign.layout import initial_configuration
from glasskit.stages.simulate import CoolingRun, ensure_initial
from glasskit.campaign.index import CampaignIndex, Location, read_slice

INJECT_ENV = "GLASSKIT_TEST_INJECT"  # tests: JSON {"<sim index>": "<LAMMPS commands>"}
WRITERS = {"simulate": SimulateShard, "minimize": MinimizeShard}


@dataclass(frozen=True)
class TaskResult:
    done: list[int]
    failed: dict[int, str]


def open_task(campaign: Campaign, plan: ShardPlan, task: int, submission: str, stage: str,
              w: World) -> ShardWriter:
    """Create the task's shard collectively (after making sure the initial configuration exists)."""
    spec = campaign.spec
    if w.size != plan.ranks_per_task and w.rank == 0:
        logger.info("task %d planned for %d rank(s), running on %d: each rank takes every %d-th block",
                    task, plan.ranks_per_task, w.size, w.size)
    if w.rank == 0:
        ensure_initial(spec, campaign.workdir, w.self_comm)
    w.barrier()
    sims = np.asarray(plan.task_sims(task), dtype=np.int64)
    t_cool = spec.t_cool_of(sims)
    layout = ShardLayout(sims, simulation_seeds(spec.campaign.seed, sims), t_cool,
                         max(spec.n_frames(t) for t in t_cool), *initial_configuration(campaign.workdir))
    from glasskit.campaign.layout import initial_identity
    attrs = dict(spec=spec.text, spec_path=spec.path, submission=submission, task=task,
                 campaign_id=spec.campaign_id, init_sha256=w.bcast(initial_identity(campaign.workdir) if w.rank == 0 else None),
                 lammps_version=w.bcast(lammps_version() if w.rank == 0 else None),
                 templates=json.dumps(template_hashes()), host=socket.gethostname(),
                 pair_shift=spec.system.shift, engine=json.dumps(spec.engine_settings()))
    return WRITERS[stage](campaign.shard_path(stage, submission, task), layout, w, attrs)


def run_task(campaign: Campaign, plan: ShardPlan, task: int, submission: str, stage: str) -> TaskResult:
    """Run array task ``task`` of ``plan`` on this process's MPI world; return this rank's results."""
    if not 0 <= task < plan.n_tasks:
        raise GlasskitError(f"--task {task} is outside this submission's {plan.n_tasks} array tasks")
    w = get_world()
    writer = open_task(campaign, plan, task, submission, stage, w)
    work = (_SimulateWork(campaign, w, submission) if stage == "simulate"
            else _MinimizeWork(campaign, w, submission, task))
    done, failed = [], {}
    try:
        for b in (b for b in range(plan.ranks_per_task) if b % w.size == w.rank):
            for sim in plan.block(task, b):
                t0 = time.perf_counter()
                try:
                    writer.set_state(sim, RUNNING)
                    work(writer, sim)
                    writer.mark_done(sim)
                    done.append(sim)
                    logger.info("%s: simulation %d done (%.1f s)", stage, sim, time.perf_counter() - t0)
                except LammpsFailure as exc:
                    failed[sim] = exc.message
                    writer.set_state(sim, FAILED)
                    record_failure(writer.path, w.rank, sim, exc.message)
                    logger.error("%s: simulation %d failed: LAMMPS error: %s", stage, sim, exc.message)
                except OSError as exc:  # the file system refused a write: a full disk, a quota
                    raise GlasskitError(f"{stage}: cannot write {writer.path} during simulation {sim}: "
                                        f"{exc.strerror or exc}",
                                        "free space or quota there, then re-submit: finished simulations are "
                                        "kept, this one and the rest run again") from None
    finally:
        work.close()
        _close(writer, failing=sys.exc_info()[0] is not None)
    logger.info("task %d rank %d: %d done, %d failed -> %s", task, w.rank, len(done), len(failed), writer.path)
    return TaskResult(done, failed)


def _close(writer, failing: bool) -> None:
    """Close a shard; a failure to (a full disk at the last flush) is one error, unless an
    error is already on its way out (``failing``: it then stays the one the user sees)."""
    try:
        writer.close()
    except OSError as exc:
        if not failing:
            raise GlasskitError(f"cannot close {writer.path}: {exc.strerror or exc}",
                                "free space or quota there, then re-submit") from None
        logger.error("closing %s failed too: %s", writer.path, exc)


class _SimulateWork:
    def __init__(self, campaign: Campaign, w: World, submission: str):
        self.spec = campaign.spec
        self.logs = campaign.log_dir(submission)  # each simulation's LAMMPS log, beside its task's
        self.runner = CoolingRun(self.spec, campaign.workdir / "init.data", w.self_comm)
        self.inject = json.loads(os.environ.get(INJECT_ENV, "{}"))
        self.rank, self.reported = w.rank, None
        try:  # $GLASSKIT_REPORT_S: seconds between progress reports (default 30)
            self.report_s = max(0.0, float(os.environ.get("GLASSKIT_REPORT_S", self.REPORT_S)))
        except ValueError:
            self.report_s = self.REPORT_S

    PROGRESS_S = 300.0  # seconds between progress lines of a running simulation in its task log
    REPORT_S = 30.0     # seconds between updates of its progress file (glasskit status reads it)

    def _report(self, writer, sim: int, frame, n: int, t_cool: int, rate: float) -> None:
        """A small JSON file per rank, replaced atomically; a failed write only costs the report."""
        self.reported = progress_path(Path(writer.path), self.rank)
        try:
            replace_text(self.reported, json.dumps({"sim": sim, "frame": frame.k, "frames": n, "step": frame.step,
                                                    "t_cool": t_cool, "T": frame.T, "temp": frame.temp,
                                                    "matom_step_s": rate, "time": time.time()}))
        except OSError:
            pass

    def __call__(self, writer: SimulateShard, sim: int) -> None:
        seed = int(simulation_seeds(self.spec.campaign.seed, [sim])[0])
        t_cool = int(self.spec.t_cool_of([sim])[0])
        n, atoms = self.spec.n_frames(t_cool), self.spec.system.n_atoms
        t0 = last = reported = time.perf_counter()
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"sim-{sim:06d}.lammps.log"
        for frame in self.runner.frames(sim, seed, t_cool, inject=self.inject.get(str(sim), ""), log=log):
            writer.write_frame(sim, frame)
            now = time.perf_counter()
            rate = atoms * frame.step / max(now - t0, 1e-9) / 1e6
            if now - reported >= self.report_s or frame.k == 1:
                reported = now
                self._report(writer, sim, frame, n, t_cool, rate)
            if now - last >= self.PROGRESS_S and frame.k < n:
                last = now
                logger.info("simulate %d: frame %d/%d, step %d of %d, T %.3f (target %.3f), %.2f Matom-step/s",
                            sim, frame.k, n, frame.step, t_cool, frame.temp, frame.T, rate)

    def close(self) -> None:
        """The task is over: its progress report goes (status reads reports of running tasks)."""
        if self.reported is not None:
            self.reported.unlink(missing_ok=True)


class _MinimizeWork:
    def __init__(self, campaign: Campaign, w: World, submission: str, task: int):
        self.spec = campaign.spec
        # rank 0 reads the submission's slice of the campaign index (at scale: no scan of
        # thousands of files on a parallel file system), the other ranks receive it
        found = _locations(campaign, submission) if w.rank == 0 else None
        self.frames, self.earlier = w.bcast(found)
        logs = campaign.log_dir(submission)
        logs.mkdir(parents=True, exist_ok=True)
        self.ism = InherentStructures(self.spec, campaign.workdir / "init.data", w.self_comm,
                                     log=logs / f"task-{task:05d}.rank{w.rank}.lammps.log")
        self.source: tuple[Path, h5py.File] | None = None  # the simulate shard read last, kept open

    def _trajectory(self, sim: int, src: Location, n: int) -> np.ndarray:
        """Frames (n, N, 2) of a simulation; consecutive simulations share their shard's open.
        The row must still hold that simulation, done (a stale or edited slice fails it)."""
        if self.source is None or self.source[0] != src.path:
            self._close_source()
            self.source = (src.path, h5py.File(src.path, "r", locking=False))
        f = self.source[1]
        if int(f["sim/index"][src.row]) != sim or not bool(f["sim/done"][src.row]):
            raise LammpsFailure(sim, f"row {src.row} of {src.path} does not hold its completed trajectory (a stale "
                                     "index slice): re-submit minimize for it")
        return f["frames/x"][src.row, :n]

    def _close_source(self) -> None:
        if self.source is not None:
            self.source[1].close()
            self.source = None

    def __call__(self, writer: MinimizeShard, sim: int) -> None:
        src = self.frames.get(sim)
        if src is None or not src.done:
            raise LammpsFailure(sim, "no completed simulation to minimize (run glasskit submit simulate first)")
        n = self.spec.n_frames(int(self.spec.t_cool_of([sim])[0]))
        x = self._trajectory(sim, src, n)
        have = _copy_earlier(writer, sim, self.earlier.get(sim), n)
        for k in range(n):
            if k not in have:
                pe, snap = self.ism.minimize(x[k].astype(np.float64), sim)
                writer.write_is(sim, k, pe, snap.xs, self.ism.iterations, self.ism.stop)

    def close(self) -> None:
        self._close_source()
        self.ism.close()


def _locations(campaign: Campaign, submission: str) -> tuple[dict[int, Location], dict[int, Location]]:
    """Where the task's trajectories (and earlier partial minimizations) are: the slice of the
    campaign index its submission wrote beside the sbatch script, else one scan of the shards."""
    found = read_slice(campaign.slice_path(submission), campaign.workdir, campaign.spec.campaign_id)
    if found is not None:
        return found
    index = CampaignIndex.scan(campaign)
    return index["simulate"].located, index["minimize"].located


def _copy_earlier(writer: MinimizeShard, sim: int, loc: Location | None, n: int) -> set[int]:
    """Copy inherent structures an earlier (interrupted) submission finished; return their frames."""
    if loc is None:
        return set()
    try:
        with h5py.File(loc.path, "r", locking=False) as f:
            done = np.nonzero(f["is/done"][loc.row, :n])[0]
            iters = f["is/iters"][loc.row, :n] if "is/iters" in f else np.full(n, -1)
            stop = f["is/stop"][loc.row, :n] if "is/stop" in f else np.full(n, -1)
            for k in done.tolist():
                writer.write_is(sim, k, float(f["is/pe"][loc.row, k]), f["is/xs"][loc.row, k],
                                int(iters[k]), int(stop[k]))
    except (OSError, KeyError):
        return set()
    if done.size:
        logger.info("minimize %d: %d of %d frames copied from %s", sim, done.size, n, loc.path.name)
    return set(done.tolist())
