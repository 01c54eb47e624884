#!/usr/bin/env python
"""What the parallel search costs and gains: throughput, per-trial overhead, recovery time.

    .venv/bin/python bench/search.py [--seconds 1.0] [--evals 12] [--stale 3]

All on glasskit.ml.search.objective.FixedCost (sleeps --seconds per trial, so the numbers measure the
search machinery, not training), TPE over the D-MPNN space of jobs/models.toml:

1. Trials per minute with 1 and 2 submitit workers on the embedded MongoDB-wire server, from the
   first trial's start to the last trial's end (server and worker start-up reported apart); goal:
   2 workers >= 1.8x of 1.
2. Per-trial overhead: (span of the trials - sum of their objective time) / trials, in process
   (hyperopt.Trials) vs the Mongo path with 1 worker; goal < 0.2 s more on the Mongo path.
3. Recovery: a worker killed with SIGKILL mid-trial; seconds from the kill until another worker
   starts that trial again (stale-reservation timeout --stale).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make(tmp: Path, name: str, evals: int, workers: int, seconds: float, stale: float = 60.0):
    from glasskit.batch.cluster import load_cluster
    from glasskit.ml.config import load_models
    from glasskit.ml.launch import Launcher
    from glasskit.ml.search.objective import FixedCost
    from glasskit.ml.search.driver import Search
    dims = load_models(ROOT / "jobs/models.toml").search["dmpnn"]
    d = tmp / name
    launcher = Launcher.of("local", 1, load_cluster("local")) if workers else None
    return Search(name, d, FixedCost(str(d), dims, seconds=seconds), dims, evals, workers, None, 0, stale,
                  launcher, threads=1)


def timed(s) -> dict:
    from glasskit.ml import triallog
    from glasskit.ml.search.driver import run
    t0 = time.time()
    run(s)
    wall = time.time() - t0
    recs = triallog.read(s.directory)
    first, last = min(r["t_start"] for r in recs), max(r["t_end"] for r in recs)
    span = last - first
    busy = sum(r["seconds"] for r in recs)
    return {"wall": wall, "startup": first - t0, "span": span, "trials": len(recs),
            "per_min": 60 * len(recs) / span, "overhead": (span * max(1, s.workers) - busy) / len(recs)}


def recovery(tmp: Path, seconds: float, stale: float) -> float:
    from glasskit.ml import triallog
    from glasskit.ml.search.driver import run
    s = make(tmp, "kill", 4, 2, seconds, stale)
    t = threading.Thread(target=run, args=(s,))
    t.start()
    running = s.directory / "running"
    while not (running.is_dir() and any(running.glob("*.json"))):
        time.sleep(0.02)
    victim = json.loads(next(running.glob("*.json")).read_text())
    os.kill(victim["pid"], signal.SIGKILL)
    killed = time.time()
    t.join()
    again = [r for r in triallog.read(s.directory) if r["tid"] == victim["tid"]]
    return again[0]["t_start"] - killed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=1.0, help="cost of one trial (default 1 s)")
    ap.add_argument("--evals", type=int, default=12, help="trials per measurement (default 12)")
    ap.add_argument("--stale", type=float, default=3.0, help="stale-reservation timeout for part 3 (s)")
    args = ap.parse_args()
    import logging
    logging.getLogger("glasskit").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        local = timed(make(tmp, "inproc", args.evals, 0, args.seconds))
        one = timed(make(tmp, "w1", args.evals, 1, args.seconds))
        two = timed(make(tmp, "w2", args.evals, 2, args.seconds))
        print(f"fixed-cost objective {args.seconds:g} s, {args.evals} trials, TPE over the D-MPNN space")
        print(f"{'store':<26} {'trials/min':>10} {'span s':>8} {'start-up s':>10} {'overhead s/trial':>17}")
        for name, r in (("in process (Trials)", local), ("Mongo, 1 worker", one), ("Mongo, 2 workers", two)):
            print(f"{name:<26} {r['per_min']:>10.1f} {r['span']:>8.2f} {r['startup']:>10.2f} {r['overhead']:>17.3f}")
        print(f"2 workers / 1 worker: {two['per_min'] / one['per_min']:.2f}x (goal >= 1.8)")
        print(f"Mongo path overhead over in process: {one['overhead'] - local['overhead']:+.3f} s per trial "
              "(goal < 0.2)")
        back = recovery(tmp, max(2.0, args.seconds), args.stale)
        print(f"worker killed mid-trial: trial started again {back:.1f} s after the SIGKILL "
              f"(stale timeout {args.stale:g} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
