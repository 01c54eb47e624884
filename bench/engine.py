#!/usr/bin/env python
"""MD and FIRE throughput of LAMMPS settings that leave the physics alone ([engine], [minimize]).

    .venv/bin/python bench/engine.py md   [--steps 10000] [--repeat 5] [--variant NAME ...]
    .venv/bin/python bench/engine.py fire [--frames 4] [--repeat 3] [--variant NAME ...]
    .venv/bin/python bench/engine.py basin [--frames 8]
    .venv/bin/python bench/engine.py list

The paper's system (jobs/simulate.toml: N = 4320). ``md`` runs --steps MD steps of the fast
ramp (T from 2.0 down at the 2e5-step rate; the hottest, most re-neighbouring part) on one
in-process LAMMPS per run, variants alternating, and prints the median atom-steps per second of
each and its ratio to ``plain`` (the authors' input). ``fire`` cools one simulation over the
paper's fast ramp (2e5 steps), keeps --frames frames spread over it (T = 1.5 .. 0.05), and
minimizes each with every variant (alternating): median frames per second, mean FIRE
iterations, the mean signed and absolute ISE difference to ``plain`` (epsilon per particle; a
positive mean is a minimization stopped short), the median final force norm and the stop
reasons.
``basin`` asks whether the shipped FIRE finds the same minimum as plain FIRE: each frame is
minimized both ways and plain-then-shipped. A variant is a name (``list`` prints them) or ``key=value,key=value`` of [engine]/[minimize]
keys. ``--default`` measures the spec's shipped defaults against plain.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from glasskit.stages.engine import engine_switches, new_lammps  # noqa: E402
from glasskit.util.errors import LammpsFailure  # noqa: E402
from glasskit.stages.minimize import STOP_NAMES, InherentStructures  # noqa: E402
from glasskit.campaign.seeds import simulation_seeds  # noqa: E402
from glasskit.stages.simulate import CoolingRun, cool_input, ensure_initial  # noqa: E402
from glasskit.campaign.spec import FIRE_KEYS, PLAIN_ENGINE, PLAIN_FIRE, EngineSpec, load_spec  # noqa: E402

FAST = 200_000  # the paper's fast ramp (MD steps)
PLAIN = dict(dataclasses.asdict(PLAIN_ENGINE), **PLAIN_FIRE)
VARIANTS = {
    "plain": {},
    "opt": dict(pair_style="lj/cut/opt"),
    "omp": dict(pair_style="lj/cut/omp"),
    "intel": dict(pair_style="lj/cut/intel"),   # a site's LAMMPS with the INTEL package
    "kk": dict(pair_style="lj/cut/kk"),         # KOKKOS on a host thread
    "kk-gpu": dict(pair_style="lj/cut/kk", device="gpu"),
    "gpu": dict(pair_style="lj/cut/gpu", device="gpu"),
    "opt-skin0.2": dict(pair_style="lj/cut/opt", skin=0.2),
    "opt-skin0.25": dict(pair_style="lj/cut/opt", skin=0.25),
    "opt-skin0.4": dict(pair_style="lj/cut/opt", skin=0.4),
    "opt-every2": dict(pair_style="lj/cut/opt", neigh_every=2),
    "opt-nosort": dict(pair_style="lj/cut/opt", sort_every=0),
    "opt-sort100": dict(pair_style="lj/cut/opt", sort_every=100),
    "opt-dt0.01": dict(pair_style="lj/cut/opt", dt=0.01),
    "opt-dt0.02": dict(pair_style="lj/cut/opt", dt=0.02),
    "opt-tmax20": dict(pair_style="lj/cut/opt", tmax=20.0),
    "opt-dt0.01-tmax20": dict(pair_style="lj/cut/opt", dt=0.01, tmax=20.0),
    "opt-verlet": dict(pair_style="lj/cut/opt", integrator="verlet"),
    "opt-leapfrog": dict(pair_style="lj/cut/opt", integrator="leapfrog"),
    "opt-dtgrow1.2": dict(pair_style="lj/cut/opt", dtgrow=1.2),
    "opt-delay5": dict(pair_style="lj/cut/opt", delaystep=5),
    "opt-abc": dict(pair_style="lj/cut/opt", abcfire=True),
    "opt-dt0.01-delay5": dict(pair_style="lj/cut/opt", dt=0.01, delaystep=5),
    "opt-dt0.01-delay5-grow1.2": dict(pair_style="lj/cut/opt", dt=0.01, delaystep=5, dtgrow=1.2),
    "opt-dt0.01-delay5-leapfrog": dict(pair_style="lj/cut/opt", dt=0.01, delaystep=5, integrator="leapfrog"),
}


def parse_variant(text: str) -> tuple[str, dict]:
    if text in VARIANTS:
        return text, VARIANTS[text]
    out = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        if key not in PLAIN:
            raise SystemExit(f"unknown variant or key {key!r}: see `bench/engine.py list`")
        out[key] = (value in ("1", "true", "yes")) if isinstance(PLAIN[key], bool) else type(PLAIN[key])(value)
    return text, out


def with_settings(spec, settings: dict):
    """``spec`` with the plain settings overridden by ``settings``."""
    values = dict(PLAIN, **settings)
    eng = {f.name: values[f.name] for f in dataclasses.fields(EngineSpec)}
    mini = {k: values[k] for k in FIRE_KEYS}
    return dataclasses.replace(spec, engine=EngineSpec(**eng), minimize=dataclasses.replace(spec.minimize, **mini))


def md_rate(spec, data: Path, seed: int, steps: int) -> float:
    """Atom-steps per second of ``steps`` MD steps of the fast ramp (set-up not timed)."""
    lmp = new_lammps(switches=engine_switches(spec.engine))  # KOKKOS: -k on ... -sf kk
    try:
        lmp.commands_string(cool_input(spec, data, 0, seed, FAST))
        lmp.command(f"run 0 start 0 stop {FAST}")
        t0 = time.perf_counter()
        lmp.command(f"run {steps} start 0 stop {FAST} pre no post no")
        dt = time.perf_counter() - t0
    finally:
        lmp.close()
    return spec.system.n_atoms * steps / dt


def bench_md(spec, data, variants, args) -> None:
    seed = int(simulation_seeds(spec.campaign.seed, [0])[0])
    rates = {name: [] for name, _ in variants}
    for _ in range(args.repeat):
        for name, settings in variants:
            rates[name].append(md_rate(with_settings(spec, settings), data, seed, args.steps))
    base = statistics.median(rates["plain"])
    print(f"# MD: N = {spec.system.n_atoms}, {args.steps} steps of the fast ramp from T = 2.0, "
          f"median of {args.repeat} alternating runs")
    print(f"{'variant':28s} {'Matom-step/s':>13s} {'ratio':>6s}   runs")
    for name, r in rates.items():
        m = statistics.median(r)
        print(f"{name:28s} {m / 1e6:13.3f} {m / base:6.3f}   {' '.join(f'{x / 1e6:.2f}' for x in r)}")


def ramp_frames(spec, data, n: int) -> list[tuple[float, np.ndarray]]:
    """(T, x) of ``n`` frames of one fast-ramp simulation, spread from T ~ 1.5 to 0.05 (cached
    in ~/.cache/glasskit: the ramp takes two minutes)."""
    cache = Path.home() / ".cache/glasskit" / f"bench-fire-frames-{spec.system.n_atoms}-{n}.npz"
    if cache.is_file():
        z = np.load(cache)
        return list(zip(z["T"].tolist(), z["x"]))
    spec = dataclasses.replace(spec, protocol=dataclasses.replace(spec.protocol, frames=4 * n, dump_every=0))
    frames = list(CoolingRun(spec, data).frames(0, 12345, FAST))
    step = len(frames) // n
    pick = frames[step - 1::step][:n]  # k = 4, 8, ..., 4n: the last is the T = 0.05 glass
    T, x = np.array([f.T for f in pick]), np.array([f.snap.x.astype(float) for f in pick])
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache.with_suffix(".tmp.npz"), T=T, x=x)
    cache.with_suffix(".tmp.npz").replace(cache)
    return list(zip(T.tolist(), x))


def bench_fire(spec, data, variants, args) -> None:
    frames = ramp_frames(spec, data, args.frames)
    res = {name: dict(t=[], pe=None, it=None, stops=None, fnorm=None) for name, _ in variants}
    for _ in range(args.repeat):
        for name, settings in list(variants):
            s = with_settings(spec, settings)
            with InherentStructures(s, data) as ism:
                pe, it, stops, fn = [], [], [], []
                t0 = time.perf_counter()
                try:
                    for _, x in frames:
                        pe.append(ism.minimize(x)[0])
                        it.append(ism.iterations)
                        stops.append(STOP_NAMES[ism.stop])
                        fn.append(ism.fnorm)
                except LammpsFailure as exc:  # a FIRE step too large for the potential
                    print(f"{name}: FAILED ({exc})", flush=True)
                    variants.remove((name, settings))
                    del res[name]
                    continue
                res[name]["t"].append(time.perf_counter() - t0)
            res[name].update(pe=np.array(pe), it=it, stops=stops, fnorm=fn)
    base = res["plain"]
    temps = ", ".join(f"{t:.3g}" for t, _ in frames)
    print(f"# FIRE: N = {spec.system.n_atoms}, {len(frames)} frames of one fast ramp (T = {temps}), "
          f"median of {args.repeat} alternating passes")
    print(f"{'variant':28s} {'frames/s':>9s} {'ratio':>6s} {'iters':>7s} {'dISE':>9s} {'|dISE|':>9s} {'fnorm':>8s}  stops")
    rate0 = len(frames) / statistics.median(base["t"])
    for name, r in res.items():
        rate = len(frames) / statistics.median(r["t"])
        diff = r["pe"] - base["pe"]
        d, ad = float(diff.mean()), float(np.abs(diff).mean())
        se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")
        stops = {s: r["stops"].count(s) for s in sorted(set(r["stops"]))}
        print(f"{name:28s} {rate:9.4f} {rate / rate0:6.3f} {np.mean(r['it']):7.0f} {d:+9.2e} {ad:9.2e} "
              f"{np.median(r['fnorm']):8.1e}  {stops}" + (f"  dISE = {d:+.2e} +- {se:.2e} (paired, SE)" if name != "plain" else ""))


def bench_basin(spec, data, variants, args) -> None:
    """Same minimum? Each frame minimized plainly, with the shipped FIRE, and plainly and then
    continued with the shipped FIRE: a continued energy equal to the shipped one (and positions
    within a small fraction of sigma) means the same inherent structure reached more completely."""
    frames = ramp_frames(spec, data, args.frames)
    plain = with_settings(spec, {})
    print(f"# basins: N = {spec.system.n_atoms}, {len(frames)} frames of one fast ramp; energies per particle, "
          "f = final force 2-norm")
    with InherentStructures(plain, data) as P, InherentStructures(spec, data) as A:
        for T, x in frames:
            ep, sp = P.minimize(x)
            fp = P.fnorm
            ea, sa = A.minimize(x)
            fa = A.fnorm
            ec, sc = A.minimize(sp.x.astype(float))
            L = sp.box[:, 1] - sp.box[:, 0]
            d = sc.x - sa.x
            d -= L * np.round(d / L)
            print(f"T {T:6.3f}: plain {ep:.6f} (f {fp:.2g})  shipped {ea:.6f} (f {fa:.2g})  plain, continued "
                  f"{ec:.6f}  shipped - continued {ea - ec:+.1e}, max |dx| {np.abs(d).max():.2g} sigma")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("md", "fire", "basin", "list"))
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--variant", action="append", default=[])
    ap.add_argument("--default", action="store_true", help="add the shipped defaults of jobs/simulate.toml")
    args = ap.parse_args()
    if args.what == "list":
        for name, v in VARIANTS.items():
            print(f"{name:24s} {v}")
        return
    spec = load_spec(ROOT / "jobs/simulate.toml", workdir=tempfile.mkdtemp(prefix="glasskit-bench-"))
    variants = [("plain", {})] + [parse_variant(v) for v in args.variant if v != "plain"]
    if args.default:
        shipped = {**dataclasses.asdict(spec.engine),
                   **{k: getattr(spec.minimize, k) for k in FIRE_KEYS}}
        variants.append(("default", shipped))
    data = ensure_initial(spec, spec.workdir())
    {"md": bench_md, "fire": bench_fire, "basin": bench_basin}[args.what](spec, data, variants, args)


if __name__ == "__main__":
    main()
