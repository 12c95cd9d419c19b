"""How the drawn mouth interior (``renderer/mouth.py``) compares with real open mouths, by depth in the opening.

    python benchmarks/bench_mouth_layer.py [--dataset datasets/shared_v2] [--every 3]

For prepared training clips (every ``--every``-th of the dataset's train split) the renderer's training pairs are
rebuilt with the current warp; inside the target's inner-lip polygon (middle 40 % of its width), each column is cut
into 6 slices from the upper to the lower lip, and the luma of the real frame and of the warp is divided by the
face's median luma. Printed per opening size (polygon area on the 256² crop): 25th/50th/75th percentiles per slice.
The layer's proportions (tongue, lower teeth) were set so that the medians match. Needs the dataset's source videos.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from kpanim.renderer import data as rdata
from kpanim.renderer.mouth import LUMA
from kpanim.renderer.sketch import inner_mouth_mask

SIZES = ((150, 400), (400, 900), (900, 10 ** 6))
SLICES = 6


def depth_profile(pairs: dict, acc: dict) -> None:
    """Add the luma-by-depth samples of one clip's pairs to ``acc[(size bin, 'target'|'warped')]``."""
    for i, m in enumerate(inner_mouth_mask(pairs["sketch"])):
        area = int(m.sum())
        size = next((j for j, (lo, hi) in enumerate(SIZES) if lo <= area < hi), None)
        if size is None:
            continue
        xs = np.nonzero(m)[1]
        x0, x1 = np.percentile(xs, [30, 70]).astype(int)
        ref = np.median(pairs["target"][i][96:160, 64:192].reshape(-1, 3).astype(np.float64) @ LUMA)
        for key in ("target", "warped"):
            img = pairs[key][i].astype(np.float64) @ LUMA / ref
            for x in range(x0, x1 + 1):
                col = np.flatnonzero(m[:, x])
                if len(col) < 4:
                    continue
                depth = np.minimum(((col - col[0]) / (col[-1] - col[0]) * SLICES).astype(int), SLICES - 1)
                for j in range(SLICES):
                    acc[(size, key)][j].extend(img[col[depth == j], x])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=Path("datasets/shared_v2"))
    ap.add_argument("--every", type=int, default=3)
    args = ap.parse_args()
    index = json.loads((args.dataset / "index.json").read_text())
    clips = [args.dataset / "clips" / f"{r['clip_id']}.npz" for r in index if r["split"] == "train"][::args.every]
    acc = {(s, k): [[] for _ in range(SLICES)] for s in range(len(SIZES)) for k in ("target", "warped")}
    for clip in clips:
        pairs = rdata.make_pairs(rdata.prepared_clip_frames(clip, 48, 8), 32, 256)
        depth_profile(pairs, acc)
    for (size, key), slices in acc.items():
        if slices[0]:
            cells = " ".join(f"{np.percentile(v, 25):.2f}/{np.median(v):.2f}/{np.percentile(v, 75):.2f}" for v in slices)
            print(f"area {SIZES[size][0]}-{SIZES[size][1]} px {key:7s} {cells}")


if __name__ == "__main__":
    main()
