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
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .config import RunConfig

MODELS_DIR = "models"


def run_id(cfg: RunConfig, splits: dict | None = None, prefix: str = "") -> str:
    """``<model>-d<dataset>-<preset>-<sha1[:8] of config and split>``, or ``<prefix><sha1[:8]>``
    (CV folds: ``cv-...-fold<i>-<sha>``)."""
    blob = json.dumps({"config": cfg.as_dict(), "splits": splits}, sort_keys=True).encode()
    digest = hashlib.sha1(blob).hexdigest()[:8]
    return f"{prefix}{digest}" if prefix else f"{cfg.model}-d{cfg.dataset}-{cfg.preset or 'default'}-{digest}"


def write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
    os.replace(tmp, path)


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


@dataclass(frozen=True)
class RunState:
    run: str
    state: str  # done | running | failed | interrupted | submitted
    detail: str = ""


def _local_alive(pid) -> bool:
    try:
        return b"submitit" in Path(f"/proc/{int(pid)}/cmdline").read_bytes()
    except (OSError, TypeError, ValueError):
        return False


def _slurm_active(job_id: str, slurm_conf: str = "") -> bool | None:
    env = {**os.environ, **({"SLURM_CONF": slurm_conf} if slurm_conf else {})}
    try:
        out = subprocess.run(["squeue", "-h", "-j", str(job_id).split("_")[0], "-o", "%T"],
                             capture_output=True, text=True, env=env, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else False


def state(run_dir: Path) -> RunState:
    """The state of one run, from its files (and squeue / /proc for a live job)."""
    run_dir = Path(run_dir)
    metrics = read_json(run_dir / "metrics.json")
    if metrics:
        t = metrics.get("test", {})
        return RunState(run_dir.name, "done", f"test AUC {t.get('auc', float('nan')):.4f}, "
                                              f"accuracy {t.get('accuracy', float('nan')):.4f}")
    rec = read_json(run_dir / "run.json")
    epochs_csv = run_dir / "epochs.csv"
    epochs = len(epochs_csv.read_text().splitlines()) - 1 if epochs_csv.is_file() else 0
    total = read_json(run_dir / "config.json").get("config", {}).get("train", {}).get("epochs", "?")
    progress = f"epoch {epochs} of {total}"
    if rec.get("executor") == "local" and rec.get("host") == socket.gethostname() \
            and _local_alive(rec.get("job_id")):
        return RunState(run_dir.name, "running", progress)
    if rec.get("executor") == "slurm" and not rec.get("ended") and _slurm_active(rec.get("job_id", ""),
                                                                                  rec.get("slurm_conf", "")):
        return RunState(run_dir.name, "running", f"Slurm job {rec.get('job_id')}, {progress}")
    if rec.get("error"):
        return RunState(run_dir.name, "failed", f"{rec['error']} ({progress}; re-submit to resume)")
    if epochs:
        return RunState(run_dir.name, "interrupted", f"{progress}; re-submit the same command to resume")
    return RunState(run_dir.name, "failed" if rec else "submitted",
                    "ended before its first epoch; see submitit/*.out" if rec else "")


def all_states(workdir: Path) -> list[RunState]:
    base = Path(workdir) / MODELS_DIR
    return [state(p) for p in sorted(base.iterdir()) if p.is_dir()] if base.is_dir() else []


MIN_TEST = 20  # fewer test samples than this: a demonstration, not a result


def verdict(val_correct: float, n_val: int, n_test: int) -> str:
    """Whether a model's numbers are a result: "chance" when its validation accuracy is not above
    0.5 (one-sided binomial test at p = 0.05 over ``n_val`` samples, ``val_correct`` right),
    "small test set" below MIN_TEST test samples, else "result". Figures print the verdict."""
    from scipy.stats import binomtest
    if not n_val or binomtest(int(round(val_correct)), int(n_val), 0.5, alternative="greater").pvalue > 0.05:
        return "chance"
    return "small test set" if n_test < MIN_TEST else "result"
