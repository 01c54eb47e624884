#!/usr/bin/env python
"""Accuracy and AUC per dataset, CNN vs D-MPNN (paper Fig 5).

    python analysis/accuracy.py runs/demo/models [--source auto|cv|runs] [--out runs/demo/figures/accuracy]

One kind of result per figure, never mixed: ``--source cv`` reads the cross-validations under
<models>/../cv/*/results.json (mean +- sd over the outer folds, the paper's numbers; the newest
CV of each model and dataset), ``--source runs`` the test splits of the finished single runs
under <models>/ (mean +- sd over runs; sd 0 for one run). ``auto`` (the default) takes CVs where
there are any, else single runs. Each bar is labelled with its n (folds or runs) and its test
samples; the title names the source. A bar whose validation accuracy is not above chance (a
one-sided binomial test at p = 0.05 over every validation sample behind it), or whose test
split holds fewer than 20 samples, is hatched and named on the figure: it is not a result.
Writes <out>.png/.pdf and <out>.csv (model, dataset, source, n, n_test, auc, auc_sd, accuracy,
accuracy_sd, val_accuracy, n_val, verdict, from).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from glasskit.util.errors import GlasskitError, script
from glasskit.util.tables import write_table
from glasskit.ml.runs import finished, verdict
from glasskit.util.plotting import figure, save

NAMES = {"cnn": "CNN", "dmpnn": "D-MPNN"}


def _sd(a: np.ndarray) -> float:
    return float(np.std(a, ddof=1)) if len(a) > 1 else 0.0


def _cv_result(path: Path) -> dict | None:
    """A CV's results.json, or None (and one line on stderr) when it is damaged."""
    try:
        r = json.loads(path.read_text())
        folds = r["folds"]
        ok = (isinstance(r["model"], str) and isinstance(r["dataset"], int) and isinstance(r["K"], int)
              and all(np.isfinite(float(r[k])) for k in ("auc_mean", "auc_sd", "accuracy_mean", "accuracy_sd"))
              and isinstance(folds, list) and all(isinstance(f.get("n_test"), int) for f in folds))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        ok = False
    if not ok:
        print(f"accuracy.py: skipping the damaged CV result {path}", file=sys.stderr)
        return None
    return r


def cv_rows(models: Path) -> list[dict]:
    """The newest CV of each (model, dataset): one row, mean +- sd over its folds."""
    newest: dict[tuple, tuple] = {}
    for p in (models.parent / "cv").glob("*/results.json"):
        r = _cv_result(p)
        if r is None:
            continue
        key = (r["model"], r["dataset"])
        if key not in newest or p.stat().st_mtime > newest[key][0]:
            newest[key] = (p.stat().st_mtime, r)
    rows = []
    for (model, ds), (_, r) in sorted(newest.items()):
        folds = r["folds"]
        n_val = sum(f.get("n_val", 0) for f in folds)
        val_ok = sum(f.get("val_accuracy", 0) * f.get("n_val", 0) for f in folds)
        n_test = sum(f["n_test"] for f in folds)
        rows.append({"model": model, "dataset": ds, "source": f"{r['K']}-fold CV", "n": r["K"], "n_test": n_test,
                     "auc": r["auc_mean"], "auc_sd": r["auc_sd"], "accuracy": r["accuracy_mean"],
                     "accuracy_sd": r["accuracy_sd"], "val_accuracy": val_ok / n_val if n_val else float("nan"),
                     "n_val": n_val, "verdict": verdict(val_ok, n_val, n_test), "from": r["cv"]})
    return rows


def run_rows(models: Path) -> list[dict]:
    """Per (model, dataset): mean +- sd over the finished single runs (not CV folds or trials)."""
    single: dict[tuple, list] = {}
    for run_dir, m in finished(models, warn=lambda line: print(f"accuracy.py: {line}", file=sys.stderr)):
        if not run_dir.name.startswith(("cv-", "search-")):
            single.setdefault((m["config"]["model"], m["config"]["dataset"]), []).append((run_dir.name, m))
    rows = []
    for (model, ds), found in sorted(single.items()):
        tests = [m["test"] for _, m in found]
        vals = [m.get("val", {"accuracy": 0.0, "n": 0}) for _, m in found]
        auc, acc = np.array([t["auc"] for t in tests]), np.array([t["accuracy"] for t in tests])
        n_val, n_test = sum(v["n"] for v in vals), sum(t["n"] for t in tests)
        val_ok = sum(v["accuracy"] * v["n"] for v in vals)
        rows.append({"model": model, "dataset": ds, "source": "test split", "n": len(tests), "n_test": n_test,
                     "auc": float(auc.mean()), "auc_sd": _sd(auc), "accuracy": float(acc.mean()),
                     "accuracy_sd": _sd(acc), "val_accuracy": val_ok / n_val if n_val else float("nan"),
                     "n_val": n_val, "verdict": verdict(val_ok, n_val, n_test),
                     "from": " ".join(name for name, _ in found)})
    return rows


def collect(models: Path, source: str = "auto") -> list[dict]:
    if source in ("auto", "cv"):
        rows = cv_rows(models)
        if rows or source == "cv":
            return rows
    return run_rows(models)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", type=Path, help="runs/<campaign>/models")
    ap.add_argument("--out", type=Path, help="output stem (default <models>/../figures/accuracy)")
    ap.add_argument("--source", choices=["auto", "cv", "runs"], default="auto",
                    help="cross-validations or single runs (never both in one figure); auto: CVs if any")
    args = ap.parse_args(argv)
    if not args.models.is_dir():
        raise GlasskitError(f"{args.models} is not a directory", "pass runs/<campaign>/models")
    rows = collect(args.models, args.source)
    if not rows:
        what = {"cv": "cross-validation", "runs": "finished single run"}.get(args.source, "finished training run or CV")
        raise GlasskitError(f"no {what} under {args.models}", "run glasskit submit train or cv first")
    out = args.out or args.models.parent / "figures" / "accuracy"
    datasets = sorted({r["dataset"] for r in rows})
    fig, axes = figure(2, 1, width=3.6, height=2.8)
    for ax, metric, label in zip(axes[0], ("accuracy", "auc"), ("accuracy", "AUC")):
        for k, model in enumerate(("cnn", "dmpnn")):
            sel = {r["dataset"]: r for r in rows if r["model"] == model}
            x = np.array([i + (k - 0.5) * 0.38 for i, d in enumerate(datasets) if d in sel])
            y = [sel[d][metric] for d in datasets if d in sel]
            e = np.nan_to_num(np.array([sel[d][f"{metric}_sd"] for d in datasets if d in sel], dtype=float))
            # mean +- sd, clipped to the metric's range [0, 1]: no bar reaches past a perfect score
            yerr = np.array([np.minimum(e, np.array(y, dtype=float)), np.minimum(e, 1 - np.array(y, dtype=float))])
            if len(x):
                bad = [sel[d]["verdict"] != "result" for d in datasets if d in sel]
                bars = ax.bar(x, y, 0.36, yerr=yerr, capsize=3, label=NAMES[model], color=("tab:orange", "tab:purple")[k])
                for bar, b, d in zip(bars, bad, [d for d in datasets if d in sel]):
                    if b:
                        bar.set_hatch("//")
                        bar.set_alpha(0.5)
                    ax.text(bar.get_x() + bar.get_width() / 2, 0.02, f"n={sel[d]['n']}\n{sel[d]['n_test']} test",
                            ha="center", va="bottom", fontsize=6, rotation=90)
        ax.set_xticks(range(len(datasets)), [str(d) for d in datasets])
        ax.set_xlabel("dataset")
        ax.set_ylabel(f"test {label}")
        ax.set_ylim(0, 1.05)
    axes[0][0].legend(loc="lower left", bbox_to_anchor=(0.0, 0.12))
    kind = rows[0]["source"]
    fig.suptitle(f"{kind}: mean +- sd over {'outer folds' if 'CV' in kind else 'runs'} (n per bar)", fontsize=10)
    flagged = [r for r in rows if r["verdict"] != "result"]
    if flagged:
        fig.text(0.5, -0.02, "hatched, not a result: " + "; ".join(
            f"{NAMES[r['model']]} d{r['dataset']} "
            + (f"validation accuracy at chance ({r['val_accuracy']:.2f} of {r['n_val']})" if r["verdict"] == "chance"
               else f"{r['n_test']} test samples") for r in flagged), ha="center", va="top", fontsize=7, color="tab:red",
            wrap=True)
    paths = save(fig, out)
    keys = ["model", "dataset", "source", "n", "n_test", "auc", "auc_sd", "accuracy", "accuracy_sd", "val_accuracy",
            "n_val", "verdict", "from"]
    write_table(f"{out}.csv", rows, columns=keys)
    for r in flagged:
        print(f"not a result: {NAMES[r['model']]} on dataset {r['dataset']} ({r['source']}): {r['verdict']}")
    print(f"wrote {paths[0]}, {paths[1]} and {out}.csv ({len(rows)} model/dataset pairs from {kind})")
    return 0


if __name__ == "__main__":
    sys.exit(script(main))
