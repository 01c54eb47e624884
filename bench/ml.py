#!/usr/bin/env python
"""What the classifiers cost: per-sample training and inference, the loader, DDP scaling.

    .venv/bin/python bench/ml.py [--device cpu|cuda] [--threads 1] [--steps 10] [--skip-ddp]

1. Training and inference ms/sample of Models I, II, III (jobs/models.toml presets) at
   l_win 0.1-0.4, batch 5 (the paper's), on paper-sized frames (N = 4320, square L = 60 box;
   glasskit.ml.timing.synthetic_table), --threads CPU threads (1 = the paper comparison), and on
   a GPU the same with the fastest batch of --batches (bf16 autocast with --amp).
2. The loader: window graphs made per second by a DataLoader with 0, 1 and 2 workers at
   l_win 0.4, against what one training process consumes (Model II): loading must not be the
   bottleneck.
3. DDP: samples/s of 2 processes vs 1 (gloo, one thread each, submitit LocalExecutor), Model II
   at l_win 0.3, same global batch (goal >= 1.6x on 2 cores).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def ddp_job(cfg_dict: dict, run_dir: str, n_frames: int) -> float:
    """One process of the DDP measurement: train on synthetic frames; median samples/s."""
    import numpy as np
    import torch
    from glasskit.ml.config import RunConfig
    from glasskit.ml.launch import dist_env
    from glasskit.ml.timing import synthetic_table
    from glasskit.ml.train import train
    torch.set_num_threads(1)
    cfg = RunConfig.from_dict(cfg_dict)
    dist = dist_env(local=True)
    table = synthetic_table(n_frames)
    idx = np.arange(n_frames)
    m = train(Path(run_dir), cfg, table, {"train": idx, "val": idx[:4], "test": idx[:4]}, dist, progress=False)
    if dist.world > 1:
        torch.distributed.destroy_process_group()
    return statistics.median(e["samples_per_s"] for e in m["epochs"][1:])


def main() -> int:
    import torch
    from glasskit.ml.config import load_models, resolve
    from glasskit.ml.timing import synthetic_table, time_loading, time_steps
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--batches", type=int, nargs="+", default=[5])
    ap.add_argument("--amp", action="store_true", help="bf16 autocast (GPU)")
    ap.add_argument("--presets", nargs="+", default=["model-i", "model-ii", "model-iii"])
    ap.add_argument("--l-win", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.4])
    ap.add_argument("--skip-ddp", action="store_true")
    ap.add_argument("--skip-loader", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    models = load_models(ROOT / "jobs/models.toml")
    table = synthetic_table(16)
    print(f"1. ms per sample, device {args.device}, {args.threads} thread(s), N = {table.xs.shape[1]} frames")
    print(f"{'model':>10} {'l_win':>5} {'batch':>5} {'nodes':>6} {'train ms':>9} {'infer ms':>9}")
    for preset in args.presets:
        for l_win in args.l_win:
            for batch in args.batches:
                cfg = resolve(models, "dmpnn", 1, preset, {"l_win": l_win, "batch": batch})
                r = time_steps(cfg, table, batch, args.steps, args.warmup, device=args.device, amp=args.amp)
                print(f"{preset:>10} {l_win:5.2f} {batch:5d} {r['nodes']:6.0f} {r['train_ms']:9.2f} {r['infer_ms']:9.2f}",
                      flush=True)
    cnn = resolve(models, "cnn", 1, None, {"batch": 20})
    r = time_steps(cnn, table, 20, max(3, args.steps // 3), device=args.device, amp=args.amp)
    print(f"{'cnn':>10} {'-':>5} {20:5d} {'-':>6} {r['train_ms']:9.2f} {r['infer_ms']:9.2f}  (250 px images)")
    if not args.skip_loader:
        cfg = resolve(models, "dmpnn", 1, "model-ii", {"l_win": 0.4})
        need = 1e3 / time_steps(cfg, table, 5, args.steps, device=args.device)["train_ms"]
        print(f"\n2. loader at l_win 0.4 (model II consumes {need:.0f} samples/s on {args.device})")
        for w in (0, 1, 2):
            rate = time_loading(cfg, table, w, samples=200)
            print(f"   {w} worker(s): {rate:7.1f} graphs/s = {rate / need:5.2f}x what training needs")
    if not args.skip_ddp:
        import submitit
        cfg = resolve(models, "dmpnn", 1, "model-ii", {"l_win": 0.3, "batch": 8, "epochs": 3, "workers": 0,
                                                       "dropout": 0.0})
        rates = {}
        for tasks in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                ex = submitit.LocalExecutor(folder=tmp)
                ex.update_parameters(tasks_per_node=tasks, timeout_min=30)
                job = ex.submit(ddp_job, cfg.as_dict(), tmp, 64)
                rates[tasks] = job.results()[0]
        print(f"\n3. DDP (gloo, 1 thread per process): 1 process {rates[1]:.1f} samples/s, 2 processes "
              f"{rates[2]:.1f} samples/s -> {rates[2] / rates[1]:.2f}x (goal >= 1.6)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
