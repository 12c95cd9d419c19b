"""Add viseme keyframes (kpanim.animate.visemes) to an existing MODA checkpoint, e.g. the shipped default.

    python scripts/add_viseme_prior.py --model RUN/moda.pt --data DATASET --blend 0.25 --out OUT/moda.pt

The keyframes are fitted on the checkpoint's own training clips (``info['train_clips']``) with its lip
normalisation, so they match what the network was trained on; ``--blend`` is stored as the default
``--viseme-blend`` of ``kpanim predict``. The FaCo-Net checkpoint the model names is copied next to
the output if it is not there yet. The input file is never modified.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import torch

from kpanim.errors import KpanimError
from kpanim.formats.checkpoint import read_checkpoint
from kpanim.formats.fileio import atomic_output


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, type=Path, help="MODA checkpoint to read")
    ap.add_argument("--data", required=True, action="append", help="dataset folder(s) with its training clips")
    ap.add_argument("--blend", type=float, default=0.0, help="default viseme blend weight to store (0-1)")
    ap.add_argument("--out", required=True, type=Path, help="output checkpoint (not the input)")
    args = ap.parse_args()
    if args.out.resolve() == args.model.resolve():
        raise SystemExit("--out must differ from --model (the input is never overwritten)")
    from kpanim.training.data import load_clip, select_clips
    from kpanim.training.viseme_prior import viseme_prior

    ckpt = read_checkpoint(args.model, "moda")
    norm = {k: v.float().numpy() for k, v in ckpt["norm"].items()}
    wanted = set(ckpt.get("info", {}).get("train_clips", []))
    if not wanted:
        raise KpanimError(f"{args.model}: no training clip list in its info; cannot fit keyframes")
    clips = [load_clip(Path(d), row) for d in args.data for row in select_clips(d, None) if row["clip_id"] in wanted]
    if len(clips) != len(wanted):
        print(f"warning: found {len(clips)} of the model's {len(wanted)} training clips")
    norm.update(viseme_prior(clips, args.data, norm, args.blend))
    ckpt["norm"] = {k: torch.as_tensor(np.asarray(v, np.float32)) for k, v in norm.items()}
    ckpt.setdefault("info", {})["viseme_prior"] = {"source": str(args.model), "blend": args.blend,
                                                   "clips": len(clips)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(args.out) as tmp:
        torch.save(ckpt, tmp)
    faco = ckpt["info"].get("faco", "faco_default.pt")
    if not (args.out.parent / faco).exists() and (args.model.parent / faco).exists():
        shutil.copy2(args.model.parent / faco, args.out.parent / faco)
    frames = norm["viseme_frames"]
    print(f"Wrote {args.out}: keyframes from {len(clips)} clips, frames per class "
          + ", ".join(f"{v}={f:.0f}" for v, f in zip("XABCDEFGH", frames)))


if __name__ == "__main__":
    main()
