"""Speech synthesis with espeak-ng from the ``espeakng-loader`` wheel (library + data, no executable).

Used for the demo's default clip and for test fixtures, so kpanim ships no recording. espeak-ng is
driven through ctypes in synchronous mode with a callback collecting the samples.
"""

from __future__ import annotations

import ctypes
import os
import threading
from functools import lru_cache

import numpy as np

from ..errors import KpanimError

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_ESPEAK_RATE = 1
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_lock = threading.Lock()
_chunks: list[np.ndarray] = []


@_CALLBACK
def _collect(wav, n_samples, events):  # called by espeak-ng for each synthesized block
    if n_samples > 0 and wav:
        _chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
    return 0


@lru_cache(maxsize=1)
def _engine() -> tuple[ctypes.CDLL, int]:
    try:
        import espeakng_loader
    except ImportError:
        raise KpanimError("speech synthesis needs espeakng-loader: pip install espeakng-loader") from None
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    data_parent = os.path.dirname(espeakng_loader.get_data_path())
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_parent.encode(), 0)
    if rate <= 0:
        raise KpanimError("espeak-ng failed to start; reinstall espeakng-loader")
    lib.espeak_SetSynthCallback(_collect)
    return lib, int(rate)


def synthesize(text: str, voice: str = "en-us", words_per_minute: int = 150, sample_rate: int = 16000) -> np.ndarray:
    """Speak ``text`` → (N,) float32 mono at ``sample_rate``."""
    from .audio import resample

    lib, native_rate = _engine()
    with _lock:
        _chunks.clear()
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise KpanimError(f"espeak-ng has no voice '{voice}'; try en-us, de, fr, es, ...")
        lib.espeak_SetParameter(_ESPEAK_RATE, int(words_per_minute), 0)
        data = text.encode("utf-8") + b"\0"
        lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None)
        lib.espeak_Synchronize()
        pcm = np.concatenate(_chunks) if _chunks else np.zeros(0, np.int16)
    audio = pcm.astype(np.float32) / 32768.0
    return resample(audio, native_rate, sample_rate).astype(np.float32)
