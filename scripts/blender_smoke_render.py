"""Render a kpanim animation through the Blender add-on, headless (Workbench): a quick look, and the
picture in docs/BLENDER.md.

The add-on zip is built and installed into a private extension repository of a throw-away Blender
profile, the animation is imported with ``bpy.ops.kpanim.import_animation``, small spheres mark the
18 torso points (empties do not render), the camera is aimed at face and shoulders, and the chosen
frames are rendered side by side into one PNG.

Usage:
  python scripts/blender_smoke_render.py ANIM.npz -o out.png [--frames 1,13,25] [--size 256]
  python scripts/blender_smoke_render.py --demo -o docs/img/blender_smoke.png
(--demo animates the astronaut portrait's own face: kpanim's subject fit + a synthetic jaw/head motion.)
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def demo_animation(path: Path, n_frames: int = 50, fps: float = 25.0) -> Path:
    """The astronaut portrait's subject (neutral face, head pose, shoulders) opening its jaw and turning."""
    from PIL import Image
    from skimage.data import astronaut

    from kpanim import Animation
    from kpanim.tracking.subject import make_subject

    portrait = path.with_name("astronaut.png")
    Image.fromarray(astronaut()).save(portrait)
    subject = make_subject(portrait)
    neutral = np.asarray(subject.neutral, dtype=np.float64)
    t = np.arange(n_frames) / fps
    jaw = np.clip((neutral[14, 1] + 0.004 - neutral[:, 1]) / 0.012, 0, 1)
    opening = 0.012 * np.abs(np.sin(2 * np.pi * 1.2 * t))
    dense = neutral[None].repeat(n_frames, 0)
    dense[:, :, 1] -= opening[:, None] * jaw
    pose = np.asarray(subject.head_pose, dtype=np.float64)[None].repeat(n_frames, 0)
    pose[:, 1] += 0.25 * np.sin(2 * np.pi * 0.5 * t)
    torso = np.asarray(subject.torso, dtype=np.float64)[None].repeat(n_frames, 0)
    Animation.from_dense(dense, pose, torso, fps=fps, meta={"demo": "astronaut"}).save(path)
    return path


def render(anim_path: Path, out_png: Path, frames: list[int], size: int) -> Path:
    work = Path(tempfile.mkdtemp(prefix="kpanim_render_"))
    os.environ.setdefault("BLENDER_USER_RESOURCES", str(work / "profile"))
    import bpy
    from PIL import Image

    from kpanim.commands.blender_addon import build_addon_zip

    (work / "repo").mkdir()
    bpy.context.preferences.extensions.repos.new(name="kpanim_render", module="kpanim_render",
                                                 custom_directory=str(work / "repo"), source="USER")
    zpath = build_addon_zip(work)
    bpy.ops.extensions.package_install_files(filepath=str(zpath), repo="kpanim_render", enable_on_install=True)
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    bpy.ops.kpanim.import_animation(filepath=str(anim_path), use_sound=False)
    scene = bpy.context.scene
    objects = [o for o in scene.objects if o.get("kpanim_role")]
    face = next(o for o in objects if o.get("kpanim_role") == "face")
    torso = [o for o in objects if o.get("kpanim_role") == "torso"]
    for empty in torso:
        bpy.ops.mesh.primitive_uv_sphere_add(radius=0.006, segments=12, ring_count=8)
        bpy.context.active_object.parent = empty

    # Aim the camera at face + shoulders (first frame) and open it just enough to hold them.
    scene.frame_set(scene.frame_start)
    points = [np.array(face.matrix_world) @ np.append(v.co, 1.0) for v in face.data.vertices]
    points = np.array([p[:3] for p in points] + [np.array(e.matrix_world)[:3, 3] for e in torso])
    cam = scene.camera
    centre = (points.min(0) + points.max(0)) / 2
    direction = centre / np.linalg.norm(centre)
    # Cameras look down their local -Z; X = 90° + elevation turns that to the target's pitch, Z to its yaw.
    cam.rotation_euler = (math.pi / 2 + math.asin(direction[2]), 0.0, math.atan2(-direction[0], direction[1]))
    radius = np.max(np.linalg.norm(points - centre, axis=1))
    cam.data.angle = 2 * math.atan(1.15 * radius / np.linalg.norm(centre))

    scene.render.engine = "BLENDER_WORKBENCH"
    scene.world = scene.world or bpy.data.worlds.new("kpanim_render")
    scene.world.color = (0.18, 0.2, 0.23)  # Workbench renders the world colour as the background
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "SINGLE"
    scene.display.shading.single_color = (0.8, 0.62, 0.52)
    scene.display.shading.show_cavity = True
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    tiles = []
    for frame in frames:
        scene.frame_set(frame)
        scene.render.filepath = str(work / f"frame_{frame:04d}.png")
        bpy.ops.render.render(write_still=True)
        tiles.append(Image.open(scene.render.filepath).convert("RGB"))
    sheet = Image.new("RGB", (size * len(tiles), size))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, (i * size, 0))
    out_png.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_png, optimize=True)
    return out_png


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("animation", nargs="?", type=Path, help="kpanim .npz (omit with --demo)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--frames", default="1,13,25", help="comma-separated Blender frames (1 = first)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--demo", action="store_true", help="animate the astronaut portrait's face")
    args = parser.parse_args()
    if args.demo:
        args.animation = demo_animation(Path(tempfile.mkdtemp()) / "astronaut.npz")
    elif args.animation is None:
        parser.error("give an animation .npz or --demo")
    out = render(args.animation, args.output, [int(f) for f in args.frames.split(",")], args.size)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
