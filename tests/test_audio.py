import numpy as np
import pytest
import soundfile as sf

from kpanim.errors import KpanimError
from kpanim.speech.audio import is_silent, load_audio, save_wav


def _tone(sr, seconds=1.0, channels=2):
    t = np.arange(int(sr * seconds)) / sr
    x = 0.3 * np.sin(2 * np.pi * 440 * t)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


@pytest.mark.parametrize("ext, sr, channels", [("wav", 44100, 2), ("flac", 22050, 1), ("ogg", 48000, 2),
                                               ("aiff", 8000, 1)])
def test_formats_rates_channels(tmp_path, ext, sr, channels):
    path = tmp_path / f"tone.{ext}"
    sf.write(path, _tone(sr, 1.0, channels), sr)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size - 16000) < 400
    assert 0.15 < np.abs(audio).max() < 0.4


@pytest.mark.parametrize("codec, ext", [("mp3", "mp3"), ("aac", "m4a")])
def test_compressed_formats(tmp_path, codec, ext):
    import av

    path = tmp_path / f"tone.{ext}"
    with av.open(str(path), "w") as box:
        stream = box.add_stream(codec, rate=44100, layout="stereo")
        pcm = (_tone(44100, 1.0, 2).T * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1, order="F"), format="s16", layout="stereo")
        frame.sample_rate = 44100
        for packet in stream.encode(frame):
            box.mux(packet)
        for packet in stream.encode(None):
            box.mux(packet)
    audio = load_audio(path)
    assert abs(audio.size / 16000 - 1.0) < 0.1


def test_errors(tmp_path):
    with pytest.raises(KpanimError, match="no such audio file"):
        load_audio(tmp_path / "missing.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF" + bytes(range(256)) * 4)
    with pytest.raises(KpanimError, match="not a readable audio file|cannot decode"):
        load_audio(junk)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0), 16000)
    with pytest.raises(KpanimError, match="empty"):
        load_audio(empty)
    assert load_audio(empty, allow_empty=True).size == 0
    longer = tmp_path / "long.wav"
    sf.write(longer, np.zeros(16000 * 3), 16000)
    with pytest.raises(KpanimError, match="split it"):
        load_audio(longer, max_seconds=1)


def test_silence_and_wav_round_trip(tmp_path):
    assert is_silent(np.zeros(1600, np.float32))
    x = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    assert not is_silent(x)
    back = load_audio(save_wav(tmp_path / "x.wav", x))
    assert np.allclose(back, x, atol=1e-4)


def test_speech_synthesis():
    from kpanim.speech.tts import synthesize

    speech = synthesize("Hello world, this is a test.")
    assert speech.dtype == np.float32 and 1.0 < speech.size / 16000 < 4.0
    assert not is_silent(speech)


def test_wav_cut_short_warns(tmp_path):
    """A WAV whose header promises more than the file holds (an interrupted copy) is read with a warning."""
    sr = 16000
    sf.write(tmp_path / "full.wav", 0.1 * np.sin(np.arange(8 * sr) / 10), sr, subtype="PCM_16")
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[:44 + 2 * int(0.09 * sr)])
    with pytest.warns(UserWarning, match=r"cut.wav: the WAV header promises 8.00 s but the file holds 0.09 s"):
        audio = load_audio(tmp_path / "cut.wav")
    assert abs(len(audio) / sr - 0.09) < 0.01
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_audio(tmp_path / "full.wav")  # a complete file: no warning


def test_speech_warnings_short_silent_and_no_speech():
    from kpanim.speech.audio import speech_warnings
    from kpanim.speech.tts import synthesize

    sr = 16000
    rng = np.random.default_rng(0)
    assert speech_warnings(synthesize("Hello there, how are you today?")) == []
    assert speech_warnings(np.zeros(sr, np.float32)) == ["the audio is silent: the mouth stays closed"]
    short = speech_warnings(0.1 * rng.normal(size=320).astype(np.float32))
    assert len(short) == 1 and "only 20 ms" in short[0]
    noise = speech_warnings(0.1 * rng.normal(size=3 * sr).astype(np.float32))
    assert len(noise) == 1 and noise[0].startswith("no speech detected in the audio")
    t = np.arange(3 * sr) / sr
    chord = sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)) * (1 + np.sin(2 * np.pi * 2 * t)) / 20
    assert speech_warnings(chord.astype(np.float32))[0].startswith("no speech detected")


def test_check_playable(tmp_path):
    from kpanim.speech.audio import check_playable

    sf.write(tmp_path / "a.wav", np.zeros(1600), 16000)
    (tmp_path / "t.wav").write_text("not audio")
    (tmp_path / "a.txt").write_text("not audio")
    assert check_playable(tmp_path / "a.wav", (".wav",)) == tmp_path / "a.wav"
    with pytest.raises(KpanimError, match=r"t.wav: not a readable audio file \(Invalid data found"):
        check_playable(tmp_path / "t.wav")
    with pytest.raises(KpanimError, match="browsers do not play '.txt' audio"):
        check_playable(tmp_path / "a.txt", (".wav", ".mp3"))
