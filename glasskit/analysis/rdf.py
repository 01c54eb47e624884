#!/usr/bin/env python
"""Average partial RDFs g_AA, g_AB, g_BB of two frame selections (SI Figs 1-2).

    python analysis/rdf.py runs/paper/campaign.h5 --dataset 1 --out figures/rdf_dataset1
    python analysis/rdf.py runs/demo/campaign.h5 --spec jobs/demo.toml --dataset 6 --validate

The two selections are a dataset's liquid and glass classes (jobs/datasets.toml). 500 bins,
cutoff 10 sigma_AA (capped below half the box for small systems), freud; ``--validate`` also
computes the first liquid frame with LAMMPS ``compute rdf`` (templates/lammps/rdf.in.j2) and
prints the largest difference. Writes <out>.png/.pdf and <out>.csv (tidy: class, T, t_cool, frames, pair, r, g; one row per bin for
both classes).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from glasskit.util.errors import script
from glasskit.util.tables import write_table
from glasskit.campaign.layout import Campaign
from glasskit.data.datasets import load_datasets, select
from glasskit.util.plotting import GLASS, LIQUID, figure, save, sci
from glasskit.campaign.spec import load_spec
from glasskit.campaign.store import open_campaign
from glasskit.data.structure import PAIRS, PartialRDF, lammps_rdf


def class_rdfs(reader, sels, bins: int, r_max: float, limit: int | None) -> dict[str, PartialRDF]:
    out = {}
    for name, (sel, T, t_cool) in sels.items():
        acc = PartialRDF(reader.box, bins, r_max)
        types = reader.f["frames/type"][...]
        n = 0
        for chunk in reader.iter_chunks(sel, ("frames/x",), size=64):
            for x in chunk["frames/x"]:
                if limit is None or n < limit:
                    acc.add(x, types)
                    n += 1
        out[name] = acc
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("campaign", help="campaign.h5 written by glasskit collect")
    ap.add_argument("--spec", default="jobs/simulate.toml", help="the campaign's spec")
    ap.add_argument("--workdir", help="campaign directory, if not the spec's")
    ap.add_argument("--dataset", type=int, default=1)
    ap.add_argument("--datasets", default="jobs/datasets.toml")
    ap.add_argument("--bins", type=int, default=500)
    ap.add_argument("--r-max", type=float, default=10.0, help="cutoff in sigma_AA (default 10)")
    ap.add_argument("--limit", type=int, help="at most this many frames per class")
    ap.add_argument("--out", default="figures/rdf")
    ap.add_argument("--validate", action="store_true", help="compare one frame with LAMMPS compute rdf")
    args = ap.parse_args(argv)
    campaign = Campaign.of(load_spec(args.spec, args.workdir))
    _, datasets = load_datasets(args.datasets)
    with open_campaign(args.campaign) as reader:
        sels = select(campaign, reader, datasets[args.dataset])
        rdfs = class_rdfs(reader, sels, args.bins, args.r_max, args.limit)
        if args.validate:
            sel = sels["liquid"][0]
            x = reader.read("frames/x", sel.sim[0], sel.frame[0])
            one = PartialRDF(reader.box, args.bins, args.r_max)
            one.add(x, reader.types)
            ref = lammps_rdf(campaign.spec, campaign.workdir / "init.data", x, args.bins, one.r_max)
            diff = max(float(np.abs(one.g()[p] - ref[p]).max()) for p, *_ in PAIRS)
            print(f"validation against LAMMPS compute rdf (1 frame): max |g_glasskit - g_lammps| = {diff:.2e}")
    r = rdfs["liquid"].r
    fig, axes = figure(3, 1)
    rows = []
    for ax, (pair, *_) in zip(axes[0], PAIRS):
        for name, color in (("liquid", LIQUID), ("glass", GLASS)):
            g = rdfs[name].g()[pair]
            T, t_cool = sels[name][1], sels[name][2]
            ax.plot(r, g, color=color, label=f"{name}: T = {T:.3g}, $t_{{cool}}$ = {sci(t_cool)} "
                                             f"({rdfs[name].frames} frames)")
            rows += [{"class": name, "T": T, "t_cool": t_cool, "frames": rdfs[name].frames, "pair": pair,
                      "r": ri, "g": gi} for ri, gi in zip(r.tolist(), g.tolist())]
        ax.set_xlabel(r"$r$ ($\sigma_{AA}$)")
        ax.set_ylabel(rf"$g_{{{pair}}}(r)$")
        ax.set_xlim(0, rdfs["liquid"].r_max)
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", ncol=2, frameon=False,
               bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout()
    paths = save(fig, args.out)
    write_table(f"{args.out}.csv", rows)
    print("wrote", ", ".join(map(str, paths)), f"and {args.out}.csv")
    return 0


if __name__ == "__main__":
    sys.exit(script(main))
