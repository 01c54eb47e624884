"""Choosing hyperparameters by search: ``glasskit submit search`` and ``submit cv --search``.

A :class:`Tuner` validates the search options once (workers against the executor, a site's
MongoDB reachable, the embedded server installed) before anything is written or submitted, then
plans one search per split: the whole dataset split train / validation / inner test by the
configured fractions (``submit search``), or, as the chooser of nested CV (the paper's SI Fig. 5), each
outer fold's outer-train set split the same way. It returns the fold's configuration with the
best trial's values, and remembers which search chose them for the CV's results table.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import numpy as np

from glasskit.util.errors import GlasskitError
from glasskit.util.log import logger
from glasskit.ml.config import Dimension, RunConfig, with_values
from glasskit.ml.launch import Launcher
from glasskit.ml.samples import SampleTable, pairs, split, subset
from glasskit.ml.search.driver import Search, describe, plan, run
from glasskit.ml.submit import Inputs, check_dataset

PARTS = ("train", "val", "test")


@dataclass
class Tuner:
    cfg: RunConfig
    inputs: Inputs
    dims: dict[str, Dimension]
    launcher: Launcher
    evals: int = 8
    workers: int = 0
    mongo: str | None = None
    stale_after: float = 60.0
    mongo_host: str = ""
    dry_run: bool = False
    out: object = print
    chosen: dict = field(default_factory=dict)
    report: dict | None = None  # the search's ids and paths, for --json

    def __post_init__(self):
        cores = os.cpu_count() or 1
        if self.launcher.kind == "local" and self.workers > cores:
            raise GlasskitError(f"--workers {self.workers} exceeds the {cores} cores of this machine",
                                f"use --workers {cores} or fewer, or --executor slurm")
        if self.mongo and not self.workers:
            raise GlasskitError("--mongo needs --workers", "add --workers N: the trials then run on N workers")
        if self.mongo:
            from glasskit.ml.search.mongoserver import check_url
            check_url(self.mongo)  # a malformed URL is refused by dry runs too
        if self.workers and not self.dry_run:
            from glasskit.ml.search.mongoserver import binary, connect
            connect(self.mongo) if self.mongo else binary()
        if self.mongo_host and (self.mongo or not self.workers):
            raise GlasskitError("--mongo-host places the embedded server of a search with --workers",
                                "leave it out with --mongo, or add --workers N")
        if self.workers and not self.mongo and not self.mongo_host and self.launcher.kind == "slurm":
            raise GlasskitError("Slurm workers cannot reach the embedded MongoDB-wire server on this host's loopback",
                                "pass --mongo mongodb://host:port/db (a server the compute nodes reach), or "
                                "--mongo-host auto to bind the embedded server to the driver's own address (no "
                                "authentication: a trusted cluster network only)")

    @property
    def tag(self) -> dict:
        """What makes a CV with search differ from one without (its id)."""
        return {"search": {"evals": self.evals, "space": {k: dataclasses.asdict(d) for k, d in self.dims.items()}}}

    def _plan(self, splits: dict, prefix: str = "") -> Search:
        files = (self.inputs.campaign_file, os.path.abspath(self.inputs.spec_path),
                 os.path.abspath(self.inputs.datasets))
        return plan(self.cfg, self.dims, self.inputs.campaign.workdir, splits, files, self.evals, self.workers,
                    self.mongo, self.launcher, self.stale_after, prefix, self.mongo_host)

    def _split(self, table: SampleTable, idx: np.ndarray, seed: int) -> dict:
        parts = split(subset(table, idx), self.cfg.train.split, seed, self.cfg.train.group_by)
        return {k: pairs(table, idx[p]) for k, p in zip(PARTS, parts)}

    def whole_dataset(self) -> int:
        """``submit search``: one search over the dataset's own split; exit code."""
        table = check_dataset(self.inputs, self.cfg)
        s = self._plan(self._split(table, np.arange(len(table)), self.cfg.train.seed))
        if self.report is not None:
            self.report.update(experiment=s.name, directory=str(s.directory), evals=s.evals, dry_run=self.dry_run)
        if self.dry_run:
            self.out(describe(s))
            logger.info("dry run: nothing written, nothing started")
            return 0
        if self.workers:
            self.launcher.check()
        best = run(s)
        if self.report is not None:
            self.report["best"] = best
        self.out(f"best of {best['trials']} trial(s): inner-test AUC {best['auc']:.4f} with {' '.join(best['hp'])}")
        return 0

    def __call__(self, cv_id: str, fold: int, table: SampleTable, outer_train: np.ndarray) -> RunConfig:
        """Nested CV: the search of ``fold`` on its outer-train samples; the chosen config."""
        s = self._plan(self._split(table, outer_train, self.cfg.train.seed + 101 + fold), f"{cv_id}-fold{fold}-search-")
        if self.dry_run:
            self.out(describe(s))
            return self.cfg
        if self.workers and fold == 0:
            self.launcher.check()
        best = run(s)
        self.chosen[fold] = {"experiment": s.name, "trial": best["tid"], "inner_auc": best["auc"],
                             "params": best["params"]}
        logger.info("fold %d: search %s chose %s", fold, s.name, best["params"])
        return with_values(self.cfg, best["params"])
