"""Least-squares GAN losses (Mao et al. 2017), shared by FaCo-Net's critic and the renderer's PatchGAN.

Scores are the critic's raw outputs (any shape); ``weight`` (same shape, or broadcastable) limits the
loss to some scores, e.g. the renderer's mouth and eye patches; None weighs every score alike.
"""

from __future__ import annotations

import torch


def lsgan_d_loss(real: torch.Tensor, fake: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Critic loss: real → 1, fake → 0 (pass the fake scores of detached generator outputs)."""
    if weight is None:
        return 0.5 * ((real - 1).pow(2).mean() + fake.pow(2).mean())
    norm = weight.sum().clamp_min(1e-6)
    return 0.5 * ((weight * (real - 1) ** 2).sum() + (weight * fake ** 2).sum()) / norm


def lsgan_g_loss(fake: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Generator loss: make the critic score the fake outputs 1."""
    if weight is None:
        return (fake - 1).pow(2).mean()
    return (weight * (fake - 1) ** 2).sum() / weight.sum().clamp_min(1e-6)
