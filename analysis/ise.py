#!/usr/bin/env python
"""Inherent-structure energy per particle for a (T, t_cool) selection of a campaign.

    python analysis/ise.py runs/paper/campaign.h5 --T 0.05 --t-cool 200000
    python analysis/ise.py runs/paper/campaign.h5 --T 0.55 --t-cool 20000000 --tol 0.005

Prints count, mean and standard deviation (epsilon_AA per particle), next to the paper's value
(SI section I) when the selection is one of its two: T = 0.55 on the t_cool = 2e7 ramp:
-3.86698 +- 0.00382; T = 0.05 after t_cool = 2e5: -3.86744 +- 0.00288 (N = 4320).
Writes the values as CSV with --csv, and a histogram (PNG + PDF, the paper's mean +- sd
shaded when known) with --plot.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from glasskit.store import open_campaign

PAPER = {(0.55, 20_000_000): (-3.86698, 0.00382), (0.05, 200_000): (-3.86744, 0.00288)}


def ise(path, T: float, t_cool: int | None, tol: float) -> np.ndarray:
    """Inherent-structure energies (M,) of the minimized frames matching (T, t_cool)."""
    with open_campaign(path) as camp:
        sel = camp.select(T=T, t_cool=t_cool, tol=tol, minimized=True)
        return np.concatenate([c["is/pe"] for c in camp.iter_chunks(sel, ("is/pe",), 4096)] or [np.empty(0)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("campaign", help="campaign.h5 (glasskit collect) or the campaign directory")
    ap.add_argument("--T", type=float, required=True, help="target temperature of the frames")
    ap.add_argument("--t-cool", type=int, help="cooling time in MD steps (default: any)")
    ap.add_argument("--tol", type=float, default=0.005, help="|T_frame - T| tolerance (default 0.005)")
    ap.add_argument("--csv", help="write the energies to this CSV file")
    ap.add_argument("--plot", help="write a histogram figure to this path (.png and .pdf)")
    args = ap.parse_args(argv)
    e = ise(args.campaign, args.T, args.t_cool, args.tol)
    if e.size == 0:
        print("no minimized frame matches the selection", file=sys.stderr)
        return 1
    sd = e.std(ddof=1) if e.size > 1 else float("nan")
    line = f"T = {args.T}, t_cool = {args.t_cool}: n = {e.size}, ISE = {e.mean():.5f} +- {sd:.5f}"
    ref = PAPER.get((args.T, args.t_cool))
    if ref:
        line += f"   (paper: {ref[0]:.5f} +- {ref[1]:.5f}; difference {e.mean() - ref[0]:+.5f})"
    print(line)
    if args.csv:
        np.savetxt(args.csv, e, delimiter=",", header="ise_per_particle", comments="")
    if args.plot:
        print("wrote", ", ".join(map(str, histogram(e, args.T, args.t_cool, ref, args.plot))))
    return 0


def histogram(e: np.ndarray, T: float, t_cool, ref, path):
    from glasskit.plotting import figure, save, sci
    fig, axes = figure()
    ax = axes[0][0]
    ax.hist(e, bins=max(5, min(50, e.size // 4)), color="tab:blue", alpha=0.8, label=f"glasskit (n = {e.size})")
    if ref:
        ax.axvspan(ref[0] - ref[1], ref[0] + ref[1], color="0.8", zorder=0, label="paper mean ± sd")
        ax.axvline(ref[0], color="0.3", lw=1)
    ax.axvline(e.mean(), color="tab:red", lw=1, label="glasskit mean")
    ax.set_xlabel(r"inherent-structure energy per particle ($\epsilon_{AA}$)")
    ax.set_ylabel("frames")
    ax.set_title(f"T = {T}" + (f", $t_{{cool}}$ = {sci(t_cool)}" if t_cool else ""), fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    return save(fig, path)


if __name__ == "__main__":
    sys.exit(main())
