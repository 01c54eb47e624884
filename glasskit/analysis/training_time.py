#!/usr/bin/env python
"""D-MPNN training time against system size for the reference Models I-III (paper Fig 8).

    python analysis/training_time.py [--campaign runs/demo/campaign.h5 --spec jobs/demo.toml]
                                     [--l-win 0.1 0.2 0.3 0.4] [--steps 10] [--device cpu]

Times optimizer steps (batch 5, the paper's) of each preset of jobs/models.toml at each window
side l_win, on graphs made from dataset 1 of a campaign, or without --campaign on paper-sized
N = 4320 configurations (glasskit.ml.timing.synthetic_table). Plots ms per training sample
against the mean number of particles per window, beside the paper's V100 range (28-260 ms).
Writes <out>.png/.pdf and <out>.csv (model, l_win, nodes, edges, train_ms, infer_ms, 10-epoch
minutes for 16,000 samples).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from glasskit.util.errors import GlasskitError, script
from glasskit.util.tables import write_table
from glasskit.util.plotting import figure, save

PRESETS = ("model-i", "model-ii", "model-iii")


def main(argv=None) -> int:
    import torch
    from glasskit.ml.config import load_models, resolve
    from glasskit.ml.samples import load_samples
    from glasskit.ml.timing import synthetic_table, time_steps
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--campaign", type=Path)
    ap.add_argument("--spec", type=Path)
    ap.add_argument("--l-win", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.4])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (the paper-comparison figure: 1 core)")
    ap.add_argument("--models", default="jobs/models.toml")
    ap.add_argument("--out", type=Path, default=Path("figures/training_time"))
    args = ap.parse_args(argv)
    if not 1 <= args.steps <= 10_000 or not 1 <= args.batch <= 4096 or any(not 0 < w <= 1 for w in args.l_win):
        raise GlasskitError("--steps must be in 1..10000, --batch in 1..4096 and every --l-win in (0, 1]")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise GlasskitError(f"--device {args.device}: no CUDA device here", "use --device cpu")
    torch.set_num_threads(args.threads)
    if args.campaign:
        if not args.spec:
            raise GlasskitError("--campaign needs --spec (the campaign's spec file)")
        table = load_samples(args.campaign, args.spec, 1)
    else:
        table = synthetic_table()
    models = load_models(args.models)
    rows = []
    for preset in PRESETS:
        for l_win in args.l_win:
            cfg = resolve(models, "dmpnn", 1, preset, {"l_win": l_win, "batch": args.batch})
            r = time_steps(cfg, table, args.batch, args.steps, device=args.device)
            rows.append({"model": preset, "l_win": l_win, **r,
                         "minutes_10_epochs": r["train_ms"] * 16_000 * 10 / 6e4})
            print(f"{preset} l_win {l_win}: {r['nodes']:.0f} particles, train {r['train_ms']:.2f} ms/sample, "
                  f"inference {r['infer_ms']:.2f} ms/sample", flush=True)
    fig, axes = figure(1, 1, width=4.2, height=3.2)
    ax = axes[0][0]
    for preset, marker in zip(PRESETS, "osD"):
        sel = [r for r in rows if r["model"] == preset]
        ax.plot([r["nodes"] for r in sel], [r["train_ms"] for r in sel], marker=marker,
                label=preset.replace("model-", "Model ").upper().replace("MODEL", "Model"))
    ax.axhspan(28, 260, color="0.9", zorder=0, label="paper, V100 (28-260 ms)")
    ax.set_xlabel("particles per window")
    ax.set_ylabel(f"training time (ms/sample, {args.device})")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    paths = save(fig, args.out)
    keys = ["model", "l_win", "nodes", "edges", "batch", "train_ms", "infer_ms", "minutes_10_epochs"]
    write_table(f"{args.out}.csv", rows, columns=keys, units={"minutes_10_epochs": "min", "l_win": "box side"})
    print(f"wrote {paths[0]}, {paths[1]} and {args.out}.csv")
    return 0


if __name__ == "__main__":
    sys.exit(script(main))
