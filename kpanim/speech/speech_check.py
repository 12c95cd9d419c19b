"""Is there speech in this audio? Whisper's own no-speech probability, as a voice-activity check.

Noise, music or a hum make the mouth move without a word, so ``kpanim predict`` warns when the audio
holds no detectable speech. The check reuses the Whisper-base model kpanim already ships (CTranslate2,
int8): one decoder step per 30 s window gives the probability of the "no speech" token. Measured
(each clip padded to 30 s as Whisper does): espeak-ng English 0.01 (4 s), the same with noise at -14 dB
SNR 0.10, the same repeated for 40 s 0.65, espeak-ng French 0.14 and German 0.27-0.46; white noise
0.78 (3 s) to 0.99 (40 s), a major chord 0.85-0.89, a 100 Hz hum 0.94. The warning threshold is 0.7:
it separates those, with a margin of about 0.05 on either side, so it is a hint, not a verdict (real
recorded speech scores lower than espeak's robot voice). Only the loudest 30 s window is checked
(:data:`MAX_WINDOWS`): each costs a full Whisper encoder pass (about 0.4 s of CPU, several seconds on a
busy machine), which would otherwise dominate predict's time.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .audio import SAMPLE_RATE

WINDOW = 30 * SAMPLE_RATE  # Whisper's input length
MAX_WINDOWS = 1
NO_SPEECH_THRESHOLD = 0.7  # 0.6 flagged 40 s of espeak speech (0.65)


@lru_cache(maxsize=1)
def _model():
    import ctranslate2

    from .whisper_frontends import whisper_ct2_dir

    return ctranslate2.models.Whisper(str(whisper_ct2_dir()), device="cpu", compute_type="int8", intra_threads=2)


def no_speech_probability(audio: np.ndarray) -> float | None:
    """The lowest no-speech probability over up to MAX_WINDOWS windows of ``audio`` (16 kHz mono), or None when
    the check cannot run (no CTranslate2 or Whisper weights installed)."""
    try:
        import ctranslate2

        model = _model()
    except Exception:  # the check is optional: without the weights there is simply no warning
        return None
    from .mel import log_mel

    audio = np.asarray(audio, np.float32).reshape(-1)
    n_windows = min(MAX_WINDOWS, max(1, -(-len(audio) // WINDOW)))
    if n_windows == 1 and len(audio) > WINDOW:  # the loudest window (1 s steps): speech, if there is any
        hop = SAMPLE_RATE
        energy = np.square(audio[: len(audio) // hop * hop].astype(np.float64)).reshape(-1, hop).sum(1)
        span = WINDOW // hop
        sums = np.convolve(energy, np.ones(span), mode="valid")
        starts = np.array([int(np.argmax(sums)) * hop])
    else:
        starts = np.linspace(0, max(0, len(audio) - WINDOW), n_windows).astype(int)
    mels = np.stack([log_mel(audio[s:s + WINDOW], pad_to=WINDOW)[:, :3000] for s in starts]).astype(np.float32)
    features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mels))
    results = model.generate(features, [["<|startoftranscript|>"]] * len(starts), max_length=2,
                             return_no_speech_prob=True)
    return float(min(r.no_speech_prob for r in results))
