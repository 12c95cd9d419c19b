"""Synthetic training data in the prepared-dataset layout, for the model tests (no real media)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from kpanim.dataset.clip import PreparedClip
from kpanim.face import constants
from kpanim.formats.animation import Animation
from kpanim.speech.audio import save_wav


def speechlike(seconds: float, seed: int, sr: int = 16000) -> np.ndarray:
    """Syllable-rate amplitude-modulated harmonic noise with pauses (no TTS needed, deterministic)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    env = np.clip(np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6)), 0, None) * (np.sin(2 * np.pi * 0.3 * t) > -0.5)
    voice = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((140, 280, 420, 700), 1))
    return (0.3 * env * (voice + 0.3 * rng.standard_normal(len(t)))).astype(np.float32), env


def write_synthetic_dataset(root: Path, n_clips: int = 4, seconds: float = 3.0) -> Path:
    """``root/index.json`` + ``root/clips/<id>.npz|.wav``: mouth opening follows the audio envelope."""
    clips = root / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    rows = []
    tmpl = constants.template().astype(np.float32)
    lower = np.isin(np.arange(478), constants.lip_index()) & (tmpl[:, 1] < tmpl[14, 1] + 1e-4)
    for i in range(n_clips):
        audio, env = speechlike(seconds, i)
        T = int(seconds * 25)
        open_ = np.interp(np.arange(T) / 25, np.arange(len(env)) / 16000, env).astype(np.float32)
        dense = np.repeat(tmpl[None], T, axis=0)
        dense[:, lower, 1] -= 0.008 * open_[:, None]
        pose = np.zeros((T, 6), np.float32)
        pose[:, 5] = -0.5
        pose[:, 1] = 0.02 * np.sin(np.arange(T) / 10 + i)
        torso = np.tile(np.linspace([-0.2, -0.2, -0.5], [0.2, -0.2, -0.5], 18)[None], (T, 1, 1)).astype(np.float32)
        cid = f"synth_{i}"
        split = "val" if i == n_clips - 1 else "train"
        meta = {"clip_id": cid, "speaker": f"spk{i}", "split": split, "n_frames": T, "audio": f"{cid}.wav"}
        anim = Animation.from_dense(dense, pose, torso, 25.0, meta)
        PreparedClip(anim, valid=np.ones(T, bool), neutral=tmpl,
                     camera=np.array([512, 256, 256, 512, 512], np.float32)).save(clips / f"{cid}.npz")
        save_wav(clips / f"{cid}.wav", audio)
        rows.append({"clip_id": cid, "speaker": f"spk{i}", "split": split, "n_frames": T, "seconds": seconds})
    (root / "index.json").write_text(json.dumps(rows))
    return root


TINY_MODA = ["--model.d-model", "16", "--model.n-heads", "2", "--model.n-spec-layers", "1",
             "--model.n-prob-layers", "1", "--model.latent-dim", "4"]
TINY_FACO = ["--model.hidden", "32", "--model.n-layers", "1", "--model.subject-code", "8", "--model.disc-hidden", "16"]


