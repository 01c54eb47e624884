"""Three-fold nested cross-validation (SI Fig. 5; the authors' code).

Outer: K folds of the dataset's simulations (shuffled with the config's seed; a simulation's
frames stay in one fold). For fold i the model is trained on the other K - 1 folds, and the
held-out fold is split 50/50 (by simulation) into validation (epoch selection) and test. The
hyperparameters of fold i come from ``choose(cv_id, i, table, outer_train)``: by default the configured
preset / ``--hp`` values; a hyperparameter search plugs in there (it sees only the outer-train
samples, which it splits 80/10/10 itself: :class:`glasskit.ml.search.tune.Tuner`). Results: ``<workdir>/cv/<cv id>/results.{json,csv}`` (one row per fold), ``summary.csv`` (mean, sd, n), ``hyperparameters.csv`` (fold, parameter, value)
with each fold's AUC, accuracy and chosen hyperparameters, and mean +- sd over folds.
"""
from __future__ import annotations

import contextlib

from pathlib import Path
from typing import Callable

import numpy as np

from glasskit.util.log import logger
from glasskit.util.tables import write_table
from glasskit.ml import runs
from glasskit.ml.config import RunConfig
from glasskit.ml.launch import Launcher
from glasskit.ml.samples import SampleTable, kfold, pairs, split, subset
from glasskit.ml.submit import Inputs, finish, prepare, submit_train

Chooser = Callable[[str, int, SampleTable, np.ndarray], RunConfig]  # (cv id, fold, table, outer-train)


def outer_splits(table: SampleTable, cfg: RunConfig, K: int = 3) -> list[dict[str, np.ndarray]]:
    """Per outer fold: sample indices of train (K-1 folds), val and test (halves of the fold)."""
    folds = kfold(table, K, cfg.train.seed, cfg.train.group_by)
    out = []
    for i, held in enumerate(folds):
        train = np.sort(np.concatenate([f for j, f in enumerate(folds) if j != i]))
        val, test = split(subset(table, held), (0.5, 0.5), cfg.train.seed + 1 + i, cfg.train.group_by)
        out.append({"train": train, "val": held[val], "test": held[test]})
    return out


def run_cv(cfg: RunConfig, inputs: Inputs, launcher: Launcher, K: int = 3, dry_run: bool = False,
           choose: Chooser | None = None, out=print, report: dict | None = None) -> int:
    """Run the K outer folds (one after another here, as one submitit job array on Slurm) and
    write the results table; returns the exit code."""
    from glasskit.ml.submit import check_dataset
    table = check_dataset(inputs, cfg)
    parts = outer_splits(table, cfg, K)
    cv_id = "cv-" + runs.run_id(cfg, {"K": K, **getattr(choose, "tag", {})})
    if report is not None:
        report.update(cv=cv_id, results=str(inputs.campaign.workdir / "cv" / cv_id / "results.json"), dry_run=dry_run)
    folds = []
    for i, p in enumerate(parts):
        fcfg = choose(cv_id, i, table, p["train"]) if choose else cfg
        folds.append((fcfg, {k: pairs(table, v) for k, v in p.items()}))
    if dry_run or launcher.kind == "local":
        codes = [submit_train(fcfg, inputs, launcher, dry_run, splits=sp, prefix=f"{cv_id}-fold{i}-", out=out)[0]
                 for i, (fcfg, sp) in enumerate(folds)]
    else:
        codes = _slurm_array(folds, inputs, launcher, cv_id)
    if report is not None:
        report["runs"] = [inputs.run_dir(fcfg, sp, f"{cv_id}-fold{i}-").name for i, (fcfg, sp) in enumerate(folds)]
    if dry_run:
        return 0
    return write_results(inputs.campaign.workdir, cv_id, cfg, K, [
        inputs.run_dir(fcfg, sp, f"{cv_id}-fold{i}-") for i, (fcfg, sp) in enumerate(folds)],
        getattr(choose, "chosen", {})) or max(codes)


def _slurm_array(folds, inputs: Inputs, launcher: Launcher, cv_id: str) -> list[int]:
    """Submit the folds as one submitit job array and wait for it."""
    launcher.check()
    tasks, dirs = [], []
    with contextlib.ExitStack() as held:  # decide and record every fold under its run's lock
        for i, (fcfg, sp) in enumerate(folds):
            run_dir = inputs.run_dir(fcfg, sp, f"{cv_id}-fold{i}-")
            held.enter_context(runs.Decision(run_dir))
            if runs.state(run_dir).state in ("done", "running", "unknown"):
                continue
            tasks.append(prepare(fcfg, inputs, launcher, run_dir, sp))
            dirs.append(run_dir)
        if not tasks:
            return [0]
        ex = launcher.executor(inputs.campaign.workdir / "cv" / cv_id / "submitit")
        with ex.batch():
            jobs = [ex.submit(t) for t in tasks]
        for job, run_dir in zip(jobs, dirs):
            runs.write_json(run_dir / "run.json", launcher.record(job))
    logger.info("Slurm job array %s: %d fold(s)", jobs[0].job_id.split("_")[0], len(jobs))
    return [finish(job, d) for job, d in zip(jobs, dirs)]


def _cells(name: str, v) -> list[tuple[str, object]]:
    """A hyperparameter as (parameter, value) rows: a list (e.g. layer widths) one row per item,
    ``name[i]``, so every cell holds one value."""
    if isinstance(v, (list, tuple)):
        return [(f"{name}[{i}]", x) for i, x in enumerate(v)]
    return [(name, v)]


def write_results(workdir: Path, cv_id: str, cfg: RunConfig, K: int, run_dirs: list[Path],
                  searches: dict | None = None) -> int:
    """results.json / results.csv of a CV from its fold runs' metrics; 1 if a fold is missing.
    ``searches``: per fold, the search that chose its hyperparameters (experiment, best trial,
    inner-test AUC, the chosen values)."""
    rows = []
    for i, d in enumerate(run_dirs):
        m, bad = runs.read_metrics(d / "metrics.json")
        if bad == "missing":
            logger.error("fold %d has no metrics (%s): re-submit the same command to finish it", i, d)
            return 1
        if bad:  # a NaN or damaged fold never makes a mean
            logger.error("fold %d's %s is %s: move the run aside (mv %s %s.damaged) and re-submit", i,
                         d / "metrics.json", bad, d, d)
            return 1
        rows.append({"fold": i, "run": d.name, "auc": m["test"]["auc"], "accuracy": m["test"]["accuracy"],
                     "n_test": m["test"]["n"], "val_accuracy": m["val"]["accuracy"], "n_val": m["val"]["n"],
                     "hyperparameters": m["config"]["net"],
                     "search": (searches or {}).get(i)})
    auc = np.array([r["auc"] for r in rows])
    acc = np.array([r["accuracy"] for r in rows])
    res = {"cv": cv_id, "model": cfg.model, "dataset": cfg.dataset, "K": K, "preset": cfg.preset,
           "selection": "search" if searches else "preset",
           "folds": rows, "auc_mean": float(np.nanmean(auc)), "auc_sd": float(np.nanstd(auc, ddof=1)),
           "accuracy_mean": float(acc.mean()), "accuracy_sd": float(acc.std(ddof=1))}
    out = Path(workdir) / "cv" / cv_id
    out.mkdir(parents=True, exist_ok=True)
    runs.write_json(out / "results.json", res)
    # tidy: one row per fold; the summary and each fold's hyperparameters in tables of their own
    write_table(out / "results.csv", [{**{k: r[k] for k in ("fold", "run", "auc", "accuracy", "n_test", "val_accuracy",
                                                            "n_val")},
                                       "search": (r["search"] or {}).get("experiment", "")} for r in rows])
    write_table(out / "summary.csv", [{"metric": m, "mean": res[f"{m}_mean"], "sd": res[f"{m}_sd"], "n_folds": len(rows),
                                       "model": cfg.model, "dataset": cfg.dataset} for m in ("auc", "accuracy")])
    write_table(out / "hyperparameters.csv", [
        {"fold": r["fold"], "source": "search" if r["search"] else "preset", "parameter": p, "value": x}
        for r in rows for k, v in sorted(r["hyperparameters"].items()) for p, x in _cells(k, v)])
    logger.info("%d-fold CV of %s on dataset %d: AUC %.4f +- %.4f, accuracy %.4f +- %.4f -> %s", K,
                cfg.model, cfg.dataset, res["auc_mean"], res["auc_sd"], res["accuracy_mean"],
                res["accuracy_sd"], out / "results.json")
    return 0
