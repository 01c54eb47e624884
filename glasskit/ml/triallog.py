"""``trials.jsonl``: every finished trial of a search, on disk, whatever store ran it.

One JSON object per line, appended (one ``write`` under an exclusive ``flock``, so lines of
concurrent workers never interleave)::

    {"tid": 3, "vals": {"k": [2.0], ...}, "params": {"k": 2, ...}, "status": "ok" | "fail",
     "loss": -0.97, "auc": 0.97, "accuracy": 0.9, "run": "<training run id>", "failure": "",
     "seconds": 41.2, "host": "node17", "pid": 1234, "started": "...", "finished": "..."}

A trial re-run after its worker was killed may appear twice: readers keep the last line of each
``tid``. :func:`seed` turns the records back into hyperopt trial documents, so a search whose
store was lost (the embedded server is in memory) resumes with everything it had finished.
"""
from __future__ import annotations

import fcntl
import json
import math
import os
from pathlib import Path

TRIALS = "trials.jsonl"


def append(directory: Path, record: dict) -> None:
    """Append ``record`` as one line of ``directory/trials.jsonl``."""
    line = (json.dumps(record, sort_keys=True, default=_plain) + "\n").encode()
    fd = os.open(Path(directory) / TRIALS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _plain(v):
    return v.item() if hasattr(v, "item") else str(v)


def read(directory: Path) -> list[dict]:
    """The finished trials, last record per tid, in tid order; a torn last line (a worker killed
    while writing) is skipped."""
    path = Path(directory) / TRIALS
    if not path.is_file():
        return []
    recs = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                r = json.loads(line)
                recs[int(r["tid"])] = r
            except (ValueError, KeyError, TypeError):
                continue
    return [recs[t] for t in sorted(recs)]


def ok(record: dict) -> bool:
    loss = record.get("loss")
    return record.get("status") == "ok" and loss is not None and math.isfinite(loss)


def best(records: list[dict]) -> dict | None:
    """The finished trial of lowest loss (failures never count); ties go to the earlier trial."""
    good = [r for r in records if ok(r)]
    return min(good, key=lambda r: (r["loss"], r["tid"])) if good else None


def seed(trials, records: list[dict], domain) -> int:
    """Insert ``records`` into a hyperopt ``trials`` store as finished trials (their tids kept)
    and move its trial-id counter past them; returns how many were inserted."""
    from hyperopt.base import JOB_STATE_DONE, STATUS_FAIL, STATUS_OK
    if not records:
        return 0
    tids = [int(r["tid"]) for r in records]
    miscs, results = [], []
    for r, tid in zip(records, tids):
        vals = {k: list(v) for k, v in r["vals"].items()}
        miscs.append({"tid": tid, "cmd": domain.cmd, "workdir": domain.workdir, "vals": vals,
                      "idxs": {k: [tid] if v else [] for k, v in vals.items()}})
        results.append({"status": STATUS_OK, "loss": r["loss"]} if ok(r)
                       else {"status": STATUS_FAIL, "failure": r.get("failure", "")})
    docs = trials.new_trial_docs(tids, [None] * len(tids), results, miscs)
    for d in docs:
        d["state"] = JOB_STATE_DONE
    _reserve_ids(trials, max(tids) + 1)
    trials.insert_trial_docs(docs)
    trials.refresh()
    return len(docs)


def _reserve_ids(trials, n: int) -> None:
    """Make the store hand out new tids from ``n`` on."""
    if hasattr(trials, "handle"):  # MongoTrials: one counter per database
        doc = trials.handle.db.job_ids.find_one({"a": 0})
        have = doc.get("last_id", 0) if doc else 0
        if have < n:
            trials.new_trial_ids(n - have)
    else:
        trials._ids.update(range(n))
