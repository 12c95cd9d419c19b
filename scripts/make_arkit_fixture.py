"""Reference numbers for kpanim.animate.arkit: MediaPipe FaceLandmarker's own landmarks and blendshapes.

Runs FaceLandmarker (mediapipe 0.10.21, ``face_landmarker.task`` with ``output_face_blendshapes``) on
images and records, per face, the 478 landmarks in pixels, the image size and FaceLandmarker's 52
scores. With ``-o`` it writes them as a test fixture (numbers only, no pixels), from images whose
licence allows it: scikit-image's astronaut (public domain, NASA) and its mirror/rotations, and frames
of the GRID corpus clips (CC BY 4.0; Cooke, Barker, Cunningham & Shao 2006). With ``--report`` it also
prints the port's largest difference on every given image (e.g. the portraits of a local data folder,
which are not redistributable and are never written).

Usage:
  python scripts/make_arkit_fixture.py --task face_landmarker.task --grid GRID_CLIPS... -o tests/data/arkit_reference.npz
  python scripts/make_arkit_fixture.py --task face_landmarker.task --report IMAGES...
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def landmarker(task: Path):
    from mediapipe.tasks import python as mpt
    from mediapipe.tasks.python import vision

    opts = vision.FaceLandmarkerOptions(base_options=mpt.BaseOptions(model_asset_path=str(task)),
                                        output_face_blendshapes=True, num_faces=1)
    return vision.FaceLandmarker.create_from_options(opts)


def detect(det, rgb: np.ndarray):
    import mediapipe as mp

    res = det.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb)))
    if not res.face_landmarks:
        return None
    h, w = rgb.shape[:2]
    pts = np.array([[p.x * w, p.y * h, p.z * w] for p in res.face_landmarks[0]], np.float32)
    cats = res.face_blendshapes[0]
    return pts, np.array([c.score for c in cats], np.float32), [c.category_name for c in cats]


def astronaut_images():
    from skimage import data
    from skimage.transform import rotate

    img = data.astronaut()
    yield "astronaut", img
    yield "astronaut_mirrored", img[:, ::-1]
    for angle in (-12, 12):
        yield f"astronaut_rot{angle}", (rotate(img, angle, mode="edge") * 255).astype(np.uint8)


def grid_frames(paths: list[Path], per_clip: int):
    import av

    for path in paths:
        with av.open(str(path)) as box:
            frames = [f.to_ndarray(format="rgb24") for f in box.decode(video=0)]
        for k in np.linspace(0, len(frames) - 1, per_clip).round().astype(int):
            yield f"{path.stem}#{k}", frames[k]


def load_image(path: Path) -> np.ndarray:
    from PIL import Image, ImageOps

    return np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", type=Path, required=True)
    ap.add_argument("--grid", type=Path, nargs="*", default=[], help="GRID corpus clips (CC BY 4.0)")
    ap.add_argument("--per-clip", type=int, default=4)
    ap.add_argument("-o", "--output", type=Path, default=None)
    ap.add_argument("--report", type=Path, nargs="*", default=[], help="images to check the port on (not saved)")
    args = ap.parse_args()
    from kpanim.animate.arkit import NAMES, from_landmarks

    det = landmarker(args.task)
    if args.output:
        rows = []
        for name, rgb in [*astronaut_images(), *grid_frames(args.grid, args.per_clip)]:
            found = detect(det, rgb)
            if found is None:
                print(f"{name}: no face")
                continue
            pts, scores, names = found
            assert tuple(names) == NAMES, names
            rows.append((name, pts, scores, (rgb.shape[1], rgb.shape[0])))
        np.savez_compressed(
            args.output, names=np.array([r[0] for r in rows]), landmarks_px=np.stack([r[1] for r in rows]),
            blendshapes=np.stack([r[2] for r in rows]), image_size=np.array([r[3] for r in rows], np.int32),
            mediapipe_version=np.array(__import__("mediapipe").__version__))
        print(f"wrote {args.output}: {len(rows)} faces")
    worst = []
    for path in args.report:
        found = detect(det, load_image(path))  # the image is decoded twice: a one-off script
        if found is None:
            print(f"{path.name}: no face")
            continue
        pts, scores, _ = found
        rgb = load_image(path)
        diff = np.abs(from_landmarks(pts, (rgb.shape[1], rgb.shape[0])) - scores)
        worst.append(diff.max())
        print(f"{path.name}: max |port - FaceLandmarker| = {diff.max():.2e} (jawOpen {scores[25]:.3f})")
    if worst:
        print(f"{len(worst)} images: max {max(worst):.2e}, median {np.median(worst):.2e}")


if __name__ == "__main__":
    main()
