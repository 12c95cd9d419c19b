"""kpanim Blender add-on: import, generate from audio, retarget onto your own head mesh.

Works as a Blender 4.2+ extension (``kpanim blender-addon --zip``) and ships inside the kpanim
Python package as ``kpanim.blender_addon``. Nothing here imports kpanim (Blender's Python has no
torch): the file readers and solvers are plain numpy modules (npz_reader, glb_reader, motion,
retarget, cli_job, arkit_curves) and the bpy glue (bl_scene, arkit_head, ops_*, panel) stays thin. bpy is imported only in
:func:`register`, so the numpy modules can be imported and tested without Blender.
"""

_MODULES = ("panel", "ops_import", "ops_generate", "ops_retarget", "ops_arkit")


def _modules():
    import importlib

    return [importlib.import_module(f".{name}", __package__) for name in _MODULES]


def register() -> None:
    import bpy

    for module in _modules():
        for cls in module.CLASSES:
            bpy.utils.register_class(cls)
        if hasattr(module, "register_extra"):
            module.register_extra()


def unregister() -> None:
    import bpy

    for module in reversed(_modules()):
        if hasattr(module, "unregister_extra"):
            module.unregister_extra()
        for cls in reversed(module.CLASSES):
            bpy.utils.unregister_class(cls)
