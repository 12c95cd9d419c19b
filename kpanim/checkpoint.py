"""Checkpoints that carry everything needed to rebuild a network (whisper style).

A checkpoint is a ``torch.save`` dict: ``kind`` ("moda"/"faco"), ``format`` version, the kpanim
version that wrote it, the network's ``config`` (its frozen dataclass as a dict), the ``state_dict``
(optionally fp16), the normalisation statistics ``norm`` (name → array) and free-form ``info``
(front-end, training config, data list, metrics). Loading is strict: an unknown config field, a
missing or unexpected weight, a shape mismatch or a damaged file is a one-line KpanimError.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__
from .errors import KpanimError

CHECKPOINT_FORMAT = 1


def save_checkpoint(path: str | os.PathLike, kind: str, config: Any, model: torch.nn.Module,
                    norm: dict[str, np.ndarray], info: dict | None = None, half: bool = False) -> str:
    """Write atomically; returns the file's sha256. ``half`` stores float weights as fp16 (shipping)."""
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone()
             for k, v in model.state_dict().items()}
    payload = {
        "kpanim_checkpoint": CHECKPOINT_FORMAT,
        "kind": kind,
        "kpanim_version": __version__,
        "config": dataclasses.asdict(config),
        "state_dict": state,
        "norm": {k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in norm.items()},
        "info": dict(info or {}),
    }
    from .fileio import atomic_output

    path = Path(path)
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)
    return file_sha256(path)


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def read_checkpoint(path: str | os.PathLike, kind: str) -> dict:
    """The raw checkpoint dict, checked for kind and format version."""
    path = Path(path)
    if not path.is_file():
        raise KpanimError(f"{path}: no such model file; pass a checkpoint written by 'kpanim train {kind}'")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means a damaged/foreign file
        raise KpanimError(f"{path}: not a readable kpanim checkpoint ({str(err).splitlines()[0][:120]}); pass a "
                          f"checkpoint written by 'kpanim train {kind}'") from None
    if not isinstance(ckpt, dict) or "kpanim_checkpoint" not in ckpt:
        raise KpanimError(f"{path}: not a kpanim checkpoint (no 'kpanim_checkpoint' marker); pass one written by "
                          f"'kpanim train {kind}'")
    if ckpt["kpanim_checkpoint"] > CHECKPOINT_FORMAT:
        raise KpanimError(f"{path}: checkpoint format {ckpt['kpanim_checkpoint']} is newer than this kpanim "
                          f"reads ({CHECKPOINT_FORMAT}); upgrade kpanim")
    if ckpt.get("kind") != kind:
        raise KpanimError(f"{path}: this is a '{ckpt.get('kind')}' checkpoint, expected '{kind}'; pass a '{kind}' "
                          "checkpoint")
    return ckpt


def build_config(config_cls: type, values: dict, path: str | os.PathLike = "checkpoint") -> Any:
    """Rebuild a frozen config dataclass; unknown or ill-typed fields are an error, not ignored."""
    names = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise KpanimError(f"{path}: config fields {unknown} are unknown to {config_cls.__name__} "
                          "(checkpoint from another kpanim version?)")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return config_cls(**values)


def load_state_strict(model: torch.nn.Module, state: dict, path: str | os.PathLike = "checkpoint") -> None:
    """``load_state_dict(strict=True)`` whose failure names what does not match."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own.keys() & state.keys() if own[k].shape != state[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} weight(s) e.g. {missing[0]}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} e.g. {unexpected[0]}")
        if shapes:
            parts.append(f"shape mismatch {shapes[0]}")
        raise KpanimError(f"{path}: checkpoint does not match the network ({'; '.join(parts)})")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)


def load_network(path: str | os.PathLike, kind: str, config_cls: type, model_cls: type):
    """(model in eval mode, config, norm as numpy dict, info) from a checkpoint file."""
    ckpt = read_checkpoint(path, kind)
    cfg = build_config(config_cls, ckpt["config"], path)
    model = model_cls(cfg)
    load_state_strict(model, ckpt["state_dict"], path)
    model.eval()
    norm = {k: v.numpy() for k, v in ckpt["norm"].items()}
    return model, cfg, norm, ckpt.get("info", {})
