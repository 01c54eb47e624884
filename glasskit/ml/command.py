"""``glasskit submit train|cv|search``: resolve the settings, validate everything, then hand
over to one training run (:mod:`~glasskit.ml.submit`), a cross-validation (:mod:`~glasskit.ml.cv`)
or a search (:mod:`~glasskit.ml.search.tune`); with the Slurm executor a search's driver is a
Slurm job of its own (:class:`SearchDriver`), so nothing of it stays on the login node.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import submitit

from glasskit.batch.cluster import ClusterProfile, minutes
from glasskit.campaign.layout import Campaign
from glasskit.util.errors import GlasskitError
from glasskit.util.log import logger
from glasskit.ml.launch import Launcher, driver_params
from glasskit.ml.submit import Inputs, check_batch, pinned, submit_train


def submit_learning(stage: str, model: str, dataset: int, *, preset=None, hp=None, spec_path: str,
                    workdir=None, cluster="local", executor=None, tasks=1, models="jobs/models.toml",
                    datasets="jobs/datasets.toml", wait=False, dry_run=False, folds=3, search=None,
                    out=print, report: dict | None = None) -> int:
    """``glasskit submit train|cv|search``: validate everything, then launch; returns the exit
    code; ``report`` (a dict) receives the ids and paths the command made (``--json``). ``search``: {evals, workers, mongo, mongo_host, stale_after, driver} of a TPE search
    (``search`` and ``cv --search``); ``driver`` "slurm" (the default with the Slurm executor)
    submits this very call, with ``driver`` "here", as a Slurm job and returns."""
    from glasskit.batch.cluster import load_cluster
    from glasskit.campaign.spec import load_spec
    from glasskit.ml.config import load_models, parse_overrides, resolve
    spec = load_models(models)
    overrides = parse_overrides(hp)
    cfg = resolve(spec, model, dataset, preset, overrides)
    inputs = Inputs(Campaign.of(load_spec(spec_path, workdir)), spec_path, datasets)
    if search is not None and tasks != 1:
        raise GlasskitError("--tasks is for train and cv runs", "a search runs each trial in one worker process")
    launcher = Launcher.of(executor, tasks, load_cluster(cluster))
    if launcher.kind == "slurm":  # the run, search and CV folders go into submitit's #SBATCH lines
        from glasskit.util.render import safe_for_sbatch
        safe_for_sbatch(inputs.campaign.workdir, "work directory")
    check_batch(cfg, tasks)
    report = {} if report is None else report
    if stage == "train":
        code, run_dir = submit_train(cfg, inputs, launcher, dry_run, wait, out=out)
        from glasskit.ml import runs
        st = runs.state(run_dir)
        report.update(run=run_dir.name, run_dir=str(run_dir), state=st.state, detail=st.detail, dry_run=dry_run)
        return code
    searcher = None
    if search is not None:
        from glasskit.ml.search.tune import Tuner
        search = dict(search)
        driver = search.pop("driver", None) or ("slurm" if launcher.kind == "slurm" else "here")
        if driver == "slurm" and launcher.kind != "slurm":
            raise GlasskitError("--driver slurm needs --executor slurm", "leave out --driver to run it here")
        searcher = Tuner(cfg, inputs, pinned(spec.search.get(cfg.model, {}), overrides), launcher,
                         dry_run=dry_run, out=out, report=report, **search)
        if driver == "slurm":  # everything validated: the driver goes onto a compute node
            args = dict(stage=stage, model=model, dataset=dataset, preset=preset, hp=hp,
                        cluster=launcher.profile.source or cluster,
                        executor=executor, tasks=tasks, folds=folds, search={**search, "driver": "here"},
                        spec_path=os.path.abspath(spec_path), models=os.path.abspath(models),
                        datasets=os.path.abspath(datasets),
                        workdir=str(inputs.campaign.workdir.absolute()))
            folder = inputs.campaign.workdir / "searches" / "drivers"
            if not dry_run:
                launcher.check()  # the workers' launcher (a CPU-only torch on GPUs...), refused here, not in the job
                return submit_driver(args, launcher.profile, folder, out)
            out(driver_preview(launcher.profile, folder))
    if stage == "search":
        return searcher.whole_dataset()
    if not 2 <= folds <= 20:
        raise GlasskitError(f"--folds {folds} must be between 2 and 20")
    from glasskit.ml.cv import run_cv
    return run_cv(cfg, inputs, launcher, folds, dry_run, choose=searcher, out=out, report=report)


@dataclass
class SearchDriver:
    """The search driver as a Slurm job: runs ``submit_learning(**args)`` (with ``driver``
    "here") on a compute node; that submits the worker jobs and keeps them fed."""

    args: dict

    def __call__(self) -> int:
        from glasskit.util.log import setup
        setup()
        try:
            code = submit_learning(**self.args)
        except GlasskitError as exc:  # an input problem: one line in the job log, no traceback
            print(f"glasskit: error: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None
        if code:
            raise SystemExit(code)
        return code


def _driver_launcher(profile: ClusterProfile) -> Launcher:
    return Launcher("slurm", 1, profile, minutes(profile.time), driver_params(profile), on_gpus=False)


def driver_preview(profile: ClusterProfile, folder: Path) -> str:
    """What a dry run shows of the driver job (the workers' scripts follow in the search's)."""
    launcher = _driver_launcher(profile)
    return "\n".join(["# ==== the search driver, a Slurm job of its own ====",
                      launcher.preview(folder).replace("(1 DDP process(es))", "(the driver)"),
                      "# ==== what the driver runs ===="])


def submit_driver(args: dict, profile: ClusterProfile, folder: Path, out) -> int:
    """Submit the driver job and return: nothing of the search stays on this host (the caller
    has checked the workers' launcher, Slurm included)."""
    launcher = _driver_launcher(profile)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        job = launcher.executor(folder).submit(SearchDriver(args))
    except submitit.core.utils.FailedJobError as exc:
        raise GlasskitError(f"the search driver could not be submitted: {str(exc).strip().splitlines()[-1]}",
                            "check that Slurm runs (sinfo), or use --driver here") from None
    logger.info("search driver: Slurm job %s (log %s); it submits the workers. Nothing runs on this host: watch "
                "it with glasskit status", job.job_id, folder / f"{job.job_id}_0_log.err")
    out(f"search driver submitted: Slurm job {job.job_id}")
    return 0
