"""Fit the viseme keyframes of :mod:`kpanim.animate.visemes` on training clips (stored in a MODA checkpoint's norm).

The keyframes depend only on the data and the lip normalisation, not on the network, so they can be
fitted after any training (``kpanim train moda --viseme-prior``) or added to an existing checkpoint
(``python scripts/add_viseme_prior.py``). Phone features come from the ``phones`` front-end's cache
under ``DATASET/features/phones/`` (computed once).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kpanim.errors import KpanimError


def clip_dataset(data_dirs, clip_id: str) -> Path:
    """The dataset folder (of ``data_dirs``) holding ``clips/<clip_id>.npz``."""
    for d in data_dirs:
        if (Path(d) / "clips" / f"{clip_id}.npz").is_file():
            return Path(d)
    raise KpanimError(f"clip {clip_id} is in none of {list(data_dirs)}")


def viseme_prior(clips, data_dirs, norm: dict, default_blend: float = 0.0, progress: bool = True) -> dict:
    """{"viseme_keys": (9, 120), "viseme_frames": (9,), "viseme_blend": (1,)} from training clips
    (:class:`training.data.Clip`) and the checkpoint's lip normalisation."""
    from tqdm import tqdm

    from kpanim.animate.visemes import fit_viseme_keys
    from kpanim.nets.normalise import normalise
    from kpanim.nets.stats import MotionStats
    from kpanim.speech.phone_frontend import PhoneFrontend

    from .data import clip_features

    frontend = PhoneFrontend()
    scale_free = MotionStats.from_norm(norm).scale_free
    phones, lips, valid = [], [], []
    for clip in tqdm(clips, desc="viseme keyframes", disable=not progress, unit="clip"):
        phones.append(clip_features(clip_dataset(data_dirs, clip.clip_id), clip.clip_id, clip.n_frames, frontend, 1)[0])
        # the keyframes live in the network's lip units: scale-free models predict each clip's lips
        # over its own opening spread
        lips.append(normalise("lipz", clip.lip / clip.lip_spread, norm) if scale_free
                    else normalise("lip", clip.lip, norm))
        valid.append(clip.valid)
    keys, frames = fit_viseme_keys(phones, lips, valid)
    return {"viseme_keys": keys, "viseme_frames": frames, "viseme_blend": np.array([default_blend], np.float32)}
