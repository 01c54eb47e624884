"""Training and inference cost per sample (SI Fig. 8, SI section VII), for bench/ and analysis/.

:func:`time_steps` times the optimizer step of a model on pre-built batches (graphs made and
moved to the device beforehand, so only the model is measured); :func:`time_loading` times
making the samples themselves (windows, kNN, features) through a DataLoader with W workers.
:func:`synthetic_table` gives paper-sized frames without a campaign: random non-overlapping
configurations of N = 4320 particles (``glasskit.data.artificial.random_configuration``) in the
square L = 60 sigma box of density 1.2.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from glasskit.ml.config import RunConfig
from glasskit.ml.samples import SampleTable


def synthetic_table(n_frames: int = 8, seed: int = 0) -> SampleTable:
    from glasskit.data.artificial import random_configuration
    confs = [random_configuration(seed=seed + i) for i in range(n_frames)]
    n = min(len(c.xs) for c in confs)
    xs = np.stack([c.xs[:n] for c in confs]).astype(np.float32)
    side = float(np.sqrt(4320 / 1.2))
    return SampleTable(0, np.arange(n_frames), np.zeros(n_frames, np.int64), np.arange(n_frames) % 2,
                       np.full(n_frames, 1.0), xs, confs[0].types[:n], np.array([side, side]))


def _batches(cfg: RunConfig, table: SampleTable, batch: int, count: int, device):
    from torch_geometric.data import Batch
    from glasskit.ml.samples import make_set
    idx = np.arange(len(table))
    if cfg.model == "dmpnn":
        ds = make_set(cfg, table, idx, training=True)  # what training loads
        out = []
        for b in range(count):
            ds.set_epoch(b)
            out.append(Batch.from_data_list([ds[(b * batch + i) % len(ds)] for i in range(batch)]).to(device))
        return out
    ims = make_set(cfg, table, idx, training=True)
    items = [ims[i % len(ims)] for i in range(batch)]
    x = torch.stack([it[0] for it in items]).to(device)
    y = torch.stack([it[1] for it in items]).to(device)
    return [(x, y)] * count


def time_steps(cfg: RunConfig, table: SampleTable, batch: int, steps: int = 10, warmup: int = 2,
               device: str = "cpu", amp: bool = False) -> dict:
    """ms per sample of a training step and of inference, plus mean graph size."""
    from glasskit.ml.train import build_model, optimizer
    dev = torch.device(device)
    torch.manual_seed(0)
    model = build_model(cfg).to(dev)
    opt = optimizer(model, cfg)
    data = _batches(cfg, table, batch, warmup + steps, dev)

    def step(b, train: bool):
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            if cfg.model == "dmpnn":
                out = model(b.x, b.edge_index, b.edge_attr, b.rev, b.batch)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(out.float(), b.y)
            else:
                out = model(b[0])
                loss = torch.nn.functional.cross_entropy(out.float(), b[1])
        if train:
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    def timed(train: bool) -> float:
        model.train(train)
        with torch.set_grad_enabled(train):
            for b in data[:warmup]:
                step(b, train)
            _sync(dev)
            t0 = time.perf_counter()
            for b in data[warmup:]:
                step(b, train)
            _sync(dev)
        return 1e3 * (time.perf_counter() - t0) / (steps * batch)

    res = {"train_ms": timed(True), "infer_ms": timed(False), "batch": batch}
    if cfg.model == "dmpnn":
        res["nodes"] = float(np.mean([b.num_nodes / b.num_graphs for b in data]))
        res["edges"] = float(np.mean([b.num_edges / b.num_graphs for b in data]))
    return res


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def time_loading(cfg: RunConfig, table: SampleTable, workers: int, samples: int = 200) -> float:
    """Samples per second a DataLoader with ``workers`` processes makes (graphs or images)."""
    from torch.utils.data import DataLoader
    from glasskit.ml.samples import make_set
    idx = np.resize(np.arange(len(table)), samples)
    ds = make_set(cfg, table, idx, training=True)
    collate = None
    if cfg.model == "dmpnn":
        from torch_geometric.loader.dataloader import Collater
        collate = Collater(ds)
    dl = DataLoader(ds, batch_size=cfg.batch, num_workers=workers, collate_fn=collate,
                    prefetch_factor=4 if workers else None)
    t0 = time.perf_counter()
    n = sum(1 for _ in dl) * cfg.batch
    return min(n, samples) / (time.perf_counter() - t0)
