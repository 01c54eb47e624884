#!/usr/bin/env python
"""Do glasskit's classifiers learn at the paper's scale? 3-fold CV on paper-sized frames.

    .venv/bin/glasskit submit simulate --spec jobs/learning.toml --executor local   # ~25 min, 2 cores
    .venv/bin/glasskit collect --spec jobs/learning.toml
    .venv/bin/python bench/learning.py [--datasets 1 4] [--models model-i dmpnn cnn] [--windows 10]

For each dataset of jobs/datasets.toml on the campaign of ``--spec`` (default jobs/learning.toml:
N = 4,320, the paper's square box, 200 frames per ramp, t_cool = 2e5) and each model: the
paper's three-fold cross-validation (glasskit.ml.cv.outer_splits: outer folds by simulation, the
held-out fold split 50/50 into validation and test), trained in this process by
glasskit.ml.train.train with jobs/models.toml as shipped, except ``windows`` (random windows per
frame per epoch, the D-MPNN's augmentation; one window per frame is the paper's 16,000 frames an
epoch, a few dozen runs need more) and ``--hp`` overrides, which the table prints. Models:
``model-i`` ([preset.model-i]: k 1, h 300, T 2, f 1), ``dmpnn`` (the shipped [dmpnn] defaults:
k 3, h 300, T 3, f 2, a larger model), any other [preset.*] name, and ``cnn``.

Prints, beside the paper's (AUC > 0.98 on every dataset; the authors' train/test diagonal 1.0,
1.0, 1.0, 0.996, 0.984, 0.985 for datasets 1-6):
1. per model and dataset: test AUC and accuracy, mean +- sd over the 3 outer folds, with n;
2. per model: the train-on-i / test-on-j AUC matrix, fold-averaged (each fold's model scores
   dataset j's samples of that fold's outer-test simulations; the diagonal is the CV's own AUC);
3. per model: the learning curve, test AUC (fold mean) after each epoch against training
   samples seen.
Results: <campaign>/bench/learning.json and learning.csv. Runs: <campaign>/bench/runs/.

Datasets 1 and 4 (T = 1.99 and 0.55 against the T = 0.05 glass) by default; 3 and 5 with
``--datasets 1 3 4 5`` (twice the time). Easier or harder than the paper: see
jobs/learning.toml. The glass (T = 0.05) and the liquids come from the same 2e5 ramp; the
paper's datasets 1-5 use its 2e7 ramp.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PAPER_DIAGONAL = {1: 1.0, 2: 1.0, 3: 1.0, 4: 0.996, 5: 0.984, 6: 0.985}


def resolve_model(models, name: str, dataset: int, overrides: dict):
    from glasskit.ml.config import resolve
    if name == "cnn":
        return resolve(models, "cnn", dataset, None, {k: v for k, v in overrides.items() if k != "windows"})
    return resolve(models, "dmpnn", dataset, None if name == "dmpnn" else name, overrides)


def cross_validate(cfg, table, out: Path, tables: dict, progress: bool):
    """3 outer folds: per fold the metrics, the test AUC after each epoch and the AUC of the fold's
    model on every other dataset's outer-test simulations."""
    import torch
    from glasskit.ml import runs
    from glasskit.ml.cv import outer_splits
    from glasskit.ml.samples import make_set
    from glasskit.ml.train import Dist, loader, predict, roc_auc, score, train
    folds = []
    for i, parts in enumerate(outer_splits(table, cfg, 3)):
        # named by every setting: a rerun with other settings never resumes this one's checkpoint
        run_dir = out / runs.run_id(cfg, {"fold": i, "K": 3}, f"{cfg.model}-{cfg.preset or 'default'}-d{cfg.dataset}-fold{i}-")
        run_dir.mkdir(parents=True, exist_ok=True)
        test_dl = loader(cfg, make_set(cfg, table, parts["test"]), Dist(), shuffle=False)
        curve = []

        def on_epoch(epoch, model, seen):
            ids, s = predict(model, cfg, test_dl, Dist())
            curve.append((seen, score(table, ids, s)["auc"]))
        t0 = time.perf_counter()
        metrics = train(run_dir, cfg, table, parts, progress=progress, on_epoch=on_epoch)
        held = set(table.sim[parts["test"]].tolist())
        transfer = {}
        model = _best(cfg, run_dir)
        for j, other in tables.items():
            idx = np.nonzero(np.isin(other.sim, list(held)))[0]
            if j == cfg.dataset:
                transfer[j] = metrics["test"]["auc"]
            elif len(idx):
                dl = loader(cfg, make_set(cfg, other, idx), Dist(), shuffle=False)
                ids, s = predict(model, cfg, dl, Dist())
                transfer[j] = roc_auc(other.label[ids], s)
        folds.append({"fold": i, "test": metrics["test"], "val": metrics["val"], "best_epoch": metrics["best_epoch"],
                      "curve": curve, "transfer": transfer, "seconds": time.perf_counter() - t0,
                      "n_train": int(len(parts["train"])), "parameters": metrics["parameters"]})
        torch.set_num_threads(torch.get_num_threads())
    return folds


def _best(cfg, run_dir: Path):
    import torch
    from glasskit.ml.train import build_model
    model = build_model(cfg)
    model.load_state_dict(torch.load(run_dir / "best.pt", weights_only=True))
    return model.eval()


def summary(name: str, ds: int, folds: list[dict]) -> dict:
    auc = np.array([f["test"]["auc"] for f in folds])
    acc = np.array([f["test"]["accuracy"] for f in folds])
    return {"model": name, "dataset": ds, "folds": len(folds), "n_test": int(sum(f["test"]["n"] for f in folds)),
            "auc": float(np.nanmean(auc)), "auc_sd": float(np.nanstd(auc, ddof=1)),
            "accuracy": float(acc.mean()), "accuracy_sd": float(acc.std(ddof=1)),
            "minutes": sum(f["seconds"] for f in folds) / 60}


def report(results: dict, datasets: list[int], hp: dict) -> list[str]:
    lines = [f"3-fold CV, jobs/models.toml as shipped{' with ' + str(hp) if hp else ''}; paper: AUC > 0.98 on "
             "every dataset (abstract), authors' diagonal " + ", ".join(f"d{d} {v}" for d, v in PAPER_DIAGONAL.items()),
             "", f"{'model':<9} {'dataset':>7} {'n test':>6} {'AUC mean +- sd':>16} {'accuracy mean +- sd':>20} "
             f"{'paper AUC':>9} {'min':>5}"]
    for name, per in results.items():
        for ds in datasets:
            if ds in per:
                s = per[ds]["summary"]
                lines.append(f"{name:<9} {ds:>7} {s['n_test']:>6} {s['auc']:>8.3f} +- {s['auc_sd']:.3f} "
                             f"{s['accuracy']:>12.3f} +- {s['accuracy_sd']:.3f} {PAPER_DIAGONAL.get(ds, float('nan')):>9} "
                             f"{s['minutes']:>5.1f}")
    for name, per in results.items():
        have = [d for d in datasets if d in per]
        lines += ["", f"{name}: train on i (rows) / test on j (columns), AUC averaged over the 3 folds",
                  "      " + "".join(f"{j:>7}" for j in have)]
        for i in have:
            row = [np.nanmean([f["transfer"].get(j, np.nan) for f in per[i]["folds"]]) for j in have]
            lines.append(f"{i:>5} " + "".join(f"{v:>7.3f}" for v in row))
        lines += ["", f"{name}: learning curve, test AUC (fold mean) against training samples seen"]
        for i in have:
            curves = [f["curve"] for f in per[i]["folds"]]
            n = min(len(c) for c in curves)
            lines.append(f"  dataset {i}: " + "  ".join(
                f"{int(np.mean([c[e][0] for c in curves]))}:{np.nanmean([c[e][1] for c in curves]):.3f}" for e in range(n)))
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", default=str(ROOT / "jobs/learning.toml"))
    ap.add_argument("--datasets", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--models", nargs="+", default=["model-i", "dmpnn", "cnn"])
    ap.add_argument("--windows", type=int, default=10, help="D-MPNN windows per frame per epoch")
    ap.add_argument("--hp", action="append", default=[], help="extra key=value for every model (e.g. epochs=5)")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args()
    import torch
    from glasskit.campaign.layout import Campaign
    from glasskit.util.errors import GlasskitError
    from glasskit.ml.config import load_models, parse_overrides
    from glasskit.ml.samples import load_samples
    from glasskit.campaign.spec import load_spec
    campaign = Campaign.of(load_spec(args.spec))
    h5 = campaign.workdir / "campaign.h5"
    if not h5.is_file():
        raise SystemExit(f"{h5} does not exist: run glasskit submit simulate --spec {args.spec} --executor local "
                         f"and glasskit collect --spec {args.spec} first")
    models = load_models(ROOT / "jobs/models.toml")
    hp = parse_overrides(args.hp)
    tables = {d: load_samples(h5, args.spec, d, ROOT / "jobs/datasets.toml") for d in args.datasets}
    out = campaign.workdir / "bench"
    print(f"{h5}: N = {tables[args.datasets[0]].xs.shape[1]}, samples per dataset "
          + ", ".join(f"d{d} {len(t)} ({len(np.unique(t.sim))} runs)" for d, t in tables.items())
          + f"; torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    results: dict = {}
    for name in args.models:
        for ds in args.datasets:
            try:
                cfg = resolve_model(models, name, ds, {**({"windows": args.windows} if name != "cnn" else {}), **hp})
            except GlasskitError as exc:
                raise SystemExit(str(exc)) from None
            folds = cross_validate(cfg, tables[ds], out / "runs", tables, args.progress)
            s = summary(name, ds, folds)
            results.setdefault(name, {})[ds] = {"summary": s, "folds": folds, "config": cfg.as_dict()}
            print(f"{name} on dataset {ds}: AUC {s['auc']:.3f} +- {s['auc_sd']:.3f}, accuracy {s['accuracy']:.3f} "
                  f"+- {s['accuracy_sd']:.3f} ({s['n_test']} test samples over 3 folds, {s['minutes']:.1f} min)", flush=True)
    lines = report(results, args.datasets, {**hp, "windows (D-MPNN)": args.windows})
    print("\n" + "\n".join(lines))
    out.mkdir(parents=True, exist_ok=True)
    (out / "learning.json").write_text(json.dumps(results, indent=1, default=float))
    (out / "learning.txt").write_text("\n".join(lines) + "\n")
    print(f"\nwrote {out / 'learning.json'} and {out / 'learning.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
