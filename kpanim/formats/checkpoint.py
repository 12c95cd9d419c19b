"""Checkpoints that carry everything needed to rebuild a network (whisper style).

A checkpoint is a ``torch.save`` dict: ``kind`` ("moda"/"faco"), ``format`` version, the kpanim
version that wrote it, the network's ``config`` (its frozen dataclass as a dict), the ``state_dict``
(optionally fp16), the normalisation statistics ``norm`` (name → array) and free-form ``info``
(front-end, training config, data list, metrics). A MODA checkpoint may also carry ``lip_members``:
further networks of the same kind (each its own ``config``, ``state_dict``, ``norm``, ``info``) whose
lips are averaged with the main network's (a seed ensemble; format 2). Loading is strict: an unknown config field, a
missing or unexpected weight, a shape mismatch or a damaged file is a one-line KpanimError.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..errors import KpanimError

CHECKPOINT_FORMAT = 2  # 2 added the optional lip_members; files without them are still written as 1


def _network_entry(config: Any, model: torch.nn.Module, norm: dict[str, np.ndarray], info: dict | None,
                   half: bool) -> dict:
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone()
             for k, v in model.state_dict().items()}
    return {"config": dataclasses.asdict(config), "state_dict": state,
            "norm": {k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in norm.items()},
            "info": dict(info or {})}


def save_checkpoint(path: str | os.PathLike, kind: str, config: Any, model: torch.nn.Module,
                    norm: dict[str, np.ndarray], info: dict | None = None, half: bool = False,
                    lip_members: list[tuple[Any, torch.nn.Module, dict, dict]] = ()) -> str:
    """Write atomically; returns the file's sha256. ``half`` stores float weights as fp16 (shipping).
    ``lip_members``: (config, model, norm, info) of the networks whose lips join the main one's."""
    payload = {"kpanim_checkpoint": 2 if lip_members else 1, "kind": kind, "kpanim_version": __version__,
               **_network_entry(config, model, norm, info, half)}
    if lip_members:
        payload["lip_members"] = [_network_entry(*member, half) for member in lip_members]
    from .fileio import atomic_output, file_sha256

    path = Path(path)
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)
    return file_sha256(path)


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
    check_format_version(path, ckpt["kpanim_checkpoint"], CHECKPOINT_FORMAT)
    if ckpt.get("kind") != kind:
        raise KpanimError(f"{path}: this is a '{ckpt.get('kind')}' checkpoint, expected '{kind}'; pass a '{kind}' "
                          "checkpoint")
    return ckpt


def check_format_version(path: str | os.PathLike, version, newest: int) -> None:
    """A checkpoint's ``kpanim_checkpoint`` format version must be an integer this kpanim reads (<= ``newest``)."""
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise KpanimError(f"{path}: checkpoint format {version!r} is not a version number (damaged file?); pass a "
                          "checkpoint written by kpanim")
    if version > newest:
        raise KpanimError(f"{path}: checkpoint format {version} is newer than this kpanim reads ({newest}); "
                          "upgrade kpanim")


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


def build_network(entry: dict, config_cls: type, model_cls: type, path: str | os.PathLike = "checkpoint"):
    """(model in eval mode, config, norm as numpy dict, info) from one network entry of a checkpoint."""
    cfg = build_config(config_cls, entry["config"], path)
    model = model_cls(cfg)
    load_state_strict(model, entry["state_dict"], path)
    model.eval()
    norm = {k: v.numpy() for k, v in entry["norm"].items()}
    return model, cfg, norm, entry.get("info", {})


def load_network(path: str | os.PathLike, kind: str, config_cls: type, model_cls: type):
    """(model in eval mode, config, norm as numpy dict, info) of a checkpoint file's main network."""
    return build_network(read_checkpoint(path, kind), config_cls, model_cls, path)
