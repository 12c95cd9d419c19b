"""FaCo-Net (MODA §3.3, "facial composer network"): subject + lip + eye → the dense 478×3 face mesh.

All inputs and the output are normalised displacements (checkpoint statistics): the subject is its
neutral mesh's offset from the template, lip/eye are the 40/60 sparse points' displacement from that
neutral, and the output is the dense mesh's displacement from the neutral. Trained, as in the paper,
with an L1 reconstruction loss plus an LSGAN discriminator on the generated mesh (which keeps the
rest of the face — cheeks, jaw, nose — moving with the mouth instead of averaging out).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from .gan import lsgan_d_loss, lsgan_g_loss


@dataclasses.dataclass(frozen=True)
class FaconetConfig:
    dense_dim: int = 478 * 3
    """Output size: the dense mesh displacement, flattened."""
    lip_dim: int = 40 * 3
    """Input: the lip displacement (40 points), flattened."""
    eye_dim: int = 60 * 3
    """Input: the eye/brow/iris displacement (60 points), flattened."""
    subject_dim: int = 478 * 3
    """Input: the subject's neutral mesh (offset from the template, standardised), flattened."""
    subject_code: int = 64
    """Size of the subject code (the neutral mesh compressed)."""
    hidden: int = 512
    """Width of the generator's hidden layers."""
    n_layers: int = 3
    """Hidden layers of the generator MLP."""
    disc_hidden: int = 256
    """Width of the LSGAN discriminator's hidden layers."""
    dropout: float = 0.0
    """Dropout in the generator's hidden layers (0 = off)."""


class Faconet(nn.Module):
    """Generator: (subject, lip, eye) → dense displacement, per frame (any leading batch shape)."""

    def __init__(self, cfg: FaconetConfig):
        super().__init__()
        self.cfg = cfg
        self.subject_enc = nn.Sequential(nn.Linear(cfg.subject_dim, cfg.subject_code), nn.LayerNorm(cfg.subject_code),
                                         nn.GELU())
        layers: list[nn.Module] = []
        d_in = cfg.subject_code + cfg.lip_dim + cfg.eye_dim
        for _ in range(cfg.n_layers):
            layers += [nn.Linear(d_in, cfg.hidden), nn.LayerNorm(cfg.hidden), nn.GELU(), nn.Dropout(cfg.dropout)]
            d_in = cfg.hidden
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(cfg.hidden, cfg.dense_dim)
        # Skip path: the dense points are mostly a linear blend of the sparse ones.
        self.skip = nn.Linear(cfg.lip_dim + cfg.eye_dim, cfg.dense_dim)

    def forward(self, subject: torch.Tensor, lip: torch.Tensor, eye: torch.Tensor) -> torch.Tensor:
        """subject: (..., subject_dim) or (B, subject_dim) broadcast over frames; lip: (..., 120);
        eye: (..., 180) → (..., 1434)."""
        code = self.subject_enc(subject)
        if code.dim() < lip.dim():
            code = code.unsqueeze(-2).expand(*lip.shape[:-1], code.shape[-1])
        sparse = torch.cat([lip, eye], dim=-1)
        return self.out(self.body(torch.cat([code, sparse], dim=-1))) + self.skip(sparse)


class FaconetDiscriminator(nn.Module):
    """LSGAN critic on a dense displacement conditioned on the sparse input: real → 1, generated → 0."""

    def __init__(self, cfg: FaconetConfig):
        super().__init__()
        d_in = cfg.dense_dim + cfg.lip_dim + cfg.eye_dim
        self.net = nn.Sequential(nn.Linear(d_in, cfg.disc_hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(cfg.disc_hidden, cfg.disc_hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(cfg.disc_hidden, 1))

    def forward(self, dense: torch.Tensor, lip: torch.Tensor, eye: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([dense, lip, eye], dim=-1)).squeeze(-1)


def critic_loss(disc: FaconetDiscriminator, real: torch.Tensor, fake: torch.Tensor, lip: torch.Tensor,
                eye: torch.Tensor) -> torch.Tensor:
    """Least-squares critic loss (:mod:`kpanim.nets.gan`) of real vs generated (detached) meshes."""
    return lsgan_d_loss(disc(real, lip, eye), disc(fake.detach(), lip, eye))


def generator_loss(disc: FaconetDiscriminator, fake: torch.Tensor, lip: torch.Tensor, eye: torch.Tensor) -> torch.Tensor:
    """Least-squares generator loss of generated meshes, halved (FaCo-Net's weighting since 0.1)."""
    return 0.5 * lsgan_g_loss(disc(fake, lip, eye))
