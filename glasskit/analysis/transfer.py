#!/usr/bin/env python
"""Train on dataset i, test on dataset j: the AUC matrix of the authors' code.

    python analysis/transfer.py runs/demo/models [--model dmpnn] [--out runs/demo/figures/transfer]

For every finished single run (not a CV fold) of --model, scores every dataset that has a run:
dataset j's samples from simulations the run neither trained nor selected its epoch on (so no
frame it has seen is scored). On the diagonal these are exactly the run's own test split, scored
with the run's own predictions (predictions.csv), so the diagonal is each run's test AUC (paper:
1.0, 1.0, 1.0, 0.996, 0.984, 0.985); off the diagonal a sample that is also in the run's test
split keeps its recorded score and the rest get one window drawn from (seed, sample). Each cell
gives its n (samples scored) in the CSV. Writes <out>.png/.pdf and <out>.csv.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from glasskit.util.errors import GlasskitError, script
from glasskit.util.tables import write_table
from glasskit.util.plotting import figure, save


def main(argv=None) -> int:
    from glasskit.ml.inference import load_run, predictions, samples_of, scores
    from glasskit.ml.runs import finished
    from glasskit.ml.train import roc_auc
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", type=Path)
    ap.add_argument("--model", choices=["cnn", "dmpnn"], default="dmpnn")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    runs = {}
    for run_dir, meta in finished(args.models, warn=lambda line: print(f"transfer.py: {line}", file=sys.stderr)):
        if meta["config"]["model"] == args.model and not run_dir.name.startswith(("cv-", "search-")):
            runs.setdefault(meta["config"]["dataset"], run_dir)  # first run per dataset
    if not runs:
        raise GlasskitError(f"no finished {args.model} run under {args.models}", "run glasskit submit train first")
    ds = sorted(runs)
    auc = np.full((len(ds), len(ds)), np.nan)
    count = np.zeros((len(ds), len(ds)), int)
    for a, i in enumerate(ds):
        run = load_run(runs[i])
        recorded = {(int(r["sim"]), int(r["frame"])): (r["split"], float(r["score"])) for r in predictions(runs[i])}
        seen = run.training_sims() | {s for (s, _), (split, _) in recorded.items() if split == "val"}
        for b, j in enumerate(ds):
            table = samples_of(run, j)
            idx = np.nonzero(~np.isin(table.sim, list(seen)))[0]
            if len(idx):
                keys = [(int(table.sim[k]), int(table.frame[k])) for k in idx]
                own = np.array([recorded.get(key, ("", np.nan)) for key in keys], dtype=object)
                have = np.array([sp == "test" for sp in own[:, 0]])
                score = np.where(have, own[:, 1].astype(float), np.nan)
                if (~have).any():
                    score[~have] = scores(run, table, idx[~have])
                auc[a, b], count[a, b] = roc_auc(table.label[idx], score), len(idx)
    out = args.out or args.models.parent / "figures" / f"transfer_{args.model}"
    fig, axes = figure(1, 1, width=1.0 + 0.8 * len(ds), height=0.8 + 0.8 * len(ds))
    ax = axes[0][0]
    # the whole AUC range on a diverging scale centred on chance: 0 (inverted) is as far from
    # white as 1 (perfect), so a model that ranks backwards is never drawn like chance
    im = ax.imshow(auc, vmin=0.0, vmax=1.0, cmap="RdBu_r")
    for a in range(len(ds)):
        for b in range(len(ds)):
            ax.text(b, a, f"{auc[a, b]:.3f}\nn={count[a, b]}", ha="center", va="center", fontsize=8, color="k" if not abs(auc[a, b] - 0.5) > 0.3 else "w")  # dark ends: white text
    ax.set_xticks(range(len(ds)), ds)
    ax.set_yticks(range(len(ds)), ds)
    ax.set_xlabel("test dataset")
    ax.set_ylabel("training dataset")
    fig.colorbar(im, ax=ax, label="AUC (0.5: chance)")
    paths = save(fig, out)
    write_table(f"{out}.csv", [{"train": i, "test": j, "auc": float(auc[a, b]), "n": int(count[a, b]),
                                "run": runs[i].name} for a, i in enumerate(ds) for b, j in enumerate(ds)])
    print(f"wrote {paths[0]}, {paths[1]} and {out}.csv")
    return 0


if __name__ == "__main__":
    sys.exit(script(main))
