#!/usr/bin/env python
"""Neighbour-graph metrics against temperature on the slow ramp, with T_g (paper Fig 7).

    python analysis/graph_metrics.py runs/paper/campaign.h5 --k 3 --out figures/graph_metrics

For every frame of the slowest cooling ramp: the number of type A particles with no type B
neighbour, of B-B edges, and of disjoint graphs (connected components of the subgraph of
edges touching a B particle), in the symmetric k-nearest-neighbour graph of the whole periodic
frame (glasskit.data.structure.graph_metrics), or with --l-win of one random square window of that
side per frame (fraction of the box, no periodic images: the authors' graphs). Each metric,
averaged over simulations, gets T_g as the authors estimated it (glasskit.data.structure.branch_fit):
straight lines on the glass branch (--glass-range, default 0.05-0.30) and on the liquid branch
(--liquid-range, default 0.45-0.70), intersected, with a bootstrap sd; the same fit as
analysis/ise.py's E_IS(T). Writes <out>.png/.pdf, <out>.csv (tidy: T, metric, mean, sd, n) and <out>_tg.csv.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from glasskit.util.plotting import figure, save, sci
from glasskit.campaign.store import open_campaign
from glasskit.util.errors import GlasskitError, script
from glasskit.util.tables import write_table
from glasskit.data.structure import GLASS_RANGE, LIQUID_RANGE, branch_fit, graph_metrics

METRICS = {"isolated_A": "isolated A particles", "BB_edges": "B-B edges", "components": "disjoint graphs"}


def per_temperature(path, k: int, max_sims: int | None, minimized: bool, l_win: float = 1.0, seed: int = 0):
    """Temperatures (F,) and per-metric arrays (F, n_sims) on the slowest ramp."""
    with open_campaign(path) as r:
        t_cool = int(r.f["sim/t_cool"][...].max())
        sel = r.select(t_cool=t_cool, minimized=minimized)
        sims = np.unique(sel.sim)[:max_sims]
        keep = np.isin(sel.sim, sims)
        sel = type(sel)(sel.sim[keep], sel.frame[keep], sel.T[keep], sel.t_cool[keep])
        temps = np.unique(sel.T)[::-1]
        vals = {m: np.full((len(temps), len(sims)), np.nan) for m in METRICS}
        field = "is/x" if minimized else "frames/x"
        box = r.box
        rng = np.random.default_rng(seed)
        for chunk in r.iter_chunks(sel, (field,), size=128):
            for s, T, x in zip(chunk["sim"], chunk["T"], chunk[field]):
                origin = rng.uniform(0, 1, 2)
                m = graph_metrics(x, chunk["type"], box, k, l_win, origin)
                i, j = np.searchsorted(-temps, -T), np.searchsorted(sims, s)
                for name in METRICS:
                    vals[name][i, j] = m[name]
    return temps, vals, t_cool


def draw_branches(ax, fit) -> None:
    """The two fitted lines over their ranges (solid) extended to T_g (dotted), and T_g."""
    for (m, q), (lo, hi), c in ((fit.glass, fit.glass_range, "tab:blue"), (fit.liquid, fit.liquid_range, "tab:red")):
        ax.plot([lo, hi], [m * lo + q, m * hi + q], color=c, lw=1.8, zorder=4)
        ends = sorted([fit.Tg, lo if fit.Tg < lo else hi])
        ax.plot(ends, [m * ends[0] + q, m * ends[1] + q], color=c, lw=1.2, ls=":", zorder=4)
    ax.axvline(fit.Tg, color="0.4", ls="--", lw=0.8)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("campaign", help="campaign.h5 written by glasskit collect")
    ap.add_argument("--k", type=int, default=3, help="nearest neighbours (default 3)")
    ap.add_argument("--max-sims", type=int, help="use at most this many simulations")
    ap.add_argument("--inherent", action="store_true", help="use inherent structures instead of frames")
    ap.add_argument("--l-win", type=float, default=1.0, help="window side as a fraction of the box (default 1: "
                    "the whole periodic frame)")
    ap.add_argument("--glass-range", type=float, nargs=2, default=GLASS_RANGE, metavar=("T0", "T1"))
    ap.add_argument("--liquid-range", type=float, nargs=2, default=LIQUID_RANGE, metavar=("T0", "T1"))
    ap.add_argument("--out", default="figures/graph_metrics")
    args = ap.parse_args(argv)
    if not 0 < args.l_win <= 1 or args.k < 1:
        raise GlasskitError(f"--l-win {args.l_win} / --k {args.k} out of range", "0 < l_win <= 1, k >= 1")
    temps, vals, t_cool = per_temperature(args.campaign, args.k, args.max_sims, args.inherent, args.l_win)
    fig, axes = figure(3, 1)
    table, tg_rows = [], []
    for ax, (name, label) in zip(axes[0], METRICS.items()):
        mean, sd = np.nanmean(vals[name], axis=1), np.nanstd(vals[name], axis=1)
        fit = branch_fit(temps, mean, args.glass_range, args.liquid_range)
        ax.errorbar(temps, mean, yerr=sd, fmt="o", ms=2, lw=0.6, color="0.3", label=f"mean ± sd ({vals[name].shape[1]} simulations)")
        if fit.determined:
            draw_branches(ax, fit)
            ax.set_title(rf"$T_g$ = {fit.Tg:.3f} ± {fit.Tg_err:.3f}", fontsize=10)
        elif fit.inside:  # a crossing whose bootstrap sd is as large as itself
            ax.set_title(r"$T_g$ undetermined (sd $\geq$ value)", fontsize=10)
        else:  # the two lines cross outside the data: nothing to report as T_g
            ax.set_title(r"$T_g$ undetermined (branches do not cross in range)", fontsize=10)
        ax.set_xlabel(r"$T$ ($\epsilon_{AA}/k_B$)")
        ax.set_ylabel(f"{label} per frame")
        n = np.isfinite(vals[name]).sum(axis=1)
        table += [{"T": t, "metric": name, "mean": m, "sd": s, "n": int(c)} for t, m, s, c in zip(temps, mean, sd, n)]
        tg_rows.append((name, fit))
        print(f"{label:22s}: {fit.describe()}" + f" (slope {fit.glass[0]:.1f} on the glass branch, {fit.liquid[0]:.1f} on the liquid branch)")
    axes[0][0].legend(frameon=False, fontsize=8)
    where = "whole frames" if args.l_win >= 1 else f"windows of side {args.l_win:g} L"
    fig.suptitle(f"k = {args.k} nearest-neighbour graphs ({where}), $t_{{cool}}$ = {sci(t_cool)} steps", fontsize=11)
    fig.tight_layout()
    paths = save(fig, args.out)
    write_table(f"{args.out}.csv", table)
    write_table(f"{args.out}_tg.csv", [
        {"metric": n, "Tg": f.Tg if f.determined else None, "Tg_sd": f.Tg_err if f.determined else None,
         "status": "determined" if f.determined else "undetermined", "crossing": f.Tg,
         "slope_glass": f.glass[0], "slope_liquid": f.liquid[0]} for n, f in tg_rows],
        units={"crossing": "epsilon_AA/k_B", "slope_glass": "k_B/epsilon_AA", "slope_liquid": "k_B/epsilon_AA"})
    print("wrote", ", ".join(map(str, paths)), f"{args.out}.csv and {args.out}_tg.csv")
    return 0


if __name__ == "__main__":
    sys.exit(script(main))
