#!/usr/bin/env python
"""Store benchmarks: shard-writer bandwidth vs raw h5py, and collect over 1,000 shards.

    .venv/bin/python bench/store.py [--sims 8] [--shards 1000]

1. Writes --sims simulations x 200 frames of N = 4320 positions (x, float32) through
   glasskit's SimulateShard (serial: chunk per frame, shuffle+gzip+fletcher32, CRC per frame)
   and through raw h5py writing the same bytes into the same chunk layout, once with the same
   filters and once with none. Prints MB/s and the ratios (goal >= 80 % of raw).
2. Creates --shards demo-sized shards (320 atoms, 200 frames, one simulation each)
   and times ``glasskit collect`` over them.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from glasskit.campaign.layout import Campaign  # noqa: E402
from glasskit.util.mpi import World  # noqa: E402
from glasskit.campaign.shard import ShardLayout, SimulateShard  # noqa: E402
from glasskit.stages.simulate import Frame, Snapshot  # noqa: E402
from glasskit.campaign.spec import load_spec  # noqa: E402
from glasskit.campaign.store import collect  # noqa: E402

SERIAL = World(None, 0, 1, False)


def fake_frames(n_frames: int, n_atoms: int, rng) -> list[Frame]:
    types = np.ones(n_atoms, np.int8)
    box = np.array([[0, 40.0], [0, 48.0]])
    out = []
    for k in range(1, n_frames + 1):
        xs = rng.random((n_atoms, 2), dtype=np.float32)
        out.append(Frame(k, 100 * k, 1.0, 1.0, -3.0, Snapshot((xs * 40).astype(np.float32), xs, types, box)))
    return out


def write_glasskit(path: Path, frames, sims: int) -> float:
    n = frames[0].snap.xs.shape[0]
    layout = ShardLayout(np.arange(sims), np.arange(sims) + 1, np.full(sims, 20000), len(frames),
                         np.ones(n, np.int8), np.array([[0.0, 60.0], [0.0, 60.0]]))
    t0 = time.perf_counter()
    w = SimulateShard(path, layout, SERIAL, {})
    for s in range(sims):
        for fr in frames:
            w.write_frame(s, fr)
        w.mark_done(s)
    w.close()
    return time.perf_counter() - t0


def write_raw(path: Path, frames, sims: int, filters: dict) -> float:
    n, F = frames[0].snap.xs.shape[0], len(frames)
    t0 = time.perf_counter()
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("x", (sims, F, n, 2), "f4", chunks=(1, 1, n, 2), **filters)
        for s in range(sims):
            for k, fr in enumerate(frames):
                ds[s, k] = fr.snap.x
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sims", type=int, default=8)
    ap.add_argument("--shards", type=int, default=1000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="glasskit-bench-"))
    rng = np.random.default_rng(0)
    frames = fake_frames(200, 4320, rng)
    mb = args.sims * len(frames) * 4320 * 2 * 4 * 2 / 1e6
    filt = dict(compression="gzip", compression_opts=1, shuffle=True, fletcher32=True)
    t_gk = min(write_glasskit(tmp / f"gk{i}.h5", frames, args.sims) for i in range(2))
    t_rf = min(write_raw(tmp / f"rf{i}.h5", frames, args.sims, filt) for i in range(2))
    t_r0 = min(write_raw(tmp / f"r0{i}.h5", frames, args.sims, {}) for i in range(2))
    print(f"# {args.sims} simulations x 200 frames x N = 4320: {mb:.0f} MB of float32 coordinates")
    print(f"glasskit SimulateShard (serial, filtered): {mb / t_gk:7.1f} MB/s")
    print(f"raw h5py, same chunks and filters        : {mb / t_rf:7.1f} MB/s  -> glasskit at {100 * t_rf / t_gk:.0f} %")
    print(f"raw h5py, same chunks, no filters        : {mb / t_r0:7.1f} MB/s  -> glasskit at {100 * t_r0 / t_gk:.0f} %")

    spec = load_spec("jobs/demo.toml", workdir=str(tmp / "campaign"))
    text = spec.text.replace("count = 4\nt_cool = 20000", f"count = {args.shards}\nt_cool = 20000")
    spec_path = tmp / "many.toml"
    spec_path.write_text(text)
    spec = load_spec(spec_path, workdir=str(tmp / "campaign"))
    camp = Campaign.of(spec)
    demo = fake_frames(200, spec.system.n_atoms, rng)
    for i in range(args.shards):
        layout = ShardLayout(np.array([i]), np.array([i + 1]), np.array([20000]), 200,
                             np.ones(spec.system.n_atoms, np.int8), np.array([[0.0, spec.system.side]] * 2))
        w = SimulateShard(camp.shard_path("simulate", "sub-bench", i), layout, SERIAL, {})
        for fr in demo[:2]:
            w.write_frame(i, fr)
        w.mark_done(i)
        w.close()
    with h5py.File(camp.workdir / "init.h5", "w") as f:  # collect copies the box from here
        f["box"] = np.array([[0, 14.6], [0, 18.3]])
    t0 = time.perf_counter()
    collect(camp)
    print(f"collect over {args.shards} demo-sized shards: {time.perf_counter() - t0:.2f} s")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
