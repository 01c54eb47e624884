#!/usr/bin/env python
"""Hyperparameter searches: every trial's loss, the best so far, and what each hyperparameter did.

    python analysis/search.py runs/demo/searches [--experiment NAME] [--out runs/demo/figures/search]

Reads <searches>/<experiment>/trials.jsonl of every search (or of the named ones). Panel (a):
loss = -(inner-test AUC) of each trial vs trial number, failed trials (NaN or crashed) as crosses
on the top edge, and the best loss so far as a step line, one colour per experiment. Then one
panel per hyperparameter: its sampled values vs the trial's inner-test AUC (what TPE explored
and where the good trials sit). Writes <out>.png/.pdf and <out>_trials.csv (one row per trial).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from glasskit.util.errors import GlasskitError, script
from glasskit.util.tables import write_table
from glasskit.ml import triallog
from glasskit.ml.runs import read_json
from glasskit.util.plotting import figure, save


def load(searches: Path, names: list[str] | None) -> dict[str, list[dict]]:
    dirs = [searches / n for n in names] if names else sorted(p for p in searches.iterdir() if p.is_dir())
    out = {}
    for d in dirs:
        if not (d / triallog.TRIALS).is_file():
            if names:
                raise GlasskitError(f"no trials.jsonl in {d}", f"experiments here: {', '.join(x.name for x in searches.iterdir())}")
            continue
        recs = triallog.read(d)
        if recs:
            out[d.name] = recs
    return out


def short(name: str) -> str:
    """cv-...-fold1-search-<sha> -> fold1; search-dmpnn-d1-<sha> -> dmpnn-d1-<sha>."""
    parts = name.split("-")
    fold = [p for p in parts if p.startswith("fold")]
    return fold[0] if fold else name.removeprefix("search-")


def draw(exps: dict[str, list[dict]], out: Path, space: dict) -> list[Path]:
    params = sorted({k for recs in exps.values() for r in recs for k in r.get("params", {})})
    ncols = min(4, 1 + len(params))
    nrows = -(-(1 + len(params)) // ncols)
    fig, axes = figure(ncols, nrows, width=3.3, height=2.9)
    axes = np.asarray(axes).ravel()
    colours = [f"C{i % 10}" for i in range(len(exps))]
    ax = axes[0]
    worst = max([r["loss"] for recs in exps.values() for r in recs if triallog.ok(r)] + [0.0])
    for (name, recs), c in zip(exps.items(), colours):
        n = np.arange(1, len(recs) + 1)
        loss = np.array([r["loss"] if triallog.ok(r) else np.nan for r in recs], float)
        ax.plot(n, loss, "o", ms=3.5, color=c, label=short(name))
        bad = np.isnan(loss)
        ax.plot(n[bad], np.full(bad.sum(), worst + 0.02), "x", color=c, ms=5)
        best = np.fmin.accumulate(np.where(bad, np.inf, loss))
        ax.step(n, np.where(np.isinf(best), np.nan, best), where="post", color=c, lw=1.2)
    ax.set_xlabel("trial")
    ax.set_ylabel("loss = -(inner-test AUC)")
    ax.set_title("(a) trials, best so far; x failed", fontsize=8)
    if len(exps) <= 8:
        ax.legend(fontsize=6, loc="upper right")
    for i, (p, ax) in enumerate(zip(params, axes[1:])):
        for (name, recs), c in zip(exps.items(), colours):
            good = [r for r in recs if triallog.ok(r) and p in r["params"]]
            ax.plot([r["params"][p] for r in good], [r["auc"] for r in good], "o", ms=3.5, color=c, alpha=0.8)
        if p in space:  # the whole searched range, so clustering shows
            pad = 0.05 * (space[p]["high"] - space[p]["low"])
            ax.set_xlim(space[p]["low"] - pad, space[p]["high"] + pad)
        ax.set_xlabel(p)
        if (i + 1) % ncols == 0:
            ax.set_ylabel("inner-test AUC")
        ax.set_title(f"({chr(98 + i)})", fontsize=8)
    for ax in axes[1 + len(params):]:
        ax.axis("off")
    fig.tight_layout()
    return save(fig, out)


def write_csv(exps: dict[str, list[dict]], path: Path) -> None:
    """One row per trial; its hyperparameters in ``<path stem>_params.csv``, one row per (trial,
    parameter)."""
    rows = [{"experiment": name, "tid": r["tid"], "status": r["status"], "loss": r.get("loss"), "auc": r.get("auc"),
             "seconds": r.get("seconds", 0.0), "run": r.get("run", ""), "failure": r.get("failure", "")}
            for name, recs in exps.items() for r in recs]
    write_table(path, rows, columns=["experiment", "tid", "status", "loss", "auc", "seconds", "run", "failure"])
    write_table(path.with_name(path.stem + "_params.csv"),
                [{"experiment": name, "tid": r["tid"], "parameter": k, "value": v}
                 for name, recs in exps.items() for r in recs for k, v in sorted(r.get("params", {}).items())],
                columns=["experiment", "tid", "parameter", "value"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("searches", type=Path, help="runs/<campaign>/searches")
    ap.add_argument("--experiment", action="append", help="only this experiment (repeatable)")
    ap.add_argument("--out", type=Path, help="output stem (default <searches>/../figures/search)")
    args = ap.parse_args(argv)
    if not args.searches.is_dir():
        raise GlasskitError(f"{args.searches} is not a directory", "pass runs/<campaign>/searches")
    exps = load(args.searches, args.experiment)
    if not exps:
        raise GlasskitError(f"no finished trial under {args.searches}", "run glasskit submit search first")
    out = args.out or args.searches.parent / "figures" / "search"
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    space = {}
    for name in exps:
        space.update(read_json(args.searches / name / "search.json").get("space", {}))
    paths = draw(exps, out, space)
    write_csv(exps, Path(f"{out}_trials.csv"))
    n = sum(len(r) for r in exps.values())
    print(f"wrote {paths[0]}, {paths[1]} and {out}_trials.csv ({len(exps)} experiment(s), {n} trials)")
    return 0


if __name__ == "__main__":
    sys.exit(script(main))
