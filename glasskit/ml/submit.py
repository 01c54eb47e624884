"""``glasskit submit train``: resolve, validate, then launch one training run through submitit.

Everything is checked before anything is written: the model settings, the dataset (both
classes present, enough simulations for the split), the campaign file, the executor and the
task count. A run that is already done is not redone; one that is still running is not started
twice; one that was interrupted resumes from its last epoch checkpoint.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
import os
from pathlib import Path

import numpy as np

from glasskit.campaign.layout import Campaign
from glasskit.util.errors import GlasskitError
from glasskit.util.log import logger
from glasskit.ml import runs
from glasskit.ml.config import RunConfig, config_json
from glasskit.ml.launch import Launcher, TrainTask, wait


@dataclass
class Inputs:
    """Where a training run reads from."""

    campaign: Campaign
    spec_path: str
    datasets: str = "jobs/datasets.toml"

    @property
    def campaign_file(self) -> Path:
        from glasskit.campaign.store import CAMPAIGN_FILE
        path = self.campaign.workdir / CAMPAIGN_FILE
        if not path.is_file():
            raise GlasskitError(f"campaign file {path} does not exist",
                                f"run glasskit collect --spec {self.spec_path} first")
        return path

    def run_dir(self, cfg: RunConfig, splits: dict | None = None, prefix: str = "") -> Path:
        """Where the run of ``cfg`` (on ``splits``) lives: models/<run id>. The id covers the
        settings, the split and :meth:`data_identity`: a redefined dataset or a campaign with
        other simulations done is another run, never "already done"."""
        return self.campaign.workdir / runs.MODELS_DIR / runs.run_id(cfg, splits, prefix,
                                                                     self.data_identity(cfg.dataset))

    def data_identity(self, dataset: int) -> dict:
        """What a run's result depends on besides its settings: the dataset's definition in
        ``datasets``, the campaign's physics (the spec's values, not its comments or paths) and
        which of its simulations are done (``/sim/done`` of the campaign file)."""
        import dataclasses
        import hashlib

        import h5py

        from glasskit.campaign.store import sources_sha1
        from glasskit.data.datasets import load_datasets
        _, defs = load_datasets(self.datasets)
        d = defs.get(dataset)
        spec = self.campaign.spec
        physics = {k: dataclasses.asdict(getattr(spec, k)) for k in ("system", "init", "protocol", "minimize")}
        physics["campaign"] = {"seed": spec.campaign.seed, "runs": [dataclasses.asdict(g) for g in spec.campaign.runs]}
        try:
            with h5py.File(self.campaign_file, "r", locking=False) as f:
                done = np.asarray(f["sim/done"][...], dtype=bool)
                sources = sources_sha1(f)  # a --redo repair makes the run stale
        except (OSError, KeyError) as exc:
            raise GlasskitError(f"campaign file {self.campaign_file} is unreadable ({exc})",
                                f"re-run glasskit collect --spec {self.spec_path}") from None
        sha = lambda b: hashlib.sha1(b).hexdigest()[:12]  # noqa: E731
        return {"dataset": {"liquid": dataclasses.asdict(d.liquid), "glass": dataclasses.asdict(d.glass)} if d else None,
                "physics": sha(json.dumps(physics, sort_keys=True).encode()), "done": sha(np.packbits(done).tobytes()),
                "sources": sources[:12]}


def check_dataset(inputs: Inputs, cfg: RunConfig):
    """Load the dataset's samples once and check, before anything is submitted, that both classes
    exist, that the configured split can be drawn and that one sample makes a model input (a
    window too small for k neighbours fails here, not inside a job). Returns the table."""
    from glasskit.ml.samples import load_samples, split
    from glasskit.ml.train import check_input
    table = load_samples(inputs.campaign_file, inputs.spec_path, cfg.dataset, inputs.datasets)
    split(table, cfg.train.split, cfg.train.seed, cfg.train.group_by)
    check_input(cfg, table)
    return table


def prepare(cfg: RunConfig, inputs: Inputs, launcher: Launcher, run_dir: Path,
            splits: dict | None) -> TrainTask:
    """Create the run directory, record its config.json (what analysis/ reads back) and
    return the submitit callable."""
    spec, datasets = str(Path(inputs.spec_path).absolute()), str(Path(inputs.datasets).absolute())
    run_dir.mkdir(parents=True, exist_ok=True)
    runs.write_json(run_dir / "config.json", {"config": cfg.as_dict(), "campaign": str(inputs.campaign_file),
                                              "spec": spec, "datasets": datasets, "splits": splits})
    return TrainTask(str(run_dir), cfg.as_dict(), str(inputs.campaign_file), spec, datasets, splits,
                     local=launcher.kind == "local", threads=_threads(launcher),
                     gpus=launcher.profile.gpus_per_node if launcher.kind == "slurm" else 0)


def submit_train(cfg: RunConfig, inputs: Inputs, launcher: Launcher, dry_run: bool = False,
                 wait_for_it: bool | None = None, splits: dict | None = None, prefix: str = "",
                 out=print) -> tuple[int, Path]:
    """Launch (or resume) one run; returns (exit code, run directory). Local runs are waited
    for; Slurm runs only with ``wait_for_it``."""
    run_dir = inputs.run_dir(cfg, splits, prefix)
    rid = run_dir.name
    if dry_run:
        return _dry_run(cfg, inputs, launcher, run_dir, splits, out), run_dir
    if _settled(runs.state(run_dir)):
        return 0, run_dir
    if splits is None:
        check_dataset(inputs, cfg)  # every check before anything is written
    launcher.check()
    with runs.Decision(run_dir):  # decide and record under one lock: never two writers
        st = runs.state(run_dir)
        if _settled(st):  # another submit got here first
            return 0, run_dir
        task = prepare(cfg, inputs, launcher, run_dir, splits)
        if st.state == "interrupted":
            logger.info("run %s resumes: %s", rid, st.detail)
        job = launcher.executor(run_dir / "submitit").submit(task)
        runs.write_json(run_dir / "run.json", launcher.record(job))
    logger.info("%s job %s: run %s, %d process(es); logs in %s", launcher.kind, job.job_id, rid,
                launcher.tasks, run_dir / "submitit")
    if launcher.kind == "slurm" and not wait_for_it:
        return 0, run_dir
    return finish(job, run_dir), run_dir


def _settled(st: runs.RunState) -> bool:
    """True when a run needs no job (done, or running already); a damaged run is refused."""
    if st.state == "done":
        logger.info("run %s is already done (%s): nothing to submit", st.run, st.detail)
        return True
    if st.state == "running":
        logger.info("run %s is already running (%s): not started twice", st.run, st.detail)
        return True
    if st.state == "unknown":  # squeue did not answer: its job may well run; never start it twice
        logger.warning("run %s: %s", st.run, st.detail)
        return True
    if st.state == "damaged":
        raise GlasskitError(f"run {st.run} is damaged: {st.detail.split('; ')[0]}", st.detail.split("; ", 1)[1])
    return False


def _dry_run(cfg, inputs, launcher, run_dir: Path, splits, out) -> int:
    st = runs.state(run_dir)
    if st.state in ("done", "running"):
        logger.info("run %s is already %s (%s): nothing would be submitted", run_dir.name, st.state, st.detail)
        return 0
    if splits is None:
        check_dataset(inputs, cfg)
    out(f"# run {run_dir.name} -> {run_dir}")
    out(config_json(cfg))
    out(launcher.preview(run_dir / "submitit"))
    logger.info("dry run: nothing written, nothing submitted")
    return 0


def finish(job, run_dir: Path) -> int:
    """Wait for ``job``; 0 when it wrote its metrics, else 1 with the reason logged."""
    if wait(job, run_dir) is None or not (run_dir / "metrics.json").is_file():
        logger.error("run %s failed: %s", run_dir.name, runs.state(run_dir).detail)
        return 1
    logger.info("run %s done: %s (outputs in %s)", run_dir.name, runs.state(run_dir).detail, run_dir)
    return 0


def _threads(launcher: Launcher) -> int:
    """Intra-op threads per process for local runs, so N processes do not oversubscribe."""
    return max(1, (os.cpu_count() or 1) // launcher.tasks) if launcher.kind == "local" else 0


def pinned(dims: dict, overrides: dict) -> dict:
    """The search dimensions left after ``--hp`` pinned some: a value given on the command line
    is kept, the search varies the rest."""
    fixed = sorted(set(dims) & set(overrides))
    if fixed:
        left = [k for k in dims if k not in overrides]
        if not left:
            raise GlasskitError(f"--hp pins every searched setting ({', '.join(fixed)})",
                                "drop one --hp, or train with glasskit submit train")
        logger.info("--hp pins %s: the search varies %s", ", ".join(fixed), ", ".join(left))
    return {k: d for k, d in dims.items() if k not in overrides}


def check_batch(cfg, tasks: int) -> None:
    """``batch`` is the global batch: each of ``tasks`` DDP processes takes batch / tasks of it."""
    if cfg.batch % tasks:
        raise GlasskitError(f"batch {cfg.batch} of the {cfg.model} is the global batch and does not divide "
                            f"over --tasks {tasks}",
                            f"use --hp batch={max(tasks, cfg.batch - cfg.batch % tasks)} or a --tasks that "
                            f"divides {cfg.batch}")
