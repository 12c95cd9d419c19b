"""Phone front-end (pocketsphinx allphone), viseme keyframe prior and its blend into predict."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from model_synth import TINY_MODA

from kpanim.commands.cli import cli
from kpanim.formats.animation import Animation
from kpanim.speech.audio import save_wav

pytest.importorskip("pocketsphinx")

SR = 16000


@pytest.fixture(scope="module")
def speech_2s() -> np.ndarray:
    """0.5 s of silence, then espeak-ng speech, 2 s in all."""
    from kpanim.speech.tts import synthesize

    voice = synthesize("Bin blue at f two now.", words_per_minute=200)
    audio = np.zeros(2 * SR, np.float32)
    piece = voice[: len(audio) - SR // 2]
    audio[SR // 2:SR // 2 + len(piece)] = piece
    return audio


def test_occupancy_is_aligned_to_frame_centres():
    from kpanim.speech.phone_frontend import PHONE_INDEX, occupancy

    labels = np.zeros(100, np.int64)  # 1 s at 100 Hz: silence until 0.5 s, then AA
    labels[50:] = PHONE_INDEX["AA"]
    occ = occupancy(labels, 25, 25.0)
    assert occ.shape == (25, 40)
    np.testing.assert_allclose(occ.sum(1), 1.0, atol=1e-6)
    aa = occ[:, PHONE_INDEX["AA"]]
    assert aa[:12].max() == 0.0 and aa[14:].min() == 1.0
    # Frames 12/13 (0.48/0.52 s) have the boundary 20 ms after/before their centre: the triangular
    # window's area beyond it is 1/8.
    np.testing.assert_allclose(aa[12:14], [0.125, 0.875], atol=1e-6)


def test_phone_frontend_shape_and_alignment(speech_2s):
    from kpanim.speech.frontends import make_frontend
    from kpanim.speech.mel import n_frames_for

    fe = make_frontend("phones")
    T = n_frames_for(len(speech_2s), 25.0)
    feats = fe(speech_2s, T, 25.0)
    assert feats.shape == (T, fe.dim) == (50, 40) and feats.dtype == np.float32
    np.testing.assert_allclose(feats.sum(1), 1.0, atol=1e-5)
    silence = feats[:, 0]
    assert silence[:10].mean() > 0.9  # the leading 0.4 s of silence
    assert silence[14:40].mean() < 0.6  # speech decoded as phones
    assert fe(speech_2s, 100, 50.0).shape == (100, 40)  # any frame rate


def test_concat_frontend_and_cache_reuse_each_part(tmp_path, speech_2s):
    from kpanim.training.data import clip_features

    from kpanim.speech.frontends import make_frontend

    fe = make_frontend("mel+phones")
    assert fe.name == "mel+phones" and fe.dim == 320 + 40
    (tmp_path / "clips").mkdir()
    save_wav(tmp_path / "clips" / "c0.wav", speech_2s)
    [feats] = clip_features(tmp_path, "c0", 50, fe, 1)
    assert feats.shape == (50, 360)
    assert sorted(p.name for p in (tmp_path / "features").iterdir()) == ["mel", "phones"]
    np.testing.assert_array_equal(fe.part("phones", feats), np.load(tmp_path / "features" / "phones" / "c0.v0.npy"))


def test_viseme_track_shape_and_coarticulation():
    from kpanim.animate.visemes import VISEMES, coarticulate, viseme_track, viseme_weights
    from kpanim.speech.phone_frontend import PHONE_INDEX, occupancy

    labels = np.zeros(200, np.int64)
    labels[60:100] = PHONE_INDEX["AA"]  # D: wide open
    labels[100:110] = PHONE_INDEX["M"]  # A: closed
    labels[110:160] = PHONE_INDEX["UW"]  # F: puckered
    phones = occupancy(labels, 50, 25.0)
    keys = np.zeros((len(VISEMES), 2), np.float32)
    keys[VISEMES.index("D"), 0], keys[VISEMES.index("A"), 0], keys[VISEMES.index("F"), 1] = 2.0, -1.0, 1.5
    track = viseme_track(phones, keys, 25.0)
    assert track.shape == (50, 2)
    hard = coarticulate(viseme_weights(phones), 25.0, tau=0.0, lead=0.0) @ keys
    # Co-articulation: smaller frame-to-frame jumps than switching keyframes, same range.
    assert np.abs(np.diff(track, axis=0)).max() < 0.7 * np.abs(np.diff(hard, axis=0)).max()
    assert track[:, 0].max() <= 2.0 + 1e-6 and track[:, 0].min() >= -1.0 - 1e-6
    # The short bilabial closure still shows (dominance), and the lips anticipate the sound.
    assert track[24:28, 0].min() < -0.25  # 100 ms of M between AA and UW still closes the lips
    assert track[14, 0] > hard[14, 0]  # 0.56 s: opening before the AA starts at 0.6 s


def test_fit_viseme_keys_recovers_class_means():
    from kpanim.animate.visemes import VISEMES, fit_viseme_keys
    from kpanim.speech.phone_frontend import PHONE_INDEX, occupancy

    labels = np.repeat(np.array([PHONE_INDEX[p] for p in ("SIL", "AA", "M", "AA", "F", "SIL")]), 40)
    phones = occupancy(labels, 96, 25.0)
    lips = np.where(phones[:, [PHONE_INDEX["AA"]]] > 0.5, 1.0, 0.0) * np.ones((1, 120))
    keys, frames = fit_viseme_keys([phones], [lips], [np.ones(96, bool)])
    assert keys.shape == (9, 120) and frames.shape == (9,)
    assert keys[VISEMES.index("D"), 0] > 0.7 and keys[VISEMES.index("X"), 0] < 0.3
    assert frames[VISEMES.index("H")] == 0 and not keys[VISEMES.index("H")].any()


def test_blend_weight_zero_is_network_output():
    from kpanim.animate.visemes import blend_lips

    net, track = np.random.default_rng(0).normal(size=(2, 30, 120)).astype(np.float32)
    assert blend_lips(net, track, 0.0) is net
    np.testing.assert_allclose(blend_lips(net, track, 1.0), track)
    with pytest.raises(ValueError):
        blend_lips(net, track, 1.5)


def test_train_phones_viseme_prior_and_predict_end_to_end(synth_dataset, tiny_model, tmp_path, speech_2s):
    from kpanim.animate.bundle import load_model
    from kpanim.animate.predict import predict

    out = tmp_path / "run"
    res = CliRunner().invoke(cli, ["train", "moda", "--data", str(synth_dataset), "--frontend", "mel+phones",
                                   "--steps", "2", "--batch-size", "2", "--window", "40", "--audio-variants", "1",
                                   "--no-plot", "--viseme-prior", "--viseme-blend", "0.5", "--out", str(out),
                                   *TINY_MODA])
    assert res.exit_code == 0, res.output
    shutil.copy(tiny_model.parent / "faco.pt", out / "faco.pt")
    model = load_model(out / "moda.pt")
    assert model.norm["viseme_keys"].shape == (9, 120) and model.viseme_blend(None) == 0.5
    net_only = predict(speech_2s, model=model, viseme_blend=0.0)
    blended = predict(speech_2s, model=model)
    assert net_only.meta["viseme_blend"] == 0.0 and blended.meta["viseme_blend"] == 0.5
    assert blended.lip.shape == net_only.lip.shape == (50, 40, 3)
    assert np.abs(blended.lip - net_only.lip).max() > 0
    wav, npz = tmp_path / "s.wav", tmp_path / "a.npz"
    save_wav(wav, speech_2s)
    res = CliRunner().invoke(cli, ["predict", str(wav), "-o", str(npz), "--model", str(out / "moda.pt"),
                                   "--viseme-blend", "1"])
    assert res.exit_code == 0, res.output
    assert Animation.load(npz).meta["viseme_blend"] == 1.0


def test_viseme_blend_zero_matches_model_without_prior(tiny_model, speech_2s):
    from kpanim.animate.bundle import load_model
    from kpanim.animate.predict import predict

    model = load_model(tiny_model)
    plain = predict(speech_2s, model=model)
    zero = predict(speech_2s, model=model, viseme_blend=0.0)
    np.testing.assert_array_equal(plain.dense, zero.dense)


def test_viseme_blend_errors_are_one_line(tiny_model, tmp_path, speech_2s):
    wav = tmp_path / "s.wav"
    save_wav(wav, speech_2s)
    for value, msg in (("0.5", "no viseme keyframes"), ("2", "--viseme-blend must be a number from 0 to 1")):
        res = CliRunner().invoke(cli, ["predict", str(wav), "-o", str(tmp_path / "a.npz"), "--model", str(tiny_model),
                                       "--viseme-blend", value])
        assert res.exit_code == 1 and msg in res.output and "Traceback" not in res.output
        assert not (tmp_path / "a.npz").exists()


def test_missing_pocketsphinx_is_a_clear_error(monkeypatch):
    import sys

    from kpanim.errors import KpanimError
    from kpanim.speech.frontends import make_frontend

    monkeypatch.setitem(sys.modules, "pocketsphinx", None)  # import fails as if not installed
    with pytest.raises(KpanimError, match=r"pip install 'kpanim\[phones\]'"):
        make_frontend("phones")


def test_add_viseme_prior_script(tiny_model, synth_dataset, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from kpanim.animate.bundle import load_model
    from kpanim.formats.fileio import file_sha256

    script = Path(__file__).parents[1] / "scripts" / "add_viseme_prior.py"
    before = file_sha256(tiny_model)
    out = tmp_path / "with_prior" / "moda.pt"
    res = subprocess.run([sys.executable, str(script), "--model", str(tiny_model), "--data", str(synth_dataset),
                          "--blend", "0.25", "--out", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert file_sha256(tiny_model) == before  # the input is never modified
    model = load_model(out)  # FaCo-Net copied next to it
    assert model.norm["viseme_keys"].shape == (9, 120) and model.viseme_blend(None) == 0.25
