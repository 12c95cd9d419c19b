"""Retarget the kpanim face onto the selected head mesh (any topology), and bake the result.

1. **Fit**: a linked copy of the kpanim face (same mesh, so same shape keys and keys) is parented
   to the target and placed by :func:`~.retarget.fit_from_bounds`; move or scale it to refine.
2. **Retarget**, either
   - *Surface Deform*: the target's face region (vertex group ``kpanim_region``) is bound to the
     fitted face with a Surface Deform modifier, at the clip's most neutral frame; or
   - *Shape-key weights*: when the target has shape keys (e.g. ARKit ``jawOpen``...), their
     weights are solved per frame by non-negative least squares on the target points tied to the
     fitted face (:func:`~.retarget.solve_key_weights`) and keyframed.
   With "Follow Head Motion", the target also turns and moves with the kpanim head, relative to the
   head's pose at that neutral frame and about the target's own pivot: the kpanim head's pivot
   carried onto the target by the fit (so a head 10x the kpanim face moves 10x as far, and a head
   modelled at the world origin turns about its own centre, not about kpanim's camera-space one).
   A helper empty keyed with that motion drives a Child Of constraint on the target.
3. **Bake**: the Surface Deform result becomes plain shape keys + keys (principal components of
   the evaluated motion), the head constraint becomes object keys, the helper objects go: the
   file plays without the add-on (and without the kpanim rig).
"""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix

from . import bl_scene
from .motion import continuous_quaternions, matrix_to_quaternion, shape_basis
from .retarget import Binding, bind_points, fit_from_bounds, interpolate, region_weights, solve_key_weights

MODIFIER = "kpanim"
CONSTRAINT = "kpanim_head"
REGION_GROUP = "kpanim_region"
INNER_LIP_MIDPOINTS = (13, 14)  # face-mesh points in the middle of the upper and lower inner lip


# ------------------------------------------------------------------------------------ helpers
def source_face(context) -> bpy.types.Object | None:
    """The panel's kpanim face, else the most recently imported one."""
    face = context.scene.kpanim.source_face
    if face is not None:
        return face
    faces = [o for o in context.scene.objects if o.get("kpanim_role") == "face"]
    return faces[-1] if faces else None


def scene_frames(scene) -> np.ndarray:
    return np.arange(scene.frame_start, scene.frame_end + 1)


def face_motion(face: bpy.types.Object, frames: np.ndarray) -> np.ndarray:
    """(T, N, 3) vertex positions of the kpanim face (mesh space) at ``frames``, from its shape keys."""
    basis = bl_scene.mesh_vertices(face)
    key = face.data.shape_keys
    out = np.repeat(basis[None], len(frames), axis=0)
    if key is None:
        return out
    for block in key.key_blocks[1:]:
        co = np.empty(basis.size)
        block.data.foreach_get("co", co)
        weight = bl_scene.fcurve_values(key, f'key_blocks["{block.name}"].value', 0, frames)
        out += weight[:, None, None] * (co.reshape(-1, 3) - basis)[None]
    return out


def neutral_frame(motion: np.ndarray) -> int:
    """Index of the frame with the most closed mouth: the rest pose the target is assumed to be in."""
    gap = np.linalg.norm(motion[:, INNER_LIP_MIDPOINTS[0]] - motion[:, INNER_LIP_MIDPOINTS[1]], axis=-1)
    return int(np.argmin(gap))


def _triangles(mesh) -> np.ndarray:
    mesh.calc_loop_triangles()
    tris = np.empty(3 * len(mesh.loop_triangles), dtype=np.int32)
    mesh.loop_triangles.foreach_get("vertices", tris)
    return tris.reshape(-1, 3)


def fit_object(target: bpy.types.Object) -> bpy.types.Object | None:
    name = target.get("kpanim_fit")
    return bpy.data.objects.get(name) if name else None


def _check_target(op, context) -> bpy.types.Object | None:
    target = context.active_object
    if target is None or target.type != "MESH" or target.get("kpanim_role"):
        op.report({"ERROR"}, "Select your own head mesh (not the kpanim face) as the active object")
        return None
    if source_face(context) is None:
        op.report({"ERROR"}, "No kpanim face in the scene: import or generate an animation first")
        return None
    return target


def fit_face(context, target: bpy.types.Object, width_ratio: float) -> bpy.types.Object:
    """Create or re-place the fitted copy of the kpanim face on ``target``."""
    face = source_face(context)
    fit = fit_object(target)
    if fit is None:
        fit = bpy.data.objects.new(f"{target.name}.kpanim_fit", face.data)  # linked: shares the shape keys
        for collection in target.users_collection:
            collection.objects.link(fit)
        fit.parent = target
        fit.display_type = "WIRE"
        fit["kpanim_role"] = "fit"
        target["kpanim_fit"] = fit.name
    # Fit the face in its most neutral pose (the pose a head mesh is modelled in), not its mean shape.
    motion = face_motion(face, scene_frames(context.scene))
    scale, offset = fit_from_bounds(motion[neutral_frame(motion)], bl_scene.mesh_vertices(target), width_ratio)
    fit.matrix_parent_inverse = Matrix.Identity(4)
    fit.matrix_basis = Matrix.Translation(offset.tolist()) @ Matrix.Scale(scale, 4)
    return fit


def fitted_motion(context, target, fit) -> tuple[np.ndarray, np.ndarray, int]:
    """The kpanim face motion in the target's space: (T, N, 3) positions, (N, 3) rest, rest frame index."""
    frames = scene_frames(context.scene)
    motion = face_motion(source_face(context), frames)
    rest = neutral_frame(motion)
    context.view_layer.update()  # matrix_world of a just-moved fit object is stale until then
    m = bl_scene.matrix_np(target.matrix_world.inverted() @ fit.matrix_world)
    motion = motion @ m[:3, :3].T + m[:3, 3]
    return motion, motion[rest], rest


def retarget_shape_keys(context, target, fit, region: float) -> tuple[np.ndarray, int]:
    """Solve and key the target's shape-key weights; returns them (T, K) and the rest frame index."""
    motion, rest, rest_index = fitted_motion(context, target, fit)
    points = bl_scene.mesh_vertices(target)
    tris = _triangles(fit.data)
    width = np.ptp(rest[:, 0])
    binding = bind_points(points, rest, tris)
    weights = region_weights(binding.distance, region * width)
    used = weights > 0
    if not used.any():
        raise ValueError("no target vertex lies near the fitted kpanim face: move the fit or raise Region")
    key = target.data.shape_keys
    blocks = list(key.key_blocks[1:])
    basis = np.empty(points.size)
    key.reference_key.data.foreach_get("co", basis)
    offsets = []
    for block in blocks:
        co = np.empty(points.size)
        block.data.foreach_get("co", co)
        offsets.append((co - basis).reshape(-1, 3)[used])
    sub = Binding(binding.triangle[used], binding.bary[used], binding.distance[used])
    wanted = interpolate(sub, motion - rest, tris)
    solved = solve_key_weights(np.stack(offsets), wanted, weights[used])
    for k, block in enumerate(blocks):
        values = np.clip(solved[:, k], block.slider_min, block.slider_max)
        bl_scene.keyframe_curve(key, f'key_blocks["{block.name}"].value', values, group="kpanim",
                                first_frame=context.scene.frame_start)
    return solved, rest_index


def retarget_surface_deform(context, target, fit, region: float) -> int:
    """Bind a Surface Deform modifier (limited to the face region) to the fitted face; returns the rest frame index."""
    motion, rest, rest_index = fitted_motion(context, target, fit)
    tris = _triangles(fit.data)
    binding = bind_points(bl_scene.mesh_vertices(target), rest, tris)
    weights = region_weights(binding.distance, region * np.ptp(rest[:, 0]))
    group = target.vertex_groups.get(REGION_GROUP) or target.vertex_groups.new(name=REGION_GROUP)
    group.add(list(range(len(weights))), 0.0, "REPLACE")
    for i in np.flatnonzero(weights > 0):
        group.add([int(i)], float(weights[i]), "REPLACE")
    mod = target.modifiers.get(MODIFIER)
    if mod is not None:
        target.modifiers.remove(mod)
    mod = target.modifiers.new(MODIFIER, "SURFACE_DEFORM")
    mod.target = fit
    mod.vertex_group = REGION_GROUP
    # Bind with the face in its most neutral pose: that is the pose the target mesh is in.
    context.scene.frame_set(context.scene.frame_start + rest_index)
    with context.temp_override(object=target, active_object=target):
        bpy.ops.object.surfacedeform_bind(modifier=mod.name)
    context.evaluated_depsgraph_get().update()  # the binding happens on the next evaluation
    if not mod.is_bound:
        raise ValueError("Surface Deform could not bind; check that the fitted face overlaps the target mesh")
    return rest_index


def head_of(face: bpy.types.Object) -> bpy.types.Object | None:
    parent = face.parent
    return parent if parent is not None and parent.get("kpanim_role") == "head" else None


def pivot_object(target: bpy.types.Object) -> bpy.types.Object | None:
    name = target.get("kpanim_pivot")
    return bpy.data.objects.get(name) if name else None


def follow_motion(face_rest: np.ndarray, face_frames: np.ndarray, fit_rest: np.ndarray) -> np.ndarray:
    """(T, 4, 4) world transforms that move a target with the kpanim head about the target's own pivot.

    The kpanim face's motion relative to the rest frame, in its own mesh frame, is ``D(t) = F_r^-1 F(t)``
    (``F``: the face object's world matrix). The fit object ``G`` maps that mesh frame onto the target
    (its scale and placement), so the target's motion is ``G D(t) G^-1``: the same turn about the
    target's image of the kpanim pivot, translations scaled by the fit. (``F(t) F_r^-1`` alone, a
    Child Of on the kpanim head, swings a target about kpanim's camera-space pivot instead: a head at
    the world origin moved 5x as far as the face it follows.)
    """
    g = np.asarray(fit_rest, dtype=np.float64)
    return g @ np.linalg.inv(face_rest) @ np.asarray(face_frames, dtype=np.float64) @ np.linalg.inv(g)


def _remove_follow(target) -> None:
    old = target.constraints.get(CONSTRAINT)
    if old is not None:
        target.constraints.remove(old)
    pivot = pivot_object(target)
    if pivot is not None:
        bpy.data.objects.remove(pivot)
    target.pop("kpanim_pivot", None)


def follow_head(context, target, rest_index: int) -> bpy.types.Constraint | None:
    """Make the target move with the kpanim head, relative to the head's pose at the rest frame, about
    the target's own pivot (:func:`follow_motion`).

    A helper empty ``<target>.kpanim_head`` is keyed with that motion (identity at the rest frame) and
    a Child Of constraint makes the target follow it: at the rest frame the target stays where the user
    modelled it. Retarget again after moving the fit to refresh it.
    """
    face = source_face(context)
    head = head_of(face)
    _remove_follow(target)
    fit = fit_object(target)
    if head is None or fit is None:
        return None
    scene = context.scene
    frames = scene_frames(scene)
    faces = []
    for frame in frames:
        scene.frame_set(int(frame))
        faces.append(bl_scene.matrix_np(face.matrix_world))
    scene.frame_set(scene.frame_start + rest_index)
    context.view_layer.update()
    motion = follow_motion(faces[rest_index], np.stack(faces), bl_scene.matrix_np(fit.matrix_world))
    pivot = bpy.data.objects.new(f"{target.name}.kpanim_head", None)
    for collection in target.users_collection:
        collection.objects.link(pivot)
    pivot.empty_display_type = "ARROWS"
    pivot.empty_display_size = 0.05 * max(float(np.ptp(bl_scene.mesh_vertices(target)[:, 0])), 1e-3)
    pivot.hide_render = True
    pivot["kpanim_role"] = "pivot"
    target["kpanim_pivot"] = pivot.name
    pivot.rotation_mode = "QUATERNION"
    quats = continuous_quaternions(matrix_to_quaternion(motion[:, :3, :3]))
    for i in range(3):
        bl_scene.keyframe_curve(pivot, "location", motion[:, i, 3], index=i, group="kpanim",
                                first_frame=scene.frame_start)
    for i in range(4):
        bl_scene.keyframe_curve(pivot, "rotation_quaternion", quats[:, i], index=i, group="kpanim",
                                first_frame=scene.frame_start)
    constraint = target.constraints.new("CHILD_OF")
    constraint.name = CONSTRAINT
    constraint.target = pivot
    constraint.inverse_matrix = Matrix.Identity(4)
    scene.frame_set(scene.frame_start + rest_index)
    return constraint


def bake_head_follow(context, target) -> None:
    """Replace the Child Of constraint by location/rotation/scale keys of the target."""
    constraint = target.constraints.get(CONSTRAINT)
    if constraint is None:
        _remove_follow(target)  # a helper empty left behind
        return
    scene = context.scene
    frames = scene_frames(scene)
    mats = []
    for frame in frames:
        scene.frame_set(int(frame))
        mats.append(target.matrix_world.copy())
    _remove_follow(target)
    target.rotation_mode = "QUATERNION"
    loc, rot, scale = zip(*(m.decompose() for m in mats))
    quats = [np.array(q) for q in rot]
    for i in range(1, len(quats)):  # keep neighbouring quaternions on the same side
        if np.dot(quats[i], quats[i - 1]) < 0:
            quats[i] = -quats[i]
    for path, values, n in (("location", np.array(loc), 3), ("rotation_quaternion", np.array(quats), 4),
                            ("scale", np.array(scale), 3)):
        for i in range(n):
            bl_scene.keyframe_curve(target, path, values[:, i], index=i, group="kpanim",
                                    first_frame=scene.frame_start)


def bake(context, target) -> int:
    """Turn the retargeted motion into plain shape keys + keys; returns the number of keys added."""
    scene = context.scene
    mod = target.modifiers.get(MODIFIER)
    n_keys = 0
    if mod is not None:
        frames = scene_frames(scene)
        baked = []
        for frame in frames:
            scene.frame_set(int(frame))
            baked.append(bl_scene.evaluated_vertices(target, context.evaluated_depsgraph_get()).astype(np.float32))
        target.modifiers.remove(mod)
        rest = bl_scene.mesh_vertices(target)
        # Compression tolerance: 0.1 % of the target's width (0.2 mm on a 20 cm head).
        mean, keys, weights, _ = shape_basis(np.stack(baked) - rest, tolerance=1e-3 * np.ptp(rest[:, 0]))
        if target.data.shape_keys is None:
            target.shape_key_add(name="Basis", from_mix=False)
        # Key offsets: the mean deformation becomes a key held at 1, each component a keyed key.
        names = ["kpanim_bake_mean"] + [f"kpanim_bake_{k:02d}" for k in range(len(keys))]
        full = np.concatenate([np.ones((len(frames), 1)), weights], axis=1)
        blocks = bl_scene.add_shape_keys(target, np.concatenate([mean[None], keys]), names, None, slider_min=-1.0)
        for i, block in enumerate(blocks):
            bl_scene.keyframe_curve(target.data.shape_keys, f'key_blocks["{block.name}"].value', full[:, i],
                                    group="kpanim", first_frame=scene.frame_start)
        n_keys = len(blocks)
    bake_head_follow(context, target)
    fit = fit_object(target)
    if fit is not None:
        bpy.data.objects.remove(fit)
    target.pop("kpanim_fit", None)
    return n_keys


# ---------------------------------------------------------------------------------- operators
class KPANIM_OT_fit_face(bpy.types.Operator):
    """Place a copy of the kpanim face on the selected head mesh (adjust it, then Retarget)"""

    bl_idname = "kpanim.fit_face"
    bl_label = "Fit kpanim Face"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        target = _check_target(self, context)
        if target is None:
            return {"CANCELLED"}
        fit = fit_face(context, target, context.scene.kpanim.width_ratio)
        self.report({"INFO"}, f"Fitted {fit.name}: move or scale it to refine, then Retarget")
        return {"FINISHED"}


class KPANIM_OT_retarget(bpy.types.Operator):
    """Transfer the kpanim face animation onto the selected head mesh"""

    bl_idname = "kpanim.retarget"
    bl_label = "Retarget kpanim Animation"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        target = _check_target(self, context)
        if target is None:
            return {"CANCELLED"}
        settings = context.scene.kpanim
        fit = fit_object(target) or fit_face(context, target, settings.width_ratio)
        mode = settings.mode
        has_keys = target.data.shape_keys is not None and len(target.data.shape_keys.key_blocks) > 1
        if mode == "AUTO":
            mode = "SHAPE_KEYS" if has_keys else "SURFACE_DEFORM"
        try:
            if mode == "SHAPE_KEYS":
                if not has_keys:
                    raise ValueError(f"{target.name} has no shape keys to solve for; use Surface Deform")
                solved, rest_index = retarget_shape_keys(context, target, fit, settings.region)
                self.report({"INFO"}, f"Keyed {solved.shape[1]} shape keys over {solved.shape[0]} frames")
            else:
                rest_index = retarget_surface_deform(context, target, fit, settings.region)
                self.report({"INFO"}, f"Bound {target.name} to the kpanim face (Surface Deform); Bake to keep it")
        except ValueError as err:
            self.report({"ERROR"}, str(err))
            return {"CANCELLED"}
        if settings.follow_head:
            follow_head(context, target, rest_index)
        return {"FINISHED"}


class KPANIM_OT_bake(bpy.types.Operator):
    """Make the retargeted animation plain shape keys and keys (the file then plays without kpanim)"""

    bl_idname = "kpanim.bake"
    bl_label = "Bake kpanim Retarget"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        target = context.active_object
        if target is None or target.type != "MESH" or not (target.modifiers.get(MODIFIER) or fit_object(target)
                                                           or target.constraints.get(CONSTRAINT)):
            self.report({"ERROR"}, "Select a mesh retargeted with kpanim (Retarget first)")
            return {"CANCELLED"}
        n_keys = bake(context, target)
        self.report({"INFO"}, f"Baked {target.name}: {n_keys} shape keys added" if n_keys else f"Baked {target.name}")
        return {"FINISHED"}


CLASSES = (KPANIM_OT_fit_face, KPANIM_OT_retarget, KPANIM_OT_bake)
