#!/usr/bin/env python
"""What checkpoints cost and what they save: overhead, lost work per kill, a resumed ramp's wall
time, and the physics of resumed ramps against uninterrupted ones.

    .venv/bin/python bench/checkpoint.py overhead [--frames 20] [--repeat 5]
    .venv/bin/python bench/checkpoint.py kill [--sims 8] [--lattice 30 36] [--t-cool 200000] [--at 0.7]

``overhead``: the paper's system (N = 4,320) on the fast ramp, in-process: the median time of
one MD frame block and of one checkpoint (the row's numbers flushed and fsynced, the LAMMPS
restart written, hashed and renamed, its record written); the overhead at the shipped cadence
([engine] checkpoint_every = 5 frames) on the paper's
slow and fast ramps at the local profile's measured throughput, and the work a kill loses.

``kill``: two campaigns of the same spec (--sims simulations): one run straight through, one
killed (kill -9 of every process) at --at of the straight run's wall time, then the campaign's
command again. Both run every simulation at once (one local submission each, sharing the cores),
so the kill finds each at about --at of its ramp. Prints the wall times (the straight run, the killed run up to
the kill, the resumed run), checks that each resumed simulation's frames up to its checkpoint
are bit-identical to the straight run's, and compares the final (T = 0.05) frames' energies and
inherent-structure energies (FIRE, the spec's [minimize]) between the two: mean, sd, n.
Results go to bench/results/checkpoint-<what>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"


def _spec_text(name: str, workdir: Path, lattice, n_b: int, count: int, t_cool: int, engine: str = "",
               seed: int = 20261206) -> str:
    text = (ROOT / "jobs/simulate.toml").read_text()
    start = text.index("[system]")
    body = text[start:]
    body = body.replace("lattice = [60, 72]", f"lattice = [{lattice[0]}, {lattice[1]}]").replace(
        "n_b = 1512", f"n_b = {n_b}")
    body = body.split("[engine]")[0] + "[engine]\n" + engine
    return (f'[campaign]\nname = "{name}"\nseed = {seed}\nworkdir = "{workdir}"\n\n'
            f"[[campaign.runs]]\ncount = {count}\nt_cool = {t_cool}\n\n" + body)


def overhead(args) -> dict:
    from glasskit.campaign.layout import initial_configuration
    from glasskit.campaign.seeds import simulation_seeds
    from glasskit.campaign.shard import ShardLayout, SimulateShard
    from glasskit.campaign.spec import load_spec
    from glasskit.stages import checkpoint
    from glasskit.stages.engine import lammps_version
    from glasskit.stages.simulate import CoolingRun, ensure_initial
    from glasskit.util.mpi import world
    tmp = Path(tempfile.mkdtemp(prefix="gk-ckpt-"))
    t_cool = 200_000
    path = tmp / "s.toml"
    path.write_text(_spec_text("ckptbench", tmp / "c", (60, 72), 1512, 1, t_cool))
    spec = load_spec(path)
    data = ensure_initial(spec, tmp / "c")
    seed = int(simulation_seeds(spec.campaign.seed, [0])[0])
    sims = np.array([0])
    layout = ShardLayout(sims, np.array([seed]), np.array([t_cool]), spec.n_frames(t_cool),
                         *initial_configuration(tmp / "c"))
    w = world()
    plain_s, frame_s, ckpt_s = [], [], []
    version = lammps_version()
    for rep in range(args.repeat):
        # without checkpoints, then with one after every frame (its write, and the full LAMMPS
        # set-up the next block then starts with): the difference is what a checkpoint costs
        run = CoolingRun(spec, data)
        t = time.perf_counter()
        for frame in run.frames(0, seed, t_cool):
            plain_s.append(time.perf_counter() - t)
            if frame.k >= args.frames:
                break
            t = time.perf_counter()
        shard = tmp / "c" / "shards" / "simulate" / f"sub-bench{rep}" / "task-00000.h5"
        writer = SimulateShard(shard, layout, w, {"campaign_id": spec.campaign_id})
        run = CoolingRun(spec, data)
        t = time.perf_counter()
        for frame in run.frames(0, seed, t_cool):
            now = time.perf_counter()
            frame_s.append(now - t)
            writer.write_frame(0, frame)
            t0 = time.perf_counter()
            writer.flush_row(0)
            checkpoint.write(lambda p: run.write_restart(p), shard, tmp / "c", 0, 0, seed, t_cool, frame.k, frame.step,
                             writer.frame_crcs(0, frame.k), spec, version)
            ckpt_s.append(time.perf_counter() - t0)
            if frame.k >= args.frames:
                break
            t = time.perf_counter()
        writer.close()
    size = max(p.stat().st_size for p in (tmp / "c").glob("shards/simulate/*/checkpoints/*.restart"))
    frame_med = statistics.median(plain_s[1:] if len(plain_s) > 1 else plain_s)
    # a checkpoint's cost: its own time plus the extra set-up of the block after it
    ckpt_med = statistics.median(ckpt_s) + max(0.0, statistics.median(frame_s[1:] or frame_s) - frame_med)
    rate = spec.system.n_atoms * spec.dump_every(t_cool) / frame_med
    e = spec.engine
    out = {"n_atoms": spec.system.n_atoms, "frames_timed": len(frame_s), "fast_frame_s": frame_med,
           "fast_frame_after_checkpoint_s": statistics.median(frame_s[1:] or frame_s), "write_s": statistics.median(ckpt_s),
           "checkpoint_s": ckpt_med, "checkpoint_s_max": max(ckpt_s), "restart_bytes": size,
           "atom_steps_per_s": rate, "checkpoint_every": e.checkpoint_every}
    for ramp, steps in (("slow", 20_000_000), ("fast", 200_000)):
        frame = spec.system.n_atoms * (steps // 200) / rate
        interval = e.checkpoint_every * frame
        out[ramp] = {"frame_s": frame, "interval_s": interval, "overhead": ckpt_med / interval,
                     "lost_per_kill_s_max": interval + frame}
    for ramp in ("slow", "fast"):
        r = out[ramp]
        print(f"{ramp} ramp: a frame {r['frame_s']:.2f} s, a checkpoint every {r['interval_s']:.1f} s: overhead "
              f"{100 * r['overhead']:.3f} % of MD time; a kill loses at most {r['lost_per_kill_s_max']:.0f} s")
    print(f"checkpoint: {1e3 * ckpt_med:.1f} ms (its write {1e3 * out['write_s']:.1f} ms, median; the full set-up of "
          f"the block after it the rest), restart {size / 1024:.0f} KiB; "
          f"MD frame of the fast ramp {1e3 * frame_med:.0f} ms ({rate:.3g} atom-steps/s)")
    return out


def _run(spec: Path, array: str | None = None) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "glasskit"), "-q", "submit", "simulate", "--spec", str(spec), "--executor",
                             "local", *(["--array", array] if array else [])], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _run_all(spec: Path, sims: int) -> list[subprocess.Popen]:
    """Every simulation at once (one local submission each, the cores shared): a kill then finds
    each of them at the same point of its ramp."""
    procs = []
    for i in range(sims):
        procs.append(_run(spec, str(i)))
        time.sleep(0.5)  # each decides under the campaign's submit lock, then runs
    return procs


def _checkpoint_frames(workdir: Path) -> dict[int, int]:
    """sim -> its newest checkpoint frame (glasskit's own listing of the checkpoint records)."""
    from glasskit.campaign.shard import checkpoint_listing
    out: dict[int, int] = {}
    for d in workdir.glob("shards/simulate/*/checkpoints"):
        for sim, frame, _ in checkpoint_listing(d):
            out[sim] = max(out.get(sim, 0), frame)
    return out


def _final(workdir: Path) -> dict[int, dict]:
    import h5py
    out = {}
    for p in sorted(workdir.glob("shards/simulate/*/task-*.h5")):
        with h5py.File(p, "r") as f:
            for r, sim in enumerate(f["sim/index"][...]):
                if f["sim/done"][r]:
                    out[int(sim)] = {k: f[f"frames/{k}"][r] for k in ("x", "pe", "step")}
    return out


def kill(args) -> dict:
    from glasskit.campaign.spec import load_spec
    from glasskit.stages.minimize import InherentStructures
    tmp = Path(tempfile.mkdtemp(prefix="gk-kill-"))
    lattice, n_b = tuple(args.lattice), round(0.35 * args.lattice[0] * args.lattice[1])
    engine = "checkpoint_every = 5\n"
    specs = {}
    for name in ("straight", "cut"):
        specs[name] = tmp / f"{name}.toml"
        specs[name].write_text(_spec_text("killbench", tmp / name, lattice, n_b, args.sims, args.t_cool, engine,
                                               args.seed))
    t0 = time.perf_counter()
    assert all(p.wait() == 0 for p in _run_all(specs["straight"], args.sims))
    straight_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    procs = _run_all(specs["cut"], args.sims)
    while time.perf_counter() - t0 < args.at * straight_s:  # kill -9 at --at of the straight run's time
        if any(p.poll() is not None for p in procs):
            raise SystemExit("a simulation ended before the kill point")
        time.sleep(0.05)
    for p in procs:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    cut_s = time.perf_counter() - t0
    at = _checkpoint_frames(tmp / "cut")
    t0 = time.perf_counter()
    assert _run(specs["cut"]).wait() == 0
    resumed_s = time.perf_counter() - t0
    verify = subprocess.run([str(BIN / "glasskit"), "verify", "--spec", str(specs["cut"])], capture_output=True,
                            text=True).returncode
    a, b = _final(tmp / "straight"), _final(tmp / "cut")
    identical = all(np.array_equal(a[s]["x"][:k], b[s]["x"][:k]) and np.array_equal(a[s]["pe"][:k], b[s]["pe"][:k])
                    for s, k in at.items())
    spec = load_spec(specs["cut"])
    eis = {}
    with InherentStructures(spec, tmp / "cut" / "init.data") as ism:
        for name, rows in (("straight", a), ("resumed", b)):
            eis[name] = [ism.minimize(rows[s]["x"][-1].astype(np.float64), s)[0] for s in range(args.sims)]
    pe = {name: [float(rows[s]["pe"][-1]) for s in range(args.sims)] for name, rows in (("straight", a), ("resumed", b))}

    def stats(v):
        return [float(np.mean(v)), float(np.std(v, ddof=1)), len(v)]
    paired = [float(b[s]["pe"][-1] - a[s]["pe"][-1]) for s in range(args.sims)]
    paired_eis = [e2 - e1 for e1, e2 in zip(eis["straight"], eis["resumed"])]
    out = {"n_atoms": spec.system.n_atoms, "t_cool": args.t_cool, "sims": args.sims, "seed": args.seed,
           "killed_at_frames": at,
           "paired_final_pe_diff": [float(np.mean(paired)), float(np.std(paired, ddof=1) / np.sqrt(len(paired)))],
           "paired_final_eis_diff": [float(np.mean(paired_eis)),
                                     float(np.std(paired_eis, ddof=1) / np.sqrt(len(paired_eis)))],
           "wall_s": {"straight": straight_s, "cut_until_kill": cut_s, "resumed": resumed_s,
                      "cut_total": cut_s + resumed_s},
           "frames_before_checkpoint_bit_identical": identical, "verify_rc": verify,
           "final_pe": {k: stats(v) for k, v in pe.items()}, "final_eis": {k: stats(v) for k, v in eis.items()}}
    print(f"{args.sims} simulations, N = {spec.system.n_atoms}, t_cool = {args.t_cool:.0e}, 2 cores:")
    print(f"  straight {straight_s:.1f} s; killed at checkpoints {sorted(set(at.values()))} after {cut_s:.1f} s; "
          f"resumed in {resumed_s:.1f} s ({100 * resumed_s / straight_s:.0f} % of straight); total "
          f"{cut_s + resumed_s:.1f} s ({(cut_s + resumed_s) / straight_s:.2f}x)")
    print(f"  frames up to each checkpoint bit-identical to the straight run's: {identical}; verify exit {verify}")
    print(f"  paired resumed - straight: final pe {out['paired_final_pe_diff'][0]:+.5f} +- "
          f"{out['paired_final_pe_diff'][1]:.5f}, E_IS {out['paired_final_eis_diff'][0]:+.5f} +- "
          f"{out['paired_final_eis_diff'][1]:.5f} (mean +- standard error)")
    for key in ("final_pe", "final_eis"):
        s, r = out[key]["straight"], out[key]["resumed"]
        print(f"  {key} at T = 0.05: straight {s[0]:.5f} +- {s[1]:.5f}, resumed {r[0]:.5f} +- {r[1]:.5f} (n = {s[2]})")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("overhead", "kill"))
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sims", type=int, default=8)
    ap.add_argument("--lattice", type=int, nargs=2, default=[30, 36])
    ap.add_argument("--t-cool", type=int, default=200_000)
    ap.add_argument("--at", type=float, default=0.7)
    ap.add_argument("--seed", type=int, default=20261206, help="the campaign seed (kill: another set of runs)")
    args = ap.parse_args()
    out = overhead(args) if args.what == "overhead" else kill(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"checkpoint-{args.what}" + (f"-seed{args.seed}" if args.what == "kill" else "")
    (RESULTS / f"{name}.json").write_text(json.dumps(out, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
