"""The wheel installs everything under the kpanim namespace (no bare renderer/training packages)."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out)], check=True, capture_output=True)
    (wheel,) = out.glob("kpanim-*.whl")
    return zipfile.ZipFile(wheel).namelist()


def test_only_the_kpanim_namespace_is_installed(wheel_files):
    tops = {name.split("/")[0] for name in wheel_files if not name.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"kpanim"}, tops


def test_subpackages_and_data_are_included(wheel_files):
    for required in ("kpanim/renderer/__init__.py", "kpanim/training/__init__.py",
                     "kpanim/blender_addon/__init__.py", "kpanim/data/face_constants.npz", "kpanim/commands/cli.py",
                     "kpanim/data/arkit_blendshapes.npz", "kpanim/data/LICENSE-MediaPipe-Apache-2.0.txt",
                     "kpanim/data/NOTICE-arkit.txt", "kpanim/data/viewer/vendor/three/addons/libs/draco/LICENSE",
                     "kpanim/data/viewer/vendor/three/addons/libs/draco/gltf/draco_decoder.wasm",
                     "kpanim/data/viewer/vendor/three/addons/libs/meshopt_decoder.module.js"):
        assert required in wheel_files, required


def test_console_script_is_declared(wheel_files):
    import kpanim.renderer  # noqa: F401  (the editable install maps it too)

    assert any(name.endswith("entry_points.txt") for name in wheel_files)
