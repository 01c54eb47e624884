#!/usr/bin/env python
"""Inherent-structure energy per particle for a (T, t_cool) selection of a campaign.

    python analysis/ise.py runs/paper/campaign.h5 --T 0.05 --t-cool 200000
    python analysis/ise.py runs/paper/campaign.h5 --T 0.55 --t-cool 20000000 --tol 0.005

    python analysis/ise.py runs/paper/campaign.h5 --curve figures/ise_curve

Prints count, mean and standard deviation (epsilon_AA per particle), next to the paper's value
(SI section I) when the selection is one of its two: T = 0.55 on the t_cool = 2e7 ramp:
-3.86698 +- 0.00382; T = 0.05 after t_cool = 2e5: -3.86744 +- 0.00288 (N = 4320).
Writes the values as CSV with --csv, and a histogram (PNG + PDF, the paper's mean +- sd
shaded when known) with --plot.

--curve draws E_IS(T), the mean over simulations of every minimized frame, for each cooling
rate (or the one of --t-cool), with T_g as the authors estimated it: straight lines on the
glass branch (--glass-range, default 0.05-0.30) and the liquid branch (--liquid-range, default
0.45-0.70), intersected, bootstrap sd (glasskit.data.structure.branch_fit; paper: T_g about 0.37 at
t_cool = 2e7, about 0.39 at 2e5). Writes <curve>.png/.pdf, <curve>.csv and <curve>_tg.csv.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from glasskit.util.errors import GlasskitError, script
from glasskit.util.tables import write_table
from glasskit.campaign.store import open_campaign
from glasskit.data.structure import GLASS_RANGE, LIQUID_RANGE, branch_fit

PAPER = {(0.55, 20_000_000): (-3.86698, 0.00382), (0.05, 200_000): (-3.86744, 0.00288)}


def ise(path, T: float, t_cool: int | None, tol: float) -> np.ndarray:
    """Inherent-structure energies (M,) of the minimized frames matching (T, t_cool)."""
    with open_campaign(path) as camp:
        sel = camp.select(T=T, t_cool=t_cool, tol=tol, minimized=True)
        return np.concatenate([c["is/pe"] for c in camp.iter_chunks(sel, ("is/pe",), 4096)] or [np.empty(0)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("campaign", help="campaign.h5 (glasskit collect) or the campaign directory")
    ap.add_argument("--T", type=float, help="target temperature of the frames (required without --curve)")
    ap.add_argument("--t-cool", type=int, help="cooling time in MD steps (default: any)")
    ap.add_argument("--tol", type=float, default=0.005, help="|T_frame - T| tolerance (default 0.005)")
    ap.add_argument("--csv", help="write the energies to this CSV file")
    ap.add_argument("--plot", help="write a histogram figure to this path (.png and .pdf)")
    ap.add_argument("--curve", help="write E_IS(T) per cooling rate with T_g to this path (.png/.pdf/.csv)")
    ap.add_argument("--glass-range", type=float, nargs=2, default=GLASS_RANGE, metavar=("T0", "T1"))
    ap.add_argument("--liquid-range", type=float, nargs=2, default=LIQUID_RANGE, metavar=("T0", "T1"))
    args = ap.parse_args(argv)
    if args.curve:
        return curve(args)
    if args.T is None:
        raise GlasskitError("--T is required (or --curve for E_IS(T))", "e.g. --T 0.05 --t-cool 200000")
    e = ise(args.campaign, args.T, args.t_cool, args.tol)
    if e.size == 0:
        raise GlasskitError(f"no minimized frame matches T = {args.T}, t_cool = {args.t_cool}",
                            "glasskit submit minimize those simulations, then glasskit collect")
    sd = e.std(ddof=1) if e.size > 1 else float("nan")
    line = f"T = {args.T}, t_cool = {args.t_cool}: n = {e.size}, ISE = {e.mean():.5f} +- {sd:.5f}"
    ref = PAPER.get((args.T, args.t_cool))
    if ref:
        line += f"   (paper: {ref[0]:.5f} +- {ref[1]:.5f}; difference {e.mean() - ref[0]:+.5f})"
    print(line)
    if args.csv:
        write_table(args.csv, [{"T": args.T, "t_cool": args.t_cool, "E_IS": v} for v in e.tolist()])
    if args.plot:
        print("wrote", ", ".join(map(str, histogram(e, args.T, args.t_cool, ref, args.plot))))
    return 0


def per_rate(path, t_cool: int | None) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    """{t_cool: (T (F,), mean E_IS (F,), sd (F,), simulations)} over all minimized frames."""
    out = {}
    with open_campaign(path) as camp:
        rates = [t_cool] if t_cool else sorted({int(t) for t in camp.f["sim/t_cool"][...]})
        for rate in rates:
            sel = camp.select(t_cool=rate, minimized=True)
            if not len(sel):
                continue
            e = np.concatenate([c["is/pe"] for c in camp.iter_chunks(sel, ("is/pe",), 4096)])
            temps = np.unique(np.round(sel.T, 10))
            key = np.searchsorted(temps, np.round(sel.T, 10))
            n = np.bincount(key, minlength=temps.size)
            mean = np.bincount(key, e, temps.size) / n
            sd = np.sqrt(np.maximum(np.bincount(key, e * e, temps.size) / n - mean ** 2, 0))
            out[rate] = (temps, mean, sd, len(np.unique(sel.sim)))
    return out


def curve(args) -> int:
    from glasskit.util.plotting import figure, save, sci
    from glasskit.analysis.graph_metrics import draw_branches
    data = per_rate(args.campaign, args.t_cool)
    if not data:
        raise GlasskitError("no minimized frames in the campaign", "glasskit submit minimize, then glasskit collect")
    fig, axes = figure(len(data), 1)
    rows, tg = [], []
    for ax, (rate, (T, mean, sd, n)) in zip(axes[0], data.items()):
        ax.errorbar(T, mean, yerr=sd, fmt="o", ms=2, lw=0.5, color="0.3", label=f"mean ± sd ({n} runs)")
        ax.set_xlabel(r"$T$ ($\epsilon_{AA}/k_B$)")
        ax.set_ylabel(r"$E_{IS}$ per particle ($\epsilon_{AA}$)")
        ax.legend(frameon=False, fontsize=7)
        try:
            fit = branch_fit(T, mean, args.glass_range, args.liquid_range)
        except GlasskitError as exc:  # e.g. a ramp with too few frames: its curve without T_g
            print(f"t_cool = {rate}: no T_g ({exc.problem})")
            ax.set_title(rf"$t_{{cool}}$ = {sci(rate)}", fontsize=10)
            rows += [{"t_cool": rate, "T": t, "E_IS_mean": m, "E_IS_sd": s, "n": n} for t, m, s in zip(T, mean, sd)]
            continue
        if not fit.determined:  # crossing outside the data, or an sd as large as the value
            print(f"t_cool = {rate}: {fit.describe()}")
            ax.set_title(rf"$t_{{cool}}$ = {sci(rate)}: $T_g$ undetermined", fontsize=10)
            rows += [{"t_cool": rate, "T": t, "E_IS_mean": m, "E_IS_sd": s, "n": n} for t, m, s in zip(T, mean, sd)]
            continue
        draw_branches(ax, fit)
        ax.set_title(rf"$t_{{cool}}$ = {sci(rate)}: $T_g$ = {fit.Tg:.3f} ± {fit.Tg_err:.3f}", fontsize=10)
        rows += [{"t_cool": rate, "T": t, "E_IS_mean": m, "E_IS_sd": s, "n": n} for t, m, s in zip(T, mean, sd)]
        tg.append({"t_cool": rate, "Tg": fit.Tg, "Tg_sd": fit.Tg_err, "glass_slope": fit.glass[0],
                   "glass_intercept": fit.glass[1], "liquid_slope": fit.liquid[0], "liquid_intercept": fit.liquid[1],
                   "simulations": n})
        print(f"t_cool = {rate}: T_g = {fit.Tg:.4f} +- {fit.Tg_err:.4f} from {n} simulation(s) "
              f"(glass slope {fit.glass[0]:.4f}, liquid slope {fit.liquid[0]:.4f})")
    fig.tight_layout()
    paths = save(fig, args.curve)
    write_table(f"{args.curve}.csv", rows)
    slopes = {"glass_slope": "k_B", "liquid_slope": "k_B", "glass_intercept": "epsilon_AA",
              "liquid_intercept": "epsilon_AA"}
    write_table(f"{args.curve}_tg.csv", tg, columns=["t_cool", "Tg", "Tg_sd", *slopes, "simulations"], units=slopes)
    print("wrote", ", ".join(map(str, paths)), f"{args.curve}.csv and {args.curve}_tg.csv")
    return 0


def histogram(e: np.ndarray, T: float, t_cool, ref, path):
    from glasskit.util.plotting import figure, save, sci
    fig, axes = figure()
    ax = axes[0][0]
    ax.hist(e, bins=max(5, min(50, e.size // 4)), color="tab:blue", alpha=0.8, label=f"glasskit (n = {e.size})")
    if ref:
        ax.axvspan(ref[0] - ref[1], ref[0] + ref[1], color="0.8", zorder=0, label="paper mean ± sd")
        ax.axvline(ref[0], color="0.3", lw=1)
    ax.axvline(e.mean(), color="tab:red", lw=1, label="glasskit mean")
    ax.set_xlabel(r"inherent-structure energy per particle ($\epsilon_{AA}$)")
    ax.set_ylabel("frames")
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4))  # -3.8675-like labels: four fit without overlapping
    ax.ticklabel_format(axis="x", useOffset=False)
    ax.set_title(f"T = {T}" + (f", $t_{{cool}}$ = {sci(t_cool)}" if t_cool else ""), fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    return save(fig, path)


if __name__ == "__main__":
    sys.exit(script(main))
