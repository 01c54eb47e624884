#!/usr/bin/env python
"""Artificial n-fold-symmetry configurations rendered with the CNN image recipe (SI Fig 4).

    python analysis/fivefold.py --out figures/fivefold [--folds 4 5 6 7] [--count 3]

Writes, with the exact image recipe of the datasets (glasskit.data.images.render_matplotlib):
<out>/fivefold_rings.png (Fig 4a: B grid + pentagons), <out>/fivefold_final.png (Fig 4b),
<out>/<n>fold_<i>.png and random_<i>.png for classification by a trained CNN, and
<out>/panel.png/.pdf, a labelled overview; <out>/counts.csv lists the particle counts.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


from glasskit.util.errors import script
from glasskit.util.outputs import claim, record
from glasskit.util.tables import write_table
from glasskit.data.artificial import nfold_configuration, random_configuration
from glasskit.data.images import render_matplotlib, save_png
from glasskit.util.plotting import figure, save


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="figures/fivefold")
    ap.add_argument("--folds", type=int, nargs="+", default=[4, 5, 6, 7])
    ap.add_argument("--count", type=int, default=3, help="images per variant")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    five = nfold_configuration(5, seed=args.seed)
    save_png(claim(out / "fivefold_rings.png"), render_matplotlib(*five.rings))
    record(out / "fivefold_rings.png")
    save_png(claim(out / "fivefold_final.png"), render_matplotlib(five.xs, five.types))
    record(out / "fivefold_final.png")
    rows = []
    panels = [("(a) five-fold rings", five.rings), ("(b) five-fold, filled", (five.xs, five.types))]
    for n in args.folds:
        for i in range(args.count):
            c = nfold_configuration(n, seed=args.seed + 1000 * n + i)
            save_png(claim(out / f"{n}fold_{i}.png"), render_matplotlib(c.xs, c.types))
            record(out / f"{n}fold_{i}.png")
            rows.append({"variant": f"{n}fold", "index": i, "n_A": int((c.types == 1).sum()),
                         "n_B": int((c.types == 2).sum()), "n_A_in_rings": int((c.rings[1] == 1).sum())})
            if i == 0 and n != 5:
                panels.append((f"{n}-fold", (c.xs, c.types)))
    for i in range(args.count):
        c = random_configuration(seed=args.seed + i)
        save_png(claim(out / f"random_{i}.png"), render_matplotlib(c.xs, c.types))
        record(out / f"random_{i}.png")
        rows.append({"variant": "random", "index": i, "n_A": int((c.types == 1).sum()), "n_B": int((c.types == 2).sum()),
                     "n_A_in_rings": 0})
    panels.append(("random", (c.xs, c.types)))
    fig, axes = figure(len(panels), 1, width=2.4, height=2.6)
    for ax, (title, (xs, types)) in zip(axes[0], panels):
        ax.imshow(render_matplotlib(xs, types))
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    paths = save(fig, out / "panel")
    write_table(out / "counts.csv", rows)
    print(f"wrote {len(rows) + 2} images, {', '.join(map(str, paths))} and {out / 'counts.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(script(main))
