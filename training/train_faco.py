"""``kpanim train faco``: train FaCo-Net (subject + lip + eye → dense mesh) on prepared clips.

Per-frame training with an L1 reconstruction loss and an LSGAN discriminator (MODA §3.3); mirrored
frames double the data. Same torchrun/DDP, JSONL log and --plot conventions as ``kpanim train moda``.
Writes ``OUT/faco.pt``. With the default folders (``runs/faco`` here, ``runs/moda`` for MODA) ``kpanim predict
--model runs/moda/moda.pt`` finds it; else put it next to a ``moda.pt`` or pass ``--faco``.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click
import numpy as np

from kpanim.nets.faconet import FaconetConfig

from .config import RunConfig, config_options, to_dict
from .loop import start_run


@dataclasses.dataclass(frozen=True)
class FacoTrainConfig(RunConfig):
    out: str = "runs/faco"
    """Output folder: log.jsonl, faco.pt, loss.png."""
    steps: int = 2000
    """Optimiser steps."""
    batch_size: int = 256
    """Frames per step (per rank under torchrun)."""
    lr: float = 1e-3
    """AdamW learning rate of FaCo-Net and of its discriminator."""
    adv_weight: float = 0.02
    """Weight of the LSGAN generator loss relative to L1 (0 disables the discriminator)."""
    adv_start: int = 200
    """Steps of pure L1 before the adversarial loss starts."""
    mirror_p: float = 0.5
    """Probability of mirroring a frame (x-flip + left/right point swap)."""
    val_every: int = 500
    """Validate (dense L1 on the 'val' clips) every this many steps."""
    half: bool = False
    """Store the final weights in fp16."""
    model: FaconetConfig = FaconetConfig()
    """The network (``--model.FIELD``)."""


class FrameSampler:
    """Random (subject, lip, eye, dense) frames, speaker-balanced, optionally mirrored, normalised."""

    def __init__(self, clips, norm, mirror_p: float, seed: int):
        from .data import WindowSampler

        self.clips, self.norm, self.mirror_p = clips, norm, mirror_p
        self.p = WindowSampler(clips, norm, 1, True, 0.0, seed).p
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> dict[str, np.ndarray]:
        from kpanim.nets.normalise import normalise, normalise_subject

        from .data import mirror_clip_arrays

        rows = {k: [] for k in ("subject", "lip", "eye", "dense")}
        for i in self.rng.choice(len(self.clips), size=size, p=self.p):
            c = self.clips[i]
            good = np.flatnonzero(c.valid) if c.valid.any() else np.arange(c.n_frames)
            t = int(self.rng.choice(good))
            lip, eye, dense, neutral = c.lip[t:t + 1], c.eye[t:t + 1], c.dense[t:t + 1], c.neutral
            if self.rng.random() < self.mirror_p:
                lip, eye, dense, neutral, _, _ = mirror_clip_arrays(lip, eye, dense, neutral, np.zeros((1, 6)),
                                                                   np.zeros((1, 18, 3)))
            rows["subject"].append(normalise_subject(neutral, self.norm))
            for k, v in (("lip", lip), ("eye", eye), ("dense", dense)):
                rows[k].append(normalise(k, v, self.norm)[0])
        return {k: np.stack(v).astype(np.float32) for k, v in rows.items()}


def evaluate(model, clips, norm, max_frames: int = 4000) -> dict:
    """Mean per-point error of the composed dense mesh in mm (all points, and non-lip/eye points)."""
    import torch

    from kpanim.face import constants
    from kpanim.nets.normalise import denormalise, normalise, normalise_subject

    other = np.setdiff1d(np.arange(478), np.r_[constants.lip_index(), constants.eye_index()])
    errs, errs_other = [], []
    model.eval()
    with torch.no_grad():
        for c in clips:
            T = min(c.n_frames, max_frames // max(1, len(clips)) + 1)
            pred = model(torch.from_numpy(normalise_subject(c.neutral, norm)),
                         torch.from_numpy(normalise("lip", c.lip[:T], norm)),
                         torch.from_numpy(normalise("eye", c.eye[:T], norm))).numpy()
            d = np.linalg.norm(denormalise("dense", pred, norm).reshape(T, 478, 3) - c.dense[:T], axis=-1) * 1000
            errs.append(d[c.valid[:T]].mean())
            errs_other.append(d[c.valid[:T]][:, other].mean())
    model.train()
    return {"dense_err_mm": float(np.mean(errs)), "other_err_mm": float(np.mean(errs_other))}


def train(cfg: FacoTrainConfig) -> Path:
    import torch

    from kpanim.errors import KpanimError
    from kpanim.formats.checkpoint import save_checkpoint
    from kpanim.nets.faconet import Faconet, FaconetDiscriminator, critic_loss, generator_loss

    from .data import compute_norm, load_clips

    run = start_run(cfg)
    rank, world, device, out, log = run.rank, run.world, run.device, run.out, run.log
    train_clips = load_clips(cfg.data, "train", progress=rank == 0)
    val_clips = load_clips(cfg.data, "val", progress=rank == 0)
    if not train_clips:
        raise KpanimError("no training clips: check the dataset's index.json and its 'split' column")
    norm = compute_norm(train_clips)
    model, disc = Faconet(cfg.model).to(device), FaconetDiscriminator(cfg.model).to(device)
    gen_net, disc_net = model, disc
    if world > 1:
        ddp = torch.nn.parallel.DistributedDataParallel
        gen_net, disc_net = ddp(model), ddp(disc)
    opt_g = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt_g, cfg.steps)
    sampler = FrameSampler(train_clips, norm, cfg.mirror_p, cfg.seed + rank)
    log.write({"event": "start", "config": to_dict(cfg), "world_size": world, "n_train_clips": len(train_clips),
               "params": sum(p.numel() for p in model.parameters()), "argv": sys.argv})
    from tqdm import tqdm

    metrics = None
    for step in tqdm(range(cfg.steps), desc="train faco", disable=rank != 0, mininterval=5):
        b = {k: torch.from_numpy(v).to(device) for k, v in sampler.batch(cfg.batch_size).items()}
        fake = gen_net(b["subject"], b["lip"], b["eye"])
        l1 = (fake - b["dense"]).abs().mean()
        loss_g, loss_d = l1, torch.zeros(())
        if cfg.adv_weight > 0 and step >= cfg.adv_start:
            loss_d = critic_loss(disc_net, b["dense"], fake, b["lip"], b["eye"])
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            disc.requires_grad_(False)  # the generator step must not update the critic
            loss_g = l1 + cfg.adv_weight * generator_loss(disc_net, fake, b["lip"], b["eye"])
            disc.requires_grad_(True)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        sched.step()
        if run.wants_log(step):
            log.write({"step": step, "loss": loss_g.item(), "l1": l1.item(), "loss_d": loss_d.item(),
                       "seconds": run.seconds()["wall_seconds"]})
        if run.wants_val(step, bool(val_clips)):
            metrics = evaluate(model, val_clips, norm)
            log.write({"step": step, "val": metrics})
    if rank == 0:
        info = {"train_config": to_dict(cfg), "train_clips": [c.clip_id for c in train_clips],
                "val_clips": [c.clip_id for c in val_clips], "val_metrics": metrics, **run.seconds(),
                "command": " ".join(sys.argv)}
        sha = save_checkpoint(out / "faco.pt", "faco", cfg.model, model, norm, info, half=cfg.half)
        log.write({"event": "done", "checkpoint": str(out / "faco.pt"), "sha256": sha})
    run.finish()
    return out / "faco.pt"


@click.command("faco")
@config_options(FacoTrainConfig)
def command(config: FacoTrainConfig) -> None:
    """Train FaCo-Net on prepared clips (--data DIR). Launch with torchrun for multi-GPU / multi-node."""
    path = train(config)
    click.echo(f"Wrote {path}")
