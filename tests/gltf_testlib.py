"""Shared helpers of the glTF tests: synthetic animations, a fake subject, the test-tool policy."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from kpanim import Animation
from kpanim.face.constants import lip_index, template

REPO = Path(__file__).resolve().parents[1]
BOUND = 0.0005  # the default max vertex error of the morph targets (m)


def synthetic_animation(seconds: float = 3.0, fps: float = 25.0, seed: int = 0) -> Animation:
    """Template face opening its mouth and raising its brows, nodding/turning, breathing shoulders."""
    rng = np.random.default_rng(seed)
    tpl = template().astype(np.float64)
    t = np.arange(int(round(seconds * fps))) / fps
    mouth_y = tpl[lip_index(), 1].mean()
    below = np.clip((mouth_y - tpl[:, 1]) / 0.03, 0, 1) * np.exp(-(tpl[:, 0] / 0.05) ** 2)
    above_eyes = np.clip((tpl[:, 1] - 0.03) / 0.02, 0, 1)
    jaw = 0.008 * (0.5 - 0.5 * np.cos(2 * np.pi * 1.7 * t))  # up to 8 mm
    brow = 0.003 * np.clip(np.sin(2 * np.pi * 0.4 * t + rng.uniform(0, 1)), 0, None)
    dense = np.repeat(tpl[None], len(t), axis=0)
    dense[:, :, 1] -= jaw[:, None] * below
    dense[:, :, 2] -= 0.3 * jaw[:, None] * below
    dense[:, :, 1] += brow[:, None] * above_eyes
    pose = np.zeros((len(t), 6))
    pose[:, 0] = 0.12 * np.sin(2 * np.pi * 0.5 * t)   # nod
    pose[:, 1] = 0.35 * np.sin(2 * np.pi * 0.3 * t)   # turn
    pose[:, 3:] = [0.0, 0.02, -0.55]
    pose[:, 4] += 0.005 * np.sin(2 * np.pi * 0.7 * t)
    side = np.concatenate([np.linspace(0.04, 0.20, 9), -np.linspace(0.04, 0.20, 9)])
    torso = np.stack([side, -0.12 - 0.4 * np.abs(side) ** 1.5, np.full(18, -0.6)], axis=1)
    torso = torso[None] + np.array([0, 0.004, 0]) * np.sin(2 * np.pi * 0.25 * t)[:, None, None]
    return Animation.from_dense(dense, pose, torso, fps, {"source": "synthetic test", "seed": seed})


def fake_subject():
    from kpanim.face.camera import Camera
    from kpanim.tracking.subject import Subject

    neutral = template().astype(np.float64) * 1.02
    return Subject(neutral=neutral, head_pose=np.array([0, 0, 0, 0, 0.02, -0.55]), camera=Camera.for_image(640, 480),
                   torso=np.zeros((18, 3)), landmarks_px=np.zeros((478, 3)), image_sha256="ab" * 32,
                   subject_id="fake-abababab")


def require_tool(available: bool, what: str, fix: str) -> None:
    """Missing test tools fail loudly in CI and skip (with the fix) elsewhere."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI; {fix}")
    pytest.skip(f"{what} not installed; {fix}")
