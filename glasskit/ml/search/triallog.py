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

import json
import math
import re
from pathlib import Path

TRIALS = "trials.jsonl"


def append(directory: Path, record: dict) -> None:
    """Append ``record`` as one line of ``directory/trials.jsonl``."""
    from glasskit.util.outputs import append_line
    append_line(Path(directory) / TRIALS, json.dumps(record, sort_keys=True, default=_plain) + "\n")


def _plain(v):
    return v.item() if hasattr(v, "item") else str(v)


MAX_TID = 1_000_000  # far beyond any search (the authors': 20 evaluations); a larger tid is forged


def problem(r) -> str | None:
    """Why a trials.jsonl record cannot be trusted (None when it can): a tid in 0..MAX_TID, a
    status of ok or fail, ``vals`` a table of 0- or 1-element lists of finite numbers, for ``ok``
    a finite loss, and for a training trial (one with a ``run``) a loss equal to minus its
    ``auc`` in [0, 1]."""
    if not isinstance(r, dict):
        return "not a JSON object"
    tid = r.get("tid")
    if isinstance(tid, bool) or not isinstance(tid, int) or not 0 <= tid < MAX_TID:
        return f"tid {tid!r} is not in 0..{MAX_TID - 1}"
    if r.get("status") not in ("ok", "fail"):
        return f"status {r.get('status')!r}"
    vals = r.get("vals")
    if not isinstance(vals, dict) or not all(
            isinstance(v, list) and len(v) <= 1 and all(_finite(x) for x in v) for v in vals.values()):
        return "vals is not a table of lists of at most one number"
    params = r.get("params", {})
    if not isinstance(params, dict) or not all(
            isinstance(k, str) and re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", k)
            and (_finite(v) or (isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9_.+-]{1,40}", v))) for k, v in
            params.items()):
        return "params is not a table of setting names and plain values"
    if r["status"] == "ok":
        loss, auc = r.get("loss"), r.get("auc")
        if not _finite(loss) or abs(loss) > 1e6:
            return f"loss {loss!r} is not a finite number"
        if "run" in r and not (-1 <= loss <= 0 and _finite(auc) and abs(auc + loss) < 1e-9):
            return f"loss {loss!r} of a training trial is not minus its AUC in [0, 1] (auc {auc!r})"
    return None


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def read(directory: Path, skipped: list | None = None) -> list[dict]:
    """The finished trials, last record per tid, in tid order. A torn line (a worker killed while
    writing) or a record that fails :func:`problem` is skipped, and named in ``skipped``
    (line number and reason) when a list is given."""
    path = Path(directory) / TRIALS
    if not path.is_file():
        return []
    recs = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            try:
                r = json.loads(line)
            except ValueError:
                why = "not JSON (a torn line)"
            else:
                why = problem(r)
            if why:
                if skipped is not None:
                    skipped.append(f"{path}:{n}: {why}")
                continue
            recs[r["tid"]] = r
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
