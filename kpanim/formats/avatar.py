"""A user's character for ``kpanim view --avatar``: which of its morph targets the ARKit curves can drive.

The browser page does the driving (kpanim/data/viewer/common.js); this module checks the file before it
is served, so a wrong file fails in the terminal with one line instead of a silent, motionless character.
Morph-target names are read from ``mesh.extras.targetNames`` (where Blender's exporter, Ready Player Me,
VRoid and most tools put them, and where three.js' GLTFLoader reads them) or, failing that, from a
primitive's ``extras.targetNames``; they match an ARKit name by :func:`kpanim.animate.arkit.normalise_name`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import FormatError, KpanimError

# A .vrm is a glTF binary with VRM extensions; a .gltf (JSON + separate buffers and textures) is refused:
# the viewer serves the one file the user named, nothing next to it.
AVATAR_SUFFIXES = (".glb", ".vrm")
# Compression the page cannot read: it ships the Draco and meshopt decoders, not the Basis (KTX2) texture
# transcoder. three.js fails on it only when the file has no uncompressed fallback, i.e. lists it as required.
NEEDS_DECODER = {"KHR_texture_basisu": "Basis (KTX2)"}


@dataclasses.dataclass(frozen=True)
class AvatarCheck:
    """What the file offers: its morph-target names (each once, file order), the ARKit names (Apple's
    camelCase) that some morph target matches, and those that none does."""

    path: Path
    morph_names: tuple[str, ...]
    matched: tuple[str, ...]
    missing: tuple[str, ...]


def morph_target_names(gltf) -> list[str]:
    """Every mesh's morph-target names (``mesh.extras.targetNames``, else its primitives'), each once."""
    names: list[str] = []
    for mesh in gltf.meshes or []:
        lists = [_target_names(mesh.extras)] + [_target_names(p.extras) for p in mesh.primitives or []]
        for name in next((x for x in lists if x), []):
            if name not in names:
                names.append(name)
    return names


def _target_names(extras) -> list[str]:
    value = extras.get("targetNames") if isinstance(extras, dict) else None
    return [n for n in value if isinstance(n, str)] if isinstance(value, list) else []


def check_avatar(path: Path) -> AvatarCheck:
    """Check ``path`` is a glTF binary character with at least one morph target named after an ARKit shape.

    Raises:
        KpanimError: missing file, not a .glb/.vrm, damaged, or no ARKit-named morph targets (one line each).
    """
    from ..animate.arkit import APPLE_NAMES, normalise_name
    from .gltf_import import read_glb

    path = Path(path)
    if not path.is_file():
        raise KpanimError(f"--avatar {path}: no such file; give your character as a .glb (or .vrm)")
    suffix = path.suffix.lower()
    if suffix not in AVATAR_SUFFIXES:
        hint = " (a .gltf with separate files: re-export it as one .glb)" if suffix == ".gltf" else ""
        raise KpanimError(f"--avatar {path.name}: expected a binary glTF character (.glb or .vrm), got "
                          f"'{suffix or path.name}'{hint}; export the character as .glb")
    with open(path, "rb") as fh:
        if fh.read(4) != b"glTF":
            raise KpanimError(f"--avatar {path.name}: not a binary glTF file; export the character as .glb")
    try:
        gltf = read_glb(path)
    except FormatError as err:  # its advice is for kpanim's own files: say what fits a character
        reason = str(err).split(": ", 1)[-1].split(";", 1)[0]
        raise KpanimError(f"--avatar {path.name}: {reason}; export the character again as .glb") from None
    required = set(gltf.extensionsRequired or [])
    blocked = sorted(e for e in NEEDS_DECODER if e in required)
    if blocked:
        raise KpanimError(f"--avatar {path.name}: compressed with {NEEDS_DECODER[blocked[0]]} ({blocked[0]}), which "
                          "the viewer cannot decode; export the character without it (Draco and meshopt work)")
    names = morph_target_names(gltf)
    keys = {normalise_name(n) for n in names}
    matched = tuple(n for n in APPLE_NAMES if normalise_name(n) in keys)
    if not matched:
        raise KpanimError(f"--avatar {path.name}: has no morph targets named after ARKit shapes (jawOpen, "
                          f"eyeBlinkLeft, ...; it has {len(names)} morph targets); export the character with "
                          "its ARKit shape keys")
    return AvatarCheck(path, tuple(names), matched, tuple(n for n in APPLE_NAMES if n not in matched))
