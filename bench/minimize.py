#!/usr/bin/env python
"""Inherent-structure minimization: one reused LAMMPS instance vs a fresh one per frame.

    .venv/bin/python bench/minimize.py [--spec jobs/demo.toml] [--frames 40]

Simulates one cooling run of the spec (its slowest ramp), then minimizes the same frames twice
in one run: with glasskit's reused instance (scatter -> FIRE -> gather), and with a new LAMMPS
instance per frame (start, read_data, set-up, FIRE). Prints frames per second and the ratio.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from glasskit.stages.minimize import InherentStructures  # noqa: E402
from glasskit.stages.simulate import CoolingRun, ensure_initial  # noqa: E402
from glasskit.campaign.spec import load_spec  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", default="jobs/demo.toml")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--steps", type=int, help="ramp length in MD steps (default: the spec's slowest)")
    args = ap.parse_args()
    spec = load_spec(args.spec, workdir=tempfile.mkdtemp(prefix="glasskit-bench-"))
    data = ensure_initial(spec, spec.workdir())
    t_cool = args.steps or max(g.t_cool for g in spec.campaign.runs)
    if args.steps:
        import dataclasses
        every = max(1, args.steps // args.frames)
        spec = dataclasses.replace(spec, protocol=dataclasses.replace(spec.protocol, dump_every=every))
        t_cool = every * args.frames
    frames = [f.snap.x.astype(float) for f in CoolingRun(spec, data).frames(0, 12345, t_cool)]
    frames = frames[:: max(1, len(frames) // args.frames)][: args.frames]

    t0 = time.perf_counter()
    with InherentStructures(spec, data) as ism:
        reused = [ism.minimize(x)[0] for x in frames]
    t_reused = time.perf_counter() - t0

    t0 = time.perf_counter()
    fresh = []
    for x in frames:
        with InherentStructures(spec, data) as ism:
            fresh.append(ism.minimize(x)[0])
    t_fresh = time.perf_counter() - t0

    n = len(frames)
    print(f"# {spec.path}: N = {spec.system.n_atoms}, {n} frames of the t_cool = {t_cool} ramp")
    print(f"reused instance  : {n / t_reused:8.1f} frames/s")
    print(f"fresh per frame  : {n / t_fresh:8.1f} frames/s")
    print(f"speed-up {t_fresh / t_reused:.2f}x; identical energies: {reused == fresh}")


if __name__ == "__main__":
    main()
