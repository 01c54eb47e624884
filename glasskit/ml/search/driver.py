"""Hyperparameter search: TPE over the authors' spaces, in process or in parallel (SI section II: hyperopt TPE).

``hyperopt.tpe.suggest`` proposes points of the space in ``jobs/models.toml [search.<model>]``;
each trial is one :class:`~glasskit.ml.search.objective.Objective` (train, score the inner test split).

- ``workers = 0`` (the embedded default): ``hyperopt.Trials`` in this process, one trial after
  another, no server.
- ``workers = N``: ``MongoTrials`` on a MongoDB-wire store (``--mongo URL``, else the embedded
  jongodb of :mod:`glasskit.ml.search.mongoserver`). This process is the driver: it keeps as many trials
  queued as workers are idle (TPE sees every finished trial before proposing the next), re-queues
  a trial whose worker stopped heartbeating for ``stale_after`` seconds (a worker killed mid-trial),
  replaces workers that died, and marks the experiment finished so workers exit at once. Workers
  are submitit jobs (:mod:`glasskit.ml.search.worker`): local processes, or a Slurm job array with the
  cluster profile's GPU per worker.

Everything lands in ``runs/<campaign>/searches/<experiment>/``::

    search.json   the plan and the driver (pid, host, store), while and after it runs
    trials.jsonl  every finished trial (glasskit.ml.search.triallog); a re-run resumes from it
    best.json     the best trial, its hyperparameters and the --hp flags that reproduce it
    running/      one file per trial being trained now
    workers/      submitit logs of the workers;  mongo.log  the embedded server's log

The experiment key hashes the base configuration, the space and the split, not ``evals``: the
same command with more evals extends a search, and finished trials are never redone.
"""
from __future__ import annotations

import dataclasses
import os
import shlex
import socket
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np

from glasskit.util.errors import GlasskitError
from glasskit.util.log import logger
from glasskit.batch.watch import queue
from glasskit.ml import runs
from glasskit.ml.search import triallog
from glasskit.ml.config import Dimension, RunConfig
from glasskit.ml.launch import Launcher
from glasskit.ml.search.pool import WorkerPool
from glasskit.ml.search.objective import RUNNING, Objective, Recorded, space

SEARCHES, STATE, BEST = "searches", "search.json", "best.json"


@dataclass
class Search:
    """One experiment: what to search, how many trials, where they run."""

    name: str
    directory: Path
    objective: Recorded
    dims: dict[str, Dimension]
    evals: int
    workers: int = 0
    mongo: str | None = None
    seed: int = 0
    stale_after: float = 60.0
    launcher: Launcher | None = None
    poll_s: float = 0.1
    threads: int = 0  # intra-op threads per worker (0: torch's default)
    mongo_host: str = ""  # the embedded server's address ("": loopback, "auto": this host's name)

    @property
    def store(self) -> str:
        return "trials" if not self.workers else ("mongodb" if self.mongo else "embedded")


def plan(cfg: RunConfig, dims: dict[str, Dimension], workdir: Path, splits: dict, inputs_files: tuple,
         evals: int, workers: int = 0, mongo: str | None = None, launcher: Launcher | None = None,
         stale_after: float = 60.0, prefix: str = "", mongo_host: str = "") -> Search:
    """The :class:`Search` of ``cfg`` over ``dims`` on ``splits`` ([sim, frame] pairs of train /
    val / test); ``inputs_files`` = (campaign file, spec, datasets file)."""
    if not 1 <= evals <= 100_000:
        raise GlasskitError(f"--evals {evals} must be between 1 and 100000")
    if not 0 <= workers <= 1024:
        raise GlasskitError(f"--workers {workers} must be between 0 and 1024", "0 runs the trials in this process")
    if not 1 <= stale_after <= 86_400:
        raise GlasskitError(f"--stale-after {stale_after} must be between 1 and 86400 seconds")
    if not dims:
        raise GlasskitError(f"jobs/models.toml has no [search.{cfg.model}] space",
                            f"add one, e.g. [search.{cfg.model}] dropout = {{ low = 0.0, high = 0.5, step = 0.05 }}")
    key = {"space": {k: dataclasses.asdict(d) for k, d in sorted(dims.items())}, "splits": splits, "algo": "tpe"}
    name = runs.run_id(cfg, key, prefix or f"search-{cfg.model}-d{cfg.dataset}-")
    directory = Path(workdir) / SEARCHES / name
    cores = os.cpu_count() or 1
    threads = max(1, cores // max(1, workers)) if not launcher or launcher.kind == "local" else 0
    campaign_file, spec, datasets = map(str, inputs_files)
    obj = Objective(str(directory), dims, cfg.as_dict(), campaign_file, spec, datasets, splits,
                    str(Path(workdir) / runs.MODELS_DIR), f"{name}-", threads)
    seed = cfg.train.seed * 1_000_003 + int(name[-8:], 16)  # its own TPE draws per experiment (CV fold)
    return Search(name, directory, obj, dims, evals, workers, mongo, seed, stale_after, launcher, threads=threads,
                  mongo_host=mongo_host)


def describe(s: Search) -> str:
    """What ``--dry-run`` prints."""
    lines = [f"# search {s.name} -> {s.directory}",
             f"#   TPE over {', '.join(f'{k} {d.low:g}-{d.high:g} step {d.step:g}' for k, d in s.dims.items())}",
             f"#   {s.evals} trial(s); objective -(inner-test AUC); split "
             f"{ {k: len(v) for k, v in getattr(s.objective, 'splits', {}).items()} } samples",
             "#   store: " + {"trials": "hyperopt.Trials in this process (sequential)",
                             "embedded": "MongoTrials on the embedded jongodb server ("
                                         + (f"listening on {s.mongo_host}, no authentication" if s.mongo_host
                                            else "loopback") + ")",
                             "mongodb": f"MongoTrials on {s.mongo}"}[s.store]]
    if s.workers:
        lines.append(f"#   {s.workers} worker(s), stale reservations re-queued after {s.stale_after:g} s")
        lines.append(s.launcher.for_workers().preview(s.directory / "workers")
                     .replace("(1 DDP process(es))", f"(each of the {s.workers} worker jobs)"))
    return "\n".join(lines)


def run(s: Search) -> dict:
    """Run (or resume, or just report) the search; returns best.json's content."""
    s.directory.mkdir(parents=True, exist_ok=True)
    skipped: list[str] = []
    records = triallog.read(s.directory, skipped)
    for line in skipped[:10]:
        logger.warning("ignoring a damaged trial record, it will be rerun: %s", line)
    if len(records) >= s.evals:
        logger.info("search %s already has %d trial(s) (asked: %d): nothing to run", s.name, len(records), s.evals)
        return summarize(s)
    _claim(s)
    try:
        if records:
            logger.info("search %s resumes: %d of %d trial(s) finished (%s)", s.name, len(records), s.evals,
                        s.directory / triallog.TRIALS)
        (_parallel if s.workers else _in_process)(s, records)
    finally:
        st = runs.read_json(s.directory / STATE)
        runs.write_json(s.directory / STATE, {**st, "ended": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return summarize(s)


def driver_alive(st: dict, queues: dict | None = None) -> bool:
    """Whether the driver recorded in search.json ``st`` still runs: its Slurm job is queued or
    running (a driver job), or its process lives on this host. ``queues``: Slurm configuration
    -> :func:`glasskit.batch.watch.queue`'s answer, filled as asked (one squeue per command)."""
    if not st or st.get("ended"):
        return False
    job = str(st.get("slurm_job") or "")
    if job.isdigit():
        conf = str(st.get("slurm_conf") or "")
        queues = {} if queues is None else queues
        if conf not in queues:
            queues[conf] = queue(conf)
        return queues[conf] is None or job in queues[conf]  # no squeue here: not proof that it ended
    return (st.get("host") == socket.gethostname() and bool(st.get("pid_start"))
            and runs.process_start(st.get("pid")) == st.get("pid_start"))


def _claim(s: Search) -> None:
    """Record this driver in search.json; refuse when another live driver holds the search."""
    st = runs.read_json(s.directory / STATE)
    if driver_alive(st):
        raise GlasskitError(f"search {s.name} is already running (driver pid {st['pid']})",
                            "wait for it, or watch it with glasskit status")
    runs.write_json(s.directory / STATE, {
        "experiment": s.name, "model": getattr(s.objective, "config", {}).get("model"),
        "dataset": getattr(s.objective, "config", {}).get("dataset"),
        "evals": s.evals, "workers": s.workers, "store": s.store, "space": {k: dataclasses.asdict(d) for k, d in
                                                                          s.dims.items()},
        "pid": os.getpid(), "pid_start": runs.process_start(os.getpid()), "host": socket.gethostname(),
        # a driver that is a Slurm job (submit search --executor slurm): status asks squeue
        "slurm_job": os.environ.get("SLURM_JOB_ID", "") if os.environ.get("SUBMITIT_EXECUTOR") == "slurm" else "",
        "slurm_conf": os.environ.get("SLURM_CONF", ""), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


def _domain(s: Search):
    from hyperopt.base import Domain
    return Domain(s.objective, space(s.dims))


def _in_process(s: Search, records: list[dict]) -> None:
    from hyperopt import Trials, tpe
    from hyperopt.fmin import FMinIter
    logger.info("no --workers: TPE with hyperopt.Trials in this process, one trial after another")
    trials, domain = Trials(), _domain(s)
    triallog.seed(trials, records, domain)
    FMinIter(tpe.suggest, domain, trials, rstate=np.random.default_rng(s.seed + len(records)), max_evals=s.evals,
             verbose=False, show_progressbar=sys.stderr.isatty()).exhaust()


def _parallel(s: Search, records: list[dict]) -> None:
    from hyperopt.mongoexp import MongoTrials
    from hyperopt.utils import pickler
    from glasskit.ml.search.mongoserver import EmbeddedMongo, connect, redact
    from glasskit.ml.search.worker import FLAGS, jobs_handle
    from glasskit.ml.search.mongoserver import listen_address
    server = EmbeddedMongo(s.directory / "mongo.log", host=listen_address(s.mongo_host)) if not s.mongo else None
    with server or nullcontext():
        url = s.mongo or server.url
        _, db = connect(url)
        mj = jobs_handle(db)
        trials, domain = MongoTrials(mj, exp_key=s.name), _domain(s)
        if not db["jobs"].count_documents({"exp_key": s.name}) and records:
            n = triallog.seed(trials, records, domain)
            logger.info("store %s had no trials of %s: re-seeded %d finished trial(s) from %s", redact(url), s.name,
                        n, s.directory / triallog.TRIALS)
        trials.attachments["FMinIter_Domain"] = pickler.dumps(domain)
        db[FLAGS].update_one({"_id": s.name}, {"$set": {"finished": False}}, upsert=True)
        pool = WorkerPool(s, url)
        try:
            _drive(s, trials, mj, domain, pool)
        finally:
            db[FLAGS].update_one({"_id": s.name}, {"$set": {"finished": True}}, upsert=True)
            pool.close()


def _counts(mj, name: str) -> dict[int, int]:
    from hyperopt.base import JOB_STATES
    return {st: mj.jobs.count_documents({"exp_key": name, "state": st}) for st in JOB_STATES}


def _drive(s: Search, trials, mj, domain, pool: WorkerPool) -> None:
    """Keep idle workers fed until ``evals`` trials have finished."""
    from hyperopt import tpe
    from hyperopt.base import JOB_STATE_DONE, JOB_STATE_ERROR, JOB_STATE_NEW, JOB_STATE_RUNNING
    from tqdm import tqdm
    rng = np.random.default_rng(s.seed)
    check_every, last_check = max(0.5, min(5.0, s.stale_after / 4)), 0.0
    c = _counts(mj, s.name)
    bar = tqdm(total=s.evals, initial=c[JOB_STATE_DONE] + c[JOB_STATE_ERROR], desc=s.name, unit="trial",
               disable=None, leave=False)
    while True:
        c = _counts(mj, s.name)
        done = c[JOB_STATE_DONE] + c[JOB_STATE_ERROR]
        bar.update(done - bar.n)
        if done >= s.evals:
            break
        if time.monotonic() - last_check > check_every:
            reap(mj, s.name, s.stale_after)
            pool.check()
            last_check = time.monotonic()
        want = min(s.evals - done - c[JOB_STATE_RUNNING] - c[JOB_STATE_NEW],
                   max(1, pool.alive() - c[JOB_STATE_RUNNING]) - c[JOB_STATE_NEW])
        if want > 0:
            trials.refresh()
            docs = tpe.suggest(trials.new_trial_ids(want), domain, trials, int(rng.integers(2**31 - 1)))
            trials.insert_trial_docs(docs)
            continue
        time.sleep(s.poll_s)
    bar.close()


def reap(mj, name: str, stale_after: float) -> list[int]:
    """Re-queue the trials whose worker has not heartbeaten for ``stale_after`` seconds (a
    conditional update, so a trial that just reported back is left alone); their tids."""
    from hyperopt.base import JOB_STATE_NEW, JOB_STATE_RUNNING
    from hyperopt.mongoexp import coarse_utcnow
    cut = coarse_utcnow() - timedelta(seconds=stale_after)
    back = []
    for d in list(mj.jobs.find({"exp_key": name, "state": JOB_STATE_RUNNING, "refresh_time": {"$lt": cut}},
                               projection=["_id", "tid", "owner", "version"])):
        cond = {"_id": d["_id"], "state": JOB_STATE_RUNNING, "version": d.get("version", 0),
                "refresh_time": {"$lt": cut}}
        upd = {"$set": {"state": JOB_STATE_NEW, "owner": None, "book_time": None}, "$inc": {"version": 1}}
        if mj.jobs.update_one(cond, upd).modified_count == 1:
            logger.warning("trial %s: worker %s silent for over %g s: trial re-queued", d.get("tid"), d.get("owner"),
                           stale_after)
            back.append(int(d.get("tid", -1)))
    return back


def summarize(s: Search) -> dict:
    """Write best.json and log the search's outcome; a GlasskitError when every trial failed."""
    records = triallog.read(s.directory)
    best = triallog.best(records)
    failed = sum(not triallog.ok(r) for r in records)
    if best is None:
        reasons = sorted({r.get("failure", "?") for r in records})
        raise GlasskitError(f"all {len(records)} trial(s) of search {s.name} failed: {reasons[0] if reasons else '?'}",
                            f"see {s.directory / triallog.TRIALS}")
    out = {"experiment": s.name, "trials": len(records), "failed": failed, "tid": best["tid"],
           "params": best["params"], "auc": best.get("auc"), "run": best.get("run"),
           "hp": [f"--hp {shlex.quote(f'{k}={v}')}" for k, v in best["params"].items()]}
    runs.write_json(s.directory / BEST, out)
    logger.info("search %s: %d trial(s), %d failed; best inner-test AUC %.4f (trial %d): %s -> %s", s.name,
                len(records), failed, best.get("auc", float("nan")), best["tid"], " ".join(out["hp"]),
                s.directory / BEST)
    return out


@dataclass
class SearchState:
    name: str
    state: str      # running | done | stopped
    detail: str


def all_states(workdir: Path) -> list[SearchState]:
    """One line per search under <workdir>/searches, for ``glasskit status``."""
    out, queues = [], {}  # the scheduler asked once per Slurm configuration
    for d in sorted((Path(workdir) / SEARCHES).glob("*/")):
        st = runs.read_json(d / STATE)
        if not st:
            if (d / STATE).exists():
                out.append(SearchState(d.name, "damaged", f"{d / STATE} is not a JSON object: move {d} aside"))
            continue
        evals = st.get("evals")
        if isinstance(evals, bool) or not isinstance(evals, int) or not 1 <= evals <= triallog.MAX_TID:
            out.append(SearchState(d.name, "damaged", f"{d / STATE}: evals {evals!r} is not a trial count: "
                                                      f"move {d} aside"))
            continue
        records = triallog.read(d)
        best = triallog.best(records)
        failed = sum(not triallog.ok(r) for r in records)
        alive = driver_alive(st, queues)
        active = len(list((d / RUNNING).glob("*.json"))) if alive else 0
        n = len(records)
        state = "running" if alive else ("done" if n >= evals else "stopped")
        auc = best.get("auc") if best else None
        detail = (f"{n}/{evals} trials finished ({failed} failed), {active} running; "
                  + (f"best inner-test AUC {auc:.4f} (trial {best['tid']})" if isinstance(auc, (int, float))
                     else f"best trial {best['tid']}" if best else "no best yet")
                  + ("" if state != "stopped" else "; re-run the same command to resume"))
        out.append(SearchState(d.name, state, detail))
    return out
