#!/usr/bin/env python
"""Dataset and analysis throughput on frames of the paper's system (N = 4320).

    .venv/bin/python bench/analysis.py [--frames 20]

Simulates a short ramp of jobs/simulate.toml's system to get real frames, then prints:
images per second with the matplotlib recipe vs the numpy rasterizer (goal >= 20x) and their
mean pixel difference; graphs per second at l_win = 0.3, k = 3; RDF frames per second with
freud vs LAMMPS compute rdf (500 bins, 10 sigma).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from glasskit.data.graphs import frame_graph  # noqa: E402
from glasskit.data.images import rasterize, render_matplotlib  # noqa: E402
from glasskit.stages.simulate import CoolingRun, ensure_initial  # noqa: E402
from glasskit.campaign.spec import load_spec  # noqa: E402
from glasskit.data.structure import PartialRDF, lammps_rdf  # noqa: E402


def rate(fn, items) -> float:
    t0 = time.perf_counter()
    out = [fn(*it) for it in items]
    return len(out) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=20)
    args = ap.parse_args()
    spec = load_spec("jobs/simulate.toml", workdir=tempfile.mkdtemp(prefix="glasskit-bench-"))
    data = ensure_initial(spec, spec.workdir())
    steps = 100 * args.frames
    import dataclasses
    spec = dataclasses.replace(spec, protocol=dataclasses.replace(spec.protocol, dump_every=100))
    frames = [f.snap for f in CoolingRun(spec, data).frames(0, 7, steps)]
    box = frames[0].box[:, 1] - frames[0].box[:, 0]
    print(f"# {len(frames)} frames, N = {spec.system.n_atoms}")

    render_matplotlib(frames[0].xs, frames[0].types)  # warm-up (imports, font cache)
    rasterize(frames[0].xs, frames[0].types)  # warm-up (kernel, palette)
    mpl = rate(render_matplotlib, [(f.xs, f.types) for f in frames])
    fast = rate(rasterize, [(f.xs, f.types) for f in frames])
    diff = np.mean([np.abs(render_matplotlib(f.xs, f.types).astype(float) - rasterize(f.xs, f.types)).mean() / 255
                    for f in frames[:5]])
    print(f"images: matplotlib {mpl:7.1f}/s, rasterizer {fast:7.1f}/s, speed-up {fast / mpl:.1f}x "
          f"(goal >= 20x); mean |diff| {100 * diff:.3f} % of full scale")

    frame_graph(frames[0].x, frames[0].types, box, 0.3, 3)  # warm-up (torch import)
    rng = np.random.default_rng(0)
    g = rate(lambda f: frame_graph(f.x, f.types, box, 0.3, 3, rng.random(2)), [(f,) for f in frames])
    print(f"graphs (l_win = 0.3, k = 3): {g:7.1f}/s")

    t0 = time.perf_counter()
    acc = PartialRDF(box, 500, 10.0)  # freud's RDF objects take ~1-3 s to construct, once
    setup = time.perf_counter() - t0
    fr = rate(acc.add, [(f.x, f.types) for f in frames])
    lm = rate(lambda f: lammps_rdf(spec, data, f.x.astype(float), 500, 10.0), [(f,) for f in frames[:5]])
    print(f"RDF frames (500 bins, 10 sigma): freud {fr:7.1f}/s (after {setup:.1f} s set-up), "
          f"LAMMPS compute rdf {lm:7.1f}/s (incl. instance start), ratio {fr / lm:.2f}")


if __name__ == "__main__":
    main()
