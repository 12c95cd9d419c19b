"""A small conditional PatchGAN discriminator for the renderer's adversarial loss (pix2pix, MODA §3.4).

It sees the condition sketch and an image (real frame or the renderer's output) stacked, and scores
overlapping patches (receptive field 38 px at the 256² crop, about two thirds of a mouth's width): "does this patch
look like a real mouth/eye *for this sketch*?". Trained as an LSGAN (least-squares targets 1 for
real, 0 for fake), with spectral norm on every convolution, which keeps it Lipschitz and the game
stable with the small CPU batches. Its intermediate activations also give the feature-matching loss
(pix2pixHD): L1 between the discriminator features of the output and of the real frame.

Only used in training; the shipped renderer checkpoint does not contain it.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


@dataclasses.dataclass(frozen=True)
class DiscriminatorConfig:
    """Shape of the PatchGAN."""

    channels: int = 32
    """Channels of the first layer; doubled at each stride-2 layer."""
    layers: int = 3
    """Stride-2 4×4 convolutions before the 3×3 scoring layer (receptive field 5·2**layers − 2 px)."""
    max_channels: int = 128
    """Cap on the channels of deep layers."""


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN: (sketch, image) → patch scores + features for feature matching."""

    def __init__(self, config: DiscriminatorConfig = DiscriminatorConfig()):
        super().__init__()
        self.config = config
        blocks, cin = [], 6  # sketch (3) + image (3)
        for i in range(config.layers):
            cout = min(config.channels * 2 ** i, config.max_channels)
            blocks.append(nn.Sequential(spectral_norm(nn.Conv2d(cin, cout, 4, 2, 1)), nn.LeakyReLU(0.2)))
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.score = spectral_norm(nn.Conv2d(cin, 1, 3, 1, 1))

    def forward(self, sketch: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """sketch, image (B, 3, H, W) in [0, 1] → (scores (B, 1, H/2**layers, W/2**layers), features per layer)."""
        if sketch.shape != image.shape or sketch.ndim != 4 or sketch.shape[1] != 3:
            raise ValueError(f"expected sketch and image of one shape (B, 3, H, W), got {tuple(sketch.shape)} "
                             f"and {tuple(image.shape)}")
        x = torch.cat([sketch, image], dim=1) * 2 - 1
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return self.score(x), feats


def region_weights(weight: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Region mask (B, 1, H, W) in [0, 1] → its share in each scored patch (B, 1, h, w): the GAN terms
    count only patches on the mouth and eyes (the only places the general renderer paints)."""
    return nn.functional.adaptive_avg_pool2d(weight, scores.shape[-2:])


def feature_matching_loss(fake_feats: list[torch.Tensor], real_feats: list[torch.Tensor],
                          weight: torch.Tensor) -> torch.Tensor:
    """pix2pixHD feature matching: mean over layers of the L1 distance between the discriminator features
    of the output and of the real frame, weighted by the region mask ``weight`` (B, 1, H, W) like the GAN."""
    total = 0.0
    for f, r in zip(fake_feats, real_feats):
        w = region_weights(weight, f)
        total = total + (w * (f - r.detach()).abs()).mean(1, keepdim=True).sum() / w.sum().clamp_min(1e-6)
    return total / len(fake_feats)
