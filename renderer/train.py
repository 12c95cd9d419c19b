"""``kpanim train renderer``: train the TPE renderer on many people, or fine-tune it on one.

Pairs of frames of the same video (``data.make_pairs``) teach the U-Net to turn the warped
reference into the real target frame. Losses (no pretrained networks are available offline):
L1 on pixels, weighted up on the mouth and eyes; L1 on image gradients (a cheap perceptual
stand-in that rewards sharp edges over blur); a small L1 penalty on the residual so the network
leaves the warp alone where it is already right. Gradients are clipped (norm 1) for stability.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import click
import numpy as np

from kpanim.errors import KpanimError

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".m4v"}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one renderer training run."""

    minutes: float = 20.0
    """Wall-clock budget for the optimisation (the pair extraction comes on top)."""
    batch: int = 8
    """Patches per step."""
    patch: int = 128
    """Side of the random training patches (the U-Net is fully convolutional)."""
    mouth_patch_ratio: float = 0.7
    """Share of patches centred on the mouth or eyes (where the network has work to do)."""
    lr: float = 2e-4
    """Adam learning rate."""
    region_weight: float = 4.0
    """Extra L1 weight on the mouth and eye regions."""
    grad_weight: float = 1.0
    """Weight of the image-gradient L1 term."""
    residual_weight: float = 0.001
    """Weight of the L1 penalty on the residual (how much the network repaints)."""
    seed: int = 0


def _to_tensor(batch: np.ndarray):
    import torch

    t = torch.from_numpy(batch)
    # contiguous NCHW: permuted (channels-last strided) tensors make CPU convolutions ~15x slower
    return (t.permute(0, 3, 1, 2).contiguous().float() / 255) if t.ndim == 4 else t[:, None].float() / 255


def sample_batch(data: dict[str, np.ndarray], cfg: TrainConfig, rng: np.random.Generator) -> dict:
    """Random patches (mostly around the mouth/eyes) of random pairs, as float tensors."""
    n, size = data["target"].shape[:2]
    idx = rng.integers(0, n, cfg.batch)
    out = {k: [] for k in ("photo", "warped", "sketch", "target", "weight")}
    for i in idx:
        if rng.random() < cfg.mouth_patch_ratio:
            ys, xs = np.nonzero(data["weight"][i][::8, ::8])
            j = rng.integers(len(ys)) if len(ys) else 0
            cy, cx = (ys[j] * 8, xs[j] * 8) if len(ys) else (size // 2, size // 2)
        else:
            cy, cx = rng.integers(0, size, 2)
        y0 = int(np.clip(cy - cfg.patch // 2, 0, size - cfg.patch))
        x0 = int(np.clip(cx - cfg.patch // 2, 0, size - cfg.patch))
        for k in out:
            out[k].append(data[k][i, y0:y0 + cfg.patch, x0:x0 + cfg.patch])
    import torch

    batch = {k: _to_tensor(np.stack(v)) for k, v in out.items()}
    batch["frame_index"] = torch.from_numpy(data["frame_index"][idx])
    return batch


def losses(model, batch: dict, cfg: TrainConfig) -> dict:
    frame, paint = model(batch["sketch"], batch["warped"], batch["photo"], batch["frame_index"])
    target = batch["target"]
    w = 1 + cfg.region_weight * batch["weight"]
    l1 = (w * (frame - target).abs()).mean() / w.mean()

    def grads(x):
        return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]

    (fy, fx), (ty, tx) = grads(frame), grads(target)
    grad = (fy - ty).abs().mean() + (fx - tx).abs().mean()
    reg = paint.mean()
    total = l1 + cfg.grad_weight * grad + cfg.residual_weight * reg
    return {"total": total, "l1": l1, "grad": grad, "residual": reg}


def network_frames(model, data: dict[str, np.ndarray], n: int) -> np.ndarray:
    """The renderer's output (N, S, S, 3) uint8 for the first ``n`` pairs, as ``render_frame`` makes it:
    the residual kept to the mouth/eye regions unless ``model.paint_scope == "face"``."""
    import torch

    outs = []
    with torch.inference_mode():
        for s in range(0, n, 8):
            sl = slice(s, min(n, s + 8))
            frame, _ = model(_to_tensor(data["sketch"][sl]), _to_tensor(data["warped"][sl]),
                             _to_tensor(data["photo"][sl]), torch.from_numpy(data["frame_index"][sl]))
            outs.append(frame.permute(0, 2, 3, 1).numpy() * 255)
    neural = np.concatenate(outs)
    if getattr(model, "paint_scope", "regions") == "regions":
        from .sketch import feather

        soft = np.stack([feather(w) for w in data["weight"][:n]])[..., None]
        warped = data["warped"][:n].astype(np.float32)
        neural = warped + soft * (neural - warped)
    return neural.round().clip(0, 255).astype(np.uint8)


def evaluate(model, data: dict[str, np.ndarray], max_pairs: int = 64) -> dict:
    """PSNR/SSIM of warp-only and warp+U-Net vs the real frames, on the face crop and the mouth box."""
    from .metrics import crop_metrics

    n = min(max_pairs, len(data["target"]))
    return {"warp": crop_metrics(data["warped"][:n], data["target"][:n], data["weight"][:n]),
            "neural": crop_metrics(network_frames(model, data, n), data["target"][:n], data["weight"][:n])}


def train(train_data: dict, val_data: dict | None, cfg: TrainConfig, model=None, progress: bool = True,
          log=None):
    """Optimise ``model`` (default: a fresh TPEUNet) for ``cfg.minutes``; returns (model, history)."""
    import torch
    from tqdm import tqdm

    from .unet import TPEUNet

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = model or TPEUNet()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    deadline = time.monotonic() + cfg.minutes * 60
    history, step = [], 0
    bar = tqdm(desc="train renderer", unit="step", disable=not progress, file=sys.stderr)
    while time.monotonic() < deadline:
        parts = losses(model, sample_batch(train_data, cfg, rng), cfg)
        opt.zero_grad()
        parts["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        bar.update(1)
        if step % 20 == 0:
            row = {"step": step, **{k: round(v.item(), 5) for k, v in parts.items()}}
            history.append(row)
            bar.set_postfix(l1=row["l1"], grad=row["grad"])
            if log:
                log.write(json.dumps(row) + "\n")
                log.flush()
    bar.close()
    model.eval()
    return model, {"steps": step, "history": history}


def _sources(inputs: tuple[Path, ...]) -> list[Path]:
    """Expand folders into their videos (or prepared clip .npz files under clips/)."""
    out: list[Path] = []
    for p in inputs:
        if p.is_dir():
            clips = sorted((p / "clips").glob("*.npz")) if (p / "clips").is_dir() else []
            out += clips or sorted(f for f in p.iterdir() if f.suffix.lower() in VIDEO_SUFFIXES)
        elif p.is_file():
            out.append(p)
        else:
            raise KpanimError(f"{p}: no such video or folder")
    if not out:
        raise KpanimError("no training videos given; pass a video of the person (or a folder of videos)")
    return out


@click.command("renderer")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Checkpoint to write (e.g. subject.renderer.pt).")
@click.option("--init", "init", default="default", show_default=True,
              help="Start from: 'default' (shipped weights: fine-tuning), 'none' (from scratch) or a .pt file.")
@click.option("--minutes", default=None, type=float, help="Optimisation time budget [default: 20, or 3 for one video].")
@click.option("--val-list", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Text file of video file names to hold out for validation (one per line).")
@click.option("--pairs", default=None, type=int, help="Training pairs per video [default: 40, or 400 for one video].")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to keep extracted pairs in (default: a temp folder).")
@click.option("--threads", default=1, show_default=True, type=int, help="CPU threads for torch.")
def command(inputs, output, init, minutes, val_list, pairs, cache, threads) -> None:
    """Train the renderer on INPUTS (videos, folders of videos, or a prepared dataset folder).

    One short video of a person fine-tunes the shipped renderer to that person (a few minutes on a
    CPU already help); many videos train the general renderer.
    """
    import tempfile

    import torch

    from kpanim.fileio import check_writable

    from .data import build_cache, load_cache
    from .render import load_renderer
    from .unet import TPEUNet, save_checkpoint

    check_writable(output)
    torch.set_num_threads(threads)
    sources = _sources(inputs)
    single = len(sources) == 1
    minutes = minutes if minutes is not None else (3.0 if single else 20.0)
    pairs = pairs or (400 if single else 40)
    held = set(Path(val_list).read_text().split()) if val_list else set()
    train_src = [s for s in sources if s.name not in held]
    val_src = [s for s in sources if s.name in held]
    model = TPEUNet() if init == "none" else load_renderer(init)
    init_extra = {}
    if init not in ("none", "default") or (init == "default" and model is not None):
        from .render import default_renderer_path
        from .unet import load_checkpoint

        init_extra = load_checkpoint(default_renderer_path() if init == "default" else init)[1]
    if model is None:
        click.echo("Note: no shipped renderer weights; training from scratch.", err=True)
        model = TPEUNet()
    t_cpu, t_wall = time.process_time(), time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = Path(cache) if cache else Path(tmp)
        train_data = load_cache(build_cache(train_src, cache_dir, pairs, frames_per_source=96 if single else 48))
        val_data = load_cache(build_cache(val_src, cache_dir, 16)) if val_src else None
    click.echo(f"{len(train_data['target'])} training pairs from {len(train_src)} videos"
               f"{f', {len(val_src)} held out' if val_src else ''}", err=True)
    cfg = TrainConfig(minutes=minutes, lr=1e-4 if single else 2e-4)
    before = evaluate(model, val_data or train_data)
    if single:  # one person: the fine-tuned network may repaint the whole face (see TPEUNet.paint_scope)
        model.paint_scope = "face"
    log_path = output.with_suffix(".log.jsonl")
    with open(log_path, "w") as log:
        model, info = train(train_data, val_data, cfg, model=model, log=log)
    after = evaluate(model, val_data or train_data)
    extra = {"command": "kpanim train renderer " + " ".join(sys.argv[3:]), "train_videos": [s.name for s in train_src],
             "val_videos": [s.name for s in val_src], "pairs": int(len(train_data["target"])), "steps": info["steps"],
             "train_config": dataclasses.asdict(cfg), "cpu_seconds": round(time.process_time() - t_cpu, 1),
             "wall_seconds": round(time.monotonic() - t_wall, 1), "threads": threads,
             "eval_on": "val" if val_data else "train", "eval_before": before, "eval_after": after,
             "init": init, "init_provenance": {k: init_extra.get(k) for k in ("command", "steps", "cpu_seconds",
                                                                              "wall_seconds", "init", "init_provenance")
                                               if k in init_extra}}
    save_checkpoint(output, model, extra)
    click.echo(f"Wrote {output}: {info['steps']} steps; {extra['eval_on']} face PSNR "
               f"warp {after['warp']['face_psnr']:.2f} → neural {after['neural']['face_psnr']:.2f} dB, "
               f"mouth PSNR {after['warp']['mouth_psnr']:.2f} → {after['neural']['mouth_psnr']:.2f} dB")
