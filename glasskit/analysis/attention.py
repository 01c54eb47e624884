#!/usr/bin/env python
"""Self-attention overlays of a trained D-MPNN, with the attention-derived counts (paper Fig 6).

    python analysis/attention.py runs/demo/models/<run> [--out DIR] [--seed 0]

For one liquid and one glass configuration of the run's test split: the window graph, every
connected pair joined by a green line whose width is proportional to the step T-1 attention
weight (the larger of the two directed edges, as in SI Fig. 6), computed in the batch context the
model was trained with (with the authors' batch-wide softmax, beside the rest of its test batch).
High-attention edges (``--cut``): ``otsu`` (the default) cuts at the trough of the log-weight
histogram (Otsu's threshold; the SI: "a hard cutoff ... a clear trough in the distribution");
``authors`` is the authors' code: per graph, (w - min) / (max - min) > 0.0025. The figure and the
counts name the cut used. Counts of high-attention edges by pair type (A-A, A-B, B-B) are
written per configuration. Outputs <out>/attention.png/.pdf, attention.csv (every edge) and
attention_counts.csv.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from glasskit.util.errors import script
from glasskit.util.tables import write_table
from glasskit.util.plotting import GLASS, LIQUID, figure, save


def undirected(g, alpha: np.ndarray):
    """(pairs (P, 2) with i < j, max attention of the two directions (P,))."""
    src, dst = g.edge_index.numpy()
    keep = src < dst
    return np.stack([src[keep], dst[keep]], 1), np.maximum(alpha[keep], alpha[g.rev.numpy()[keep]])


def main(argv=None) -> int:
    from glasskit.ml.inference import attention, authors_cut, load_run, otsu_cut, predictions, samples_of, test_examples
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--out", type=Path, help="default <run>/figures")
    ap.add_argument("--seed", type=int, default=0, help="window draw")
    ap.add_argument("--cut", choices=["otsu", "authors"], default="otsu",
                    help="high-attention edges: Otsu on log weights, or the authors' (w-min)/(max-min) > 0.0025")
    args = ap.parse_args(argv)
    run = load_run(args.run)
    table = samples_of(run)
    picks = test_examples(run, ("glass", "liquid"))
    held = [int(r["sample"]) for r in predictions(run.run_dir) if r["split"] == "test"]
    out = args.out or args.run / "figures"
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = figure(2, 1, width=3.6, height=3.6)
    edge_rows, count_rows = [], []
    for ax, (name, j) in zip(axes[0], picks.items()):
        g, p, alpha = attention(run, table, j, args.seed, companions=held[held.index(j) + 1:] + held[:held.index(j)])
        pairs, w = undirected(g, alpha)
        if args.cut == "authors":
            high = authors_cut(w)
            cut = float(w[high].min()) if high.any() else float(w.max())
        else:
            cut = 10 ** otsu_cut(np.log10(np.maximum(w, 1e-30)))
            high = w >= cut
        t = g.x.numpy()[:, 2] if run.cfg.net.features == "authors" else 1 + g.x.numpy()[:, 3]
        pos = table.xs[j][g.particle.numpy()] % 1.0
        for (a, b), wt in zip(pairs, w):
            ax.plot(pos[[a, b], 0], pos[[a, b], 1], color="tab:green", lw=0.3 + 3.5 * wt / w.max(),
                    alpha=0.9 if wt >= cut else 0.35, zorder=1)
        for ty, colour in ((1, "orange"), (2, "blue")):
            sel = t == ty
            ax.scatter(pos[sel, 0], pos[sel, 1], s=6, color=colour, zorder=2, label="AB"[ty - 1])
        ax.set_aspect("equal")
        ax.set_title(f"{name} (T = {table.T[j]:.3g}), P(liquid) = {p:.2f}", fontsize=9,
                     color=LIQUID if name == "liquid" else GLASS)
        ax.set_axis_off()
        kind = np.array(["AA", "AB", "BB"])[(t[pairs[:, 0]] - 1 + t[pairs[:, 1]] - 1).astype(int)]
        count_rows.append([name, j, int(table.sim[j]), float(table.T[j]), args.cut, float(cut), len(w),
                           int(high.sum())]
                          + [int((high & (kind == k)).sum()) for k in ("AA", "AB", "BB")])
        edge_rows += [[name, j, int(a), int(b), k, float(wt), bool(h)] for (a, b), wt, k, h in zip(pairs, w, kind, high)]
    axes[0][0].legend(loc="upper right", fontsize=8, markerscale=2)
    rule = "Otsu threshold on log weights" if args.cut == "otsu" else "authors' cut (w-min)/(max-min) > 0.0025"
    fig.suptitle(f"step T-1 attention, {run.cfg.net.attention} softmax; high-attention edges: {rule}", fontsize=8)
    from glasskit.ml.inference import stamp
    stamp(fig, run)  # which model drew this, and whether it is a result
    paths = save(fig, out / "attention")
    edge_cols = ["config", "sample", "i", "j", "pair", "attention", "high"]
    write_table(out / "attention.csv", [dict(zip(edge_cols, r)) for r in edge_rows], edge_cols)
    count_cols = ["config", "sample", "sim", "T", "rule", "cut", "edges", "high", "high_AA", "high_AB", "high_BB"]
    write_table(out / "attention_counts.csv", [dict(zip(count_cols, r)) for r in count_rows], count_cols)
    for r in count_rows:
        print(f"{r[0]}: {r[7]} of {r[6]} edges above the {r[4]} cut {r[5]} (A-A {r[8]}, A-B {r[9]}, B-B {r[10]})")
    print(f"wrote {paths[0]}, {paths[1]}, {out / 'attention.csv'} and {out / 'attention_counts.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(script(main))
