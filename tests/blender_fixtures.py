"""The Blender add-on installed in real Blender (PyPI's bpy) for the tests, and helpers they share.

tests/conftest.py installs the add-on for each test module that asks for it (:func:`install_addon`, fixture
``addon``) and empties the scene for each test (fixture ``bpy``).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from blender_test_data import mesh_from, remeshed_face

from kpanim.commands.blender_addon import build_addon_zip

REPO = "kpanim_test"
MODULE = f"bl_ext.{REPO}.kpanim"


def install_addon(root: Path):
    """Import bpy with a private profile, install the add-on's zip as a user would and enable it; yields the
    namespace the tests use, and removes the add-on afterwards (a generator for a fixture)."""
    # Blender reads its profile location once, when bpy is first imported: make that a private one so
    # nothing touches the user's (the add-on itself goes into a private repository either way).
    old = os.environ.get("BLENDER_USER_RESOURCES")
    os.environ["BLENDER_USER_RESOURCES"] = str(root / "profile")
    try:
        bpy = importlib.import_module("bpy")
    finally:
        if old is None:
            del os.environ["BLENDER_USER_RESOURCES"]
        else:
            os.environ["BLENDER_USER_RESOURCES"] = old

    (root / "repo").mkdir()
    repo = bpy.context.preferences.extensions.repos.new(name=REPO, module=REPO, custom_directory=str(root / "repo"),
                                                        source="USER")
    zpath = build_addon_zip(root / "dist")
    assert bpy.ops.extensions.package_install_files(filepath=str(zpath), repo=REPO, enable_on_install=True) == {"FINISHED"}
    assert MODULE in bpy.context.preferences.addons
    module = importlib.import_module(MODULE)
    yield SimpleNamespace(bpy=bpy, root=root, zip=zpath, bl_scene=importlib.import_module(f"{MODULE}.bl_scene"),
                          motion=importlib.import_module(f"{MODULE}.motion"))
    bpy.ops.preferences.addon_disable(module=MODULE)
    bpy.context.preferences.extensions.repos.remove(repo)
    assert module


def key_values(addon, key, name, frames):
    return addon.bl_scene.fcurve_values(key, f'key_blocks["{name}"].value', 0, np.asarray(frames))


def arkit_head_mesh(bpy, names):
    """The kpanim face as a mesh named "avatar" with a Basis and the shape keys ``names``, made active."""
    verts, faces, _ = remeshed_face(1.0, (0, 0, 0))
    head = mesh_from(bpy, "avatar", verts, faces)
    head.shape_key_add(name="Basis")
    for name in names:
        head.shape_key_add(name=name)
    bpy.context.view_layer.objects.active = head
    return head
