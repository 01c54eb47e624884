#!/usr/bin/env python
"""CNN feature maps of one liquid and one glass configuration (paper Fig 3).

    python analysis/feature_maps.py runs/demo/models/<cnn run> [--out DIR] [--maps 6]

For the first liquid and the first glass sample of the run's test split: the input image (the
paper's recipe) and the ReLU activations of the first convolution (all of its maps, up to
--maps) and of the second (the --maps most active). Writes <out>/feature_maps.png/.pdf and
feature_maps.csv (per map: mean and max activation for both configurations).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from glasskit.util.errors import GlasskitError, script
from glasskit.util.tables import write_table
from glasskit.util.plotting import figure, save


def main(argv=None) -> int:
    from glasskit.ml.inference import load_run, samples_of, test_examples
    from glasskit.ml.samples import pixel_scale
    from glasskit.ml.samples import ImageSet
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--out", type=Path, help="default <run>/figures")
    ap.add_argument("--maps", type=int, default=6)
    args = ap.parse_args(argv)
    run = load_run(args.run)
    if run.cfg.model != "cnn":
        raise GlasskitError(f"{args.run.name} is a {run.cfg.model} run", "pass a CNN run (glasskit submit train --model cnn)")
    table = samples_of(run)
    picks = test_examples(run, ("liquid", "glass"))
    images = ImageSet(table, list(picks.values()), run.cfg.net.image_px, pixel_scale(run.cfg.net))
    x = torch.stack([images[i][0] for i in range(2)])
    with torch.no_grad():
        logits, (m1, m2) = run.model(x, return_maps=True)
    p = torch.softmax(logits, 1)[:, 0].numpy()
    k = min(args.maps, m1.shape[1])
    top2 = torch.argsort(m2.mean(dim=(0, 2, 3)), descending=True)[:k].tolist()
    fig, axes = figure(1 + 2 * k, 2, width=1.6, height=1.7)
    rows = []
    for r, name in enumerate(picks):
        ax = axes[r]
        ax[0].imshow(x[r].permute(1, 2, 0).numpy())
        ax[0].set_title(f"{name}, P(liquid) {p[r]:.2f}", fontsize=8)
        for c in range(k):
            ax[1 + c].imshow(m1[r, c].numpy(), cmap="viridis")
            ax[1 + c].set_title(f"conv1 #{c}", fontsize=8)
            ax[1 + k + c].imshow(m2[r, top2[c]].numpy(), cmap="magma")
            ax[1 + k + c].set_title(f"conv2 #{top2[c]}", fontsize=8)
        for a in ax:
            a.set_axis_off()
    for layer, maps, ids in (("conv1", m1, range(k)), ("conv2", m2, top2)):
        for c in ids:
            rows += [{"layer": layer, "map": int(c), "configuration": name, "mean_activation": float(maps[r, c].mean()),
                      "max_activation": float(maps[r, c].max())} for r, name in enumerate(picks)]
    out = args.out or args.run / "figures"
    from glasskit.ml.inference import stamp
    stamp(fig, run)  # which model drew this, and whether it is a result
    paths = save(fig, out / "feature_maps")
    write_table(out / "feature_maps.csv", rows)
    print(f"wrote {paths[0]}, {paths[1]} and {out / 'feature_maps.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(script(main))
