#!/usr/bin/env python
"""Campaign bookkeeping at the paper's scale and ten times it: status, collect, verify, re-submit.

    .venv/bin/python bench/scale.py [--sims 20000 200000] [--shards 1000] [--frames 2]

Builds synthetic campaigns (half t_cool = 2e7, half 2e5, like jobs/simulate.toml) in about
--shards shards, written in bulk with the shard writer's layout (no LAMMPS; N = 4 atoms and
--frames frames keep the bytes small: the cost under test is the number of simulations and
shards, not their size). Every 100th simulation is left failed, so a re-submit has work to plan.
Then times, as a user runs them (a fresh process each, imports included):

    glasskit status --spec S            goal < 2 s at 200,000
    glasskit submit simulate --dry-run  (the failed 1 %, example-supercomputer profile) goal < 2 s
    glasskit collect --spec S           goal < 10 s
    glasskit verify --spec S            (reads every frame's CRC)
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from glasskit.campaign.layout import Campaign  # noqa: E402
from glasskit.util.mpi import World  # noqa: E402
from glasskit.campaign.seeds import simulation_seeds  # noqa: E402
from glasskit.campaign.shard import DONE, FAILED, ShardLayout, SimulateShard, frame_crc  # noqa: E402
from glasskit.campaign.spec import load_spec  # noqa: E402

GK = str(Path(sys.executable).parent / "glasskit")
SPEC = """[campaign]
name = "scale"
seed = 1
workdir = "{workdir}"
[[campaign.runs]]
count = {half}
t_cool = 20000000
[[campaign.runs]]
count = {half}
t_cool = 200000
[system]
lattice = [2, 2]
n_b = 1
[protocol]
frames = {frames}
"""


def build(tmp: Path, sims: int, shards: int, frames: int) -> Path:
    spec_path = tmp / "scale.toml"
    spec_path.write_text(SPEC.format(workdir=tmp / "campaign", half=sims // 2, frames=frames))
    spec = load_spec(spec_path)
    camp = Campaign.of(spec)
    camp.workdir.mkdir(parents=True, exist_ok=True)
    types = np.array([1, 1, 1, 2], np.int8)
    side = spec.system.side
    with h5py.File(camp.workdir / "init.h5", "w") as f:  # what ensure_initial would have written
        f["type"], f["box"] = types, np.array([[0.0, side], [0.0, side]])
        f["x"] = f["xs"] = np.zeros((4, 2), np.float32)
    (camp.workdir / "init.data").write_text("synthetic: bench/scale.py runs no LAMMPS\n")
    rng = np.random.default_rng(0)
    for task, rows in enumerate(np.array_split(np.arange(sims), shards)):
        t_cool = spec.t_cool_of(rows)
        layout = ShardLayout(rows, simulation_seeds(spec.campaign.seed, rows), t_cool, frames, types,
                             np.array([[0.0, side], [0.0, side]]))
        w = SimulateShard(camp.shard_path("simulate", "sub-scale", task), layout, World(None, 0, 1, False), {})
        S = len(rows)
        x = rng.random((S, frames, 4, 2), dtype=np.float32) * np.float32(side)
        steps = np.stack([np.arange(1, frames + 1) * (t // frames) for t in t_cool])
        f = w.f
        f["frames/x"][...], f["frames/step"][...] = x, steps
        f["frames/T"][...] = spec.frame_temperature(steps, t_cool[:, None])
        f["frames/pe"][...] = f["frames/temp"][...] = 1.0
        f["frames/crc"][...] = np.array([[frame_crc(x[i, k]) for k in range(frames)] for i in range(S)])
        f["frames/type"][...] = types
        bad = rows % 100 == 99
        f["sim/state"][...] = np.where(bad, FAILED, DONE)
        f["sim/done"][...] = ~bad
        w.close()
    return spec_path


def timed(*args: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    p = subprocess.run([GK, *args], capture_output=True, text=True, cwd=ROOT)
    dt = time.perf_counter() - t0
    if p.returncode not in (0, 1):
        raise SystemExit(f"glasskit {' '.join(args)} -> {p.returncode}: {p.stderr[-500:]}")
    return dt, (p.stdout + p.stderr).strip().splitlines()[-1][:110]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sims", type=int, nargs="+", default=[20000, 200000])
    ap.add_argument("--shards", type=int, default=1000)
    ap.add_argument("--frames", type=int, default=2)
    ap.add_argument("--skip-verify", action="store_true")
    args = ap.parse_args()
    for sims in args.sims:
        tmp = Path(tempfile.mkdtemp(prefix="glasskit-scale-"))
        try:
            t0 = time.perf_counter()
            spec = str(build(tmp, sims, args.shards, args.frames))
            print(f"# {sims} simulations in {args.shards} shards ({args.frames} frames, N = 4): built in "
                  f"{time.perf_counter() - t0:.1f} s")
            runs = [("status", ("status", "--spec", spec)),
                    ("re-submit dry run", ("submit", "simulate", "--spec", spec, "--executor", "slurm",
                                           "--cluster", "example-supercomputer", "--dry-run")),
                    ("collect", ("collect", "--spec", spec))]
            if not args.skip_verify:
                runs.append(("verify", ("verify", "--spec", spec)))
            for name, argv in runs:
                dt, last = timed(*argv)
                print(f"{name:<18} {dt:7.2f} s   {last}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
