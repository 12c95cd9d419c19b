"""``kpanim train moda``: train MODA (audio → lip/eye/head/torso) on prepared clips.

Single process on the CPU, or DistributedDataParallel when launched by ``torchrun`` (gloo on CPU,
NCCL on GPUs): ``torchrun --nproc-per-node 8 -m kpanim train moda --data DIR ...`` runs the same
training on a GPU node (each rank draws its own windows; the batch size is per rank).
Writes ``OUT/log.jsonl`` (one JSON object per logged step / validation), ``OUT/moda.pt`` (config,
version, normalisation statistics, data list, validation metrics) and, with ``--plot``, ``OUT/loss.png``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from pathlib import Path

import click
import numpy as np

from kpanim.nets.moda import ModaConfig

from .config import AudioWindowConfig, config_options, to_dict
from .loop import start_run


@dataclasses.dataclass(frozen=True)
class ModaTrainConfig(AudioWindowConfig):
    out: str = "runs/moda"
    """Output folder: log.jsonl, moda.pt, loss.png."""
    steps: int = 800
    """Optimiser steps (on ~12 min of clips, longer training overfit: see docs/MODEL.md)."""
    lr: float = 1e-3
    """Peak AdamW learning rate (linear warm-up, cosine decay)."""
    warmup: int = 200
    """Linear learning-rate warm-up steps."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    kl_weight: float = 1e-3
    """Weight of ProbAttn's KL term (ramped up over the first third of training)."""
    vel_weight: float = 0.5
    """Weight of the velocity (frame-difference) loss, relative to the position loss."""
    lip_weight: float = 3.0
    """Loss weight of the lip stream (the one that must be in sync)."""
    eye_weight: float = 1.0
    """Loss weight of the eye stream."""
    head_weight: float = 0.5
    """Loss weight of the head-pose stream."""
    torso_weight: float = 0.25
    """Loss weight of the torso stream."""
    open_weight: float = 1.0
    """Weight of the mouth-opening sync loss: 1 - Pearson r between the predicted and real inner-lip
    gap per window (scale-free, so it rewards sync without rewarding the mean pose; with scale-free lip
    targets it raised the val mouth corr 0.580 → 0.607, docs/MODEL.md)."""
    sync_expert: str = ""
    """A lip-sync expert (kpanim train sync → sync.pt, same front-end) whose contrastive sync loss on the
    predicted lips is added with --sync-weight; empty = none."""
    sync_weight: float = 0.0
    """Weight of the sync expert's loss on the predicted lips (needs --sync-expert)."""
    speaker_balanced: bool = True
    """Sample speakers uniformly instead of frames (one long speaker cannot swamp the rest)."""
    speed_factors: tuple[float, ...] = (0.9, 1.1)
    """Kaldi-style speed perturbation: for each factor f add a copy of every training clip whose audio is
    resampled so tempo and pitch scale by f and whose targets are time-resampled by f (in sync); copies
    share their speaker. Features are cached under features/<frontend>_sp<f>/. '--speed-factors 1' = off."""
    mix_data: tuple[str, ...] = ()
    """Extra prepared dataset folder(s) that only train (all their splits, clean audio only), e.g. a large
    single-speaker corpus; clips duplicating one of --data (same id, or an id ending in _<id>) are skipped."""
    mix_fraction: float = 0.0
    """Fraction of training windows drawn from --mix-data (0 = pool its clips with --data's: under
    speaker balancing each of its speakers counts as one more speaker)."""
    feature_mask: float = 0.0
    """SpecAugment-style masking of the audio features per window: zero this fraction of the feature
    channels and about this fraction of the frames (1-5-frame spans); 0 = off."""
    lip_target: str = "clip_z"
    """Lip training target: "clip_z" = scale-free (each clip's lips over its own mouth-opening spread;
    the amplitude comes back at inference from the subject's mouth width and a calibrated gain), "raw" =
    metres (speakers' different amplitudes then teach the network their mean)."""
    probe_blend: float = 0.5
    """Fit a ridge read-out of the lips from the front-end's features on the training clips (the linear
    probe, kpanim.training.linear_probe) after training, store it in the checkpoint and mix it into the
    lips with this weight: (1 - w) · network + w · read-out (0 = none). The two err differently: on unseen
    speakers the mix beats both (docs/MODEL.md)."""
    calibrate_gain: bool = True
    """After training, scale lip opening and head motion so their spread on training clips matches the real one."""
    target_articulation: float = 1.0
    """Lip-gain calibration aims at this median ratio of predicted to real mouth-opening spread on the
    training clips (scale-free models)."""
    viseme_prior: bool = False
    """After training, fit viseme keyframes (mean lip shape per Rhubarb mouth-shape class) on the training
    clips and store them in the checkpoint, so predict can blend them in (--viseme-blend); needs pocketsphinx."""
    viseme_blend: float = 0.0
    """Default viseme blend weight stored with the keyframes (predict --viseme-blend overrides it)."""
    val_every: int = 400
    """Validate on the 'val' clips every this many steps."""
    half: bool = False
    """Store the final weights in fp16 (shipping size)."""
    model: ModaConfig = ModaConfig(d_model=64, align_radius=4, lip_from_spec=True)
    """The network (``--model.FIELD``); these defaults are the shipped model's (d_model 64, SpecAttn
    alignment window ±4 frames, lips from SpecAttn alone). ``audio_dim`` and ``audio_layers`` follow
    the front-end."""


def stream_losses(pred: dict, batch: dict, cfg: ModaTrainConfig, lip_std=None):
    """L1 position + velocity loss per stream over valid, unpadded frames (normalised units)."""
    mask = batch["valid"] * (~batch["pad"]).float()  # (B, T)
    vmask = mask[:, 1:] * mask[:, :-1]
    weights = {"lip": cfg.lip_weight, "eye": cfg.eye_weight, "head": cfg.head_weight, "torso": cfg.torso_weight}
    losses, total = {}, 0.0
    for name, w in weights.items():
        err = (pred[name] - batch[name]).abs().mean(-1)
        pos = (err * mask).sum() / mask.sum().clamp(min=1)
        dp = pred[name][:, 1:] - pred[name][:, :-1]
        dt = batch[name][:, 1:] - batch[name][:, :-1]
        vel = ((dp - dt).abs().mean(-1) * vmask).sum() / vmask.sum().clamp(min=1)
        losses[name] = pos.item()
        losses[f"{name}_vel"] = vel.item()
        total = total + w * (pos + cfg.vel_weight * vel)
    if cfg.open_weight > 0:
        r = opening_correlation(pred["lip"], batch["lip"], mask, lip_std)
        losses["open_r"] = r.item()
        total = total + cfg.open_weight * (1 - r)
    return total, losses


class SyncLoss:
    """The frozen lip-sync expert's contrastive loss on MODA's (normalised) lip predictions, converted
    into the expert's own normalisation."""

    def __init__(self, cfg: ModaTrainConfig, norm: dict, frontend_name: str, device):
        import torch

        from kpanim.errors import KpanimError
        from kpanim.formats.checkpoint import load_network
        from kpanim.nets.syncnet import SyncNet, SyncNetConfig

        if not cfg.sync_expert:
            raise KpanimError("--sync-weight needs --sync-expert sync.pt (made by 'kpanim train sync')")
        expert, _, snorm, info = load_network(cfg.sync_expert, "sync", SyncNetConfig, SyncNet)
        trained_on = info.get("frontend", {}).get("name")
        if trained_on != frontend_name:
            raise KpanimError(f"{cfg.sync_expert}: the sync expert was trained on front-end {trained_on!r}, "
                              f"this model uses {frontend_name!r}; train one with --frontend {frontend_name}")
        self.expert = expert.to(device).requires_grad_(False)
        self.scale = torch.from_numpy(norm["lip_std"] / snorm["lip_std"]).to(device)
        self.shift = torch.from_numpy((norm["lip_mean"] - snorm["lip_mean"]) / snorm["lip_std"]).to(device)

    def __call__(self, audio, lip, mask):
        loss, _ = self.expert.loss(audio, lip * self.scale + self.shift, mask)
        return loss


def opening_correlation(pred_lip, real_lip, mask, lip_std):
    """Mean over windows of Pearson r between predicted and real inner-lip gaps (points 13/14), from
    normalised (B, T, 120) lip streams; ``lip_std`` (120,) undoes the per-dimension scaling."""
    from kpanim.nets.normalise import opening_gap

    def gap(x):
        return opening_gap((x * lip_std).reshape(*x.shape[:2], 40, 3))  # the mean cancels in a correlation

    gp, gr = gap(pred_lip), gap(real_lip)
    n = mask.sum(1).clamp(min=2)
    mp = (gp * mask).sum(1, keepdim=True) / n[:, None]
    mr = (gr * mask).sum(1, keepdim=True) / n[:, None]
    dp, dr = (gp - mp) * mask, (gr - mr) * mask
    r = (dp * dr).sum(1) / ((dp.pow(2).sum(1) * dr.pow(2).sum(1)).sqrt() + 1e-9)
    return r.mean()


def evaluate(model, clips, norm, max_clips: int = 64) -> dict:
    """The quick periodic look (the run's final numbers are kpanim eval's: training/validation.py). Lip
    metrics on whole clips (sliding windows, prior sampled at temperature 1): mouth-opening
    (:func:`~kpanim.nets.normalise.opening_gap`, as in the loss and the gain calibration) Pearson r, articulation (std ratio), lip motion L1 in mm; lip L1 in mm and normalised L1 of the
    other streams."""
    from kpanim.animate.predict import moda_windows
    from kpanim.nets.linear_readout import blend_readout
    from kpanim.nets.normalise import lips_from_network, normalise, normalise_subject, opening_gap
    from kpanim.nets.stats import MotionStats

    stats = MotionStats.from_norm(norm)
    rs, arts, lmds, l1 = [], [], [], {k: [] for k in ("lip", "eye", "head", "torso")}
    was_training = model.training
    model.eval()
    for clip in clips[:max_clips]:
        out = moda_windows(model, clip.audio[0], normalise_subject(clip.neutral, norm), seed=0)
        for k in ("eye", "head", "torso"):
            l1[k].append(float(np.abs(out[k] - normalise(k, getattr(clip, k), norm))[clip.valid].mean()))
        lip = lips_from_network(blend_readout(out["lip"], clip.audio[0], stats), clip.neutral, stats)
        l1["lip"].append(float(np.abs(lip - clip.lip)[clip.valid].mean() * 1000))
        real = clip.lip
        o_p, o_r = opening_gap(lip), opening_gap(real)  # the opening the loss and the calibration use
        v = clip.valid
        if v.sum() > 10 and o_r[v].std() > 1e-6:
            rs.append(float(np.corrcoef(o_p[v], o_r[v])[0, 1]) if o_p[v].std() > 1e-9 else 0.0)
            arts.append(float(o_p[v].std() / o_r[v].std()))
        lmds.append(float(np.linalg.norm((lip - lip.mean(0)) - (real - real.mean(0)), axis=-1)[v].mean() * 1000))
    model.train(was_training)
    res = {"mouth_r": float(np.mean(rs)) if rs else float("nan"),
           "articulation": float(np.mean(arts)) if arts else float("nan"), "lip_lmd_motion_mm": float(np.mean(lmds))}
    res.update({f"l1_{k}": float(np.mean(v)) for k, v in l1.items()})
    return res


def calibrate_lip_gain(model, clips, norm, target: float = 1.0, max_clips: int = 40) -> float:
    """``target`` × the median ratio of the real to the predicted mouth-opening spread (inner-lip gap,
    points 13/14) on (training) clips: undoes the regression to the mean of L1-trained models on the
    quantity the articulation metric measures (the whole-lip spread over-corrects: the corners and
    protrusion are predicted far less well than the opening). Clamped to [1, 2] for raw-target models,
    [0.5, 4] for scale-free ones (whose amplitude also carries the mouth-width estimate)."""
    from kpanim.animate.predict import moda_windows
    from kpanim.nets.linear_readout import blend_readout
    from kpanim.nets.normalise import lips_from_network, normalise_subject, opening_gap
    from kpanim.nets.stats import MotionStats

    norm = {k: v for k, v in norm.items() if k != "lip_gain"}
    stats = MotionStats.from_norm(norm)
    model.eval()
    p, r = [], []
    for clip in clips[:max_clips]:
        out = moda_windows(model, clip.audio[0], normalise_subject(clip.neutral, norm), seed=0)
        lip = lips_from_network(blend_readout(out["lip"], clip.audio[0], stats), clip.neutral, stats)[clip.valid]
        real = clip.lip[clip.valid]
        p.append(np.std(opening_gap(lip)))
        r.append(np.std(opening_gap(real)))
    gain = target * float(np.median(np.array(r) / np.maximum(np.array(p), 1e-9)))
    return float(np.clip(gain, 0.5, 4.0) if stats.scale_free else np.clip(gain, 1.0, 2.0))


def calibrate_head_gain(model, clips, norm, max_clips: int = 40) -> np.ndarray:
    """(2,) gains for head rotation and translation: median over (training) clips of the real to the
    predicted motion spread with prior samples at temperature 1, clamped to [1, 3]. The head moves
    freely of the speech, so the decoder's mean is nearly still; this restores natural amplitude."""
    from kpanim.animate.predict import moda_windows
    from kpanim.nets.normalise import denormalise, normalise_subject

    model.eval()
    ratios = []
    for k, clip in enumerate(clips[:max_clips]):
        out = moda_windows(model, clip.audio[0], normalise_subject(clip.neutral, norm), seed=k)
        head = denormalise("head", out["head"], norm)[clip.valid]
        real = clip.head[clip.valid]
        ratios.append([np.linalg.norm(real[:, s].std(0)) / max(np.linalg.norm(head[:, s].std(0)), 1e-9)
                       for s in (slice(0, 3), slice(3, 6))])
    return np.clip(np.median(np.array(ratios), axis=0), 1.0, 3.0).astype(np.float32)


def fit_lip_readout(clips, norm: dict, cfg: ModaTrainConfig) -> dict:
    """The linear probe of the lips in the network's own lip units, fitted on every audio variant of the
    clips (clean, noisy, speed-perturbed copies: what the network trains on), as checkpoint arrays
    (``probe_*``, ``probe_blend``)."""
    from kpanim.nets.normalise import normalise

    from .linear_probe import fit_probe

    def target(c):
        lip = c.lip[c.valid]
        return normalise("lipz", lip / c.lip_spread, norm) if cfg.lip_target == "clip_z" else normalise("lip", lip, norm)

    probe = fit_probe([a[c.valid] for c in clips for a in c.audio], [target(c) for c in clips for _ in c.audio])
    return {**probe.to_arrays(), "probe_blend": np.array([cfg.probe_blend], np.float32)}


def train(cfg: ModaTrainConfig) -> Path:
    import torch

    from kpanim.errors import KpanimError
    from kpanim.formats.checkpoint import save_checkpoint
    from kpanim.nets.moda import Moda
    from kpanim.speech.frontends import make_frontend

    from .data import LIP_TARGETS, WindowSampler, compute_norm, load_clips, load_train_val, select_clips, sync_filters

    if cfg.lip_target not in LIP_TARGETS:  # before the run folder exists
        raise KpanimError(f"--lip-target must be one of {', '.join(LIP_TARGETS)}, got {cfg.lip_target!r}")
    if not 0.2 <= cfg.target_articulation <= 3.0:
        raise KpanimError(f"--target-articulation must be in [0.2, 3], got {cfg.target_articulation}")
    if not 0.0 <= cfg.probe_blend <= 1.0:
        raise KpanimError(f"--probe-blend must be in [0, 1], got {cfg.probe_blend}")
    if cfg.sync_weight > 0 and cfg.lip_target != "raw":
        raise KpanimError("a sync expert scores lips in metres: use it with --lip-target raw")
    run = start_run(cfg)
    rank, world, device, out, log = run.rank, run.world, run.device, run.out, run.log
    frontend = make_frontend(cfg.frontend, cfg.frontend_path or None)
    frontend_info = {"name": frontend.name, "path": cfg.frontend_path or None}  # as the checkpoint stores it
    train_clips, val_clips = load_train_val(cfg, frontend, progress=rank == 0)
    # speed-perturbed copies and mixed-in corpora only add windows: the statistics, calibration and blink
    # prior stay those of the recorded training clips
    extra = [c for f in cfg.speed_factors if f != 1.0 for c in
             load_clips(cfg.data, "train", frontend, cfg.audio_variants, progress=rank == 0, speed=f,
                        **sync_filters(cfg))]
    main_ids = {r["clip_id"] for d in cfg.data for r in select_clips(d, None)}
    mix_clips = load_clips(cfg.mix_data, None, frontend, 1, progress=rank == 0, exclude=main_ids,
                           **sync_filters(cfg)) if cfg.mix_data else []
    norm = compute_norm(train_clips)
    if cfg.lip_target == "raw":  # the checkpoint's lips are then read back in metres (lips_from_network)
        norm = {k: v for k, v in norm.items() if not k.startswith("lipz_")}
    mcfg = dataclasses.replace(cfg.model, audio_dim=frontend.dim, audio_layers=getattr(frontend, "n_layers", 1))
    model = Moda(mcfg).to(device)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                        else None)
    sampler = WindowSampler(train_clips + extra, norm, cfg.window, cfg.speaker_balanced, cfg.mirror_p,
                            seed=cfg.seed + rank, mix_clips=mix_clips, mix_fraction=cfg.mix_fraction,
                            feature_mask=cfg.feature_mask, lip_target=cfg.lip_target)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / cfg.warmup) * 0.5 *
                                              (1 + math.cos(math.pi * min(1.0, s / max(1, cfg.steps)))))
    lip_std = torch.from_numpy(norm["lipz_std" if cfg.lip_target == "clip_z" else "lip_std"]).to(device)
    sync = SyncLoss(cfg, norm, frontend.name, device) if cfg.sync_weight > 0 else None
    log.write({"event": "start", "config": to_dict(cfg), "world_size": world, "n_train_clips": len(train_clips),
               "n_val_clips": len(val_clips), "n_train_speakers": len({c.speaker for c in train_clips}),
               "n_speed_clips": len(extra), "n_mix_clips": len(mix_clips),
               "params": sum(p.numel() for p in model.parameters()), "argv": sys.argv})
    from tqdm import tqdm

    best = None
    for step in tqdm(range(cfg.steps), desc="train moda", disable=rank != 0, mininterval=5):
        b = sampler.batch(cfg.batch_size)
        batch = {k: torch.from_numpy(v).to(device) for k, v in b.items()}
        motion = {k: batch[k] for k in ("lip", "eye", "head", "torso")}
        pred, kl = net(batch["audio"], batch["subject"], motion, pad=batch["pad"])
        loss, parts = stream_losses(pred, batch, cfg, lip_std)
        if sync is not None:
            sync_loss = sync(batch["audio"], pred["lip"], batch["valid"] * (~batch["pad"]).float())
            parts["sync"] = sync_loss.item()
            loss = loss + cfg.sync_weight * sync_loss
        kl_mean = kl.sum() / (~batch["pad"]).sum().clamp(min=1)
        kl_w = cfg.kl_weight * min(1.0, step / max(1, cfg.steps / 3))
        total = loss + kl_w * kl_mean
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if run.wants_log(step):
            log.write({"step": step, "loss": total.item(), "kl": kl_mean.item(), "lr": sched.get_last_lr()[0],
                       **parts, "seconds": run.seconds()["wall_seconds"]})
        if run.wants_val(step, bool(val_clips)):
            from .validation import eval_metrics

            metrics = evaluate(model, val_clips, norm)
            log.write({"step": step, "val": metrics, "val_eval": eval_metrics(model, norm, frontend_info, list(cfg.data))})
            best = metrics
    if rank == 0:
        from .blinks import blink_statistics

        norm.update(blink_statistics(train_clips))
        if cfg.viseme_prior:
            from .viseme_prior import viseme_prior

            norm.update(viseme_prior(train_clips, cfg.data, norm, cfg.viseme_blend))
        if cfg.probe_blend > 0:
            norm.update(fit_lip_readout(train_clips + extra, norm, cfg))
        if cfg.calibrate_gain:
            norm["lip_gain"] = np.array([calibrate_lip_gain(model, train_clips, norm, cfg.target_articulation)],
                                        np.float32)
            norm["head_gain"] = calibrate_head_gain(model, train_clips, norm)
            if val_clips:
                best = evaluate(model, val_clips, norm)
                log.write({"step": cfg.steps, "val_calibrated": best, "lip_gain": float(norm["lip_gain"][0])})
        val_eval = {}
        if val_clips:  # the run's final numbers, by kpanim eval's own code (training/validation.py)
            from .validation import eval_metrics

            val_eval = eval_metrics(model, norm, frontend_info, list(cfg.data))
            log.write({"step": cfg.steps, "val_eval": val_eval})
        info = {"frontend": {"name": frontend.name, "path": cfg.frontend_path or None}, "train_config": to_dict(cfg),
                "train_clips": [c.clip_id for c in train_clips], "val_clips": [c.clip_id for c in val_clips],
                "mix_clips": [c.clip_id for c in mix_clips],
                "val_metrics": best, "val_eval": val_eval, **run.seconds(), "world_size": world, "command": " ".join(sys.argv),
                "faco": "faco.pt"}
        sha = save_checkpoint(out / "moda.pt", "moda", mcfg, model, norm, info, half=cfg.half)
        log.write({"event": "done", "checkpoint": str(out / "moda.pt"), "sha256": sha, **{k: info[k] for k in
                   ("cpu_seconds", "wall_seconds")}})
    run.finish()
    return out / "moda.pt"


@click.command("moda")
@config_options(ModaTrainConfig)
def command(config: ModaTrainConfig) -> None:
    """Train MODA on prepared clips (--data DIR). Launch with torchrun for multi-GPU / multi-node."""
    path = train(config)
    if int(os.environ.get("RANK", 0)) == 0:
        click.echo(f"Wrote {path}")
