"""``kpanim train lip-ensemble``: several trained MODA runs → one checkpoint whose lips are their mean.

The same recipe trained with different seeds makes errors that are partly independent; averaging the
lips of two seeds lifted the unseen-speaker mouth corr 0.545 → 0.552 and lowered LMD-m 0.0357 → 0.0352
(docs/MODEL.md). The first model is the main network (its eyes, head, torso, statistics and FaCo-Net
are used); the others join as ``lip_members`` (kpanim/formats/checkpoint.py), each with its own statistics.
Nothing is trained here: the members are trained with ``kpanim train moda --seed N``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from kpanim.errors import KpanimError


def combine(models: list[Path], out: Path) -> Path:
    """Write ``out/moda.pt``: ``models[0]`` with ``models[1:]`` as its lip members; returns its path."""
    import torch

    from kpanim.formats.checkpoint import build_network, read_checkpoint, save_checkpoint
    from kpanim.formats.fileio import check_output, file_sha256
    from kpanim.nets.moda import Moda, ModaConfig

    if len(models) < 2:
        raise KpanimError(f"a lip ensemble needs at least two MODA checkpoints, got {len(models)}; e.g. "
                          "kpanim train lip-ensemble runs/s0/moda.pt runs/s1/moda.pt --out runs/ensemble")
    target = out / "moda.pt"
    nets, half = [], False
    for path in models:
        ckpt = read_checkpoint(path, "moda")
        if ckpt.get("lip_members"):
            raise KpanimError(f"{path} is already a lip ensemble; pass the checkpoints of its members instead")
        nets.append((path, *build_network(ckpt, ModaConfig, Moda, path)))
        half = half or any(v.dtype == torch.float16 for v in ckpt["state_dict"].values())  # keep shipped fp16
    main_path, main, cfg, norm, info = nets[0]
    if not cfg.lip_from_spec:
        raise KpanimError(f"{main_path}: its lips read the sampled ProbAttn stream (lip_from_spec off), so its "
                          "lips change with the seed; ensemble networks trained with the default lip_from_spec")
    for path, _, other_cfg, _, other_info in nets[1:]:
        if other_cfg != cfg:
            raise KpanimError(f"{path}: its network config differs from {main_path}'s; ensemble runs of one recipe "
                              "(kpanim train moda with the same options, different --seed)")
        if other_info.get("frontend", {}).get("name") != info.get("frontend", {}).get("name"):
            raise KpanimError(f"{path}: audio front-end {other_info.get('frontend')} differs from {main_path}'s "
                              f"{info.get('frontend')}; the members must hear the same features")
    summary = [{"file": str(p), "sha256": file_sha256(p), "command": i.get("command"),
                "seed": (i.get("train_config") or {}).get("seed"), "cpu_seconds": i.get("cpu_seconds"),
                "val_metrics": i.get("val_metrics")} for p, _, _, _, i in nets]
    cpu = [i.get("cpu_seconds") for *_, i in nets]
    new_info = {**info, "lip_ensemble": summary, "command": " ".join(sys.argv),
                "cpu_seconds": round(sum(cpu), 1) if all(c is not None for c in cpu) else None}
    out.mkdir(parents=True, exist_ok=True)  # only now: every member has been checked
    check_output(target, {f"MODEL {k + 1}": p for k, p in enumerate(models)}, (".pt",))
    members = [(c, m, n, {"lip_ensemble_member": s}) for (_, m, c, n, _), s in zip(nets[1:], summary[1:])]
    save_checkpoint(target, "moda", cfg, main, norm, new_info, half=half, lip_members=members)
    faco = main_path.parent / info.get("faco", "faco.pt")
    if faco.is_file() and not (out / faco.name).exists():  # the main run's FaCo-Net composes the dense mesh
        shutil.copy2(faco, out / faco.name)
    return target


@click.command("lip-ensemble")
@click.argument("models", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder: moda.pt (and the first model's FaCo-Net, when it has one next to it).")
def command(models: tuple[Path, ...], out: Path) -> None:
    """Average the lips of MODELS (moda.pt of runs of one recipe with different seeds) in one checkpoint."""
    path = combine(list(models), out)
    click.echo(f"Wrote {path}: lips averaged over {len(models)} networks")
