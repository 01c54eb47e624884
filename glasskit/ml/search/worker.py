"""Search workers: claim a trial from the MongoDB-wire store, run it in process, repeat.

A :class:`SearchWorker` is the callable submitit runs (``LocalExecutor`` here, one element of a
Slurm job array on a cluster). It loads the experiment's domain once (the pickled
:class:`~glasskit.ml.search.objective.Objective`), then loops: claim a new trial with the race-free
conditional update of :mod:`glasskit.ml.search.mongoexp4`, evaluate it in this process (no new Python per
trial), write its result, and heartbeat the trial's ``refresh_time`` meanwhile so the driver can
tell a slow trial from a dead worker. It exits within one poll interval once the driver marks the
experiment finished, and after ``max_failures`` consecutive bookkeeping errors (a store that went
away): that loop is its restart policy; the driver replaces workers that died.
"""
from __future__ import annotations

import os
import socket
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from glasskit.util.log import logger

FLAGS = "glasskit_searches"  # {_id: experiment, finished: bool}


def jobs_handle(db):
    """hyperopt's MongoJobs over ``db`` (collections ``jobs`` and GridFS ``fs``), pymongo 4."""
    import gridfs
    from hyperopt.mongoexp import MongoJobs
    from glasskit.ml.search import mongoexp4
    mongoexp4.apply()
    return MongoJobs(db, db["jobs"], gridfs.GridFS(db, collection="fs"), db.client, None, "spec")


def finished(db, exp_key: str) -> bool:
    doc = db[FLAGS].find_one({"_id": exp_key})
    return bool(doc and doc.get("finished"))


@contextmanager
def heartbeat(mj, job, every_s: float):
    """Refresh ``job``'s ``refresh_time`` every ``every_s`` seconds while the block runs (a
    plain update that leaves hyperopt's document version alone)."""
    from hyperopt.base import JOB_STATE_RUNNING
    from hyperopt.mongoexp import coarse_utcnow
    stop = threading.Event()

    def beat():
        while not stop.wait(every_s):
            try:
                mj.jobs.update_one({"_id": job["_id"], "owner": job["owner"], "state": JOB_STATE_RUNNING},
                                   {"$set": {"refresh_time": coarse_utcnow()}})
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried; the trial goes on
                logger.warning("heartbeat of trial %s failed: %s", job.get("tid"), exc)

    t = threading.Thread(target=beat, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


def evaluate(mj, job, domains: dict, beat_s: float) -> None:
    """Run one claimed trial and store its result (hyperopt's MongoWorker.run_one without its
    reservation and per-trial workdir)."""
    from hyperopt.base import JOB_STATE_DONE, JOB_STATE_ERROR, SONify, spec_from_misc
    from hyperopt.mongoexp import MongoCtrl, MongoTrials
    from hyperopt.utils import pickler
    trials = MongoTrials(mj, exp_key=job["exp_key"], refresh=False)
    ctrl = MongoCtrl(trials=trials, read_only=False, current_trial=job)
    name = job["misc"]["cmd"][1]
    if job["exp_key"] not in domains:
        domains[job["exp_key"]] = pickler.loads(trials.attachments[name])
    try:
        with heartbeat(mj, job, beat_s):
            result = SONify(domains[job["exp_key"]].evaluate(spec_from_misc(job["misc"]), ctrl))
    except BaseException as exc:
        mj.update(job, {"state": JOB_STATE_ERROR, "error": (str(type(exc)), str(exc))})
        raise
    ctrl.checkpoint(result)
    mj.update(job, {"state": JOB_STATE_DONE})


def run_worker(url: str, exp_key: str, poll_s: float = 0.1, beat_s: float = 5.0, max_failures: int = 5,
               threads: int = 0) -> int:
    """The worker loop; returns the number of trials run."""
    from glasskit.ml.search.mongoserver import connect
    if threads:
        import torch
        torch.set_num_threads(threads)
    host_id = f"{socket.gethostname()}:{os.getpid()}"
    domains, n, failures = {}, 0, 0
    mj = None
    while True:
        try:
            if mj is None:
                _, db = connect(url, timeout_s=5.0)
                mj = jobs_handle(db)
            if finished(mj.db, exp_key):
                logger.info("worker %s: experiment %s finished after %d trial(s) here", host_id, exp_key, n)
                return n
            job = mj.reserve(host_id, exp_key=exp_key)
            if job is None:
                time.sleep(poll_s)
                continue
            logger.info("worker %s: trial %d", host_id, job["tid"])
            evaluate(mj, job, domains, beat_s)
            n, failures = n + 1, 0
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the restart loop: log, back off, retry
            failures += 1
            mj = None
            if failures >= max_failures:
                logger.error("worker %s: %d consecutive errors, the last: %s; exiting", host_id, failures, exc)
                raise SystemExit(1) from None
            logger.warning("worker %s: %s; retrying (%d/%d)", host_id, exc, failures, max_failures)
            time.sleep(min(10.0, 0.5 * 2 ** failures))


@dataclass
class SearchWorker:
    """What submitit runs for each worker."""

    url: str
    exp_key: str
    poll_s: float = 0.1
    beat_s: float = 5.0
    threads: int = 0

    def __call__(self) -> int:
        from glasskit.util.log import setup
        setup()
        sys.stderr.flush()
        return run_worker(self.url, self.exp_key, self.poll_s, self.beat_s, threads=self.threads)
