#!/usr/bin/env python
"""Accuracy and AUC per dataset, CNN vs D-MPNN (paper Fig 5).

    python analysis/accuracy.py runs/demo/models [--out runs/demo/figures/accuracy]

Reads every cross-validation result under <models>/../cv/*/results.json (mean +- sd over the
outer folds, the paper's numbers) and, for (model, dataset) pairs without a CV, the test scores
of the finished single runs under <models>/ (mean +- sd over runs; sd 0 for one run).
Writes <out>.png/.pdf and <out>.csv (model, dataset, source, n, auc, auc_sd, accuracy, accuracy_sd).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from glasskit.errors import GlasskitError, script
from glasskit.outputs import output
from glasskit.plotting import figure, save

NAMES = {"cnn": "CNN", "dmpnn": "D-MPNN"}


def collect(models: Path) -> list[dict]:
    rows, seen = [], set()
    for p in sorted((models.parent / "cv").glob("*/results.json")):
        r = json.loads(p.read_text())
        seen.add((r["model"], r["dataset"]))
        rows.append({"model": r["model"], "dataset": r["dataset"], "source": f"{r['K']}-fold CV", "n": r["K"],
                     "auc": r["auc_mean"], "auc_sd": r["auc_sd"], "accuracy": r["accuracy_mean"],
                     "accuracy_sd": r["accuracy_sd"]})
    single: dict[tuple, list] = {}
    for p in sorted(models.glob("*/metrics.json")):
        m = json.loads(p.read_text())
        key = (m["config"]["model"], m["config"]["dataset"])
        if key not in seen and not p.parent.name.startswith(("cv-", "search-")):  # folds, trials
            single.setdefault(key, []).append(m["test"])
    for (model, ds), tests in sorted(single.items()):
        auc, acc = np.array([t["auc"] for t in tests]), np.array([t["accuracy"] for t in tests])
        sd = (lambda a: float(a.std(ddof=1)) if len(a) > 1 else 0.0)
        rows.append({"model": model, "dataset": ds, "source": "test split", "n": len(tests),
                     "auc": float(auc.mean()), "auc_sd": sd(auc), "accuracy": float(acc.mean()),
                     "accuracy_sd": sd(acc)})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", type=Path, help="runs/<campaign>/models")
    ap.add_argument("--out", type=Path, help="output stem (default <models>/../figures/accuracy)")
    args = ap.parse_args()
    if not args.models.is_dir():
        raise GlasskitError(f"{args.models} is not a directory", "pass runs/<campaign>/models")
    rows = collect(args.models)
    if not rows:
        raise GlasskitError(f"no finished training run or CV under {args.models}", "run glasskit submit train or cv first")
    out = args.out or args.models.parent / "figures" / "accuracy"
    datasets = sorted({r["dataset"] for r in rows})
    fig, axes = figure(2, 1, width=3.6, height=2.8)
    for ax, metric, label in zip(axes[0], ("accuracy", "auc"), ("accuracy", "AUC")):
        for k, model in enumerate(("cnn", "dmpnn")):
            sel = {r["dataset"]: r for r in rows if r["model"] == model}
            x = np.array([i + (k - 0.5) * 0.38 for i, d in enumerate(datasets) if d in sel])
            y = [sel[d][metric] for d in datasets if d in sel]
            e = [sel[d][f"{metric}_sd"] for d in datasets if d in sel]
            if len(x):
                ax.bar(x, y, 0.36, yerr=e, capsize=3, label=NAMES[model], color=("tab:orange", "tab:purple")[k])
        ax.set_xticks(range(len(datasets)), [str(d) for d in datasets])
        ax.set_xlabel("dataset")
        ax.set_ylabel(f"test {label}")
        ax.set_ylim(0, 1.05)
    axes[0][0].legend(loc="lower left")
    paths = save(fig, out)
    keys = ["model", "dataset", "source", "n", "auc", "auc_sd", "accuracy", "accuracy_sd"]
    with output(f"{out}.csv") as p:
        p.write_text("\n".join([",".join(keys)] + [",".join(str(r[k]) for k in keys) for r in rows]) + "\n")
    print(f"wrote {paths[0]}, {paths[1]} and {out}.csv ({len(rows)} model/dataset pairs)")
    return 0


if __name__ == "__main__":
    sys.exit(script(main))
