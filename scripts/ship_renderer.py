"""Install a trained renderer checkpoint as the package default, with its model card.

    python scripts/ship_renderer.py RUN.renderer.pt [--bench benchmarks/results/render.json]

Writes kpanim/data/renderer_default.pt (weights + config + provenance) and
kpanim/data/renderer_default.json (sha256, config, training data, command, CPU time, val scores).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--bench", type=Path, default=None, help="bench_render.py results to quote in the card")
    ap.add_argument("--started-from", default=None,
                    help="what the run started from, in words (needed when its --init was a file: a path "
                         "means nothing on another machine)")
    args = ap.parse_args()
    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    if ckpt.get("kind") != "kpanim-renderer":
        raise SystemExit(f"{args.checkpoint}: not a renderer checkpoint")
    dest = ROOT / "kpanim" / "data" / "renderer_default.pt"
    shutil.copyfile(args.checkpoint, dest)
    extra = ckpt["extra"]
    init = extra.get("init")
    if init not in (None, "none", "default") and not args.started_from:
        raise SystemExit(f"the run started from the file {init}: describe it with --started-from '...'")
    card = {
        "file": dest.name,
        "sha256": hashlib.sha256(dest.read_bytes()).hexdigest(),
        "bytes": dest.stat().st_size,
        "network": "TPE U-Net (kpanim.renderer.unet.TPEUNet)",
        "config": ckpt["config"],
        "parameters": sum(v.numel() for v in ckpt["state_dict"].values()),
        "training_data": (("pairs of frames of the clips of a `kpanim prepare` dataset (prepared keypoints + their "
                           "source videos) of " if any(str(v).endswith(".npz") for v in extra.get("train_videos", []))
                           else "pairs of frames of ") +
                          "the talking-face videos in ../shared/data (research datasets and web clips, see its "
                          "MANIFEST.md licensing: research use only); "
                          f"{len(extra.get('train_videos', []))} clips/videos, {extra.get('pairs')} pairs"),
        "training_losses": {k: v for k, v in (extra.get("train_config") or {}).items()
                            if k.endswith("_weight") or k in ("lr", "d_lr", "d_channels", "gan_start_step")},
        "held_out_videos": extra.get("val_videos"),
        "command": extra.get("command"),
        "steps": extra.get("steps"),
        "weight_average": extra.get("weight_average"),
        "started_from": args.started_from or init,
        "earlier_training": extra.get("init_provenance"),
        "train_config": extra.get("train_config"),
        "cpu_seconds": extra.get("cpu_seconds"),
        "wall_seconds": extra.get("wall_seconds"),
        "threads": extra.get("threads"),
        "val_scores_random_pairs": {"before": extra.get("eval_before"), "after": extra.get("eval_after")},
    }
    if args.bench and args.bench.is_file():
        bench = json.loads(args.bench.read_text())
        if "realism" in bench:
            card["val_scores_first_frame_reference"] = {k: bench["realism"][k] for k in ("pairs", "warp", "neural")}
        for key in ("mouth", "blinks"):
            if key in bench:
                card[f"val_{key}"] = {k: v for k, v in bench[key].items() if k != "baseline"}
    sys.path.insert(0, str(Path(__file__).parent))
    from package_default_model import scrub_paths  # no machine paths in a shipped card

    (dest.with_suffix(".json")).write_text(json.dumps(scrub_paths(card, {}), indent=1) + "\n")
    print(f"installed {dest} ({card['bytes'] / 1e6:.1f} MB), card {dest.with_suffix('.json').name}")


if __name__ == "__main__":
    main()
