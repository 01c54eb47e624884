#!/usr/bin/env python
"""The dataset-1 CNN's verdict on artificial n-fold-symmetry configurations (paper Fig 4).

    python analysis/nfold_verdict.py runs/demo/models/<cnn run on dataset 1> [--folds 4 5 6 7] [--count 5]

Builds the SI's artificial configurations (glasskit.data.artificial: n-fold rings of A around a B
grid, then a random A fill; and random configurations as control), renders them with the same
image recipe as the training data, and reports the CNN's P(liquid) for each: the paper found the
five-fold ones classified as glass. Writes <out>/nfold_verdict.png/.pdf (a panel with one image
per variant and its verdict) and nfold_verdict.csv (variant, index, P(liquid), verdict).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from glasskit.util.errors import GlasskitError, script
from glasskit.util.tables import write_table
from glasskit.util.plotting import figure, save


def main(argv=None) -> int:
    from glasskit.data.artificial import nfold_configuration, random_configuration
    from glasskit.data.images import rasterize
    from glasskit.ml.inference import load_run
    from glasskit.ml.samples import pixel_scale
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--folds", type=int, nargs="+", default=[4, 5, 6, 7])
    ap.add_argument("--count", type=int, default=5, help="configurations per variant")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="default <run>/figures")
    args = ap.parse_args(argv)
    if not 1 <= args.count <= 1000 or any(not 3 <= n <= 12 for n in args.folds):
        raise GlasskitError("--count must be in 1..1000 and each --folds value in 3..12")
    run = load_run(args.run)
    if run.cfg.model != "cnn":
        raise GlasskitError(f"{args.run.name} is a {run.cfg.model} run", "pass a CNN run")
    variants = [(f"{n}-fold", lambda i, n=n: nfold_configuration(n, seed=args.seed + 1000 * n + i)) for n in args.folds]
    variants.append(("random", lambda i: random_configuration(seed=args.seed + i)))
    rows, shown = [], []
    for name, make in variants:
        for i in range(args.count):
            c = make(i)
            img = rasterize(c.xs, c.types, size=run.cfg.net.image_px)
            x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().mul(pixel_scale(run.cfg.net))[None]
            with torch.no_grad():
                p = float(torch.softmax(run.model(x), 1)[0, 0])
            rows.append({"variant": name, "index": i, "p_liquid": p, "verdict": "liquid" if p > 0.5 else "glass"})
            if i == 0:
                shown.append((name, img, p))
    fig, axes = figure(len(shown), 1, width=2.2, height=2.5)
    for ax, (name, img, p) in zip(axes[0], shown):
        ax.imshow(img)
        ax.set_title(f"{name}\nP(liquid) = {p:.2f}", fontsize=9)
        ax.set_axis_off()
    out = args.out or args.run / "figures"
    from glasskit.ml.inference import stamp
    stamp(fig, run)  # which model drew this, and whether it is a result
    paths = save(fig, out / "nfold_verdict")
    write_table(out / "nfold_verdict.csv", rows)
    for name, _ in variants:
        ps = [r["p_liquid"] for r in rows if r["variant"] == name]
        print(f"{name}: mean P(liquid) {np.mean(ps):.3f}, classified glass {sum(p <= 0.5 for p in ps)} of {len(ps)}")
    print(f"wrote {paths[0]}, {paths[1]} and {out / 'nfold_verdict.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(script(main))
