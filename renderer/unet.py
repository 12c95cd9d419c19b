"""The TPE renderer (MODA §3.4) as a small U-Net that repairs the warped portrait.

Inputs, all at the network's working size (a square face crop, default 256²):
  * condition image: the landmark sketch of the target frame (``sketch.draw_sketch``), 3 ch;
  * reference images: the portrait warped to the target keypoints, 3 ch, and the original
    portrait crop (how the person looks at rest: skin, teeth if visible), 3 ch;
  * temporal positional embedding (TPE) of the frame index: sinusoids injected into the
    bottleneck by FiLM (scale and shift per channel), as the paper's renderer conditions on time.
Output: an RGB residual added to the warped portrait (``frame = warped + residual``), starting at
zero, so the network only paints where the warp cannot (mouth interior, closed eyes, seams) and the
rest keeps the photo's full-resolution detail. (A sigmoid blend mask ``alpha·rgb + (1-alpha)·warped``
was tried first: on CPU-sized batches its gate collapsed to alpha = 0 after ~1000 steps and, closed,
never reopened, since a closed gate passes no gradient.) ``forward`` also returns where it paints:
``|residual|`` averaged over channels.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn


@dataclasses.dataclass(frozen=True)
class RendererConfig:
    """Shape of the TPE U-Net (stored in every checkpoint)."""

    size: int = 256
    """Working resolution (square face crop) in pixels; a multiple of 2**levels."""
    base_channels: int = 16
    """Channels of the first level; doubled at each level down."""
    levels: int = 4
    """Number of stride-2 downsamplings."""
    max_channels: int = 128
    """Cap on the channels of deep levels."""
    tpe_dim: int = 32
    """Size of the temporal positional embedding (sin + cos pairs)."""
    tpe_min_period: float = 50.0
    """Shortest period of the TPE sinusoids in frames (long periods: neighbouring frames get nearly
    the same embedding, so time conditioning cannot cause flicker)."""
    in_channels: int = 9
    """sketch (3) + warped portrait (3) + original portrait (3)."""

    def channels(self) -> list[int]:
        return [min(self.base_channels * 2 ** i, self.max_channels) for i in range(self.levels + 1)]


def temporal_embedding(frame_index: torch.Tensor, dim: int, min_period: float) -> torch.Tensor:
    """TPE: (B,) frame indices → (B, dim) sinusoids with periods from ``min_period`` to 10⁴ frames."""
    half = dim // 2
    periods = min_period * (10000.0 / min_period) ** (torch.arange(half, dtype=torch.float32) / max(half - 1, 1))
    angle = 2 * math.pi * frame_index.float()[:, None] / periods[None]
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2, inplace=True))


class TPEUNet(nn.Module):
    """U-Net with skip connections and a FiLM-conditioned bottleneck (the TPE)."""

    def __init__(self, config: RendererConfig = RendererConfig()):
        super().__init__()
        self.config = config
        # Where render() applies the residual: "regions" (mouth and eyes, feathered; the general renderer,
        # whose L1-trained output elsewhere is a blur of the warp) or "face" (the whole 256² crop; a renderer
        # fine-tuned on one person, who then also learns that person's look). Stored in checkpoints.
        self.paint_scope = "regions"
        ch = config.channels()
        self.stem = nn.Sequential(_conv(config.in_channels, ch[0]), _conv(ch[0], ch[0]))
        self.down = nn.ModuleList(nn.Sequential(_conv(ch[i], ch[i + 1], 2), _conv(ch[i + 1], ch[i + 1]))
                                  for i in range(config.levels))
        self.film = nn.Linear(config.tpe_dim, 2 * ch[-1])
        self.up = nn.ModuleList(nn.Sequential(_conv(ch[i + 1] + ch[i], ch[i]), _conv(ch[i], ch[i]))
                                for i in reversed(range(config.levels)))
        self.head = nn.Conv2d(ch[0], 3, 3, 1, 1)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        nn.init.zeros_(self.head.weight)  # start as the identity on the warp
        nn.init.zeros_(self.head.bias)

    def forward(self, sketch: torch.Tensor, warped: torch.Tensor, photo: torch.Tensor,
                frame_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, 3, H, W) in [0, 1], frame_index (B,) → (frame (B, 3, H, W), paint map (B, 1, H, W))."""
        # Trained on patches, run on the full crop: any size that is a multiple of 2**levels works.
        m = 2 ** self.config.levels
        for name, t in (("sketch", sketch), ("warped", warped), ("photo", photo)):
            if t.ndim != 4 or t.shape[1] != 3 or t.shape != warped.shape or t.shape[2] % m or t.shape[3] % m:
                raise ValueError(f"{name}: expected (B, 3, H, W) like warped {tuple(warped.shape)} with H, W "
                                 f"multiples of {m}, got {tuple(t.shape)}")
        x = self.stem(torch.cat([sketch, warped, photo], dim=1))
        skips = [x]
        for block in self.down:
            x = block(x)
            skips.append(x)
        tpe = temporal_embedding(frame_index, self.config.tpe_dim, self.config.tpe_min_period).to(x.dtype)
        gamma, beta = self.film(tpe).chunk(2, dim=1)
        x = x * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]
        skips.pop()
        for block in self.up:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        residual = self.head(x)
        frame = warped + residual
        return (frame if self.training else frame.clamp(0, 1)), residual.abs().mean(1, keepdim=True)


RENDERER_KIND = "kpanim-renderer"
RENDERER_FORMAT = 1
"""Version of the renderer checkpoint (its ``kpanim_checkpoint`` marker, as in kpanim/formats/checkpoint.py).
1 added the marker and the kpanim version; files without the marker (renderers trained with kpanim 0.1)
are version 0, the same layout otherwise."""


def save_checkpoint(path, model: TPEUNet, extra: dict | None = None) -> None:
    """Weights + config (+ provenance) in one file, written atomically."""
    from kpanim import __version__
    from kpanim.formats.fileio import atomic_output

    with atomic_output(path) as tmp:
        torch.save({"kpanim_checkpoint": RENDERER_FORMAT, "kind": RENDERER_KIND, "kpanim_version": __version__,
                    "config": dataclasses.asdict(model.config), "state_dict": model.state_dict(),
                    "extra": {"paint_scope": model.paint_scope, **(extra or {})}}, tmp)


def load_checkpoint(path) -> tuple[TPEUNet, dict]:
    """→ (model in eval mode, extra dict). Loading is strict (kpanim/formats/checkpoint.py): a file that is
    not a renderer checkpoint, a newer format, an unknown config field or weights that do not match the
    network are a one-line KpanimError."""
    from kpanim.errors import KpanimError
    from kpanim.formats.checkpoint import build_config, check_format_version, load_state_strict

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise KpanimError(f"{path}: no such renderer file; train one with 'kpanim train renderer'") from None
    except Exception as err:  # torch raises many types for damaged files
        raise KpanimError(f"{path}: not a readable renderer checkpoint ({str(err).splitlines()[0][:120]}); give a "
                          "file written by 'kpanim train renderer'") from None
    if not isinstance(ckpt, dict) or ckpt.get("kind") != RENDERER_KIND:
        raise KpanimError(f"{path}: not a kpanim renderer checkpoint; train one with 'kpanim train renderer'")
    check_format_version(path, ckpt.get("kpanim_checkpoint", 0), RENDERER_FORMAT)  # no marker: version 0
    missing = [k for k in ("config", "state_dict") if not isinstance(ckpt.get(k), dict)]
    if missing:
        raise KpanimError(f"{path}: renderer checkpoint without its {' and '.join(missing)} (damaged file?); "
                          "train one with 'kpanim train renderer'")
    model = TPEUNet(build_config(RendererConfig, ckpt["config"], path))
    load_state_strict(model, ckpt["state_dict"], path)
    model.paint_scope = ckpt.get("extra", {}).get("paint_scope", "regions")
    model.eval()
    return model, ckpt.get("extra", {})
