#!/usr/bin/env python
"""Which two cooling rates make the dataset 6 analogue: the T = 0.55 liquid of the slow ramp and
the T = 0.05 glass of the fast ramp with equal inherent-structure energy (the SI's dataset 6:
-3.86698 +- 0.00382 and -3.86744 +- 0.00288 at t_cool = 2e7 and 2e5).

    .venv/bin/python bench/rates.py [--rates 10000 20000 50000 100000 200000] [--per-rate 4]

The paper's system (N = 4,320, jobs/simulate.toml's physics), --per-rate ramps at each t_cool,
simulated by glasskit (``submit simulate --executor local``: a re-run continues), then the frames
nearest T = 0.55 and T = 0.05 of every ramp minimized by glasskit's own FIRE
(:class:`glasskit.stages.minimize.InherentStructures`, the spec's [minimize]); each energy is kept
in <campaign>/eis.json as it is made (a re-run skips it). Prints E_IS at both temperatures per
rate (mean, sd, n) and, for every slow/fast pair, the difference E_IS(0.55, slow) - E_IS(0.05,
fast) in units of its standard error. Results: bench/results/<workdir name>.json.
"""
from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
TEMPS = (0.55, 0.05)


def spec_text(workdir: Path, rates, per_rate: int) -> str:
    text = (ROOT / "jobs/simulate.toml").read_text()
    body = text[text.index("[system]"):]
    runs = "".join(f"[[campaign.runs]]\ncount = {per_rate}\nt_cool = {r}\n\n" for r in rates)
    return f'[campaign]\nname = "rates"\nseed = 20261207\nworkdir = "{workdir}"\n\n{runs}{body}'


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", type=int, nargs="+", default=[10_000, 20_000, 50_000, 100_000, 200_000])
    ap.add_argument("--per-rate", type=int, default=4)
    ap.add_argument("--workdir", default=str(ROOT / "runs" / "rates"))
    args = ap.parse_args()
    from glasskit.campaign.spec import load_spec
    from glasskit.campaign.store import open_campaign
    from glasskit.stages.minimize import InherentStructures
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    spec_path = work / "rates.toml"
    spec_path.write_text(spec_text(work, args.rates, args.per_rate))
    for cmd in (["submit", "simulate"], ["collect"]):
        rc = subprocess.run([str(BIN / "glasskit"), *cmd, "--spec", str(spec_path),
                             *(["--executor", "local"] if cmd[0] == "submit" else [])], cwd=ROOT).returncode
        if rc:
            raise SystemExit(f"glasskit {' '.join(cmd)} failed ({rc})")
    spec = load_spec(spec_path)
    cache_path = work / "eis.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    reader = open_campaign(work / "campaign.h5")
    with InherentStructures(spec, work / "init.data") as ism:
        for rate in args.rates:
            for T in TEMPS:
                sel = reader.select(T=T, t_cool=rate)
                for fr in reader.frames(sel):
                    key = f"{rate}/{T}/{fr.sim}"
                    if key not in cache:
                        cache[key] = {"eis": ism.minimize(np.asarray(fr.x, dtype=np.float64), fr.sim)[0],
                                      "T_frame": float(fr.T), "pe": float(fr.pe)}
                        cache_path.write_text(json.dumps(cache))
    table = {}
    for rate in args.rates:
        for T in TEMPS:
            v = [c["eis"] for k, c in cache.items() if k.startswith(f"{rate}/{T}/")]
            table[f"{rate}/{T}"] = [float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else float("nan"), len(v)]
    print(f"N = {spec.system.n_atoms}, {args.per_rate} ramps per rate; E_IS per particle (epsilon), mean +- sd (n)")
    print(f"{'t_cool':>9} {'E_IS(T=0.55)':>24} {'E_IS(T=0.05)':>24}")
    for rate in args.rates:
        a, b = table[f"{rate}/0.55"], table[f"{rate}/0.05"]
        print(f"{rate:>9} {a[0]:>12.5f} +- {a[1]:.5f} ({a[2]}) {b[0]:>12.5f} +- {b[1]:.5f} ({b[2]})")
    pairs = []
    for slow, fast in itertools.permutations(args.rates, 2):
        if slow <= fast:
            continue
        a, b = table[f"{slow}/0.55"], table[f"{fast}/0.05"]
        se = float(np.sqrt(a[1] ** 2 / a[2] + b[1] ** 2 / b[2]))
        pairs.append({"slow": slow, "fast": fast, "diff": a[0] - b[0], "se": se, "z": (a[0] - b[0]) / se,
                      "liquid": a, "glass": b})
    print("\nslow/fast pairs: E_IS(0.55, slow) - E_IS(0.05, fast), z = difference / its standard error")
    for p in sorted(pairs, key=lambda p: abs(p["z"])):
        print(f"  slow {p['slow']:>7} fast {p['fast']:>7}: {p['diff']:+.5f} +- {p['se']:.5f} (z {p['z']:+.1f})")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{work.name}.json").write_text(json.dumps({"n_atoms": spec.system.n_atoms, "per_rate": args.per_rate,
                                                "eis": table, "pairs": pairs,
                                                "paper": {"liquid_0.55_2e7": [-3.86698, 0.00382],
                                                          "glass_0.05_2e5": [-3.86744, 0.00288]}}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
