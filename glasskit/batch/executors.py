"""Executors: the same array job, run by Slurm or by a process pool on this machine.

Both take an :class:`ArrayJob` (the rendered sbatch script plus the per-task command it runs)
and return a submission record; both can say later whether that submission is still active.
``local`` is the embedded default where Slurm is absent (submitit's "local" executor in spirit).
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from glasskit.batch.cluster import ClusterProfile
from glasskit.util.errors import GlasskitError
from glasskit.util.log import logger


@dataclass
class ArrayJob:
    """An array of ``n_tasks`` tasks; task t runs ``launch + command + ['--task', t]``."""

    stage: str
    submission: str
    n_tasks: int
    ranks: int
    throttle: int | None
    command: list[str]
    launch: list[str]
    script: str
    log_dir: Path
    shard_dir: Path
    profile: ClusterProfile
    env: dict[str, str] = field(default_factory=dict)


def default_executor() -> str:
    if shutil.which("sbatch"):
        return "slurm"
    logger.info("no Slurm on this machine (sbatch not found): using the local executor")
    return "local"


def get_executor(name: str | None):
    name = name or default_executor()
    if name == "slurm":
        return SlurmExecutor()
    if name == "local":
        return LocalExecutor()
    raise GlasskitError(f"unknown executor {name!r}", "use --executor slurm or --executor local")


def _slurm_env(profile: ClusterProfile) -> dict[str, str]:
    env = dict(os.environ)
    if profile.slurm_conf:
        env["SLURM_CONF"] = profile.slurm_conf
    return env


class SlurmExecutor:
    name = "slurm"

    def check(self, profile: ClusterProfile) -> None:
        if not shutil.which("sbatch"):
            raise GlasskitError("Slurm's sbatch is not on PATH",
                                "use --executor local, or load your site's Slurm module")
        if profile.slurm_conf and not Path(profile.slurm_conf).is_file():
            raise GlasskitError(f"cluster '{profile.name}' expects {profile.slurm_conf}, which does not exist",
                                "start the local cluster with hpc/local-slurm/start")

    def submit(self, job: ArrayJob, script_path: Path) -> dict:
        job.log_dir.mkdir(parents=True, exist_ok=True)  # a missing output dir fails jobs silently
        proc = subprocess.run(["sbatch", "--parsable", str(script_path)], capture_output=True,
                              text=True, env=_slurm_env(job.profile), timeout=120)
        if proc.returncode != 0:
            raise GlasskitError(f"sbatch refused the job: {proc.stderr.strip() or proc.stdout.strip()}",
                                f"inspect the script with --dry-run ({script_path})")
        job_id = proc.stdout.strip().split(";")[0]
        if not re.fullmatch(r"\d+", job_id):
            raise GlasskitError(f"sbatch printed no job id: {proc.stdout!r}")
        logger.info("submitted Slurm job %s: %d array task(s) x %d rank(s); shards in %s, logs in %s",
                    job_id, job.n_tasks, job.ranks, job.shard_dir, job.log_dir)
        return {"executor": "slurm", "job_id": job_id, "cluster": job.profile.name,
                "slurm_conf": job.profile.slurm_conf}


def _tasks_alive(submission: str) -> bool:
    """Whether a ``glasskit run ... --submission <submission>`` process runs on this host."""
    if not submission:
        return False
    needle = b"\0--submission\0" + submission.encode() + b"\0"
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if needle in (d / "cmdline").read_bytes() + b"\0":
                    return True
            except OSError:
                continue
    return False


class LocalExecutor:
    """Run the array's tasks on this machine, ``cores // ranks`` at a time, with a progress bar."""

    name = "local"

    def check(self, profile: ClusterProfile) -> None:
        pass

    def submit(self, job: ArrayJob, script_path: Path) -> dict:
        job.log_dir.mkdir(parents=True, exist_ok=True)
        launch = job.launch
        if job.ranks > 1 and not shutil.which(launch[0]):
            logger.warning("%s not found: each task runs its %d rank blocks in one process", launch[0], job.ranks)
            launch = []
        elif job.ranks == 1:
            launch = []
        workers = max(1, (os.cpu_count() or 1) // job.ranks)
        if job.throttle:
            workers = min(workers, job.throttle)
        failed = []
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futs = {pool.submit(self._task, job, launch, t): t for t in range(job.n_tasks)}
            with tqdm(total=job.n_tasks, desc=f"{job.stage} ({workers} at a time)", unit="task",
                      disable=None) as bar:
                for fut in as_completed(futs):
                    if fut.result() != 0:
                        failed.append(futs[fut])
                    bar.update()
        if failed:
            logger.error("%d of %d task(s) exited non-zero (logs: %s)", len(failed), job.n_tasks, job.log_dir)
        logger.info("local run finished: shards in %s, logs in %s", job.shard_dir, job.log_dir)
        return {"executor": "local", "pid": os.getpid(), "host": socket.gethostname(),
                "failed_tasks": sorted(failed), "finished": True}

    @staticmethod
    def _task(job: ArrayJob, launch: list[str], task: int) -> int:
        argv = launch + job.command + ["--task", str(task)]
        from glasskit.util.outputs import open_log
        with open_log(job.log_dir / f"task-{task:05d}.out") as out:
            return subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **job.env}).returncode

    @staticmethod
    def active(record: dict) -> bool:
        """A local submission is active while its submitting process, or any of its task
        processes (which outlive a killed submitter), is alive on this host."""
        if record.get("finished") or record.get("host") != socket.gethostname():
            return False
        try:
            cmdline = Path(f"/proc/{int(record['pid'])}/cmdline").read_bytes()
            if b"glasskit" in cmdline:
                return True
        except (OSError, KeyError, ValueError):
            pass
        return _tasks_alive(str(record.get("submission", "")))
