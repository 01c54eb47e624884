"""Training runs on disk: where they live, what they are called, and what state they are in.

::

    <workdir>/models/<run>/config.json      the resolved RunConfig, data sources and split
    <workdir>/models/<run>/run.json         how it was launched (executor, job id, tasks) and,
                                            once the launcher saw it end, how it ended
    <workdir>/models/<run>/submitit/        submitit's pickles and per-task logs
    <workdir>/models/<run>/{checkpoint.pt, best.pt, epochs.csv, predictions.csv, metrics.json}

A run id is derived from its configuration (``<model>-d<dataset>-<sha1 of config>``), so
submitting the same command again finds the same run: done runs are not redone, interrupted
ones resume from their last epoch checkpoint. The state is *earned*: ``done`` only when
``metrics.json`` exists (written last, atomically).
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from glasskit.ml.config import RunConfig

MODELS_DIR = "models"


def run_id(cfg: RunConfig, splits: dict | None = None, prefix: str = "", data: dict | None = None) -> str:
    """``<model>-d<dataset>-<preset>-<sha1[:8] of config, split and data>``, or
    ``<prefix><sha1[:8]>`` (CV folds: ``cv-...-fold<i>-<sha>``). ``data``: what else the result
    depends on (the dataset's definition, the campaign's physics and simulations done)."""
    blob = json.dumps({"config": cfg.as_dict(), "splits": splits, **({"data": data} if data else {})},
                      sort_keys=True).encode()
    digest = hashlib.sha1(blob).hexdigest()[:8]
    return f"{prefix}{digest}" if prefix else f"{cfg.model}-d{cfg.dataset}-{cfg.preset or 'default'}-{digest}"


def write_json(path: Path, obj: dict) -> None:
    from glasskit.util.outputs import replace_text
    replace_text(path, json.dumps(obj, indent=1, sort_keys=True))


def _run_record_schema() -> dict:
    from glasskit.util.records import Field
    return {"executor": Field(str, choices=("local", "slurm")), "job_id": Field((str, int), pattern=None),
            "tasks": Field(int, required=False, lo=1, hi=4096), "host": Field(str, required=False),
            "pid_start": Field((str, int, type(None)), required=False), "slurm_conf": Field(str, required=False),
            "error": Field(str, required=False), "ended": Field((bool, str), required=False)}


RUN_RECORD = _run_record_schema()  # run.json, as launch.Launcher.record writes it


def read_json(path: Path) -> dict:
    """A JSON object from ``path``; {} if it is missing, unreadable or not an object."""
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return obj if isinstance(obj, dict) else {}


def read_metrics(path: Path) -> tuple[dict, str | None]:
    """``metrics.json`` at ``path``, read once, and why it cannot be trusted (None when it can):
    it must be a JSON object whose ``test`` and ``val`` hold a finite AUC and accuracy in [0, 1]
    and a count n >= 1. Callers use the dict only when the problem is None."""
    if not Path(path).is_file():
        return {}, "missing"
    m = read_json(path)
    return m, _metrics_problem(m)


def _metrics_problem(m: dict) -> str | None:
    import math
    if not m:
        return "not a JSON object (truncated or overwritten)"
    for part in ("test", "val"):
        d = m.get(part)
        if not isinstance(d, dict):
            return f"no '{part}' scores"
        for key in ("auc", "accuracy"):
            v = d.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= 1:
                return f"'{part}.{key}' = {v!r} is not a number in [0, 1]"
        n = d.get("n")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            return f"'{part}.n' = {n!r} is not a sample count"
    return None


@dataclass(frozen=True)
class RunState:
    run: str
    state: str  # done | running | failed | interrupted | submitted | damaged
    detail: str = ""


def process_start(pid) -> str:
    """The kernel's start time of process ``pid`` ('' if none): a PID plus this names one process
    (a PID alone is reused by unrelated processes after a reboot or a wrap)."""
    try:
        return Path(f"/proc/{int(pid)}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, ValueError, TypeError, IndexError):
        return ""


def _local_alive(pid, start) -> bool:
    """Whether the local job recorded as (``pid``, its ``start`` time) still runs."""
    return bool(start) and process_start(pid) == str(start)


WRITER_LOCK = ".writer.lock"


class Decision:
    """A blocking exclusive ``flock`` on ``models/.<run>.lock``, held by ``submit`` from reading a
    run's state to recording its job in run.json: two identical submits at once decide one after
    the other, and the second finds the first's job running."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir).parent / f".{Path(run_dir).name}.lock"
        self.fd = -1

    def __enter__(self):
        import fcntl
        from glasskit.util.outputs import lock_open
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = lock_open(self.path)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


class WriterLock:
    """An exclusive, non-blocking ``flock`` on ``run_dir/.writer.lock`` (rank r: ``.writer.lock.r``)
    held while a process trains the run, so one run directory never has two writers (two
    identical submits, an orphaned search worker and its replacement). The kernel drops it when
    the holder dies, even by kill -9."""

    def __init__(self, run_dir: Path, rank: int = 0):
        self.path = Path(run_dir) / (WRITER_LOCK + (f".{rank}" if rank else ""))
        self.fd = -1

    def __enter__(self):
        import fcntl
        from glasskit.util.errors import GlasskitError
        from glasskit.util.outputs import lock_open
        self.fd = lock_open(self.path)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise GlasskitError(f"run {self.path.parent.name} is being trained by another process right now",
                                "wait for it to finish (glasskit status shows it); nothing was changed") from None
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # closing the descriptor drops the flock


def state(run_dir: Path, answers: dict | None = None) -> RunState:
    """The state of one run, from its files (and squeue / /proc for a live job)."""
    run_dir = Path(run_dir)
    if (run_dir / "metrics.json").exists():
        m, bad = read_metrics(run_dir / "metrics.json")
        if bad:
            return RunState(run_dir.name, "damaged", f"{run_dir / 'metrics.json'}: {bad}; move the run aside "
                                                     f"(mv {run_dir} {run_dir}.damaged) and re-submit to redo it")
        t = m["test"]
        return RunState(run_dir.name, "done", f"test AUC {t['auc']:.4f}, accuracy {t['accuracy']:.4f}")
    rec = read_json(run_dir / "run.json")
    if rec:
        from glasskit.util.records import RecordError, check
        try:
            check(rec, RUN_RECORD, str(run_dir / "run.json"))
        except RecordError as exc:
            return RunState(run_dir.name, "damaged", f"{exc.problem}; move the run aside (mv {run_dir} "
                                                     f"{run_dir}.damaged) and re-submit to redo it")
    try:
        epochs = max(0, len((run_dir / "epochs.csv").read_text().splitlines()) - 1)
    except (OSError, UnicodeDecodeError):
        epochs = 0
    cfg = read_json(run_dir / "config.json").get("config")
    total = (cfg.get("train") or {}).get("epochs", "?") if isinstance(cfg, dict) else "?"
    progress = f"epoch {epochs} of {total}"
    if rec.get("executor") == "local" and rec.get("host") == socket.gethostname() \
            and _local_alive(rec.get("job_id"), rec.get("pid_start")):
        return RunState(run_dir.name, "running", progress)
    if rec.get("executor") == "slurm" and not rec.get("ended"):
        from glasskit.batch.watch import job_active  # the one rule of "is a job alive?"
        active = job_active(rec.get("job_id", ""), rec.get("slurm_conf", ""), answers)
        if active:
            return RunState(run_dir.name, "running", f"Slurm job {rec.get('job_id')}, {progress}")
        if active is None:  # the scheduler's silence is not an answer
            return RunState(run_dir.name, "unknown", f"Slurm job {rec.get('job_id')}: squeue did not answer; "
                                                     f"{progress} (not re-run until it does)")
    if rec.get("error"):  # the reason carries its own fix; a re-submit resumes from the last epoch
        from glasskit.util.errors import one_line
        return RunState(run_dir.name, "failed", f"{one_line(rec['error'])} ({progress}; log: "
                                                f"{run_dir / 'submitit'}; fix what it says, then re-submit)")
    if epochs:
        return RunState(run_dir.name, "interrupted", f"{progress}; re-submit the same command to resume")
    return RunState(run_dir.name, "failed" if rec else "submitted",
                    f"ended before its first epoch; log: {run_dir / 'submitit'}" if rec else "")


def finished(models: Path, warn=None) -> list[tuple[Path, dict]]:
    """(run directory, metrics) of every finished run under ``models`` whose metrics.json and
    config pass :func:`read_metrics`; each damaged one is passed to ``warn`` (one line) and
    left out, so one bad run never stops a figure of the others."""
    out = []
    for path in sorted(Path(models).glob("*/metrics.json")):
        m, bad = read_metrics(path)
        cfg = m.get("config")
        if not bad and not (isinstance(cfg, dict) and isinstance(cfg.get("model"), str)
                            and isinstance(cfg.get("dataset"), int)):
            bad = "no config with a model and a dataset"
        if bad:
            if warn:
                warn(f"skipping the damaged run {path.parent.name}: {path}: {bad}")
            continue
        out.append((path.parent, m))
    return out


def all_states(workdir: Path) -> list[RunState]:
    base = Path(workdir) / MODELS_DIR
    answers: dict = {}  # one squeue per Slurm configuration for all runs
    return [state(p, answers) for p in sorted(base.iterdir()) if p.is_dir()] if base.is_dir() else []


MIN_TEST = 20  # fewer test samples than this: a demonstration, not a result


def verdict(val_correct: float, n_val: int, n_test: int) -> str:
    """Whether a model's numbers are a result: "chance" when its validation accuracy is not above
    0.5 (one-sided binomial test at p = 0.05 over ``n_val`` samples, ``val_correct`` right),
    "small test set" below MIN_TEST test samples, else "result". Figures print the verdict."""
    from scipy.stats import binomtest
    if not n_val or binomtest(int(round(val_correct)), int(n_val), 0.5, alternative="greater").pvalue > 0.05:
        return "chance"
    return "small test set" if n_test < MIN_TEST else "result"
