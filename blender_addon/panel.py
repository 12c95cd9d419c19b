"""The "kpanim" tab in the 3D viewport's sidebar, the add-on preferences and the scene settings."""

# No `from __future__ import annotations` here: Blender reads bpy.props definitions from real
# (evaluated) class annotations.

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, PointerProperty, StringProperty

ADDON_ID = __package__  # "bl_ext.<repo>.kpanim" as an extension, "kpanim.blender_addon" in the kpanim package


class KpanimPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    kpanim_path: StringProperty(
        name="kpanim executable", subtype="FILE_PATH", default="kpanim",
        description="The kpanim command (e.g. /home/me/.venv/bin/kpanim); Generate runs it in the background")

    def draw(self, context):
        self.layout.prop(self, "kpanim_path")


def preferences(context) -> KpanimPreferences | None:
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else None


def _is_mesh(self, obj) -> bool:
    return obj.type == "MESH"


class KpanimSettings(bpy.types.PropertyGroup):
    audio_path: StringProperty(name="Speech", subtype="FILE_PATH", description="The speech (.wav, .flac, ...)")
    subject_path: StringProperty(name="Portrait", subtype="FILE_PATH",
                                 description="Portrait photo or .subject.npz; kept for the next generation")
    source_face: PointerProperty(name="kpanim Face", type=bpy.types.Object, poll=_is_mesh,
                                 description="The imported kpanim face to transfer (default: the last one imported)")
    width_ratio: FloatProperty(name="Face Width", default=0.9, min=0.1, max=2.0,
                               description="Automatic fit: face width as a fraction of the target's width")
    region: FloatProperty(name="Region", default=0.15, min=0.01, max=2.0,
                          description="Target points this far (fraction of the face width) from the fitted face "
                                      "follow it fully; twice as far, not at all")
    follow_head: BoolProperty(name="Follow Head Motion", default=True,
                              description="Move the target with the kpanim head pose (relative to the rest frame), "
                                          "about the target's own pivot")
    mode: EnumProperty(name="Method", default="AUTO", items=(
        ("AUTO", "Automatic", "Shape-key weights when the target has shape keys, else Surface Deform"),
        ("SURFACE_DEFORM", "Surface Deform", "Bind a Surface Deform modifier to the fitted kpanim face"),
        ("SHAPE_KEYS", "Shape-Key Weights", "Solve the target's own shape-key weights per frame (NNLS)")))


class VIEW3D_PT_kpanim(bpy.types.Panel):
    bl_label = "kpanim"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "kpanim"

    def draw(self, context):
        settings = context.scene.kpanim
        layout = self.layout
        box = layout.box()
        box.label(text="Animation", icon="IMPORT")
        box.operator("kpanim.import_animation", text="Import .npz / .glb")

        box = layout.box()
        box.label(text="Generate from Audio", icon="SPEAKER")
        box.prop(settings, "audio_path")
        box.prop(settings, "subject_path")
        box.operator("kpanim.generate", text="Generate", icon="PLAY")

        box = layout.box()
        box.label(text="Retarget to Selected Mesh", icon="MOD_MESHDEFORM")
        box.prop(settings, "source_face")
        box.prop(settings, "width_ratio")
        box.operator("kpanim.fit_face", text="Fit Face to Selected")
        box.prop(settings, "mode")
        box.prop(settings, "region")
        box.prop(settings, "follow_head")
        box.operator("kpanim.retarget", text="Retarget")
        box.operator("kpanim.bake", text="Bake")

        box = layout.box()
        box.label(text="ARKit Shape Keys of Selected Mesh", icon="SHAPEKEY_DATA")
        box.operator("kpanim.drive_arkit", text="Drive from .npz / .csv / .json")


CLASSES = (KpanimPreferences, KpanimSettings, VIEW3D_PT_kpanim)


def register_extra() -> None:
    bpy.types.Scene.kpanim = PointerProperty(type=KpanimSettings)


def unregister_extra() -> None:
    del bpy.types.Scene.kpanim
