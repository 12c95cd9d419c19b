"""``kpanim train sync``: train the lip-sync expert (kpanim.nets.syncnet) on prepared clips.

The expert learns which lip frame goes with which audio frame (contrast of the true alignment with
offsets of up to ±max_offset frames); frozen, it gives ``kpanim train moda --sync-expert OUT/sync.pt`` a
sync loss. Writes ``OUT/sync.pt`` (config, normalisation statistics, train/val accuracy), ``OUT/log.jsonl``
and ``OUT/loss.png``. Runs under torchrun like the other trainers.
"""

from __future__ import annotations

import dataclasses
import os
import sys

import click

from kpanim.nets.syncnet import SyncNetConfig

from .config import AudioWindowConfig, config_options, to_dict
from .loop import start_run


@dataclasses.dataclass(frozen=True)
class SyncTrainConfig(AudioWindowConfig):
    """Train the expert on the front-end of the MODA model it will supervise (checked when MODA loads it)."""

    out: str = "runs/sync"
    """Output folder: log.jsonl, sync.pt, loss.png."""
    steps: int = 1500
    """Optimiser steps."""
    lr: float = 1e-3
    """AdamW learning rate."""
    val_every: int = 500
    """Validate (offset accuracy on the 'val' clips) every this many steps."""
    model: SyncNetConfig = SyncNetConfig()
    """The network (``--model.FIELD``)."""


def accuracy(model, sampler, batches: int = 8) -> dict:
    """Mean InfoNCE loss and offset accuracy (best offset = the true one) over random windows."""
    import torch

    losses, accs = [], []
    with torch.no_grad():
        for _ in range(batches):
            b = {k: torch.from_numpy(v) for k, v in sampler.batch(16).items()}
            loss, acc = model.loss(b["audio"], b["lip"], b["valid"] * (~b["pad"]).float())
            losses.append(loss.item())
            accs.append(acc.item())
    return {"loss": sum(losses) / len(losses), "offset_accuracy": sum(accs) / len(accs),
            "chance": 1 / (2 * model.cfg.max_offset + 1)}


def train(cfg: SyncTrainConfig):
    import torch

    from kpanim.formats.checkpoint import save_checkpoint
    from kpanim.nets.syncnet import SyncNet
    from kpanim.speech.frontends import make_frontend

    from .data import WindowSampler, compute_norm, load_train_val

    run = start_run(cfg)
    frontend = make_frontend(cfg.frontend, cfg.frontend_path or None)
    train_clips, val_clips = load_train_val(cfg, frontend, progress=run.is_main)
    norm = compute_norm(train_clips)
    mcfg = dataclasses.replace(cfg.model, audio_dim=frontend.dim)
    model = SyncNet(mcfg).to(run.device)
    net = torch.nn.parallel.DistributedDataParallel(model) if run.world > 1 else model
    sampler = WindowSampler(train_clips, norm, cfg.window, True, cfg.mirror_p, seed=cfg.seed + run.rank)
    val_sampler = WindowSampler(val_clips, norm, cfg.window, True, 0.0, seed=123) if val_clips else None
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    run.log.write({"event": "start", "config": to_dict(cfg), "n_train_clips": len(train_clips),
                   "params": sum(p.numel() for p in model.parameters()), "argv": sys.argv})
    from tqdm import tqdm

    val = None
    for step in tqdm(range(cfg.steps), desc="train sync", disable=not run.is_main, mininterval=5):
        b = {k: torch.from_numpy(v).to(run.device) for k, v in sampler.batch(cfg.batch_size).items()}
        mask = b["valid"] * (~b["pad"]).float()
        loss, acc = net(b["audio"], b["lip"], mask)  # through DDP's forward: gradients are all-reduced
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if run.wants_log(step):
            run.log.write({"step": step, "loss": loss.item(), "offset_accuracy": acc.item(),
                           "lr": sched.get_last_lr()[0]})
        if val_sampler is not None and run.wants_val(step, True):
            model.eval()
            val = accuracy(model, val_sampler)
            model.train()
            run.log.write({"step": step, "val": val})
    path = run.out / "sync.pt"
    if run.is_main:
        model.eval()
        info = {"frontend": {"name": frontend.name, "path": cfg.frontend_path or None}, "train_config": to_dict(cfg),
                "train_clips": [c.clip_id for c in train_clips], "val_clips": [c.clip_id for c in val_clips],
                "train_metrics": accuracy(model, sampler), "val_metrics": val, **run.seconds(),
                "command": " ".join(sys.argv)}
        sha = save_checkpoint(path, "sync", mcfg, model, norm, info)
        run.log.write({"event": "done", "checkpoint": str(path), "sha256": sha, "val_metrics": val,
                       "train_metrics": info["train_metrics"]})
    run.finish()
    return path


@click.command("sync")
@config_options(SyncTrainConfig)
def command(config: SyncTrainConfig) -> None:
    """Train the lip-sync expert that gives MODA a sync loss (--data DIR)."""
    path = train(config)
    if int(os.environ.get("RANK", 0)) == 0:
        click.echo(f"Wrote {path}")
