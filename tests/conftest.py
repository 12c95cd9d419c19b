"""Shared fixtures. Everything is made here: no test needs ../shared or the network.

Model tests get a tiny synthetic dataset and a tiny trained MODA + FaCo-Net (model_synth.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from model_synth import TINY_FACO, TINY_MODA, write_synthetic_dataset

# MediaPipe / TFLite chatter would drown pytest's output.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

IN_CI = bool(os.environ.get("CI"))


def require(condition: bool, reason: str) -> None:
    """Skip locally when a test tool is missing, but fail loudly in CI, where it must be installed."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def astronaut_png(tmp_path_factory) -> str:
    from PIL import Image
    from skimage import data

    path = tmp_path_factory.mktemp("img") / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return str(path)


@pytest.fixture(scope="session")
def astronaut_subject(astronaut_png):
    from kpanim.tracking.subject import make_subject

    return make_subject(astronaut_png)


def make_animation(n_frames: int = 50, fps: float = 25.0, seed: int = 0, jaw_hz: float = 3.0):
    """A synthetic but plausible animation: template face, jaw opening (``jaw_hz`` cycles a second), head nod,
    shoulder sway."""
    from kpanim.face import constants
    from kpanim.formats.animation import Animation

    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / fps
    base = constants.template()
    lower = base[:, 1] < base[1, 1]  # below the nose tip
    opening = 0.006 * (0.5 + 0.5 * np.sin(2 * np.pi * jaw_hz * t))  # metres
    dense = np.repeat(base[None], n_frames, 0).copy()
    dense[:, lower, 1] -= opening[:, None] * (base[lower, 1] - base[1, 1])[None] / (base[:, 1].min() - base[1, 1])
    dense += rng.normal(scale=1e-5, size=dense.shape)
    pose = np.zeros((n_frames, 6))
    pose[:, 0] = 0.1 * np.sin(2 * np.pi * 0.5 * t)
    pose[:, 1] = 0.05 * np.cos(2 * np.pi * 0.3 * t)
    pose[:, 5] = -0.5
    torso = np.zeros((n_frames, 18, 3))
    torso[:, :9, 0] = np.linspace(0.06, 0.2, 9)
    torso[:, 9:, 0] = -np.linspace(0.06, 0.2, 9)
    torso[..., 1] = -0.15 + 0.002 * np.sin(2 * np.pi * 0.2 * t)[:, None]
    torso[..., 2] = -0.5
    return Animation.from_dense(dense, pose, torso, fps=fps, meta={"test": True})


@pytest.fixture
def animation():
    return make_animation()


@pytest.fixture(scope="session")
def synth_dataset(tmp_path_factory) -> Path:
    return write_synthetic_dataset(tmp_path_factory.mktemp("synth_ds"))


@pytest.fixture(scope="session")
def tiny_model(synth_dataset, tmp_path_factory) -> Path:
    """A MODA + FaCo-Net pair trained for a few steps on the synthetic dataset (mel front-end)."""
    from click.testing import CliRunner

    from kpanim.commands.cli import cli

    out = tmp_path_factory.mktemp("tiny_model")
    runner = CliRunner()
    res = runner.invoke(cli, ["train", "moda", "--data", str(synth_dataset), "--frontend", "mel", "--steps", "3",
                              "--batch-size", "2", "--window", "40", "--audio-variants", "1", "--no-plot",
                              "--out", str(out), *TINY_MODA])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["train", "faco", "--data", str(synth_dataset), "--steps", "3", "--batch-size", "8",
                              "--adv-start", "1", "--no-plot", "--out", str(out / "faco_run"), *TINY_FACO])
    assert res.exit_code == 0, res.output
    (out / "faco_run" / "faco.pt").replace(out / "faco.pt")
    return out / "moda.pt"


@pytest.fixture(scope="module")
def addon(tmp_path_factory):
    """The Blender add-on installed and enabled in real Blender (blender_fixtures), per test module: other
    modules reset Blender's preferences (read_factory_settings), which removes it."""
    from blender_fixtures import install_addon

    yield from install_addon(tmp_path_factory.mktemp("blender"))


@pytest.fixture
def bpy(addon):
    """bpy with an empty scene (the add-on stays enabled)."""
    addon.bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    return addon.bpy
