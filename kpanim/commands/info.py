"""``kpanim info FILE``: what a kpanim .npz (animation or subject) or .glb holds."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import click
import numpy as np

from ..errors import FormatError


def describe_npz(path: Path) -> str:
    from ..formats.animation import npz_error

    try:
        with np.load(path, allow_pickle=False) as z:  # lazy: reads only these two small members
            kind = str(z["kind"]) if "kind" in z.files else "unknown"
            version = int(z["format_version"]) if "format_version" in z.files else -1
    except (ValueError, TypeError, OSError, zipfile.BadZipFile, EOFError, RuntimeError, KeyError) as err:
        raise npz_error(path, err) from None
    if kind == "animation":
        from ..formats.animation import Animation

        anim = Animation.load(path)
        lines = [f"{path}: kpanim animation (format v{version})",
                 f"  frames {anim.n_frames} at {anim.fps:g} fps = {anim.duration:.2f} s"]
        for name in ("lip", "eye", "dense", "head_pose", "torso"):
            arr = getattr(anim, name)
            lines.append(f"  {name:<9} {str(arr.shape):<16} motion std {float(arr.std(0).mean()):.4g}")
        if anim.arkit is not None:
            from ..animate.arkit import NAMES

            top = np.argsort(-anim.arkit.mean(0))[:3]
            lines.append(f"  arkit     {str(anim.arkit.shape):<16} ARKit-52 curves; highest means: "
                         + ", ".join(f"{NAMES[i]} {anim.arkit[:, i].mean():.2f}" for i in top))
        lines.append("  meta " + json.dumps(anim.meta, sort_keys=True))
        return "\n".join(lines)
    if kind == "subject":
        from ..tracking.subject import Subject

        subj = Subject.load(path)
        c = subj.camera
        return "\n".join([
            f"{path}: kpanim subject {subj.subject_id}",
            f"  image {c.width}x{c.height}, focal {c.focal:g} px, sha256 {subj.image_sha256[:16]}...",
            f"  head pose {np.round(subj.head_pose, 4).tolist()}",
            "  neutral mesh (478, 3), torso (18, 3)",
        ])
    raise FormatError(f"{path}: not a kpanim file (kind '{kind}'); give an animation or subject .npz, or a .glb, "
                      "written by kpanim")


@click.command("info")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def info_command(path: Path) -> None:
    """Show what a kpanim .npz (animation or subject) or .glb file holds."""
    if not path.is_file():
        raise FormatError(f"{path}: no such file; check the name and folder")
    if path.suffix.lower() == ".glb":
        from ..formats.gltf_import import describe_glb

        click.echo(describe_glb(path))
        return
    if not zipfile.is_zipfile(path):
        raise FormatError(f"{path}: not a kpanim .npz or .glb file; give a file written by kpanim (predict, "
                          "subject or export)")
    click.echo(describe_npz(path))
