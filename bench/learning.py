#!/usr/bin/env python
"""Do glasskit's classifiers learn at the paper's scale? 3-fold CV on paper-sized frames.

The six datasets (jobs/six.toml: 60 slow and 60 fast ramps of N = 4,320, ~1 h of 2 cores):

    .venv/bin/glasskit submit simulate --spec jobs/six.toml --executor local
    .venv/bin/glasskit collect --spec jobs/six.toml
    .venv/bin/python bench/learning.py --spec jobs/six.toml --datasets 1 2 3 4 5 6 --models model-i dmpnn

Two processes of ``--threads 1`` (say ``--datasets 1 2 3`` and ``--datasets 4 5 6``) use two
cores better than one; a last run over all six datasets reads every finished unit back and writes
bench/results/six-datasets.json and six-datasets.png/.pdf (with the dataset 6 analogue's E_IS).

The older small benchmark (jobs/learning.toml: 16 runs of the fast ramp, ~25 min to simulate):

    .venv/bin/python bench/learning.py [--datasets 1 4] [--models model-i dmpnn cnn] [--windows 10]

For each dataset of jobs/datasets.toml on the campaign of ``--spec`` and each model: the
paper's three-fold cross-validation (glasskit.ml.cv.outer_splits: outer folds by simulation, the
held-out fold split 50/50 into validation and test), trained in this process by
glasskit.ml.train.train with jobs/models.toml as shipped, except ``windows`` (random windows per
frame per epoch, the D-MPNN's augmentation; one window per frame is the paper's 16,000 frames an
epoch, a few dozen runs need more) and ``--hp`` overrides, which the table prints. Models:
``model-i`` ([preset.model-i]: k 1, h 300, T 2, f 1), ``dmpnn`` (the shipped [dmpnn] defaults:
Model I's architecture since the six-dataset measurement; a model whose settings equal another's
of the list shares its folds), any other [preset.*] name, and ``cnn``. The earlier default
(k 3, T 3, f 2), for the before/after: ``--models dmpnn --hp k=3 --hp depth=3 --hp ffn_layers=2``.

A dataset x model x fold is one unit: it is kept in <campaign>/bench/units/ once done (with its
test predictions), a killed run resumes the unit it was in from its epoch checkpoint, and a
rerun reads finished units back. Intervals are 95 % bootstrap intervals over simulations (a
simulation's frames are resampled together), on the test predictions of the three folds pooled.

Prints, beside the paper's (AUC > 0.98 on every dataset; the authors' train/test diagonal 1.0,
1.0, 1.0, 0.996, 0.984, 0.985 for datasets 1-6):
1. per model and dataset: pooled test AUC and accuracy with their intervals and n;
2. per model: the train-on-i / test-on-j AUC matrix, fold-averaged (each fold's model scores
   dataset j's samples of that fold's outer-test simulations; the diagonal is the CV's own AUC);
3. per model: the learning curve, test AUC (fold mean) after each epoch against training
   samples seen.
Results: <campaign>/bench/learning.json and learning.txt. Runs: <campaign>/bench/runs/.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from glasskit.util.outputs import replace_text  # one atomic writer: a unique temporary, removed on failure

ROOT = Path(__file__).resolve().parent.parent
DEVICE = "cpu"  # set by --device: where every fold trains and scores
PAPER_DIAGONAL = {1: 1.0, 2: 1.0, 3: 1.0, 4: 0.996, 5: 0.984, 6: 0.985}


def resolve_model(models, name: str, dataset: int, overrides: dict):
    from glasskit.ml.config import resolve
    if name == "cnn":
        return resolve(models, "cnn", dataset, None, {k: v for k, v in overrides.items() if k != "windows"})
    return resolve(models, "dmpnn", dataset, None if name == "dmpnn" else name, overrides)


def read_json(path: Path):
    """A unit, a fold's state or the E_IS cache; a damaged one ends the run with one line."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{path} cannot be read ({exc}): delete it and run again to redo that part") from None


def cross_validate(cfg, table, out: Path, tables: dict, progress: bool, name: str = "", train_missing: bool = True,
                   only=None):
    """3 outer folds, each a resumable unit: per fold the metrics, the test AUC after each epoch,
    the AUC of the fold's model on every other dataset's outer-test simulations and its test
    predictions (simulation, label, P(liquid)), kept in <out>/../units/<unit>.json once the fold is
    done; a killed fold resumes from its epoch checkpoint, a finished one is read back. With
    ``train_missing`` false a fold that is not done makes it return None (nothing is trained);
    ``only`` (fold numbers) trains those folds alone, and the cell is reported when all three are done."""
    from glasskit.ml import runs
    from glasskit.ml.cv import outer_splits
    folds, incomplete = [], False
    for i, parts in enumerate(outer_splits(table, cfg, 3)):
        # named by every setting: a rerun with other settings never resumes this one's checkpoint
        rid = runs.run_id(cfg, {"fold": i, "K": 3}, f"{cfg.model}-{cfg.preset or 'default'}-d{cfg.dataset}-fold{i}-")
        unit = out.parent / "units" / f"{name or cfg.model}-{rid}.json"
        if unit.is_file():
            folds.append(read_json(unit))
            print(f"  {unit.name}: done earlier, read back", flush=True)
            continue
        if not train_missing or (only is not None and i not in only):
            incomplete = True  # left untrained: the cell is not reported
            continue
        fold = _fold(cfg, table, parts, i, out / rid, tables, progress)
        unit.parent.mkdir(parents=True, exist_ok=True)
        replace_text(unit, json.dumps(fold, default=float))  # a unit is there whole or not at all
        folds.append(fold)
    return None if incomplete else folds


def _fold(cfg, table, parts, i, run_dir: Path, tables, progress):
    import torch
    from glasskit.ml.samples import make_set
    from glasskit.ml.train import Dist, loader, predict, roc_auc, score, train
    run_dir.mkdir(parents=True, exist_ok=True)
    dist = Dist(device=torch.device(DEVICE))
    test_dl = loader(cfg, make_set(cfg, table, parts["test"]), dist, shuffle=False)
    # the curve and the time so far live beside the fold's checkpoint: a fold resumed after a kill
    # reports all its epochs and all its time, not those since the resume
    state_path = run_dir / "bench-fold.json"
    state = read_json(state_path) if state_path.is_file() else {"curve": {}, "seconds": 0.0}
    t0 = time.perf_counter()

    def on_epoch(epoch, model, seen):
        ids, s = predict(model, cfg, test_dl, dist)
        state["curve"][str(epoch)] = (seen, score(table, ids, s)["auc"])
        replace_text(state_path, json.dumps({**state, "seconds": state["seconds"] + time.perf_counter() - t0}))
    metrics = train(run_dir, cfg, table, parts, dist, progress=progress, on_epoch=on_epoch)
    curve = [tuple(state["curve"][e]) for e in sorted(state["curve"], key=int)]
    held = set(table.sim[parts["test"]].tolist())
    transfer = {}
    model = _best(cfg, run_dir)
    ids, s = predict(model, cfg, test_dl, dist)
    for j, other in tables.items():
        idx = np.nonzero(np.isin(other.sim, list(held)))[0]
        if j == cfg.dataset:
            transfer[j] = metrics["test"]["auc"]
        elif len(idx):
            dl = loader(cfg, make_set(cfg, other, idx), dist, shuffle=False)
            oids, os_ = predict(model, cfg, dl, dist)
            transfer[j] = roc_auc(other.label[oids], os_)
    torch.set_num_threads(torch.get_num_threads())
    return {"fold": i, "test": metrics["test"], "val": metrics["val"], "best_epoch": metrics["best_epoch"],
            "curve": curve, "transfer": transfer, "seconds": state["seconds"] + time.perf_counter() - t0,
            "n_train": int(len(parts["train"])), "parameters": metrics["parameters"],
            "predictions": {"sim": table.sim[ids].tolist(), "label": table.label[ids].astype(int).tolist(),
                            "score": np.asarray(s, dtype=float).tolist()}}


def bootstrap(folds: list[dict], reps: int = 2000, seed: int = 0) -> dict:
    """AUC and accuracy over every fold's test predictions pooled, with 95 % intervals from a
    bootstrap over simulations (a simulation's frames are resampled together)."""
    from glasskit.ml.train import roc_auc
    sim = np.concatenate([f["predictions"]["sim"] for f in folds])
    label = np.concatenate([f["predictions"]["label"] for f in folds]).astype(bool)
    sc = np.concatenate([f["predictions"]["score"] for f in folds])
    sims = np.unique(sim)
    rows = {s_: np.nonzero(sim == s_)[0] for s_ in sims}
    rng = np.random.default_rng(seed)
    aucs, accs = [], []
    for _ in range(reps):
        idx = np.concatenate([rows[s_] for s_ in rng.choice(sims, len(sims))])
        aucs.append(roc_auc(label[idx], sc[idx]))
        accs.append(np.mean((sc[idx] > 0.5) == label[idx]))
    return {"auc": roc_auc(label, sc), "auc_ci": [float(np.nanpercentile(aucs, 2.5)), float(np.nanpercentile(aucs, 97.5))],
            "accuracy": float(np.mean((sc > 0.5) == label)),
            "accuracy_ci": [float(np.percentile(accs, 2.5)), float(np.percentile(accs, 97.5))],
            "n_test": int(len(sc)), "n_test_liquid": int(label.sum()), "n_test_glass": int((~label).sum()),
            "n_sims": int(len(sims))}


def _best(cfg, run_dir: Path):
    import torch
    from glasskit.ml.train import build_model
    model = build_model(cfg)
    model.load_state_dict(torch.load(run_dir / "best.pt", weights_only=True, map_location="cpu"))
    return model.to(DEVICE).eval()


def settled(curve, tol: float = 0.01) -> int:
    """The first epoch (1-based) from which every AUC of ``curve`` [(seen, auc), ...] is within
    ``tol`` of the last one."""
    final = curve[-1][1]
    e = len(curve)
    # AUCs of 10 + 10 test frames are multiples of 0.01: 1.0 - 0.99 is 0.010000000000000009
    while e > 1 and abs(curve[e - 2][1] - final) <= tol + 1e-9:
        e -= 1
    return e


def summary(name: str, ds: int, folds: list[dict]) -> dict:
    auc = np.array([f["test"]["auc"] for f in folds])
    acc = np.array([f["test"]["accuracy"] for f in folds])
    out = {"model": name, "dataset": ds, "folds": len(folds), "n_test": int(sum(f["test"]["n"] for f in folds)),
           "auc_fold_mean": float(np.nanmean(auc)), "auc_sd": float(np.nanstd(auc, ddof=1)),
           "accuracy_fold_mean": float(acc.mean()), "accuracy_sd": float(acc.std(ddof=1)),
           "minutes": sum(f["seconds"] for f in folds) / 60}
    if all("predictions" in f for f in folds):
        out.update(bootstrap(folds))
    else:
        out.update(auc=out["auc_fold_mean"], accuracy=out["accuracy_fold_mean"])
    # the fraction of the epochs after which the test AUC stays within 0.01 of its final value
    # (a noisy curve that touches it early and leaves again has not reached it), fold mean
    reach = [settled(f["curve"]) / len(f["curve"]) for f in folds if f["curve"]]
    out["fraction_of_epochs_to_final_auc"] = float(np.mean(reach)) if reach else float("nan")
    return out


def report(results: dict, datasets: list[int], hp: dict) -> list[str]:
    lines = [f"3-fold CV, jobs/models.toml as shipped{' with ' + str(hp) if hp else ''}; paper: AUC > 0.98 on "
             "every dataset (abstract), authors' diagonal " + ", ".join(f"d{d} {v}" for d, v in PAPER_DIAGONAL.items()),
             "AUC and accuracy of the three folds' test predictions pooled, [95 % bootstrap interval over simulations];"
             " epochs: fraction of the epochs after which the test AUC stays within 0.01 of its last value",
             "", f"{'model':<9} {'dataset':>7} {'n test':>6} {'AUC [95 %]':>22} {'accuracy [95 %]':>22} "
             f"{'paper AUC':>9} {'epochs':>6} {'min':>5}"]
    for name, per in results.items():
        for ds in datasets:
            if ds in per:
                s = per[ds]["summary"]
                ci = s.get("auc_ci", [float("nan")] * 2)
                aci = s.get("accuracy_ci", [float("nan")] * 2)
                lines.append(f"{name:<9} {ds:>7} {s['n_test']:>6} {s['auc']:>6.3f} [{ci[0]:.3f}, {ci[1]:.3f}] "
                             f"{s['accuracy']:>6.3f} [{aci[0]:.3f}, {aci[1]:.3f}] "
                             f"{PAPER_DIAGONAL.get(ds, float('nan')):>9} {s['fraction_of_epochs_to_final_auc']:>6.2f} "
                             f"{s['minutes']:>5.1f}")
    for name, per in results.items():
        have = [d for d in datasets if d in per]
        lines += ["", f"{name}: train on i (rows) / test on j (columns), AUC averaged over the 3 folds",
                  "      " + "".join(f"{j:>7}" for j in have)]
        for i in have:
            # a fold read back from its unit's JSON has string keys
            row = [np.nanmean([f["transfer"].get(j, f["transfer"].get(str(j), np.nan)) for f in per[i]["folds"]])
                   for j in have]
            lines.append(f"{i:>5} " + "".join(f"{v:>7.3f}" for v in row))
        lines += ["", f"{name}: learning curve, test AUC (fold mean) against training samples seen"]
        for i in have:
            curves = [f["curve"] for f in per[i]["folds"]]
            n = min(len(c) for c in curves)
            lines.append(f"  dataset {i}: " + "  ".join(
                f"{int(np.mean([c[e][0] for c in curves]))}:{np.nanmean([c[e][1] for c in curves]):.3f}" for e in range(n)))
    return lines


def eis_of_dataset6(campaign, spec_path) -> dict:
    """The dataset 6 analogue's two classes' inherent-structure energies (glasskit's own FIRE on
    every selected frame): liquid = T 0.55 of the slowest ramp, glass = T 0.05 of the fastest;
    [mean, sd, n] each, cached in <campaign>/bench/eis6.json."""
    from glasskit.campaign.store import open_campaign
    from glasskit.stages.minimize import InherentStructures
    spec = campaign.spec
    cache_path = campaign.workdir / "bench" / "eis6.json"
    cache = read_json(cache_path) if cache_path.is_file() else {}
    rates = sorted({g.t_cool for g in spec.campaign.runs})
    reader = open_campaign(campaign.workdir / "campaign.h5")
    todo = [(f"{cls}/{fr.sim}", fr) for cls, T, rate in (("liquid", 0.55, rates[-1]), ("glass", 0.05, rates[0]))
            for fr in reader.frames(reader.select(T=T, t_cool=rate))]
    todo = [(key, fr) for key, fr in todo if key not in cache]
    if todo:  # LAMMPS starts only for frames not minimised yet
        with InherentStructures(spec, campaign.workdir / "init.data") as ism:
            for key, fr in todo:
                cache[key] = ism.minimize(np.asarray(fr.x, dtype=np.float64), fr.sim)[0]
                cache_path.parent.mkdir(parents=True, exist_ok=True)
                replace_text(cache_path, json.dumps(cache))  # a killed run leaves the last whole cache
    out = {}
    for cls in ("liquid", "glass"):
        v = [e for k, e in cache.items() if k.startswith(cls + "/")]
        out[cls] = [float(np.mean(v)), float(np.std(v, ddof=1)), len(v)]
    return out


def initial_memory(tables: dict, workdir: Path) -> dict:
    """How much each dataset's classes still remember the campaign's one shared initial
    configuration (every ramp starts from it): per dataset and class, the mean squared
    displacement from it (sigma^2, minimum image) and the fraction of particles that moved
    more than 1 sigma. A class whose frames sit near the start is one picture, not an ensemble."""
    import h5py
    with h5py.File(workdir / "init.h5", "r") as f:
        x0 = f["xs"][...]
    out = {}
    for ds, t in tables.items():
        d = t.xs.astype(np.float64) - x0[None]
        d = (d - np.rint(d)) * t.box  # minimum image, scaled to sigma
        r2 = (d ** 2).sum(axis=2)
        out[str(ds)] = {cls: {"msd": float(r2[t.label == lab].mean()),
                              "moved_1_sigma": float((r2[t.label == lab] > 1.0).mean()),
                              "n": int((t.label == lab).sum())}
                        for cls, lab in (("liquid", 1), ("glass", 0))}
    return out


CLASSES = {1: "T 1.99 / 0.05", 2: "T 1.756 / 0.05", 3: "T 0.957 / 0.05", 4: "T 0.55 / 0.05", 5: "T 0.44 / 0.05",
           6: "T 0.55 slow / 0.05 fast"}


def markdown(out: dict) -> list[str]:
    """README's table from six-datasets.json: one row per dataset and model."""
    lines = ["| dataset (liquid / glass) | model | test frames (liquid + glass) | AUC [95 %] | accuracy [95 %] "
             "| paper AUC | epochs to final AUC |", "|---|---|---|---|---|---|---|"]
    for ds in sorted(out["datasets"], key=int):
        shown = set()
        for name, r in out["datasets"][ds].items():
            twin = r.get("same_as")
            if twin in shown:  # the same settings and folds as a row above: one row for both
                continue
            shown.add(name)
            label = f"{name} (= {twin})" if twin else name
            lines.append(f"| {ds} ({CLASSES.get(int(ds), '')}) | {label} | {r['n_test']} ({r.get('n_test_liquid', '?')} + "
                         f"{r.get('n_test_glass', '?')}) | {r['auc']:.3f} [{r['auc_ci'][0]:.3f}, {r['auc_ci'][1]:.3f}] | "
                         f"{r['accuracy']:.3f} [{r['accuracy_ci'][0]:.3f}, {r['accuracy_ci'][1]:.3f}] | "
                         f"{out['paper_auc'].get(ds, '')} | {r['fraction_of_epochs_to_final_auc']:.2f} |")
    return lines


def six_datasets(results: dict, campaign, spec_path, command: str = "", memory: dict | None = None) -> None:
    """bench/results/six-datasets.json (per dataset and model: auc, auc_ci, accuracy, n_test; the
    dataset 6 analogue's E_IS; the spec) and a figure of AUC per dataset with its interval, the
    paper's values beside."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from glasskit.util.plotting import save
    out = {"datasets": {}, "eis": eis_of_dataset6(campaign, spec_path),
           "eis_paper": {"liquid": [-3.86698, 0.00382], "glass": [-3.86744, 0.00288]},
           "spec": Path(spec_path).read_text(), "paper_auc": {str(k): v for k, v in PAPER_DIAGONAL.items()},
           "how": "3-fold CV (outer folds by simulation; held-out fold split 50/50 into validation and test); "
                  "auc/accuracy over the three folds' test predictions pooled; auc_ci/accuracy_ci: 95 % bootstrap "
                  "over simulations (2,000 resamples); n_test: test frames summed over the folds",
           "command": command or "bench/learning.py --spec jobs/six.toml --datasets 1 2 3 4 5 6 --models " + " ".join(results),
           "configs": {name: next(iter(per.values()))["config"] for name, per in results.items()},
           "initial_memory": memory or {},
           "initial_memory_how": "per dataset and class: mean squared displacement (sigma^2, minimum image) of "
                                 "the frames from the shared initial configuration every ramp starts from, and the "
                                 "fraction of particles moved more than 1 sigma (bench/learning.py initial_memory)"}
    for name, per in results.items():
        for ds, r in per.items():
            s = r["summary"]
            out["datasets"].setdefault(str(ds), {})[name] = {k: s[k] for k in (
                "auc", "auc_ci", "accuracy", "accuracy_ci", "n_test", "n_test_liquid", "n_test_glass", "n_sims",
                "fraction_of_epochs_to_final_auc", "minutes", "same_as")
                if k in s}
    dest = ROOT / "bench" / "results"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "six-datasets.json").write_text(json.dumps(out, indent=1) + "\n")
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    names = [n for i, n in enumerate(results)  # a model whose settings equal an earlier one's: one series
             if not any(r["summary"].get("same_as") in list(results)[:i] for r in results[n].values())]
    for m, name in enumerate(names):
        xs, ys, lo, hi = [], [], [], []
        for ds in range(1, 7):
            r = out["datasets"].get(str(ds), {}).get(name)
            if r and "auc_ci" in r:
                xs.append(ds + 0.2 * (m - (len(names) - 1) / 2))
                ys.append(r["auc"])
                lo.append(r["auc"] - r["auc_ci"][0])
                hi.append(r["auc_ci"][1] - r["auc"])
        n = min((out["datasets"][str(d)][name]["n_test"] for d in range(1, 7) if name in out["datasets"].get(str(d), {})),
                default=0)
        twin = next((r["summary"]["same_as"] for r in results[name].values() if "same_as" in r["summary"]), None)
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", capsize=3,
                    label=f"{name}{f' (= {twin})' if twin else ''} (n >= {n} test frames)")
    ax.plot(range(1, 7), [PAPER_DIAGONAL[d] for d in range(1, 7)], "k_", markersize=14, label="paper (n = 20,000 runs)")
    ax.set_xlabel("dataset")
    ax.set_ylabel("test AUC, 95 % interval")
    lows = [r["auc_ci"][0] for d in out["datasets"].values() for r in d.values() if "auc_ci" in r]
    ax.set_ylim(min([0.85] + [v - 0.03 for v in lows]), 1.01)
    ax.axhline(0.5, color="0.7", lw=0.8, ls=":")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)  # below: off the data
    ax.set_title(f"Six datasets, N = {campaign.spec.system.n_atoms}, 3-fold CV (intervals: bootstrap over simulations)",
                 fontsize=9)
    fig.tight_layout()
    save(fig, dest / "six-datasets")
    print("\n".join(markdown(out)))
    print(f"wrote {dest / 'six-datasets.json'} and six-datasets.png/.pdf")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", default=str(ROOT / "jobs/learning.toml"))
    ap.add_argument("--datasets", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--models", nargs="+", default=["model-i", "dmpnn", "cnn"])
    ap.add_argument("--windows", type=int, default=10, help="D-MPNN windows per frame per epoch")
    ap.add_argument("--hp", action="append", default=[], help="extra key=value for every model (e.g. epochs=5)")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads of this process (default: torch's); two processes of one thread each "
                         "use 2 cores better than one of two")
    ap.add_argument("--report-only", action="store_true",
                    help="train nothing: report the dataset x model cells whose three folds are done")
    ap.add_argument("--folds", type=int, nargs="+", choices=(0, 1, 2),
                    help="train only these outer folds (a probe of one setting; a cell is reported once all "
                         "three are done)")
    ap.add_argument("--device", default="auto", help="cpu, cuda, or auto (cuda when torch sees a GPU)")
    args = ap.parse_args()
    import torch
    global DEVICE
    DEVICE = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if args.threads:
        torch.set_num_threads(args.threads)
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
          + f"; torch {torch.__version__}, {torch.get_num_threads()} threads, device {DEVICE}", flush=True)
    results: dict = {}

    def config(name, ds):
        try:
            return resolve_model(models, name, ds, {**({"windows": args.windows} if name != "cnn" else {}), **hp})
        except GlasskitError as exc:
            raise SystemExit(str(exc)) from None

    def settings(cfg):  # what training depends on: a preset that equals the defaults trains the same
        return json.dumps({k: v for k, v in cfg.as_dict().items() if k != "preset"}, sort_keys=True)

    for name in args.models:
        for ds in args.datasets:
            cfg = config(name, ds)
            # a model of this list with the same settings: its folds are this one's (finished
            # earlier or trained now), never trained twice
            twin = next((o for o in args.models if o != name and settings(config(o, ds)) == settings(cfg)), None)
            folds = None
            if twin is not None:
                folds = (results[twin][ds]["folds"] if ds in results.get(twin, {}) else
                         cross_validate(config(twin, ds), tables[ds], out / "runs", tables, False, twin, False))
                if folds is not None:
                    print(f"{name} on dataset {ds}: the same settings as {twin}, its folds", flush=True)
            if folds is None:
                twin = None
                folds = cross_validate(cfg, tables[ds], out / "runs", tables, args.progress, name,
                                       not args.report_only, args.folds)
            if folds is None:
                print(f"{name} on dataset {ds}: not all three folds done, not reported", flush=True)
                continue
            s = summary(name, ds, folds)
            if twin is not None:
                s["same_as"] = twin
            results.setdefault(name, {})[ds] = {"summary": s, "folds": folds, "config": cfg.as_dict()}
            ci = f" [{s['auc_ci'][0]:.3f}, {s['auc_ci'][1]:.3f}]" if "auc_ci" in s else ""
            print(f"{name} on dataset {ds}: AUC {s['auc']:.3f}{ci}, accuracy {s['accuracy']:.3f} "
                  f"({s['n_test']} test samples over 3 folds, {s['minutes']:.1f} min)", flush=True)
    lines = report(results, args.datasets, {**hp, "windows (D-MPNN)": args.windows})
    print("\n" + "\n".join(lines))
    if sorted(args.datasets) == [1, 2, 3, 4, 5, 6]:
        six_datasets(results, campaign, args.spec, "bench/learning.py " + " ".join(sys.argv[1:]),
                     initial_memory(tables, campaign.workdir))
    out.mkdir(parents=True, exist_ok=True)
    (out / "learning.json").write_text(json.dumps(results, indent=1, default=float))
    (out / "learning.txt").write_text("\n".join(lines) + "\n")
    print(f"\nwrote {out / 'learning.json'} and {out / 'learning.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
