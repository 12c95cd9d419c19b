"""Ship a trained MODA + FaCo-Net pair as kpanim's default model (kpanim/data/moda_default.*).

    python scripts/package_default_model.py --moda RUN/moda.pt --faco RUN2/faco.pt \
        --eval RUN/eval.json --data DATASET

Writes fp16 ``moda_default.pt`` + ``faco_default.pt`` and the model card ``moda_default.json``
(sha256 of both files, configs, front-end, train/val clip lists, validation metrics against the
baselines, the training commands and their CPU time). Adds the blink prior to the statistics when
the run predates it. Nothing here trains: the numbers are the run's own. Paths of this machine
(datasets, run folders) are replaced by placeholders in the card and in the shipped checkpoints' info.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from kpanim import __version__
from kpanim.formats.checkpoint import build_network, load_network, read_checkpoint, save_checkpoint
from kpanim.nets.faconet import Faconet, FaconetConfig
from kpanim.nets.moda import Moda, ModaConfig

DATA = Path(__file__).resolve().parents[1] / "kpanim" / "data"


def scrub_paths(obj, names: dict[str, str]):
    """``obj`` with every absolute path replaced: the ones in ``names`` by their placeholder, any other
    by its last component (a card says what was used, not where it lay on one machine)."""
    if isinstance(obj, dict):
        return {scrub_paths(k, names): scrub_paths(v, names) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [scrub_paths(v, names) for v in obj]
    if not isinstance(obj, str):
        return obj
    for path, placeholder in names.items():
        obj = obj.replace(path.rstrip("/"), placeholder)
    obj = re.sub(r"^\S*/kpanim ", "kpanim ", obj)  # the console script as the user types it
    return re.sub(r"(?<![\w.])/(?:[\w.+-]+/)*([\w.+-]+)", r"\1", obj)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moda", required=True)
    ap.add_argument("--faco", required=True)
    ap.add_argument("--eval", help="kpanim eval --json output on the val split")
    ap.add_argument("--data", help="dataset the run trained on (to add the blink prior if missing)")
    args = ap.parse_args()
    ckpt = read_checkpoint(args.moda, "moda")
    moda, mcfg, norm, info = build_network(ckpt, ModaConfig, Moda, args.moda)
    faco, fcfg, fnorm, finfo = load_network(args.faco, "faco", FaconetConfig, Faconet)
    if "blink_shape" not in norm:
        from kpanim.training.blinks import blink_statistics
        from kpanim.training.data import load_clips

        norm.update(blink_statistics(load_clips([args.data], "train", progress=False)))
    names = {str(Path(args.data).resolve()): "DATASET", args.data: "DATASET"} if args.data else {}
    info = scrub_paths(dict(info, faco="faco_default.pt"), names)
    finfo = scrub_paths(dict(finfo), names)
    members = [(c, m, n, scrub_paths(dict(i), names))  # a lip ensemble's other networks (kpanim/formats/checkpoint.py)
               for m, c, n, i in (build_network(e, ModaConfig, Moda, args.moda) for e in ckpt.get("lip_members", []))]
    moda_sha = save_checkpoint(DATA / "moda_default.pt", "moda", mcfg, moda, norm, info, half=True,
                               lip_members=members)
    if Path(args.faco).resolve() == (DATA / "faco_default.pt").resolve():  # FaCo-Net unchanged: keep its bytes
        from kpanim.formats.fileio import file_sha256

        faco_sha = file_sha256(DATA / "faco_default.pt")
    else:
        faco_sha = save_checkpoint(DATA / "faco_default.pt", "faco", fcfg, faco, fnorm, finfo, half=True)
    ev = json.loads(Path(args.eval).read_text()) if args.eval else None
    if ev:  # the shipped model's row (named as given to kpanim eval) and the baselines
        shipped = (args.moda, "kpanim/data/moda_default.pt")
        ev["mean"] = {("kpanim default" if k in shipped else k): v for k, v in ev["mean"].items()
                      if k in shipped or not k.endswith(".pt")}
        ev = scrub_paths({k: ev.get(k) for k in ("mean", "command", "cpu_seconds", "split")}, names)
    card = {
        "name": "kpanim default MODA model", "kpanim_version": __version__,
        "files": {"moda_default.pt": {"sha256": moda_sha, "bytes": (DATA / "moda_default.pt").stat().st_size},
                  "faco_default.pt": {"sha256": faco_sha, "bytes": (DATA / "faco_default.pt").stat().st_size}},
        "frontend": info.get("frontend"),
        "moda_config": info.get("train_config"), "faco_config": finfo.get("train_config"),
        "parameters": {"moda": sum(p.numel() for p in moda.parameters()) * (1 + len(members)),
                       "faco": sum(p.numel() for p in faco.parameters())},
        "lip_gain": float(norm.get("lip_gain", np.ones(1))[0]),
        "blink_rate_per_min": float(norm["blink_rate"][0]),
        "train_clips": info.get("train_clips"), "val_clips": info.get("val_clips"),
        "training": {"moda": {"command": info.get("command"), "cpu_seconds": info.get("cpu_seconds"),
                              "wall_seconds": info.get("wall_seconds"), "lip_ensemble": info.get("lip_ensemble")},
                     "faco": {"command": finfo.get("command"), "cpu_seconds": finfo.get("cpu_seconds"),
                              "wall_seconds": finfo.get("wall_seconds")}},
        "validation_in_training": {"moda": info.get("val_metrics"), "faco": finfo.get("val_metrics")},
        "validation_kpanim_eval": ev["mean"] if ev else None,
        "validation_kpanim_eval_command": ev.get("command") if ev else None,
        "validation_kpanim_eval_cpu_seconds": ev.get("cpu_seconds") if ev else None,
        "seeds": {"training": [m.get("seed") for m in info["lip_ensemble"]] if info.get("lip_ensemble") else
                  (info.get("train_config") or {}).get("seed"), "kpanim_eval_predict": 0},
        "training_data": "Clips prepared (kpanim prepare) from the project's development corpus: research "
                         "datasets and web video (GRID, LRS2, VoxCeleb2, HDTF-style, MEAD, ...), each under its own "
                         "terms (many non-commercial / research only). The weights are for research and evaluation.",
    }
    (DATA / "moda_default.json").write_text(json.dumps(card, indent=1) + "\n")
    print(f"moda_default.pt {moda_sha[:12]}  faco_default.pt {faco_sha[:12]}  card moda_default.json")


if __name__ == "__main__":
    main()
