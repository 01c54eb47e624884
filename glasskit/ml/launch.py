"""Training jobs launched by submitit: N DDP processes here or on Slurm.

:class:`TrainTask` is the callable submitit pickles; every task of the job runs it. It joins the
process group (gloo on CPU, NCCL on GPU) from submitit's ``TorchDistributedEnvironment``, loads
the dataset's samples from the campaign file, and calls :func:`glasskit.ml.train.train`. It is
``Checkpointable``: on a Slurm time-out or preemption submitit requeues it and training goes on
from the last epoch checkpoint in the run directory.

:func:`make_executor` gives ``submitit.LocalExecutor`` (``--executor local``, the embedded
default where Slurm is absent) or ``submitit.SlurmExecutor`` with the cluster profile's
partition, GPUs per node and time limit; :func:`sbatch_preview` renders the script submitit
would submit, for ``--dry-run``.
"""
from __future__ import annotations

import os
import shlex
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import submitit

from glasskit.batch.cluster import ClusterProfile, minutes  # noqa: F401 - minutes: Slurm times for submitit
from glasskit.util.errors import GlasskitError
from glasskit.util.log import logger
from glasskit.ml import runs

LOG_TAIL = 6


@dataclass
class TrainTask(submitit.helpers.Checkpointable):
    """One training run; ``splits`` maps train/val/test to lists of [sim, frame] (None: the
    run draws its own split from the config's fractions and seed)."""

    run_dir: str
    config: dict
    campaign_file: str
    spec: str
    datasets: str
    splits: dict | None = None
    local: bool = True
    threads: int = 0
    gpus: int = 0           # the GPUs per node the profile promises (0: CPU processes)

    def __call__(self) -> dict:
        from glasskit.util.log import setup
        setup()
        try:
            return _run(self)
        except GlasskitError as exc:  # an input problem: one line in the task log, no traceback
            print(f"glasskit: error: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None

    def checkpoint(self, *args, **kwargs):
        logger.info("checkpointing %s: it will resume from its last epoch", self.run_dir)
        return submitit.helpers.DelayedSubmission(self)


def dist_env(local: bool, gpus: int = 0):
    import torch
    from glasskit.ml.train import Dist
    try:
        env = submitit.JobEnvironment()
        world, rank = env.num_tasks, env.global_rank
    except RuntimeError:  # called outside submitit (a bench, a test): one process
        world, rank = 1, 0
    cuda = torch.cuda.is_available()
    if gpus and not cuda:
        raise GlasskitError(f"this node ({socket.gethostname()}) shows no usable GPU to torch {torch.__version__} "
                            f"although the cluster profile promises {gpus} per node",
                            "check the [gpu] partition/constraint of the profile and that torch is a CUDA build")
    device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    if world > 1:
        denv = submitit.helpers.TorchDistributedEnvironment()
        if local:
            denv.master_addr = "127.0.0.1"  # the local executor's hostname need not resolve
        denv.export(set_cuda_visible_devices=False, overwrite=True)
        if cuda:
            torch.cuda.set_device(denv.local_rank % torch.cuda.device_count())
            device = torch.device("cuda", torch.cuda.current_device())
        torch.distributed.init_process_group(backend="nccl" if cuda else "gloo")
    return Dist(rank, world, device)


def _run(task: TrainTask) -> dict:
    import torch
    from glasskit.ml.config import RunConfig
    from glasskit.ml.samples import indices, load_samples, split
    from glasskit.ml.train import train
    cfg = RunConfig.from_dict(task.config)
    if task.threads:
        torch.set_num_threads(task.threads)
    dist = dist_env(task.local, task.gpus)
    try:
        table = load_samples(task.campaign_file, task.spec, cfg.dataset, task.datasets)
        if task.splits:
            parts = indices(table, task.splits)
        else:
            parts = dict(zip(("train", "val", "test"),
                             split(table, cfg.train.split, cfg.train.seed, cfg.train.group_by)))
        metrics = train(Path(task.run_dir), cfg, table, parts, dist)
    finally:
        if dist.world > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    return {"run": Path(task.run_dir).name, "test": metrics["test"], "rank": dist.rank}


@dataclass
class Launcher:
    """Where and how a training job runs: ``local`` (submitit.LocalExecutor) or ``slurm``, on
    the profile's ``[gpu]`` nodes: one process per GPU with its CPUs and host memory."""

    kind: str
    tasks: int
    profile: ClusterProfile
    timeout_min: int = 0
    params: dict = field(default_factory=dict)
    on_gpus: bool = True     # a training job ([gpu] nodes); False: the search driver

    @classmethod
    def of(cls, executor: str | None, tasks: int, profile: ClusterProfile) -> "Launcher":
        import shutil
        if not 1 <= tasks <= 1024:
            raise GlasskitError(f"--tasks {tasks} must be between 1 and 1024")
        kind = executor or ("slurm" if shutil.which("sbatch") else "local")
        if executor is None and kind == "local":
            logger.info("no Slurm on this machine (sbatch not found): training with submitit's local executor")
        if kind not in ("local", "slurm"):
            raise GlasskitError(f"unknown executor {kind!r}", "use --executor slurm or --executor local")
        g = profile.gpu
        timeout = minutes(g.time or profile.time)
        if kind == "local":
            cores = os.cpu_count() or 1
            if tasks > cores:
                raise GlasskitError(f"--tasks {tasks} exceeds the {cores} cores of this machine",
                                    f"use --tasks {cores} or fewer, or --executor slurm")
            return cls(kind, tasks, profile, timeout, {"tasks_per_node": tasks, "timeout_min": timeout})
        if g.gpus_per_node and tasks > g.gpus_per_node:
            raise GlasskitError(f"--tasks {tasks} exceeds the {g.gpus_per_node} GPUs per node of cluster "
                                f"'{profile.name}'", f"use --tasks {g.gpus_per_node} or fewer (one process per GPU)")
        return cls(kind, tasks, profile, timeout, slurm_params(profile, tasks, timeout, "gk-train"))

    def for_workers(self) -> "Launcher":
        """The launcher of search workers: one process (one GPU where the profile has them) per
        job, named gk-search; the dry run previews exactly this."""
        if self.kind == "local":
            return self
        params = slurm_params(self.profile, 1, self.timeout_min, "gk-search")
        return Launcher(self.kind, 1, self.profile, self.timeout_min, params)

    def executor(self, folder: Path):
        if self.kind == "local":
            ex = submitit.LocalExecutor(folder=str(folder))
        else:
            if self.profile.slurm_conf:
                os.environ["SLURM_CONF"] = self.profile.slurm_conf
            ex = submitit.SlurmExecutor(folder=str(folder), max_num_timeout=3)
        ex.update_parameters(**self.params)
        return ex

    def check(self) -> None:
        """Before a real submission: Slurm reachable, and a CUDA torch for a GPU profile."""
        if self.kind == "slurm":
            from glasskit.batch.executors import SlurmExecutor
            SlurmExecutor().check(self.profile)
            problem = cpu_only_torch(self.profile) if self.on_gpus else ""
            if problem:
                raise GlasskitError(problem, "install a CUDA build of torch into this environment (the site's "
                                    "pytorch module, or the pip/conda CUDA wheel its docs name), or set "
                                    "[gpu] gpus_per_node = 0 to train on CPU nodes")

    def preview(self, folder: Path) -> str:
        """What ``--dry-run`` prints: the submitit parameters and, for Slurm, the sbatch script."""
        lines = [f"# submitit {'SlurmExecutor' if self.kind == 'slurm' else 'LocalExecutor'} "
                 f"parameters ({self.tasks} DDP process(es))"]
        lines += [f"#   {k} = {v!r}" for k, v in sorted(self.params.items())]
        problem = cpu_only_torch(self.profile) if self.kind == "slurm" and self.on_gpus else ""
        if problem:
            lines.append(f"# WARNING: {problem}: a real submission is refused")
        if self.kind == "slurm":
            from submitit.slurm.slurm import _make_sbatch_string
            command = f"{shlex.quote(sys.executable)} -u -m submitit.core._submit {shlex.quote(str(folder))}"
            lines.append(_make_sbatch_string(command=command, folder=str(folder), **self.params))
        return "\n".join(lines)

    def record(self, job) -> dict:
        rec = {"executor": self.kind, "job_id": str(job.job_id), "tasks": self.tasks,
               "host": socket.gethostname(), "submitted": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if self.kind == "slurm":
            rec.update(cluster=self.profile.name, slurm_conf=self.profile.slurm_conf)
        else:  # the local job id is the PID of its process: with its start time, liveness is exact
            rec["pid_start"] = runs.process_start(job.job_id)
        return rec


def slurm_params(profile: ClusterProfile, tasks: int, timeout: int, name: str) -> dict:
    """submitit SlurmExecutor parameters of a training job of ``tasks`` processes on one node of
    the profile's ``[gpu]`` table: site options (partition, account, qos, constraint,
    reservation, extra lines), environment and modules included."""
    g = profile.gpu
    params = {"nodes": 1, "ntasks_per_node": tasks, "time": timeout, "cpus_per_task": g.cpus_per_gpu,
              "job_name": name, "srun_args": ["--kill-on-bad-exit=1"]}
    if g.gpus_per_node:
        params.update(gpus_per_node=tasks, mem_per_gpu=g.memory_per_gpu)
    else:
        params["mem"] = _times(g.memory_per_gpu, tasks)
    return _site(params, profile, True, g.modules or profile.modules, str(g.cpus_per_gpu))  # [gpu]'s own modules


def _site(params: dict, profile: ClusterProfile, gpu: bool, modules, threads: str) -> dict:
    """``params`` plus the site's options, the modules to load and the environment to export."""
    extra = {}
    for key, value in profile.site_directives(gpu=gpu):
        py = key.replace("-", "_")
        if py in ("partition", "account", "qos", "constraint") and value:
            params[py] = value
        else:  # reservation and the profile's extra lines: "--key[=value]"
            extra[py] = value or True
    if extra:
        params["additional_parameters"] = extra
    params["setup"] = [f"module load {shlex.quote(m)}" for m in modules]
    params["setup"] += [f"export {k}={shlex.quote(v)}" for k, v in (("OMP_NUM_THREADS", threads), *profile.env)]
    return params


def _times(memory: str, n: int) -> str:
    """"4G" x 2 -> "8G" (Slurm memory sizes)."""
    digits = memory.rstrip("KMGT")
    return f"{int(digits) * n}{memory[len(digits):]}"


def cpu_only_torch(profile: ClusterProfile) -> str:
    """The problem, when the profile has GPUs but this torch cannot use any; else ''."""
    if not profile.gpu.gpus_per_node:
        return ""
    import torch
    if torch.version.cuda or getattr(torch.version, "hip", None):
        return ""
    return (f"cluster '{profile.name}' trains on {profile.gpu.gpus_per_node} GPU(s) per node, but this Python's "
            f"torch {torch.__version__} is a CPU-only build: every process would silently train on CPU")


def driver_params(profile: ClusterProfile) -> dict:
    """A one-core job on the simulation nodes for as long as the profile allows: the driver
    sleeps between TPE proposals; the trials run in the worker jobs."""
    params = {"nodes": 1, "ntasks_per_node": 1, "cpus_per_task": 1, "mem": "4G", "time": minutes(profile.time),
              "job_name": "gk-search-driver"}
    return _site(params, profile, False, profile.modules, "1")


def wait(job, run_dir: Path, poll: float = 1.0) -> list | None:
    """Wait for ``job``; its results, or None after recording why it failed in run.json."""
    while not job.done():
        time.sleep(poll)
    rec = runs.read_json(run_dir / "run.json")
    try:
        results = job.results()
    except (submitit.core.utils.FailedJobError, submitit.core.utils.UncompletedJobError) as exc:
        reason = _reason(job, str(exc))
        runs.write_json(run_dir / "run.json", {**rec, "ended": True, "error": reason})
        return None
    runs.write_json(run_dir / "run.json", {**rec, "ended": True, "error": ""})
    return results


def _reason(job, fallback: str) -> str:
    """One line saying why a job failed: a glasskit error line from a task log, else the
    job's state and the last line of its logs."""
    lines = []
    for p in sorted(Path(job.paths.folder).glob(f"{job.job_id}_*_log.*")):
        try:
            lines += p.read_text(errors="replace").splitlines()
        except OSError:
            pass
    mine = [ln for ln in lines if ln.startswith("glasskit: error:")]
    if mine:
        return mine[-1][len("glasskit: error: "):]
    state = getattr(job, "state", "?")
    tail = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("submitit")][-1:]
    return f"job {job.job_id} ended {state}: {(tail or [fallback.splitlines()[0]])[0][:300]}"
