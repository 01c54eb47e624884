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
                                     progress_path, read_frames, record_failure, stop_path)
from glasskit.stages import checkpoint
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
    interrupted: bool = False  # stopped on request, its running simulation checkpointed


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


class Interrupted(Exception):
    """The task was asked to stop (Slurm's warning before the time limit, a preemption, a
    SIGTERM): the running simulation is checkpointed and the task ends, to be continued."""


class StopRequest:
    """Whether this task has been asked to stop: a signal (SIGUSR1, the array script's
    ``--signal``; SIGTERM, a preemption or ``scancel``) or the stop file the array script creates
    beside the shard when Slurm warns it (launchers do not forward every signal to the ranks).
    Checked between frames: the stat of the file at most every ``poll_s`` seconds."""

    SIGNALS = ("SIGUSR1", "SIGTERM")

    def __init__(self, path: Path, poll_s: float = 2.0):
        self.path, self.poll_s, self.flag, self._checked = Path(path), poll_s, False, 0.0
        self.why = ""

    def install(self) -> None:
        import signal
        import threading
        if threading.current_thread() is not threading.main_thread():
            return
        for name in self.SIGNALS:
            signal.signal(getattr(signal, name), self._on_signal)

    def _on_signal(self, signum, _frame) -> None:
        import signal
        self.flag, self.why = True, signal.Signals(signum).name

    def __call__(self) -> bool:
        if self.flag:
            return True
        now = time.monotonic()
        if now - self._checked >= self.poll_s:
            self._checked = now
            if self.path.exists():
                self.flag, self.why = True, f"{self.path.name} (the array script's stop request)"
        return self.flag


EXIT_REQUEUE = 75  # glasskit run: stopped on request with its work checkpointed (EX_TEMPFAIL)


def run_task(campaign: Campaign, plan: ShardPlan, task: int, submission: str, stage: str) -> TaskResult:
    """Run array task ``task`` of ``plan`` on this process's MPI world; return this rank's results.

    A task run again with its shard in place (Slurm requeued it) reopens the shard: its finished
    and failed rows stay as they are, a running one continues from its checkpoint."""
    if not 0 <= task < plan.n_tasks:
        raise GlasskitError(f"--task {task} is outside this submission's {plan.n_tasks} array tasks")
    w = get_world()
    writer = open_task(campaign, plan, task, submission, stage, w)
    stop = StopRequest(stop_path(writer.path))
    stop.install()
    if writer.reopened and w.rank == 0:
        logger.info("task %d runs again (%s): its shard %s is continued", task,
                    f"Slurm restart {os.environ['SLURM_RESTART_COUNT']}" if os.environ.get("SLURM_RESTART_COUNT")
                    else "requeued", writer.path)
    work = (_SimulateWork(campaign, w, submission, stop, plan, task) if stage == "simulate"
            else _MinimizeWork(campaign, w, submission, task, stop))
    done, failed, interrupted = [], {}, False
    try:
        for b in (b for b in range(plan.ranks_per_task) if b % w.size == w.rank):
            for sim in plan.block(task, b):
                if writer.reopened:
                    state, finished = writer.state(sim)
                    if finished or state == FAILED:  # the earlier run of this task settled it
                        (done.append(sim) if finished else failed.setdefault(sim, "failed in an earlier run"))
                        continue
                if stop():
                    interrupted = True
                    break
                t0 = time.perf_counter()
                try:
                    writer.set_state(sim, RUNNING)
                    work(writer, sim)
                    writer.mark_done(sim)
                    work.finished(writer, sim)
                    done.append(sim)
                    logger.info("%s: simulation %d done (%.1f s)", stage, sim, time.perf_counter() - t0)
                except Interrupted as exc:
                    interrupted = True
                    logger.warning("%s: simulation %d stopped on request (%s): %s", stage, sim, stop.why, exc)
                    break
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
            if interrupted:
                break
    finally:
        work.close()
        _close(writer, failing=sys.exc_info()[0] is not None)
    logger.info("task %d rank %d: %d done, %d failed%s -> %s", task, w.rank, len(done), len(failed),
                ", stopped on request: the rest continues when the task runs again" if interrupted else "",
                writer.path)
    return TaskResult(done, failed, interrupted)


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
    def __init__(self, campaign: Campaign, w: World, submission: str, stop: StopRequest, plan: ShardPlan, task: int):
        self.campaign, self.spec, self.stop = campaign, campaign.spec, stop
        self.logs = campaign.log_dir(submission)  # each simulation's LAMMPS log, beside its task's
        self.runner = CoolingRun(self.spec, campaign.workdir / "init.data", w.self_comm)
        self.inject = json.loads(os.environ.get(INJECT_ENV, "{}"))
        self.rank, self.reported = w.rank, None
        try:  # $GLASSKIT_REPORT_S: seconds between progress reports (default 30)
            self.report_s = max(0.0, float(os.environ.get("GLASSKIT_REPORT_S", self.REPORT_S)))
        except ValueError:
            self.report_s = self.REPORT_S
        # the checkpoints of this task's simulations, anywhere in the campaign (one listing, rank 0)
        sims = [s for b in range(plan.ranks_per_task) for s in plan.block(task, b)]
        self.checkpoints = w.bcast(checkpoint.found(campaign.workdir, sims) if w.rank == 0 else None)
        self.lammps_version = lammps_version()

    PROGRESS_S = 300.0  # seconds between progress lines of a running simulation in its task log
    REPORT_S = 30.0     # seconds between updates of its progress file (glasskit status reads it)

    def _report(self, writer, sim: int, frame, n: int, t_cool: int, rate: float, ckpt: int) -> None:
        """A small JSON file per rank, replaced atomically; a failed write only costs the report."""
        self.reported = progress_path(Path(writer.path), self.rank)
        try:
            replace_text(self.reported, json.dumps({"sim": sim, "frame": frame.k, "frames": n, "step": frame.step,
                                                    "t_cool": t_cool, "T": frame.T, "temp": frame.temp,
                                                    "checkpoint": ckpt, "matom_step_s": rate, "time": time.time()}))
        except OSError:
            pass

    def _resume(self, writer: SimulateShard, sim: int, seed: int, t_cool: int) -> checkpoint.Resume | None:
        """The newest valid checkpoint of ``sim``, its frames adopted into this task's row."""
        candidates = self.checkpoints.get(sim, [])
        if not candidates:
            return None

        def read(shard: Path, row: int, k: int):
            if shard == writer.path.resolve():
                return writer.read_frames(row, k)
            with h5py.File(shard, "r", locking=False) as f:
                return read_frames(f, row, k)

        resume = checkpoint.choose(candidates, self.campaign.workdir, self.spec, sim, seed, t_cool,
                                   self.lammps_version, read)
        if resume is not None:
            same = (self.campaign.workdir / resume.record["shard"]).resolve() == writer.path.resolve() \
                and resume.record["row"] == writer.row[sim]
            writer.adopt(sim, resume.frames, copy_x=not same)
            logger.info("simulate %d: continues from its checkpoint at frame %d of %d (step %d)%s: %s", sim,
                        resume.frame, self.spec.n_frames(t_cool), resume.record["step"],
                        "" if same else f", frames 1-{resume.frame} copied from {resume.record['shard']}", resume.path)
        return resume

    def _checkpoint(self, writer: SimulateShard, sim: int, seed: int, t_cool: int, frame) -> None:
        writer.flush_row(sim)  # the frames the checkpoint continues are on disk before it names them
        checkpoint.write(lambda p: self.runner.write_restart(p, sim), writer.path, self.campaign.workdir,
                         writer.row[sim], sim, seed, t_cool, frame.k, frame.step, writer.frame_crcs(sim, frame.k),
                         self.spec, self.lammps_version)

    def __call__(self, writer: SimulateShard, sim: int) -> None:
        seed = int(simulation_seeds(self.spec.campaign.seed, [sim])[0])
        t_cool = int(self.spec.t_cool_of([sim])[0])
        n, atoms = self.spec.n_frames(t_cool), self.spec.system.n_atoms
        every = self.spec.engine.checkpoint_every
        resume = self._resume(writer, sim, seed, t_cool)
        first = resume.frame + 1 if resume else 1
        step0 = (first - 1) * self.spec.dump_every(t_cool)
        ckpt = resume.frame if resume else 0
        t0 = last = reported = time.perf_counter()
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"sim-{sim:06d}.lammps.log"
        for frame in self.runner.frames(sim, seed, t_cool, inject=self.inject.get(str(sim), ""), log=log,
                                        restart=resume.restart if resume else None, first=first):
            writer.write_frame(sim, frame)
            now = time.perf_counter()
            # checkpoints fall on fixed frames only, a stop request included (it runs on to the next
            # one, at most checkpoint_every frames: the array script's warning leaves the time): a
            # resumed ramp is then the uninterrupted one bit for bit
            if frame.k < n and every and frame.k % every == 0:
                self._checkpoint(writer, sim, seed, t_cool, frame)
                ckpt = frame.k
                if self.stop():
                    raise Interrupted(f"checkpointed at frame {frame.k} of {n} (step {frame.step})")
            elif frame.k < n and not every and self.stop():
                raise Interrupted(f"stopped at frame {frame.k} of {n} without checkpoints: it starts again")
            rate = atoms * (frame.step - step0) / max(now - t0, 1e-9) / 1e6
            if now - reported >= self.report_s or frame.k == first:
                reported = now
                self._report(writer, sim, frame, n, t_cool, rate, ckpt)
            if now - last >= self.PROGRESS_S and frame.k < n:
                last = now
                logger.info("simulate %d: frame %d/%d, step %d of %d, T %.3f (target %.3f), %.2f Matom-step/s%s",
                            sim, frame.k, n, frame.step, t_cool, frame.temp, frame.T, rate,
                            f", checkpoint at frame {ckpt}" if ckpt else "")

    def finished(self, writer: SimulateShard, sim: int) -> None:
        """``sim`` is done: its checkpoints (this task's and earlier submissions') go."""
        dirs = {checkpoint.directory(writer.path)} | {p.parent for p in self.checkpoints.pop(sim, [])}
        checkpoint.remove(dirs, sim)

    def close(self) -> None:
        """The task is over: its progress report goes (status reads reports of running tasks)."""
        if self.reported is not None:
            self.reported.unlink(missing_ok=True)


class _MinimizeWork:
    def __init__(self, campaign: Campaign, w: World, submission: str, task: int, stop: StopRequest):
        self.spec, self.stop = campaign.spec, stop
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
        have = writer.frames_done(sim) if writer.reopened else set()
        have |= _copy_earlier(writer, sim, self.earlier.get(sim), n) if len(have) < n else set()
        for k in range(n):
            if k not in have:
                if self.stop():  # each minimized frame is kept: a re-run does the rest
                    raise Interrupted(f"{len(have)} of {n} frames minimized")
                pe, snap = self.ism.minimize(x[k].astype(np.float64), sim)
                writer.write_is(sim, k, pe, snap.xs, self.ism.iterations, self.ism.stop)
                have.add(k)

    def finished(self, writer, sim: int) -> None:
        pass

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
