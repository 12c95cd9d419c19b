"""Figures for the README, made from public-domain inputs only (scikit-image's astronaut photo).

Usage: python scripts/make_readme_figures.py
  → docs/img/subject_astronaut.jpg (what a subject holds)
  → docs/img/demo_talk.jpg (frames of `kpanim demo`'s talking portrait: espeak speech → shipped model → renderer)
"""

from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage import data

from kpanim.face import constants
from kpanim.tracking.subject import make_subject

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = OUT / "_astronaut.png"
    Image.fromarray(data.astronaut()).save(tmp)
    subj = make_subject(tmp)
    tmp.unlink()
    img = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    px = subj.project_face()
    for tri in constants.triangles():
        cv2.polylines(img, [np.round(px[tri] * 4).astype(np.int32)], True, (200, 200, 200), 1, cv2.LINE_AA, shift=2)
    for idx, colour in ((constants.lip_index(), (60, 60, 255)), (constants.eye_index(), (255, 160, 40))):
        for p in px[idx]:
            cv2.circle(img, tuple(np.round(p * 4).astype(int)), 6, colour, -1, cv2.LINE_AA, shift=2)
    for p in subj.torso_px:
        cv2.circle(img, tuple(np.round(p * 4).astype(int)), 14, (60, 220, 60), -1, cv2.LINE_AA, shift=2)
    crop = img[20:420, 56:456]
    cv2.imwrite(str(OUT / "subject_astronaut.jpg"), crop, [cv2.IMWRITE_JPEG_QUALITY, 85])


def talk_strip() -> None:
    import tempfile

    import av

    from kpanim.commands.demo import demo_command

    with tempfile.TemporaryDirectory() as tmp:
        demo_command.main(["-o", tmp], standalone_mode=False)
        frames = []
        with av.open(f"{tmp}/talk.mp4") as box:
            for i, frame in enumerate(box.decode(video=0)):
                if i in (12, 40, 68, 96, 124, 152):
                    rgb = frame.to_ndarray(format="rgb24")
                    frames.append(np.asarray(Image.fromarray(rgb).resize((200, 200), Image.LANCZOS)))
    Image.fromarray(np.concatenate(frames, axis=1)).save(OUT / "demo_talk.jpg", quality=85)


if __name__ == "__main__":
    main()
    talk_strip()
