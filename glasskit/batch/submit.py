"""``glasskit submit``: spec + array + cluster -> rendered array job -> executor.

Order matters for "bad input loses nothing": everything is parsed and validated, and the
script rendered, before a single file is written or a job submitted. A re-submit of the same
array runs only what is neither done nor still running (resume after a crash).
"""
from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from glasskit.util.arrayspec import ArraySpec, check_within, format_ranges, parse_array
from glasskit.campaign.layout import Campaign, new_submission_id
from glasskit.batch.cluster import ClusterProfile, load_cluster, slurm_time
from glasskit.stages.engine import lammps_class
from glasskit.util.errors import GlasskitError
from glasskit.util.outputs import replace_text
from glasskit.batch.executors import ArrayJob, get_executor
from glasskit.util.log import logger
from glasskit.util.render import render, safe_for_sbatch
from glasskit.campaign.seeds import simulation_seeds
from glasskit.batch.bill import Bill, check_fits, estimate
from glasskit.campaign.sharding import ShardPlan, cost_classes, plan as make_plan, stage_costs
from glasskit.stages.minimize import minimize_input
from glasskit.stages.simulate import cool_input, ensure_initial
from glasskit.campaign.spec import Spec, load_spec
from glasskit.batch.guard import check_space, check_writable, submit_lock
from glasskit.batch.watch import live
from glasskit.campaign.index import CampaignIndex
from glasskit.campaign.status import stage_status

STAGES = ("simulate", "minimize")


@dataclass
class Prepared:
    campaign: Campaign
    profile: ClusterProfile
    plan: ShardPlan
    job: ArrayJob
    first_input: str
    skipped: int
    bill: Bill | None = None
    index: CampaignIndex | None = None  # what the submission was decided on


def glasskit_command() -> list[str]:
    exe = Path(sys.executable).parent / "glasskit"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "glasskit"]


def _validate(stage: str, spec: Spec, array: ArraySpec | None, profile: ClusterProfile, ranks: int | None) -> int:
    """The checks of a submission that need no campaign state; returns the ranks per task."""
    if stage not in STAGES:
        raise GlasskitError(f"unknown stage {stage!r}", f"choose one of: {', '.join(STAGES)}")
    if array:
        check_within(array, spec.campaign.n_sims, spec.campaign.name)
    if (profile.preemptible or profile.time_min) and stage == "simulate" and spec.engine.checkpoint_every == 0:
        why = "preemptible" if profile.preemptible else "set to start tasks short (time_min)"
        raise GlasskitError(f"cluster '{profile.name}' is {why} but {spec.path} turns checkpoints off "
                            "([engine] checkpoint_every = 0): a stopped task would lose its simulations whole",
                            "set [engine] checkpoint_every (the default is 5 frames), or use another profile")
    ranks = profile.ranks_per_task if ranks is None else ranks
    if not 1 <= ranks <= profile.cores_per_node:
        raise GlasskitError(f"--ranks {ranks} must be between 1 and the {profile.cores_per_node} cores per node of "
                            f"cluster '{profile.name}' (one task's ranks share a node)",
                            f"use --ranks {profile.cores_per_node} or fewer")
    return ranks


def prepare(stage: str, spec: Spec, array: ArraySpec | None, profile: ClusterProfile,
            ranks: int | None = None, submission: str | None = None,
            exe: list[str] | None = None, redo: bool = False) -> list[Prepared]:
    """Validate and render; one :class:`Prepared` array job per cost class (empty when every
    requested simulation is already done or running).
    ``redo``: also re-run requested simulations that ``verify`` condemns although they are done."""
    ranks = _validate(stage, spec, array, profile, ranks)
    campaign = Campaign.of(spec)
    requested = array.indices if array else tuple(range(spec.campaign.n_sims))
    todo, index = _todo(stage, campaign, requested, redo)
    if not todo:
        return []
    classes = _classes(spec, stage, todo, profile, ranks)
    if len(classes) > 1:
        logger.info("%d cost classes (%s): one array job each, so short tasks ask for short times", len(classes),
                    ", ".join(f"{len(c)} x t_cool {int(spec.t_cool_of([c[0]])[0]):.0e}" for c in classes))
    preps = []
    for k, sims in enumerate(classes):
        sub = submission or new_submission_id()
        sub = f"{sub}-c{k}" if len(classes) > 1 and submission else sub
        preps.append(_render(stage, spec, campaign, sims, profile, ranks, array, sub, exe))
        preps[-1].index = index
    preps[0].skipped = len(requested) - len(todo)
    return preps


def _classes(spec: Spec, stage: str, todo: list[int], profile: ClusterProfile, ranks: int) -> list[list[int]]:
    """The cost classes of ``todo`` (:func:`cost_classes`), merged where they would ask for the
    same --time anyway: a split only ever shortens what the cheaper tasks ask for."""
    def asks(sims):
        p = make_plan(sims, min(ranks, len(sims)), profile.max_array_size, costs=stage_costs(spec, stage, sims))
        return estimate(spec, stage, p, profile, 0).request_min
    merged: list[list[int]] = []
    for c in cost_classes(todo, stage_costs(spec, stage, todo)):
        if merged and asks(c) == asks(merged[-1]):
            merged[-1] = sorted(merged[-1] + c)
        else:
            merged.append(c)
    return merged


def _todo(stage: str, campaign: Campaign, requested, redo: bool) -> tuple[list[int], CampaignIndex]:
    """The requested simulations that are neither done nor running (plus, with ``redo``, the
    done ones verify condemns), and the index they were decided on (each shard read once);
    minimize keeps only those with a completed trajectory."""
    if redo:  # verify reads every shard anyway: the index comes from the same pass
        from glasskit.campaign.verify import verify
        rep = verify(campaign, stages=("simulate", stage) if stage == "minimize" else (stage,))
        index = rep.index
    else:
        index = CampaignIndex.scan(campaign, stages=("simulate", "minimize") if stage == "minimize" else (stage,))
    answer = live(campaign, (stage,))
    simulated = index["simulate"].done if stage == "minimize" else None
    st = stage_status(index, stage, answer, simulated=simulated)
    todo = [i for i in requested if i not in st.done and i not in st.running]
    if redo:
        condemned = rep.condemned.get(stage, set()) - st.running
        again = sorted(condemned & set(requested) & st.done)
        logger.info("--redo: verify condemns %d done simulation(s) of the request: %s", len(again),
                    _short(format_ranges(again)) if again else "none")
        todo = sorted(set(todo) | set(again))
    if stage == "minimize" and todo:
        waiting = [i for i in todo if i not in simulated]
        if waiting:
            logger.warning("%d simulation(s) have no completed trajectory yet and are left out of "
                           "minimize: %s", len(waiting), _short(format_ranges(waiting)))
        todo = [i for i in todo if i in simulated]
        if not todo and waiting:
            raise GlasskitError("none of the requested simulations has a completed trajectory to minimize",
                                "run glasskit submit simulate for them first")
    return todo, index


def _render(stage: str, spec: Spec, campaign: Campaign, todo: list[int], profile: ClusterProfile, ranks: int,
            array: ArraySpec | None, submission: str, exe: list[str] | None) -> Prepared:
    """One array job of ``todo``: plan, bill, sbatch script, first LAMMPS input."""
    if ranks > len(todo):
        logger.info("%d rank(s) per task capped at the %d simulation(s) of this array", ranks, len(todo))
        ranks = len(todo)
    plan = make_plan(todo, ranks, profile.max_array_size, costs=stage_costs(spec, stage, todo))
    bill = estimate(spec, stage, plan, profile, estimate_bytes(spec, stage, plan.sims))
    log_dir = campaign.log_dir(submission)
    safe_for_sbatch(log_dir, "log directory")
    sims = format_ranges(plan.sims)
    command = (exe or glasskit_command()) + [
        "run", stage, "--spec", str(Path(spec.path).absolute()), "--workdir", str(campaign.workdir),
        "--sims", sims, "--tasks", str(plan.n_tasks), "--ranks", str(ranks), "--submission", submission,
        "--balance", "cost"]
    launch = profile.launch_command(ranks)
    throttle = array.throttle if array else None
    shard_dir = campaign.shard_dir(stage, submission)
    safe_for_sbatch(shard_dir, "shard directory")
    from glasskit.stages.task import EXIT_REQUEUE
    script = render("slurm/array.sbatch.j2", directives=array_directives(spec, stage, plan, profile, bill, throttle,
                                                                         log_dir),
                    campaign=spec.campaign.name, submission=submission, modules=list(profile.modules),
                    # one thread per rank: each rank is one core's simulation (lj/cut/omp included)
                    env=[("OMP_NUM_THREADS", "1"), *profile.env],
                    n_tasks=plan.n_tasks, ranks=ranks, sims=_short(sims),
                    launch=shlex.join(launch), command=shlex.join(command),
                    requeue=bill.requeue, warn_s=bill.warn_s, stop_dir=str(shard_dir), exit_requeue=EXIT_REQUEUE)
    first, data = plan.sims[0], campaign.workdir / "init.data"
    first_input = (cool_input(spec, data, first, int(simulation_seeds(spec.campaign.seed, [first])[0]),
                              int(spec.t_cool_of([first])[0]))
                   if stage == "simulate" else minimize_input(spec, data))
    job = ArrayJob(stage, submission, plan.n_tasks, ranks, throttle, command, launch, script, log_dir,
                   shard_dir, profile)
    return Prepared(campaign, profile, plan, job, first_input, 0, bill)


def array_directives(spec: Spec, stage: str, plan: ShardPlan, profile: ClusterProfile, bill: Bill,
                     throttle: int | None, log_dir: Path) -> list[str]:
    """The #SBATCH options of an array job: one node per task (the whole node, exclusive, when
    the task's ranks fill it), the time its bill needs; when its tasks can continue from their
    checkpoints, a requeue on Slurm's warning before the limit (``--signal`` to the batch shell,
    ``--requeue``, the log appended to, ``--time-min`` where the profile allows backfill to start
    it shorter); then the site's own options."""
    ranks = plan.ranks_per_task
    d = [("job-name", f"gk-{spec.campaign.name}-{stage}"),
         ("array", plan.array + (f"%{throttle}" if throttle else "")),
         ("nodes", 1), ("ntasks", ranks), ("cpus-per-task", 1)]
    if ranks == profile.cores_per_node:
        d.append(("exclusive", None))
    d += [("mem-per-cpu", profile.memory_per_rank), ("time", slurm_time(bill.request_min)),
          ("output", f"{log_dir}/%A_%a.out")]
    if bill.requeue:
        d += [("requeue", None), ("signal", f"B:USR1@{bill.warn_s}"), ("open-mode", "append")]
        if profile.time_min:
            d.append(("time-min", profile.time_min))
    return [k if v is None else f"{k}={v}" for k, v in d + profile.site_directives()]


def _short(ranges: str, limit: int = 60) -> str:
    return ranges if len(ranges) <= limit else ranges[:limit] + "..."


def submit(stage: str, spec_path: str, array_text: str | None, cluster: str, executor: str | None,
           dry_run: bool = False, workdir: str | None = None, ranks: int | None = None, out=print,
           redo: bool = False, allow_long: bool = False, as_json: bool = False) -> int:
    """The ``glasskit submit`` command; returns the exit code.

    Deciding what to run and recording the submission happen under the campaign's submit lock,
    so two submits of the same array at once never claim the same simulation: the second one
    sees the first's record and skips what it runs."""
    array = parse_array(array_text) if array_text is not None else None
    spec = load_spec(spec_path, workdir)
    profile = load_cluster(cluster)
    ex = get_executor(executor)
    if dry_run:  # a dry run shows the script even where the scheduler is not reachable
        _plan(stage, spec, array, profile, ranks, ex, out, dry_run=True, redo=redo, allow_long=allow_long)
        return 0
    ex.check(profile)
    campaign = Campaign.of(spec)
    _validate(stage, spec, array, profile, ranks)  # before the campaign directory is created
    lammps_class()  # a missing LAMMPS fails here, before anything is written
    from glasskit.stages.engine import check_engine
    logger.info("engine: %s", check_engine(spec.engine))  # a missing accelerator package fails here
    existed = campaign.workdir.exists()
    check_writable(campaign.workdir)
    with submit_lock(campaign.workdir) as lock:
        try:
            preps = _plan(stage, spec, array, profile, ranks, ex, out, redo=redo, allow_long=allow_long)
        except GlasskitError:
            if not existed:  # a refused first submission leaves no campaign directory behind
                lock.release()
                _remove_if_only_lock(campaign.workdir)
            raise
        if not preps:
            if as_json:
                print(json.dumps({"submissions": []}), file=sys.stdout)
            return 0
        code, records = _launch(preps, ex, spec, lock.release)
    if as_json:  # stdout carries the JSON; the human output went to stderr
        print(json.dumps({"submissions": records}, indent=1), file=sys.stdout)
    return code


def _remove_if_only_lock(workdir: Path) -> None:
    try:
        if {p.name for p in workdir.iterdir()} <= {".submit.lock"}:
            (workdir / ".submit.lock").unlink(missing_ok=True)
            workdir.rmdir()
    except OSError:
        pass


LOCAL_LIMIT_H = 24.0  # a local submission that needs longer than this on this machine is refused


def check_local(stage: str, preps: list, dry_run: bool, allow_long: bool, out) -> None:
    """A local run is bounded by this machine: a bill that needs more than a day of its cores
    (the paper campaign without --spec: ~32,000 core-hours) is refused, naming the bill and the
    flag that overrides it; a dry run says so in its output."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    core_h = sum(p.bill.core_hours for p in preps)
    hours = core_h / cores
    if hours <= LOCAL_LIMIT_H or allow_long:
        return
    text = (f"this local {stage} needs {core_h:,.1f} core-hours: about {hours:,.0f} h on this machine's {cores} "
            f"core(s), more than {LOCAL_LIMIT_H:g} h")
    fix = ("check --spec (the default is the paper's 20,000-simulation campaign) and --array; submit it to Slurm "
           "with --cluster NAME, or pass --allow-long to run it here anyway")
    if dry_run:
        out(f"# refused without --allow-long: {text}")
        return
    raise GlasskitError(text, fix)


def _plan(stage, spec, array, profile, ranks, ex, out, dry_run: bool = False, redo: bool = False,
          allow_long: bool = False) -> list[Prepared]:
    """Validate, plan, bill (and print a dry run); empty when there is nothing to submit."""
    preps = prepare(stage, spec, array, profile, ranks, redo=redo)
    if not preps:
        logger.info("every requested simulation of '%s' is already done or running: nothing to submit",
                    spec.campaign.name)
        return []
    if preps[0].skipped:
        logger.info("%d requested simulation(s) already done or running are skipped", preps[0].skipped)
    for k, prep in enumerate(preps):
        bal, bill = prep.plan.balance, prep.bill
        logger.info("%d simulation(s) -> %d array task(s) x %d rank(s) (max array size %d); balanced by cost "
                    "(t_cool x N): longest task %.2fx the mean, longest rank %.2fx", len(prep.plan.sims),
                    prep.plan.n_tasks, prep.job.ranks, prep.profile.max_array_size, bal["task"], bal["rank"])
        if prep.profile.charge == "node" and prep.job.ranks < prep.profile.cores_per_node:
            logger.warning("cluster '%s' charges whole nodes: each task is billed %d cores and uses %d",
                           prep.profile.name, prep.profile.cores_per_node, prep.job.ranks)
        if dry_run:
            if len(preps) > 1:
                out(f"{'' if k == 0 else chr(10)}# ==== array job {k + 1} of {len(preps)} (cost class {k}) ====")
            out(prep.job.script.rstrip("\n"))
            what = f"simulation {prep.plan.sims[0]}" if stage == "simulate" else "minimizer, reused per frame"
            out(f"\n# ---- first LAMMPS input ({what}) ----")
            out(prep.first_input.rstrip("\n"))
            out("\n" + "\n".join(bill.lines()))
        else:
            logger.info("estimate: %s", "; ".join(line.lstrip("# ") for line in bill.lines()))
        if ex.name == "slurm":  # the local executor has no time limit
            check_fits(spec, stage, prep.plan, prep.profile, bill)
    if ex.name == "local":
        check_local(stage, preps, dry_run, allow_long, out)
    if dry_run:
        logger.info("dry run (%s executor): nothing written, nothing submitted", ex.name)
        return []
    return preps


def _launch(preps: list[Prepared], ex, spec: Spec, unlock=lambda: None) -> tuple[int, list[dict]]:
    """Write each array job's script and record, then run (local) or submit (Slurm) them;
    returns the exit code and each submission's record (with its path and job id)."""
    campaign = preps[0].campaign
    lammps_class()  # a missing LAMMPS fails here, before anything is written
    check_writable(campaign.workdir)
    check_space(campaign.workdir, sum(estimate_bytes(spec, p.job.stage, p.plan.sims) for p in preps))
    ensure_initial(spec, campaign.workdir)
    campaign.submissions_dir.mkdir(parents=True, exist_ok=True)
    bases = []
    for prep in preps:
        job = prep.job
        script_path = campaign.submissions_dir / f"{job.submission}.sbatch"
        replace_text(script_path, job.script)
        if job.stage == "minimize" and prep.index is not None:  # the tasks read this, not every shard
            prep.index.write_slice(campaign.slice_path(job.submission), prep.plan.sims)
        base = {"submission": job.submission, "stage": job.stage, "sims": format_ranges(prep.plan.sims),
                "n_tasks": job.n_tasks, "ranks": job.ranks, "balance": "cost",
                "spec": str(Path(spec.path).absolute()), "script": str(script_path),
                "submitted": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if ex.name == "local":  # claimed: later submits see these simulations as running
            campaign.record(job.submission, {**base, "executor": "local", "pid": os.getpid(),
                                             "host": socket.gethostname(), "finished": False})
        bases.append((prep, base, script_path))
    if ex.name == "local":
        unlock()
    code, records = 0, []
    for prep, base, script_path in bases:
        job = prep.job
        result = ex.submit(job, script_path)
        path = campaign.record(job.submission, {**base, **result})
        logger.info("submission %s%s recorded in %s", job.submission,
                    f" (Slurm job {result['job_id']})" if result.get("job_id") else "", path)
        records.append({**base, **result, "record": str(path)})
        if result.get("failed_tasks"):
            _report_failures(campaign, job, result["failed_tasks"])
            code = 1
    return code, records


def _report_failures(campaign, job, tasks: list[int]) -> None:
    """Name the simulations of failed local tasks, with their first error and where to look."""
    from glasskit.campaign.shard import read_failures
    failures: dict[int, str] = {}
    for t in tasks:
        failures.update(read_failures(campaign.shard_path(job.stage, job.submission, t)))
    if failures:
        sims = sorted(failures)
        first = failures[sims[0]]
        logger.error("%s failed for simulation(s) %s (first: %s): see %s and glasskit status; "
                     "re-submitting the same command retries them", job.stage, format_ranges(sims)[:200], first,
                     job.log_dir)
    else:
        logger.error("task(s) %s ended without finishing their simulations: see %s", format_ranges(tasks),
                     job.log_dir)


def estimate_bytes(spec: Spec, stage: str, sims) -> int:
    """Upper bound of the shard bytes a submission writes: one float32 position array per frame
    (positions are stored once in both stages) and its per-frame numbers; mpio shards are
    uncompressed, serial ones smaller (gzip: ~0.79 of this for liquid frames)."""
    frames = sum(spec.n_frames(int(t)) for t in spec.t_cool_of(list(sims)))
    per_frame = spec.system.n_atoms * 2 * 4 + 64
    return frames * per_frame
