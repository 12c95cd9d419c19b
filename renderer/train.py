"""``kpanim train renderer``: train the TPE renderer on many people, or fine-tune it on one.

Pairs of frames of the same video (``data.make_pairs``) teach the U-Net to turn the warped
reference into the real target frame. Losses (no pretrained networks are available offline, so
every weight involved is trained here):
  * L1 on pixels, weighted up on the mouth and eyes, and further on the inner mouth (the sketch's
    filled inner-lip polygon: teeth, tongue, cavity);
  * L1 on image gradients (a cheap perceptual stand-in that rewards sharp edges over blur);
  * a small L1 penalty on the residual so the network leaves the warp alone where it is right;
  * optional (``--adv-weight``, ``--fm-weight``): an LSGAN with a sketch-conditioned PatchGAN
    (``discriminator.py``) judging the mouth and eye patches, plus discriminator feature matching
    (pix2pix / pix2pixHD; MODA's renderer is trained the same way). L1 alone averages the plausible
    mouth interiors into a blur; the adversarial term asks for one sharp, real-looking one.
Gradients are clipped (norm 1) for stability.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import click
import numpy as np
from kpanim.training.config import config_options

from kpanim.errors import KpanimError

from .sketch import inner_mouth_mask

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".m4v"}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one renderer training run."""

    minutes: float | None = None
    """Wall-clock budget for the optimisation (the pair extraction comes on top); default 3 for one video, else 20."""
    batch: int = 8
    """Patches per step."""
    patch: int = 128
    """Side of the random training patches (the U-Net is fully convolutional)."""
    mouth_patch_ratio: float = 0.7
    """Share of patches centred on the mouth or eyes (where the network has work to do)."""
    lr: float | None = None
    """Adam learning rate of the renderer; default 1e-4 for one video (fine-tuning), else 2e-4."""
    region_weight: float = 4.0
    """Extra L1 weight on the mouth and eye regions."""
    mouth_weight: float = 0.0
    """Extra L1 weight on the inner mouth (the sketch's filled inner-lip polygon), on top of region_weight."""
    grad_weight: float = 1.0
    """Weight of the image-gradient L1 term."""
    residual_weight: float = 0.001
    """Weight of the L1 penalty on the residual (how much the network repaints)."""
    adv_weight: float = 0.0
    """Weight of the LSGAN adversarial loss of a sketch-conditioned PatchGAN on the mouth/eye patches (0: off)."""
    fm_weight: float = 0.0
    """Weight of the discriminator feature-matching L1 loss (needs the discriminator; 0: off)."""
    d_lr: float = 1e-4
    """Adam learning rate of the discriminator (betas 0.5, 0.999; spectral norm on its layers)."""
    d_channels: int = 32
    """Channels of the discriminator's first layer (3 stride-2 layers, capped at 128)."""
    gan_start_step: int = 0
    """Steps of L1-only training before the GAN terms start (~1000 from scratch; 0 when fine-tuning)."""
    gan_ramp_steps: int = 200
    """Steps over which the GAN weights ramp linearly from 0 to their values once they start."""
    seed: int = 0
    """Random seed (patch sampling, initialisation)."""

    @property
    def gan(self) -> bool:
        return self.adv_weight > 0 or self.fm_weight > 0

    def resolved(self, single_video: bool) -> TrainConfig:
        """Fill the defaults that depend on fine-tuning (one video) vs general training."""
        return dataclasses.replace(self, minutes=self.minutes if self.minutes is not None else
                                   (3.0 if single_video else 20.0),
                                   lr=self.lr if self.lr is not None else (1e-4 if single_video else 2e-4))


def _to_tensor(batch: np.ndarray):
    import torch

    t = torch.from_numpy(batch)
    # contiguous NCHW: permuted (channels-last strided) tensors make CPU convolutions ~15x slower
    return (t.permute(0, 3, 1, 2).contiguous().float() / 255) if t.ndim == 4 else t[:, None].float() / 255


def sample_batch(data: dict[str, np.ndarray], cfg: TrainConfig, rng: np.random.Generator) -> dict:
    """Random patches (mostly around the mouth/eyes) of random pairs, as float tensors."""
    n, size = data["target"].shape[:2]
    idx = rng.integers(0, n, cfg.batch)
    out = {k: [] for k in ("photo", "warped", "sketch", "target", "weight", "mouth")}
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
            if k == "mouth":
                patch = out["sketch"][-1]
                out[k].append(inner_mouth_mask(patch).astype(np.uint8) * 255)
            else:
                out[k].append(data[k][i, y0:y0 + cfg.patch, x0:x0 + cfg.patch])
    import torch

    batch = {k: _to_tensor(np.stack(v)) for k, v in out.items()}
    batch["frame_index"] = torch.from_numpy(data["frame_index"][idx])
    return batch


def losses(model, batch: dict, cfg: TrainConfig, disc=None, gan_scale: float = 0.0) -> dict:
    """The renderer's training losses on one batch; with ``disc`` and ``gan_scale`` > 0 also the GAN terms
    (``gan_scale`` ramps them in). Returns the parts, "total" and the output "frame" (for the D step)."""
    from kpanim.nets.gan import lsgan_g_loss

    from .discriminator import feature_matching_loss, region_weights

    frame, paint = model(batch["sketch"], batch["warped"], batch["photo"], batch["frame_index"])
    target = batch["target"]
    w = 1 + cfg.region_weight * batch["weight"] + cfg.mouth_weight * batch["mouth"]
    l1 = (w * (frame - target).abs()).mean() / w.mean()

    def grads(x):
        return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]

    (fy, fx), (ty, tx) = grads(frame), grads(target)
    grad = (fy - ty).abs().mean() + (fx - tx).abs().mean()
    reg = paint.mean()
    total = l1 + cfg.grad_weight * grad + cfg.residual_weight * reg
    parts = {"l1": l1, "grad": grad, "residual": reg}
    if disc is not None and gan_scale > 0:
        import torch

        disc.requires_grad_(False)  # the generator step only needs gradients through D, not for D
        fake_scores, fake_feats = disc(batch["sketch"], frame)
        with torch.no_grad():
            _, real_feats = disc(batch["sketch"], target)
        disc.requires_grad_(True)
        parts["adv"] = lsgan_g_loss(fake_scores, region_weights(batch["weight"], fake_scores))
        parts["fm"] = feature_matching_loss(fake_feats, real_feats, batch["weight"])
        total = total + gan_scale * (cfg.adv_weight * parts["adv"] + cfg.fm_weight * parts["fm"])
    return {"total": total, **parts, "frame": frame}


def discriminator_step(disc, opt, batch: dict, frame) -> float:
    """One LSGAN update of the discriminator on real targets vs the renderer's (detached) output."""
    from kpanim.nets.gan import lsgan_d_loss

    from .discriminator import region_weights

    real_scores, _ = disc(batch["sketch"], batch["target"])
    fake_scores, _ = disc(batch["sketch"], frame.detach())
    loss = lsgan_d_loss(real_scores, fake_scores, region_weights(batch["weight"], real_scores))
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.item())


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
          log=None, max_steps: int | None = None):
    """Optimise ``model`` (default: a fresh TPEUNet) for ``cfg.minutes`` (or ``max_steps``); returns
    (model, info). With ``cfg.adv_weight``/``cfg.fm_weight`` a fresh PatchGAN is trained alongside."""
    import torch
    from kpanim.training.loop import seed_everything  # the trainers' one seeding
    from tqdm import tqdm

    from .discriminator import DiscriminatorConfig, PatchDiscriminator
    from .unet import TPEUNet

    cfg = cfg.resolved(single_video=False)
    seed_everything(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = model or TPEUNet()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    disc = d_opt = None
    if cfg.gan:
        disc = PatchDiscriminator(DiscriminatorConfig(channels=cfg.d_channels)).train()
        d_opt = torch.optim.Adam(disc.parameters(), lr=cfg.d_lr, betas=(0.5, 0.999))
    deadline = time.monotonic() + cfg.minutes * 60
    history, step = [], 0
    bar = tqdm(desc="train renderer", unit="step", disable=not progress, file=sys.stderr)
    while time.monotonic() < deadline and (max_steps is None or step < max_steps):
        batch = sample_batch(train_data, cfg, rng)
        gan_scale = 0.0
        if disc is not None and step >= cfg.gan_start_step:
            gan_scale = min(1.0, (step - cfg.gan_start_step + 1) / max(cfg.gan_ramp_steps, 1))
        parts = losses(model, batch, cfg, disc, gan_scale)
        opt.zero_grad()
        parts["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if gan_scale > 0:  # pix2pix order: the generator step above saw D before this update
            parts["d"] = torch.tensor(discriminator_step(disc, d_opt, batch, parts["frame"]))
        step += 1
        bar.update(1)
        if step % 20 == 0:
            row = {"step": step, **{k: round(v.item(), 5) for k, v in parts.items() if k != "frame"}}
            history.append(row)
            bar.set_postfix(l1=row["l1"], grad=row["grad"], **({"adv": row["adv"]} if "adv" in row else {}))
            if log:
                log.write(row)
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
            raise KpanimError(f"{p}: no such video or folder; give a video of the person (or a folder of videos)")
    if not out:
        raise KpanimError("no training videos given; pass a video of the person (or a folder of videos)")
    from kpanim.dataset.clip import PreparedClip
    from kpanim.tracking.video import probe_video

    for p in out:  # every input readable before any work (a text file would fail deep in the frame cache)
        if p.suffix.lower() == ".npz":
            PreparedClip.load(p, require=("landmarks_px", "camera"))
        else:
            probe_video(p)
    return out


def held_out(sources: list[Path], val_list: Path | None) -> list[bool]:
    """Which sources are held out: named (file name or stem) in ``val_list``, or, for clips of a prepared
    dataset, in its ``val`` split (unseen speakers, index.json), marked ``duplicate`` by prepare, or cut
    from a video named in ``val_list``."""
    names = set(Path(val_list).read_text().split()) if val_list else set()
    names |= {Path(n).stem for n in names}
    index: dict[Path, dict] = {}
    out = []
    for s in sources:
        held = s.name in names or s.stem in names
        if s.suffix == ".npz":
            root = s.parent.parent
            if root not in index:
                f = root / "index.json"
                index[root] = {r["clip_id"]: r for r in json.loads(f.read_text())} if f.is_file() else {}
            row = index[root].get(s.stem, {})
            # a "duplicate" clip repeats another clip (maybe a val one): never train on it either
            held = held or row.get("split") in ("val", "duplicate") or Path(row.get("source", "")).name in names
        out.append(held)
    return out


@click.command("renderer")
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--data", "data", multiple=True, type=click.Path(path_type=Path),
              help="Training data (repeatable), like the other trainers: a video, a folder of videos, or a prepared "
                   "dataset folder. Videos may also be given as arguments.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder, like the other trainers: OUT/renderer.pt and OUT/renderer.log.jsonl.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Or the checkpoint file to write (e.g. subject.renderer.pt; its log goes next to it).")
@click.option("--init", "init", default="default", show_default=True,
              help="Start from: 'default' (shipped weights: fine-tuning), 'none' (from scratch) or a .pt file.")
@click.option("--val-list", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Text file of video file names to hold out for validation (one per line); clips of a prepared "
                   "dataset's val split are always held out.")
@click.option("--pairs", default=None, type=int, help="Training pairs per video [default: 40, or 400 for one video].")
@click.option("--closed-eyes", default=8, show_default=True, type=int,
              help="Extra closed-eye frames per prepared clip in the pair extraction (blinks are rare).")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to keep extracted pairs in (default: a temp folder).")
@click.option("--threads", default=1, show_default=True, type=int, help="CPU threads for torch.")
@config_options(TrainConfig)
def command(config: TrainConfig, inputs, data, out, output, init, val_list, pairs, closed_eyes, cache,
            threads) -> None:
    """Train the renderer on --data (videos, folders of videos, or a prepared dataset folder; also as INPUTS).

    One short video of a person fine-tunes the shipped renderer to that person (a few minutes on a
    CPU already help); many videos train the general renderer.

      kpanim train renderer --data DATASET --out runs/renderer
      kpanim train renderer --data me.mp4 -o me.renderer.pt
    """
    import tempfile

    import torch

    from kpanim.formats.fileio import check_output

    from .data import build_cache, load_cache
    from .render import check_threads, load_renderer
    from .unet import TPEUNet, save_checkpoint

    inputs = (*inputs, *data)
    if not inputs:
        raise KpanimError("no training data given; pass --data (a video, a folder of videos or a prepared dataset), "
                          "e.g. kpanim train renderer --data me.mp4 --out runs/renderer")
    if (out is None) == (output is None):
        raise KpanimError("give either --out FOLDER (writes FOLDER/renderer.pt) or -o FILE.pt, not "
                          f"{'both' if out is not None else 'neither'}; e.g. --out runs/renderer")
    if out is not None:
        if out.exists() and not out.is_dir():
            raise KpanimError(f"--out {out}: is a file; give a folder for the checkpoint and its log")
        output = out / "renderer.pt"
    check_threads(threads)
    from kpanim.commands.checks import check_number

    check_number("--pairs", pairs, 1, 100000, integer=True, example=400)
    check_number("--closed-eyes", closed_eyes, 0, 10000, integer=True, example=8)
    if val_list is not None and not val_list.is_file():
        raise KpanimError(f"{val_list}: no such file; give --val-list a text file naming the held-out videos")
    def check_outputs() -> None:
        check_output(output, {"--init": None if init in ("none", "default") else init, "--val-list": val_list,
                              **{f"INPUT {p}": p for p in inputs}}, (".pt",), what="checkpoint")
        check_output(output.with_suffix(".log.jsonl"), {f"INPUT {p}": p for p in inputs}, what="training log")

    if out is None:
        check_outputs()
    torch.set_num_threads(threads)
    sources = _sources(inputs)
    if out is not None:  # the folder is made only now, when every input has been checked
        out.mkdir(parents=True, exist_ok=True)
        check_outputs()
    single = len(sources) == 1
    cfg = config.resolved(single)
    pairs = pairs or (400 if single else 40)
    held = held_out(sources, val_list) if not single else [False]
    train_src = [s for s, h in zip(sources, held) if not h]
    val_src = [s for s, h in zip(sources, held) if h]
    if not train_src:
        raise KpanimError("every input is held out for validation (--val-list or the dataset's val split); "
                          "give training videos too")
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
        train_data = load_cache(build_cache(train_src, cache_dir, pairs, frames_per_source=96 if single else 48,
                                            closed_eyes=closed_eyes))
        val_data = load_cache(build_cache(val_src, cache_dir, 16, closed_eyes=closed_eyes)) if val_src else None
    click.echo(f"{len(train_data['target'])} training pairs from {len(train_src)} videos"
               f"{f', {len(val_src)} held out' if val_src else ''}", err=True)
    before = evaluate(model, val_data or train_data)
    if single:  # one person: the fine-tuned network may repaint the whole face (see TPEUNet.paint_scope)
        model.paint_scope = "face"
    from kpanim.training.loop import JsonlLog  # the other trainers' log format

    log = JsonlLog(output.with_suffix(".log.jsonl"))
    log.write({"event": "start", "pairs": int(len(train_data["target"])), "train_config": dataclasses.asdict(cfg)})
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
