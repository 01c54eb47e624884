#!/usr/bin/env python
"""The attention study behind the D-MPNN's default ``attention_norm`` (jobs/models.toml).

    .venv/bin/python bench/attention.py [--spec jobs/learning.toml] [--dataset 1] [--steps 300]

On paper-sized windows (frames of a collected N = 4,320 campaign, l_win and k of the shipped
[dmpnn] defaults), for each attention mode: the gradient norm into W_h at initialisation (mean
over batches of 5 graphs) and the test AUC after 0, 25, 50, ... Adam steps (batch 5, lr 1e-3,
dropout of the defaults), every mode on the same windows, the same initial weights and the same
batches. Training frames and test frames come from disjoint simulations (half each); every
frame gives ``--windows`` random windows. Prints one table; ``--csv`` writes it.

Modes: graph/sum (per-graph softmax, weights sum to 1), batch/sum (the authors' code),
graph/mean (per-graph softmax x edges of the graph: weights average 1; the default) and none.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODES = {"graph/sum": ("graph", "sum"), "batch/sum": ("batch", "sum"),
         "graph/mean": ("graph", "mean"), "none": ("none", "mean")}


def windows(table, idx, net, per_frame: int, seed: int):
    """``per_frame`` window graphs of each frame of ``table[idx]`` (a list of WindowGraph)."""
    from glasskit.ml.nets.featurize import draw_origin, featurize, to_data
    out = []
    for j in idx:
        for w in range(per_frame):
            origin = draw_origin(np.random.default_rng([seed, int(j), w]), net.l_win, net.window)
            out.append(to_data(featurize(table.xs[j], table.types, table.box, net.l_win, net.k, origin,
                                         net.features, net.distance), y=table.label[j]))
    return out


def run_mode(mode, net, train_graphs, test_batch, steps: int, every: int, seed: int):
    """(grad norm of W_h at init, [(step, test AUC)]) of one attention mode."""
    import torch
    from torch_geometric.data import Batch
    from glasskit.ml.nets.dmpnn import DMPNN
    from glasskit.ml.nets.featurize import NODE_DIM
    from glasskit.ml.train import roc_auc
    attention, norm = MODES[mode]
    torch.manual_seed(seed)
    model = DMPNN.from_config(replace(net, attention=attention, attention_norm=norm), NODE_DIM[net.features])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = np.random.default_rng(seed).permutation(len(train_graphs))
    batches = [Batch.from_data_list([train_graphs[i] for i in order[s:s + net.batch]])
               for s in range(0, len(order) - net.batch + 1, net.batch)]

    def loss_of(b):
        logit = model(b.x, b.edge_index, b.edge_attr, b.rev, b.batch)
        return torch.nn.functional.binary_cross_entropy_with_logits(logit, b.y)

    def test_auc():
        model.eval()
        with torch.no_grad():
            p = torch.sigmoid(model(test_batch.x, test_batch.edge_index, test_batch.edge_attr, test_batch.rev,
                                    test_batch.batch)).numpy()
        model.train()
        return roc_auc(test_batch.y.numpy(), p)

    norms = []
    for b in batches[:8]:  # gradient into W_h at initialisation, before any step
        model.zero_grad()
        loss_of(b).backward()
        norms.append(float(model.W_h.weight.grad.norm()))
    curve = [(0, test_auc())]
    torch.manual_seed(seed + 1)
    for step in range(1, steps + 1):
        b = batches[(step - 1) % len(batches)]
        opt.zero_grad()
        loss_of(b).backward()
        opt.step()
        if step % every == 0:
            curve.append((step, test_auc()))
    return float(np.mean(norms)), curve


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", default=str(ROOT / "jobs/learning.toml"))
    ap.add_argument("--dataset", type=int, default=1)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--every", type=int, default=25)
    ap.add_argument("--windows", type=int, default=20, help="windows per training frame")
    ap.add_argument("--test-windows", type=int, default=4, help="windows per test frame")
    ap.add_argument("--seeds", type=int, default=2, help="repeats with other weights and batches")
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    ap.add_argument("--hp", action="append", default=[], help="a [dmpnn] setting, e.g. --hp dropout=0.1")
    ap.add_argument("--csv", type=Path)
    args = ap.parse_args()
    import torch
    from torch_geometric.data import Batch
    from glasskit.campaign.layout import Campaign
    from glasskit.ml.config import load_models, parse_overrides, resolve
    from glasskit.ml.samples import load_samples
    from glasskit.campaign.spec import load_spec
    torch.set_num_threads(max(1, torch.get_num_threads()))
    campaign = Campaign.of(load_spec(args.spec))
    table = load_samples(campaign.workdir / "campaign.h5", args.spec, args.dataset, ROOT / "jobs/datasets.toml")
    net = resolve(load_models(ROOT / "jobs/models.toml"), "dmpnn", args.dataset, None, parse_overrides(args.hp)).net
    sims = np.unique(table.sim)
    rng = np.random.default_rng(0)
    train_sims = rng.permutation(sims)[: len(sims) // 2]
    tr = np.nonzero(np.isin(table.sim, train_sims))[0]
    te = np.nonzero(~np.isin(table.sim, train_sims))[0]
    t0 = time.perf_counter()
    train_graphs = windows(table, tr, net, args.windows, 1)
    test_batch = Batch.from_data_list(windows(table, te, net, args.test_windows, 2))
    edges = test_batch.edge_index.size(1) / test_batch.num_graphs
    print(f"dataset {args.dataset} of {args.spec}: N = {table.xs.shape[1]}, {len(tr)} training frames x "
          f"{args.windows} windows, {len(te)} test frames x {args.test_windows} windows "
          f"({test_batch.num_graphs} test graphs); l_win {net.l_win}, k {net.k}, hidden {net.hidden}, "
          f"depth {net.depth}, dropout {net.dropout}, batch {net.batch}; {test_batch.num_nodes / test_batch.num_graphs:.0f} "
          f"nodes and {edges:.0f} directed edges per window; windows made in {time.perf_counter() - t0:.0f} s")
    rows = []
    for mode in args.modes:
        for seed in range(args.seeds):
            t1 = time.perf_counter()
            g, curve = run_mode(mode, net, train_graphs, test_batch, args.steps, args.every, seed)
            rows.append((mode, seed, g, curve))
            print(f"{mode:>10} seed {seed}: |grad W_h| at init {g:.3g}; test AUC by step "
                  + " ".join(f"{s}:{a:.2f}" for s, a in curve) + f" ({time.perf_counter() - t1:.0f} s)", flush=True)
    print("\nmode        |grad W_h| at init   test AUC at steps " + " ".join(f"{s:>5}" for s, _ in rows[0][3]))
    for mode in args.modes:
        mine = [r for r in rows if r[0] == mode]
        aucs = np.array([[a for _, a in r[3]] for r in mine])
        print(f"{mode:<11} {np.mean([r[2] for r in mine]):>18.3g}   mean of {len(mine)} seeds       "
              + " ".join(f"{a:5.2f}" for a in aucs.mean(0)))
    if args.csv:
        with open(args.csv, "w") as fh:
            fh.write("mode,seed,grad_W_h,step,test_auc\n")
            for mode, seed, g, curve in rows:
                fh.writelines(f"{mode},{seed},{g:.6g},{s},{a:.6g}\n" for s, a in curve)
    return 0


if __name__ == "__main__":
    sys.exit(main())
