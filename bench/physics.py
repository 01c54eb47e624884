#!/usr/bin/env python
"""Same physics? The shipped [engine]/[minimize] settings against the authors' plain input.

    .venv/bin/python bench/physics.py [--sims 6] [--t-cool 200000] [--workers 2]

Runs simulations 0..sims-1 of a copy of jobs/simulate.toml (N = 4320, 200 frames per ramp of
--t-cool steps, default the paper's fast ramp) twice from the same initial configuration and
the same velocity seeds: with the plain settings (``lj/cut``, LAMMPS's FIRE defaults) and with
the spec's shipped ones. Each simulation's frames k = 100 (T = 1.025) and k = 200 (T = 0.05) are
FIRE-minimized with that side's minimizer. Trajectories diverge bit by bit (another summation
order), so the comparison is of statistics over simulations:

* the inherent-structure energy (epsilon per particle) at T = 0.05 and T = 1.025: mean +- standard
  error per side, the difference and its z-score;
* the frame energies (pe at T = 1.025 and 0.05) the same way;
* the partial RDFs of dataset 1's frames (T = 1.99 and 0.05) and of the T = 1.025 frames: per bin
  the difference of the two means over its standard error; prints chi^2 per bin (about 1 for the
  same distribution; with n simulations a side the estimated errors make it ~(2n-2)/(2n-4)) and
  the largest |z|. On the fast ramp the T = 1.99 frame is only 1,000 steps from the shared start,
  where the two sides' trajectories have not yet decorrelated (chi^2 ~ 0): the liquid comparison
  that means something is T = 1.025;
* FIRE's stop reasons, counted.

Prints a table and writes it to runs/bench/physics.json (the simulations live in a temporary directory).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from glasskit.stages.minimize import STOP_NAMES, InherentStructures  # noqa: E402
from glasskit.campaign.seeds import simulation_seeds  # noqa: E402
from glasskit.stages.simulate import CoolingRun, ensure_initial  # noqa: E402
from glasskit.campaign.spec import PLAIN_ENGINE, PLAIN_FIRE, load_spec  # noqa: E402
from glasskit.data.structure import PartialRDF  # noqa: E402

FRAMES = {"T1.99": 1, "T1.025": 100, "T0.05": 200}  # k of 200 frames per ramp


def side_spec(workdir: str, t_cool: int, side: str):
    spec = load_spec(ROOT / "jobs/simulate.toml", workdir=workdir)
    runs = (dataclasses.replace(spec.campaign.runs[0], count=10_000, t_cool=t_cool),)
    spec = dataclasses.replace(spec, campaign=dataclasses.replace(spec.campaign, runs=runs))
    if side == "plain":
        spec = dataclasses.replace(spec, engine=PLAIN_ENGINE,
                                   minimize=dataclasses.replace(spec.minimize, **PLAIN_FIRE))
    return spec


def one(args) -> dict:
    """Simulate ``index`` on ``side``; minimize its T = 1.025 and 0.05 frames."""
    workdir, t_cool, side, index, seed = args
    spec = side_spec(workdir, t_cool, side)
    data = ensure_initial(spec, spec.workdir())
    t0 = time.perf_counter()
    keep = {f.k: f for f in CoolingRun(spec, data).frames(index, seed, t_cool) if f.k in FRAMES.values()}
    t_md = time.perf_counter() - t0
    out = dict(side=side, index=index, t_md=t_md, x={}, pe={}, ise={}, stop={}, iters={})
    types = None
    t0 = time.perf_counter()
    with InherentStructures(spec, data) as ism:
        for name, k in FRAMES.items():
            f = keep[k]
            types = f.snap.types
            out["x"][name], out["pe"][name] = f.snap.x, f.pe
            if name != "T1.99":
                out["ise"][name] = ism.minimize(f.snap.x.astype(float), index)[0]
                out["stop"][name], out["iters"][name] = STOP_NAMES[ism.stop], ism.iterations
    out["t_fire"] = time.perf_counter() - t0
    out["types"], out["box"] = types, keep[200].snap.box
    return out


def mean_se(v) -> tuple[float, float]:
    v = np.asarray(v, dtype=float)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v)))


def compare(name: str, a, b) -> dict:
    (ma, sa), (mb, sb) = mean_se(a), mean_se(b)
    d, se = mb - ma, float(np.hypot(sa, sb))
    print(f"{name:22s} {ma:+.5f} +- {sa:.5f}   {mb:+.5f} +- {sb:.5f}   {d:+.5f} +- {se:.5f}  z = {d / se:+.2f}")
    return dict(plain=[ma, sa], shipped=[mb, sb], diff=d, se=se, z=d / se)


def rdf_compare(frame: str, res: dict) -> dict:
    """Per-simulation partial RDFs of ``frame``; chi^2 per bin of the difference of the means."""
    g = {}
    for side in ("plain", "shipped"):
        per = []
        for r in res[side]:
            rdf = PartialRDF(r["box"][:, 1] - r["box"][:, 0], bins=100, r_max=5.0)
            rdf.add(r["x"][frame], r["types"])
            per.append(np.concatenate(list(rdf.g().values())))
        g[side] = np.array(per)
    d = g["shipped"].mean(0) - g["plain"].mean(0)
    se = np.hypot(g["shipped"].std(0, ddof=1), g["plain"].std(0, ddof=1)) / np.sqrt(len(g["plain"]))
    ok = se > 1e-9  # bins inside the core, empty on both sides
    z = d[ok] / se[ok]
    out = dict(bins=int(ok.sum()), chi2_per_bin=float(np.mean(z ** 2)), max_abs_z=float(np.abs(z).max()),
               max_abs_dg=float(np.abs(d).max()))
    print(f"RDF {frame:18s} {out['bins']} bins: chi^2/bin = {out['chi2_per_bin']:.2f}, max |z| = "
          f"{out['max_abs_z']:.2f}, max |dg| = {out['max_abs_dg']:.3f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sims", type=int, default=6)
    ap.add_argument("--t-cool", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "runs/bench/physics.json"))
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="glasskit-physics-")
    spec = side_spec(workdir, args.t_cool, "shipped")
    ensure_initial(spec, spec.workdir())  # once, before the workers race for it
    seeds = simulation_seeds(spec.campaign.seed, range(args.sims))
    jobs = [(workdir, args.t_cool, side, i, int(seeds[i])) for i in range(args.sims) for side in ("plain", "shipped")]
    with ProcessPoolExecutor(args.workers) as pool:
        done = list(pool.map(one, jobs))
    res = {side: [r for r in done if r["side"] == side] for side in ("plain", "shipped")}
    e = spec.engine
    print(f"# N = {spec.system.n_atoms}, {args.sims} simulations x 2 sides, t_cool = {args.t_cool}, "
          f"shipped: {dataclasses.asdict(e)}, FIRE {dataclasses.asdict(spec.minimize)}")
    print(f"{'quantity':22s} {'plain':>19s}   {'shipped':>19s}   {'shipped - plain':>19s}")
    report = dict(sims=args.sims, t_cool=args.t_cool, engine=dataclasses.asdict(e))
    for what in ("ise", "pe"):
        for frame in ("T0.05", "T1.025"):
            report[f"{what}_{frame}"] = compare(f"{what} {frame}", [r[what][frame] for r in res["plain"]],
                                                [r[what][frame] for r in res["shipped"]])
    for frame in ("T1.99", "T1.025", "T0.05"):
        report[f"rdf_{frame}"] = rdf_compare(frame, res)
    for side in ("plain", "shipped"):
        stops = [s for r in res[side] for s in r["stop"].values()]
        iters = [i for r in res[side] for i in r["iters"].values()]
        t_md = np.median([r["t_md"] for r in res[side]])
        t_fire = np.median([r["t_fire"] / 2 for r in res[side]])
        report[f"stops_{side}"] = {s: stops.count(s) for s in sorted(set(stops))}
        print(f"{side:8s} FIRE stops {report[f'stops_{side}']}, mean iterations {np.mean(iters):.0f}; "
              f"median MD {t_md:.1f} s per simulation, FIRE {t_fire:.1f} s per frame ({args.workers} side by side)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
