"""One trial of a hyperparameter search: train, score the inner test split, record.

An :class:`Objective` is what hyperopt calls for every trial, in the driver's process (in-process
``Trials``) or in a worker (``MongoTrials``, where it travels pickled in the experiment's domain
attachment). It applies the trial's point to the base configuration, trains one run on the
search's own split (train / validation / inner test) and returns ``loss = -(inner-test AUC)``. A
NaN AUC or any exception is a failed trial (``status: fail``): TPE never learns from it and it is
never the best. The training run lives under ``models/`` like any other (a trial that finds its
run already done reads its metrics instead of retraining), and every finished trial is appended
to ``trials.jsonl`` (:mod:`glasskit.ml.search.triallog`).
"""
from __future__ import annotations

import math
import os
import socket
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from glasskit.util.errors import GlasskitError
from glasskit.util.log import logger
from glasskit.ml import runs
from glasskit.ml.search import triallog
from glasskit.ml.config import Dimension

RUNNING = "running"  # <search>/running/<tid>.json while a trial trains


def space(dims: dict[str, Dimension]) -> dict:
    """The hyperopt space: ``hp.quniform(name, low, high, step)`` per dimension."""
    from hyperopt import hp
    return {name: hp.quniform(name, d.low, d.high, d.step) for name, d in dims.items()}


def cast(dims: dict[str, Dimension], point: dict) -> dict:
    """A sampled point on its grid: integers where ``int``, floats rounded to the step's digits
    (0.30000000000000004 -> 0.3)."""
    out = {}
    for name, d in dims.items():
        v = round(float(point[name]) / d.step) * d.step
        out[name] = int(round(v)) if d.int else round(v, 10)
    return out


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Recorded:
    """What every objective shares: cast the trial's point, mark it running, score it, append the
    record to trials.jsonl. Subclasses implement :meth:`_score` (a result dict, never raising)."""

    search_dir: str
    dims: dict

    fmin_pass_expr_memo_ctrl: ClassVar[bool] = True  # hyperopt passes (expr, memo, ctrl)

    def __call__(self, expr, memo, ctrl) -> dict:
        from hyperopt import pyll
        point = cast(self.dims, pyll.rec_eval(expr, memo=memo, print_node_on_error=False))
        trial = ctrl.current_trial
        tid = int(trial["tid"])
        rec = {"tid": tid, "vals": {k: [float(x) for x in v] for k, v in trial["misc"]["vals"].items()},
               "params": point, "host": socket.gethostname(), "pid": os.getpid(), "started": _now(),
               "t_start": time.time()}
        marker = Path(self.search_dir) / RUNNING / f"{tid}.json"
        marker.parent.mkdir(exist_ok=True)
        runs.write_json(marker, rec)
        t0 = time.perf_counter()
        result = self._score(point, rec)
        rec.update(status=result["status"], loss=result.get("loss"), seconds=time.perf_counter() - t0,
                   finished=_now(), t_end=time.time())
        triallog.append(Path(self.search_dir), rec)
        marker.unlink(missing_ok=True)
        return result

    def _score(self, point: dict, rec: dict) -> dict:
        raise NotImplementedError


@dataclass
class FixedCost(Recorded):
    """A stand-in for training with a known cost and answer, for benchmarks and tests of the
    search machinery: sleeps ``seconds``, then ``loss`` = sum of the point's values scaled to
    [0, 1] per dimension (the best point is every dimension at its low end); a point with
    ``nan_at`` (name, value) scores NaN, which must count as a failure."""

    seconds: float = 0.0
    nan_at: tuple | None = None

    def _score(self, point: dict, rec: dict) -> dict:
        time.sleep(self.seconds)
        if self.nan_at and point[self.nan_at[0]] == self.nan_at[1]:
            rec["failure"] = "loss is NaN"
            return {"status": "fail", "failure": rec["failure"]}
        loss = sum((point[k] - d.low) / (d.high - d.low) for k, d in self.dims.items())
        rec.update(auc=1.0 - loss / len(self.dims))
        return {"status": "ok", "loss": float(loss)}


@dataclass
class Objective(Recorded):
    """-(inner-test AUC) of ``config`` + a trial's point, trained on ``splits`` ([sim, frame] pairs
    of train / val / test)."""

    config: dict = field(default_factory=dict)
    campaign_file: str = ""
    spec: str = ""
    datasets: str = ""
    splits: dict = field(default_factory=dict)
    models_dir: str = ""
    run_prefix: str = ""
    threads: int = 0
    _table: object = field(default=None, repr=False, compare=False)

    def __getstate__(self):
        return {**self.__dict__, "_table": None}  # workers load the samples themselves

    def _score(self, point: dict, rec: dict) -> dict:
        try:
            m = self.train(point)
        except GlasskitError as exc:
            rec["failure"] = str(exc)
        except Exception as exc:  # noqa: BLE001 - a crashed trial is a failed trial, not a dead search
            logger.error("trial %d crashed:\n%s", rec["tid"], traceback.format_exc())
            rec["failure"] = f"{type(exc).__name__}: {exc}"[:500]
        else:
            auc = m["test"]["auc"]
            rec.update(run=m["run"], auc=auc, accuracy=m["test"]["accuracy"], val_auc=m["val"]["auc"])
            if auc is not None and math.isfinite(auc):
                logger.info("trial %d %s: inner-test AUC %.4f (run %s)", rec["tid"], point, auc, m["run"])
                return {"status": "ok", "loss": -float(auc), "run": m["run"], "auc": float(auc)}
            rec["failure"] = "inner-test AUC is NaN (the inner test split holds one class)"
        try:
            run_dir = self.run_dir(point) if "params" in rec else None
        except GlasskitError:  # a point that cannot be configured has no run directory
            run_dir = None
        if run_dir is not None and run_dir.is_dir():  # its state reads "failed", with the reason
            runs.write_json(run_dir / "run.json", {"executor": "search", "ended": True, "error": rec["failure"],
                                                   "search": Path(self.search_dir).name, "trial": rec["tid"]})
        logger.warning("trial %d %s failed: %s", rec["tid"], point, rec["failure"])
        return {"status": "fail", "failure": rec["failure"]}

    def run_dir(self, point: dict) -> Path:
        from glasskit.ml.config import RunConfig, with_values
        cfg = with_values(RunConfig.from_dict(self.config), point)
        return Path(self.models_dir) / runs.run_id(cfg, self.splits, self.run_prefix)

    def train(self, point: dict) -> dict:
        """The metrics of the run of this point (trained now, or read back if already done)."""
        import torch
        from glasskit.ml.config import RunConfig, with_values
        from glasskit.ml.samples import indices, load_samples
        from glasskit.ml.train import check_input, train
        cfg = with_values(RunConfig.from_dict(self.config), point)
        run_dir = self.run_dir(point)
        if (run_dir / "metrics.json").exists():  # trained before: trusted only once validated
            done, bad = runs.read_metrics(run_dir / "metrics.json")
            if bad:
                raise GlasskitError(f"run {run_dir.name}: metrics.json {bad}",
                                    f"move {run_dir} aside; the trial is then retrained")
            return {**done, "run": run_dir.name}
        if self._table is None:
            self._table = load_samples(self.campaign_file, self.spec, cfg.dataset, self.datasets)
        parts = indices(self._table, self.splits)
        check_input(cfg, self._table)  # a point whose model cannot take the input fails here, before its run exists
        run_dir.mkdir(parents=True, exist_ok=True)
        runs.write_json(run_dir / "config.json", {"config": cfg.as_dict(), "campaign": self.campaign_file,
                                                  "spec": self.spec, "datasets": self.datasets,
                                                  "splits": self.splits, "search": Path(self.search_dir).name})
        if self.threads:
            torch.set_num_threads(self.threads)
        metrics = train(run_dir, cfg, self._table, parts, progress=False)
        return {**metrics, "run": run_dir.name}
