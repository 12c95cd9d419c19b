"""Time the Blender add-on on a long clip: import, retarget (both methods) and bake, headless.

A 60 s clip at 25 fps (1500 frames, speech-like jaw/smile/blink motion plus noise) is imported,
then retargeted onto a UV-sphere head (~8k vertices) by Surface Deform + Bake, and onto the same
head carrying 52 random localized shape keys (an ARKit-sized set) by per-frame NNLS.

Usage: OMP_NUM_THREADS=1 nice -n 5 python benchmarks/blender_addon_bench.py [--seconds 60]
Results go to docs/BENCHMARKS.md (Blender add-on section) by hand.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def clip(seconds: float, fps: float = 25.0):
    from kpanim import Animation
    from kpanim.face import constants

    tmpl = constants.template().astype(np.float64)
    n = int(seconds * fps)
    t = np.arange(n) / fps
    rng = np.random.default_rng(0)
    jaw = np.zeros_like(tmpl)
    jaw[:, 1] = -0.01 * np.clip((tmpl[14, 1] + 0.004 - tmpl[:, 1]) / 0.01, 0, 1)
    smile = np.zeros_like(tmpl)
    smile[:, 0] = 0.004 * np.sign(tmpl[:, 0]) * np.exp(-((tmpl[:, 1] - tmpl[14, 1]) / 0.02) ** 2)
    blink = np.zeros_like(tmpl)
    blink[:, 1] = -0.003 * np.exp(-((tmpl[:, 1] - 0.03) / 0.006) ** 2)
    w = np.stack([np.abs(np.sin(2 * np.pi * 2.3 * t + np.sin(t))), 0.5 + 0.5 * np.sin(0.4 * t),
                  (np.sin(2 * np.pi * 0.25 * t) > 0.97).astype(float)], 1)
    dense = tmpl + np.einsum("tk,knc->tnc", w, np.stack([jaw, smile, blink])) + rng.normal(0, 5e-5, (n, 478, 3))
    pose = np.zeros((n, 6))
    pose[:, 1] = 0.2 * np.sin(2 * np.pi * 0.3 * t)
    pose[:, 5] = -0.5
    torso = np.repeat(rng.normal([0, -0.2, -0.5], 0.05, (1, 18, 3)), n, 0)
    return Animation.from_dense(dense, pose, torso, fps=fps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kpanim_bench_"))
    os.environ["BLENDER_USER_RESOURCES"] = str(work / "profile")
    import bpy

    from kpanim.commands.blender_addon import build_addon_zip

    anim = clip(args.seconds)
    anim.save(work / "long.npz")
    bpy.ops.extensions.package_install_files(filepath=str(build_addon_zip(work)), repo="user_default",
                                             enable_on_install=True)
    timings = {}

    def timed(name, fn):
        t0 = time.perf_counter()
        out = fn()
        timings[name] = time.perf_counter() - t0
        return out

    def fresh_head(name):
        bpy.ops.mesh.primitive_uv_sphere_add(segments=128, ring_count=64, radius=0.1)
        obj = bpy.context.active_object
        obj.name = name
        return obj

    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    timed("import", lambda: bpy.ops.kpanim.import_animation(filepath=str(work / "long.npz"), use_sound=False))
    face = next(o for o in bpy.data.objects if o.get("kpanim_role") == "face")
    n_keys = len(face.data.shape_keys.key_blocks) - 1
    from bl_ext.user_default.kpanim import bl_scene, motion

    errors = []
    for frame in np.linspace(1, anim.n_frames, 25).astype(int):
        bpy.context.scene.frame_set(int(frame))
        errors.append(np.abs(bl_scene.evaluated_vertices(face) - motion.to_blender(anim.dense[frame - 1])).max())

    head = fresh_head("head_sd")
    timed("retarget_surface_deform", lambda: bpy.ops.kpanim.retarget())
    timed("bake_surface_deform", lambda: bpy.ops.kpanim.bake())
    baked_keys = len(head.data.shape_keys.key_blocks) - 1

    head = fresh_head("head_keys")
    rng = np.random.default_rng(1)
    co = np.empty(3 * len(head.data.vertices))
    head.data.vertices.foreach_get("co", co)
    rest = co.reshape(-1, 3)
    head.shape_key_add(name="Basis")
    for k in range(52):
        centre = rest[rng.integers(len(rest))]
        bump = np.exp(-np.sum((rest - centre) ** 2, 1) / 0.03 ** 2)[:, None] * rng.normal(0, 0.004, 3)
        head.shape_key_add(name=f"key{k:02d}").data.foreach_set("co", (rest + bump).ravel())
    bpy.context.scene.kpanim.mode = "SHAPE_KEYS"
    timed("retarget_nnls_52_keys", lambda: bpy.ops.kpanim.retarget())

    print(f"clip: {anim.n_frames} frames at {anim.fps:g} fps; face shape keys: {n_keys} "
          f"(max error over 25 sampled frames {1000 * max(errors):.3f} mm); "
          f"target: {len(rest)} vertices; baked keys: {baked_keys}")
    for name, sec in timings.items():
        print(f"{name:28s} {sec:7.2f} s")


if __name__ == "__main__":
    main()
