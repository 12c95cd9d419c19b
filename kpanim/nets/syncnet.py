"""A lip-sync expert over keypoints (SyncNet / Wav2Lip's "expert discriminator", for lip points not pixels).

Two small temporal conv encoders embed the audio features and the lip motion of each frame; the expert
scores how well lip frame t + k matches audio frame t for offsets k in ±``max_offset``. Trained
contrastively (InfoNCE over the offsets: the true alignment k = 0 against its shifted neighbours), it
learns *timing*, which a per-frame L1 loss on positions rewards only weakly. Frozen, it then gives MODA a
sync loss on its predicted lips (``kpanim train moda --sync-expert sync.pt --sync-weight w``).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn


@dataclasses.dataclass(frozen=True)
class SyncNetConfig:
    audio_dim: int = 512
    """Audio feature size per frame (the front-end's dim)."""
    lip_dim: int = 40 * 3
    """Lip displacement size per frame (normalised by the expert's own statistics)."""
    hidden: int = 64
    """Channels of the conv encoders."""
    embed: int = 32
    """Size of the (unit-length) embeddings compared by cosine similarity."""
    kernel: int = 5
    """Temporal kernel of each conv layer (two layers: a receptive field of 2·kernel − 1 frames)."""
    max_offset: int = 8
    """Offsets ±this many frames compete with the true alignment in the contrastive loss."""
    temperature: float = 0.1
    """Softmax temperature of the cosine similarities."""
    dropout: float = 0.3
    """Dropout on the inputs and hidden channels (12 minutes of clips are memorised otherwise)."""


def _encoder(d_in: int, cfg: SyncNetConfig) -> nn.Module:
    pad = cfg.kernel // 2
    return nn.Sequential(nn.Dropout(cfg.dropout), nn.Conv1d(d_in, cfg.hidden, cfg.kernel, padding=pad), nn.GELU(),
                         nn.Dropout(cfg.dropout), nn.Conv1d(cfg.hidden, cfg.hidden, cfg.kernel, padding=pad),
                         nn.GELU(), nn.Conv1d(cfg.hidden, cfg.embed, 1))


class SyncNet(nn.Module):
    def __init__(self, cfg: SyncNetConfig):
        super().__init__()
        self.cfg = cfg
        self.audio_norm = nn.LayerNorm(cfg.audio_dim)
        self.audio_enc = _encoder(cfg.audio_dim, cfg)
        # lips enter as position and velocity: sync lives in the motion, the pose says which shape
        self.lip_enc = _encoder(2 * cfg.lip_dim, cfg)

    def embed(self, audio: torch.Tensor, lip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """audio (B, T, Da), lip (B, T, Dl) normalised → unit embeddings (B, T, E) each."""
        vel = torch.cat([torch.zeros_like(lip[:, :1]), lip[:, 1:] - lip[:, :-1]], 1)
        a = self.audio_enc(self.audio_norm(audio).transpose(1, 2)).transpose(1, 2)
        m = self.lip_enc(torch.cat([lip, vel], -1).transpose(1, 2)).transpose(1, 2)
        return F.normalize(a, dim=-1), F.normalize(m, dim=-1)

    def offset_logits(self, audio: torch.Tensor, lip: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, 2K+1) similarity of audio frame t with lip frame t + k, k = −K…K, over the temperature;
        pairs that leave the window or touch a masked frame get −inf. mask: (B, T) float/bool, 1 = usable."""
        K = self.cfg.max_offset
        a, m = self.embed(audio, lip)
        T = a.shape[1]
        valid = mask.bool()
        m_pad = F.pad(m, (0, 0, K, K))
        v_pad = F.pad(valid, (K, K), value=False)
        cols = []
        for k in range(-K, K + 1):  # 2K+1 shifted dot products: cheap, and no (T, T) matrix
            mk = m_pad[:, K + k:K + k + T]
            sim = (a * mk).sum(-1) / self.cfg.temperature
            ok = valid & v_pad[:, K + k:K + k + T]
            cols.append(sim.masked_fill(~ok, float("-inf")))
        return torch.stack(cols, -1)

    def forward(self, audio: torch.Tensor, lip: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`loss`; through ``forward`` so DistributedDataParallel sees the call and syncs gradients."""
        return self.loss(audio, lip, mask)

    def loss(self, audio: torch.Tensor, lip: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """InfoNCE over offsets with the true alignment (k = 0) as the target, averaged over usable frames;
        returns (loss, accuracy: share of frames whose best offset is 0)."""
        logits = self.offset_logits(audio, lip, mask)
        K = self.cfg.max_offset
        usable = mask.bool() & torch.isfinite(logits[..., K])
        usable &= torch.isfinite(logits).sum(-1) > 1  # at least one competitor
        if not usable.any():
            zero = logits.new_zeros(())
            return zero, zero
        lg = logits[usable]
        target = torch.full((lg.shape[0],), K, dtype=torch.long, device=lg.device)
        return F.cross_entropy(lg, target), (lg.argmax(-1) == K).float().mean()
