#!/usr/bin/env python
"""glasskit's overhead over bare LAMMPS, and its throughput on 1 vs 2 MPI ranks.

    .venv/bin/python bench/overhead.py [--steps 200000] [--frames 200] [--repeat 3]

1. One simulation of the paper's system (jobs/simulate.toml: N = 4320) for --steps MD steps
   (default: the paper's fast ramp, 2e5) with --frames frames (default the paper's 200, a frame
   every 1,000 steps): ``glasskit run simulate`` (LAMMPS in-process, frames gathered
   through the Python API into an HDF5 shard) versus the *same rendered input* plus an
   equivalent ``dump`` run by the LAMMPS executable alone. Runs alternate, both include process
   start-up; prints both medians and the ratio (goal <= 1.02).
2. Two simulations on one task: 1 rank (one after the other) vs 2 MPI ranks (side by side);
   prints the throughput ratio (goal >= 1.8 on 2 free cores).
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from glasskit.campaign.seeds import simulation_seeds  # noqa: E402
from glasskit.stages.simulate import cool_input, ensure_initial  # noqa: E402
from glasskit.campaign.spec import load_spec  # noqa: E402

BIN = Path(sys.executable).parent


def bench_spec(tmp: Path, steps: int, frames: int) -> Path:
    text = (ROOT / "jobs/simulate.toml").read_text()
    text = text.replace("t_cool = 20000000", f"t_cool = {steps}").replace("t_cool = 200000", f"t_cool = {steps}")
    text = text.replace("frames = 200 ", f"frames = {frames} ")
    text = text.replace('name = "paper"', f'name = "bench"\nworkdir = "{tmp}/campaign"')
    path = tmp / "bench.toml"
    path.write_text(text)
    return path


def timed(argv: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=200_000)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="glasskit-bench-"))
    spec = load_spec(bench_spec(tmp, args.steps, args.frames))
    every = spec.dump_every(args.steps)
    data = ensure_initial(spec, spec.workdir())
    seed = int(simulation_seeds(spec.campaign.seed, [0])[0])
    lmp_in = tmp / "standalone.in"
    lmp_in.write_text(cool_input(spec, data, 0, seed, args.steps)
                      + f"dump d all custom {every} frames.lammpstrj id type xs ys x y\n"
                      + f"dump_modify d sort id\nrun {args.steps}\n")
    gk = [str(BIN / "glasskit"), "run", "simulate", "--spec", spec.path, "--tasks", "1", "--task", "0"]
    n = spec.system.n_atoms
    print(f"# N = {n}, {args.steps} steps, {spec.n_frames(args.steps)} frames (every {every} steps), "
          f"{args.repeat} repeats")

    t_gk, t_lmp = [], []
    for i in range(args.repeat):
        t_lmp.append(timed([str(BIN / "lmp"), "-in", str(lmp_in), "-log", "none", "-screen", "none"], tmp))
        t_gk.append(timed(gk + ["--sims", "0", "--ranks", "1", "--submission", f"sub-bench-{i}", "--balance", "cost"],
                          tmp))
    g, l = statistics.median(t_gk), statistics.median(t_lmp)
    print(f"lammps executable : {l:7.2f} s  ({n * args.steps / l / 1e6:.2f} Matom-step/s)")
    print(f"glasskit run      : {g:7.2f} s  ({n * args.steps / g / 1e6:.2f} Matom-step/s)")
    print(f"ratio glasskit/lammps = {g / l:.3f}   (goal <= 1.02)")

    if not shutil.which("mpiexec.mpich"):
        print("mpiexec.mpich not found: skipping the 1-rank vs 2-rank comparison")
        return
    t1 = timed(gk + ["--sims", "0-1", "--ranks", "1", "--submission", "sub-bench-r1"], tmp)
    t2 = timed(["mpiexec.mpich", "-n", "2"] + gk + ["--sims", "0-1", "--ranks", "2", "--submission", "sub-bench-r2"], tmp)
    print(f"2 simulations, 1 rank : {t1:7.2f} s")
    print(f"2 simulations, 2 ranks: {t2:7.2f} s")
    print(f"throughput ratio 2 ranks / 1 rank = {t1 / t2:.2f}   (goal >= 1.8)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
