"""Eye-blink prior: the mean closed-eye displacement measured on training clips.

Blinks are sparse, short and not driven by speech, so an L1-trained eye decoder averages them
away (the first models blinked 0 times a minute against 31 in real clips). Animators expect them,
so inference (:func:`kpanim.animate.predict.blink_track`) adds blinks at random (seeded) times with this
data-derived shape; rate and shape are stored in the checkpoint's statistics (``blink_shape``,
``blink_rate``).
"""

from __future__ import annotations

import numpy as np

from kpanim.evaluation import metrics
from kpanim.face import constants


def blink_statistics(clips, rel_threshold: float = 0.6) -> dict[str, np.ndarray]:
    """{"blink_shape": (60, 3) eye displacement at a blink's deepest frame minus the clip's typical
    open eye (canonical metres), "blink_rate": (1,) blinks per minute} over valid frames of ``clips``."""
    eye_idx = constants.eye_index()
    shapes, n_blinks, minutes = [], 0, 0.0
    for c in clips:
        dense = (c.neutral[None] + c.dense)[c.valid]
        if len(dense) < 10:
            continue
        ear = metrics.eye_aspect_ratio(metrics.align_to_template(dense))
        closed = ear < rel_threshold * np.median(ear)
        minutes += len(dense) / 25.0 / 60.0
        eye = c.eye[c.valid]
        open_eye = np.median(eye[~closed], axis=0) if (~closed).any() else np.median(eye, axis=0)
        t = 0
        while t < len(closed):
            if closed[t]:
                end = t
                while end < len(closed) and closed[end]:
                    end += 1
                deepest = t + int(np.argmin(ear[t:end]))
                shapes.append(eye[deepest] - open_eye)
                n_blinks += 1
                t = end
            else:
                t += 1
    shape = np.mean(shapes, axis=0) if shapes else np.zeros((len(eye_idx), 3))
    return {"blink_shape": shape.astype(np.float32),
            "blink_rate": np.array([n_blinks / max(minutes, 1e-6)], np.float32)}
