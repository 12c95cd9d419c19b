"""Build blender_addon/face_topology.npz: the face-mesh topology the Blender add-on ships.

The add-on runs inside Blender's own Python, which has numpy but not kpanim, so it cannot read
``kpanim/data/face_constants.npz`` through ``kpanim.face.constants``. This script copies the parts it
needs (triangles, canonical template, lip/eye/face-oval index sets) into the add-on folder;
``tests/test_blender_core.py`` checks that the copy matches the source.

Usage: python scripts/make_blender_face_topology.py [-o blender_addon/face_topology.npz]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from kpanim.face import constants

OUT = Path(__file__).resolve().parents[1] / "blender_addon" / "face_topology.npz"


def topology_arrays() -> dict[str, np.ndarray]:
    return {
        "triangles": np.asarray(constants.triangles(), dtype=np.int32),
        "template": np.asarray(constants.template(), dtype=np.float32),
        "lip_index": np.asarray(constants.lip_index(), dtype=np.int32),
        "eye_index": np.asarray(constants.eye_index(), dtype=np.int32),
        "face_oval_index": np.asarray(constants.face_oval_index(), dtype=np.int32),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    args = parser.parse_args()
    np.savez_compressed(args.output, **topology_arrays())
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
