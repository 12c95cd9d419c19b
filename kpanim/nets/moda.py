"""MODA (Liu et al., "MODA: Mapping-Once Audio-driven Portrait Animation with Dual Attentions", ICCV 2023).

Audio features + a subject's neutral face → the four motion streams of representation R, all in
*normalised* units (each stream standardised with training-set statistics kept in the checkpoint):
lip (40×3 displacement from the neutral), eye (60×3 displacement), head pose (6, deviation from the
clip's mean pose) and torso (18×3, deviation from the clip's mean).

Dual attention (paper §3.2):
- SpecAttn, "specific attention": a transformer decoder whose queries are the fused audio/subject
  features plus a periodic positional encoding (PPE), with *biased causal* self-attention (ALiBi-like
  period bias, FaceFormer) and an *alignment bias* in cross-attention so frame t only looks at audio
  frames t±``align_radius``. Deterministic: carries the audio-locked lip motion.
- ProbAttn, "probabilistic attention": a transformer VAE over time. Its posterior q(z|audio, motion)
  sees the ground-truth motion of ``posterior_streams`` during training; at inference z is drawn from
  the prior N(0, temperature² I). Carries the one-to-many motion (blinks, head, torso). KL is added
  to the loss (the public MODA code computes it but never adds it).
- The two branches are concatenated and decoded by four MLPs (lip, eye, head, torso); with
  ``lip_from_spec`` the lip MLP reads SpecAttn alone, so the lips cannot depend on the sampled latent.

Fixes of the public code's known bugs: padding masks are boolean masks (not ``+1``), the PPE runs
over the time axis, LayerNorm everywhere (batch 1 works), targets are normalised.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..face import constants

STREAM_DIMS = {"lip": constants.N_LIP * 3, "eye": constants.N_EYE * 3, "head": constants.POSE_DIM,
               "torso": constants.N_TORSO * 3}  # flattened width of each predicted stream


@dataclasses.dataclass(frozen=True)
class ModaConfig:
    audio_dim: int = 512
    """Feature size of the audio front-end (whisper_ct2: 512, mel: 320)."""
    subject_dim: int = 478 * 3
    """Size of the subject input: the neutral dense mesh, flattened."""
    d_model: int = 128
    """Width of every attention layer."""
    n_heads: int = 4
    """Attention heads per layer (each gets its own period-bias slope)."""
    n_spec_layers: int = 2
    """SpecAttn transformer-decoder layers."""
    n_prob_layers: int = 2
    """ProbAttn layers in the posterior encoder and in the decoder each."""
    ff_mult: int = 2
    """Feed-forward width as a multiple of d_model."""
    dropout: float = 0.1
    """Dropout in every attention layer."""
    audio_kernel: int = 5
    """Temporal conv in the audio projection (frames of local context before attention)."""
    period: int = 25
    """PPE period and self-attention bias period, in frames (1 s at 25 fps)."""
    align_radius: int = 1
    """SpecAttn cross-attention window: frame t attends audio frames t-r..t+r (alignment bias)."""
    latent_dim: int = 16
    """ProbAttn latent size per latent step."""
    latent_stride: int = 5
    """Frames per ProbAttn latent step: z is drawn every ``latent_stride`` frames and linearly
    interpolated in between, so prior samples are smooth motion rather than per-frame noise."""
    posterior_streams: tuple[str, ...] = ("eye", "head", "torso")
    """Streams whose ground truth the ProbAttn posterior sees; lip is left to audio so sampling cannot
    break lip sync."""
    subject_dropout: float = 0.1
    """Dropout on the subject code (few training identities: regularise the style path)."""
    audio_layers: int = 1
    """How many encoder layers the audio features concatenate (``audio_dim`` = layers × layer width).
    Above 1, each layer is layer-normed and the layers are mixed by a learned softmax-weighted sum
    (MuseTalk/SUPERB-style): Whisper's middle layers carry more mouth information than its last one."""
    lip_from_spec: bool = False
    """The lip head reads SpecAttn alone: lips are deterministic (MODA's point), only blinks, head and
    torso depend on the sampled ProbAttn latent."""


class PeriodicPositionalEncoding(nn.Module):
    """Sinusoidal encoding repeated every ``period`` frames (FaceFormer's PPE), added over time (dim 1)."""

    def __init__(self, d_model: int, period: int):
        super().__init__()
        pos = torch.arange(period, dtype=torch.float32)[:, None]
        div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(period, d_model)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)
        self.register_buffer("pe", pe, persistent=False)
        self.period = period

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, D) → x + PPE[t mod period]."""
        t = torch.arange(x.shape[1], device=x.device) % self.period
        return x + self.pe[t][None]


def biased_causal_mask(n_frames: int, n_heads: int, period: int, device=None) -> torch.Tensor:
    """(n_heads, T, T) additive mask: -inf on future frames, -slope_h * floor((i-j)/period) on past ones."""
    start = 2 ** (-8 / n_heads)
    slopes = torch.tensor([start ** (h + 1) for h in range(n_heads)], device=device)
    i = torch.arange(n_frames, device=device)
    dist = torch.div(i[:, None] - i[None, :], period, rounding_mode="floor").float()
    bias = -slopes[:, None, None] * dist[None]
    return bias.masked_fill((i[None, :] > i[:, None])[None], float("-inf"))


def alignment_mask(n_frames: int, radius: int, device=None) -> torch.Tensor:
    """(T, T) additive mask: 0 where |t - s| <= radius, -inf elsewhere (frame t ↔ audio frame s)."""
    i = torch.arange(n_frames, device=device)
    return torch.zeros(n_frames, n_frames, device=device).masked_fill((i[:, None] - i[None, :]).abs() > radius,
                                                                      float("-inf"))


def with_padding(bias: torch.Tensor, pad: torch.Tensor | None, batch: int) -> torch.Tensor:
    """(H, T, T) additive bias + (B, T) padding → (B·H, T, T) mask for nn.MultiheadAttention.

    Padded keys get -inf; a padded query keeps its own diagonal so its row is never all -inf (which
    would give NaN that could leak through later layers).
    """
    H, T, _ = bias.shape
    mask = bias[None].expand(batch, H, T, T)
    if pad is not None:
        mask = mask.masked_fill(pad[:, None, None, :], float("-inf"))
        eye = torch.eye(T, dtype=torch.bool, device=bias.device)
        mask = mask.masked_fill(pad[:, None, :, None] & eye, 0.0)
    return mask.reshape(batch * H, T, T)


def _mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.LayerNorm(d_hidden), nn.GELU(), nn.Linear(d_hidden, d_out))


class ProbAttn(nn.Module):
    """Transformer VAE over time: posterior encoder (train only), prior N(0, I), decoder."""

    def __init__(self, cfg: ModaConfig):
        super().__init__()
        d = cfg.d_model
        layer = lambda: nn.TransformerEncoderLayer(d, cfg.n_heads, cfg.ff_mult * d, cfg.dropout,  # noqa: E731
                                                   activation="gelu", batch_first=True, norm_first=True)
        post_in = sum(STREAM_DIMS[s] for s in cfg.posterior_streams)
        self.motion_in = nn.Linear(post_in, d)
        self.posterior = nn.TransformerEncoder(layer(), cfg.n_prob_layers, enable_nested_tensor=False)
        self.to_stats = nn.Linear(d, 2 * cfg.latent_dim)
        self.z_in = nn.Linear(cfg.latent_dim, d)
        self.decoder = nn.TransformerEncoder(layer(), cfg.n_prob_layers, enable_nested_tensor=False)
        self.ppe = PeriodicPositionalEncoding(d, cfg.period)
        self.latent_dim = cfg.latent_dim
        self.stride = cfg.latent_stride

    def forward(self, h: torch.Tensor, motion: torch.Tensor | None, pad: torch.Tensor | None,
                temperature: float = 1.0, generator: torch.Generator | None = None,
                prior_z: torch.Tensor | None = None):
        """h: (B, T, D) fused features; motion: (B, T, M) normalised posterior streams or None (sample
        the prior); pad: (B, T) bool, True = padding. ``prior_z`` (B, ceil(T / stride), latent_dim): the
        prior latents to use instead of drawing them (a stream keeps one latent per absolute latent step).
        Returns features (B, T, D) and KL (B, T) (each latent step's KL spread evenly over its frames)."""
        B, T, _ = h.shape
        K = self.stride
        C = -(-T // K)  # latent steps
        if motion is not None:
            q = self.posterior(self.ppe(h + self.motion_in(motion)), src_key_padding_mask=pad)
            w = (~pad).float() if pad is not None else h.new_ones(B, T)
            w = F.pad(w, (0, C * K - T)).view(B, C, K, 1)
            q = F.pad(q, (0, 0, 0, C * K - T)).view(B, C, K, -1)
            pooled = (q * w).sum(2) / w.sum(2).clamp(min=1)  # masked mean over each latent step
            mu, logvar = self.to_stats(pooled).chunk(2, dim=-1)
            logvar = logvar.clamp(-10, 10)
            eps = torch.randn(mu.shape, device=h.device, generator=generator)
            z = mu + eps * torch.exp(0.5 * logvar)
            kl_step = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)  # (B, C)
            kl = (kl_step / K).repeat_interleave(K, dim=1)[:, :T]
        elif prior_z is not None:
            z = prior_z
            kl = h.new_zeros(B, T)
        else:
            z = temperature * torch.randn((B, C, self.latent_dim), device=h.device, generator=generator)
            kl = h.new_zeros(B, T)
        if K > 1:  # linear interpolation between latent-step centres
            z = F.interpolate(z.transpose(1, 2), size=C * K, mode="linear", align_corners=False).transpose(1, 2)
        out = self.decoder(self.ppe(h + self.z_in(z[:, :T])), src_key_padding_mask=pad)
        return out, kl


class Moda(nn.Module):
    """MODA's motion generator. See the module docstring."""

    def __init__(self, cfg: ModaConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        # Audio encoder head: the front-end's features → d_model with a little local context.
        if cfg.audio_dim % cfg.audio_layers:
            raise ValueError(f"audio_dim {cfg.audio_dim} is not a multiple of audio_layers {cfg.audio_layers}")
        layer_dim = cfg.audio_dim // cfg.audio_layers
        if cfg.audio_layers > 1:
            self.layer_logits = nn.Parameter(torch.zeros(cfg.audio_layers))
        self.audio_in = nn.Sequential(nn.LayerNorm(layer_dim), nn.Linear(layer_dim, d))
        self.audio_conv = nn.Conv1d(d, d, cfg.audio_kernel, padding=cfg.audio_kernel // 2, groups=1)
        # Subject encoder: neutral dense mesh (normalised offsets from the template) → style code.
        self.subject_enc = nn.Sequential(_mlp(cfg.subject_dim, 2 * d, d), nn.Dropout(cfg.subject_dropout))
        self.ppe = PeriodicPositionalEncoding(d, cfg.period)
        self.spec = nn.TransformerDecoder(
            nn.TransformerDecoderLayer(d, cfg.n_heads, cfg.ff_mult * d, cfg.dropout, activation="gelu",
                                       batch_first=True, norm_first=True), cfg.n_spec_layers)
        self.prob = ProbAttn(cfg)
        self.heads = nn.ModuleDict({name: _mlp(d if name == "lip" and cfg.lip_from_spec else 2 * d, 2 * d, dim)
                                    for name, dim in STREAM_DIMS.items()})

    def mix_layers(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, T, layers·width) → (B, T, width): softmax-weighted sum of the layer-normed layers."""
        L = self.cfg.audio_layers
        if L == 1:
            return audio
        x = audio.reshape(*audio.shape[:-1], L, -1)
        x = F.layer_norm(x, x.shape[-1:])
        return (x * torch.softmax(self.layer_logits, 0)[:, None]).sum(-2)

    def forward(self, audio: torch.Tensor, subject: torch.Tensor, motion: dict[str, torch.Tensor] | None = None,
                pad: torch.Tensor | None = None, temperature: float = 1.0,
                generator: torch.Generator | None = None,
                prior_z: torch.Tensor | None = None, lips_only: bool = False,
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Predict the normalised streams.

        Args:
            audio: (B, T, audio_dim) front-end features aligned to the frames.
            subject: (B, subject_dim) normalised neutral mesh.
            motion: training targets {"lip": (B, T, 120), "eye": (B, T, 180), "head": (B, T, 6),
                "torso": (B, T, 54)}; the posterior streams among them feed ProbAttn. None = inference.
            pad: (B, T) bool, True marks padded frames (they never influence real frames).
            temperature: prior scale at inference.
            prior_z: (B, ceil(T / latent_stride), latent_dim) prior latents to use instead of sampling
                (already scaled; :mod:`kpanim.animate.stream`).
            lips_only: predict the lip stream alone (SpecAttn only: ProbAttn is skipped), for the extra
                networks of a lip ensemble; needs ``lip_from_spec``.
        Returns:
            ({stream: (B, T, dim)}, kl (B, T)).
        """
        B, T, _ = audio.shape
        if audio.shape[-1] != self.cfg.audio_dim:
            raise ValueError(f"audio features: expected last dim {self.cfg.audio_dim}, got {audio.shape[-1]}")
        a = self.audio_in(self.mix_layers(audio))
        if pad is not None:
            a = a.masked_fill(pad[..., None], 0.0)
        a = a + self.audio_conv(a.transpose(1, 2)).transpose(1, 2)
        if pad is not None:  # the conv must not leak padding into real frames' neighbours either
            a = a.masked_fill(pad[..., None], 0.0)
        h = a + self.subject_enc(subject)[:, None, :]
        H = self.cfg.n_heads
        self_mask = with_padding(biased_causal_mask(T, H, self.cfg.period, audio.device), pad, B)
        cross_mask = with_padding(alignment_mask(T, self.cfg.align_radius, audio.device)[None].expand(H, T, T), pad, B)
        spec = self.spec(self.ppe(h), h, tgt_mask=self_mask, memory_mask=cross_mask)
        if lips_only:
            if not self.cfg.lip_from_spec:
                raise ValueError("lips_only needs lip_from_spec: this network's lips also read ProbAttn")
            return {"lip": self.heads["lip"](spec)}, audio.new_zeros(B, T)
        post = None
        if motion is not None:
            post = torch.cat([motion[s] for s in self.cfg.posterior_streams], dim=-1)
        prob, kl = self.prob(h, post, pad, temperature, generator, prior_z)
        feats = torch.cat([spec, prob], dim=-1)
        out = {name: head(spec if name == "lip" and self.cfg.lip_from_spec else feats)
               for name, head in self.heads.items()}
        if pad is not None:
            kl = kl.masked_fill(pad, 0.0)
        return out, kl
