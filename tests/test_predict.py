"""Inference: sliding windows, silence, seeds/samples, the Python API and the CLI's error handling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from model_synth import speechlike

from kpanim.animate.bundle import load_model
from kpanim.animate.predict import moda_windows, predict, speech_gate
from kpanim.commands.cli import cli
from kpanim.errors import KpanimError
from kpanim.face import constants
from kpanim.formats.animation import Animation
from kpanim.nets.moda import Moda, ModaConfig
from kpanim.speech.audio import save_wav


def test_sliding_windows_cross_fade_exactly():
    """Long input = per-window predictions blended linearly in the overlaps (70 s of features)."""
    cfg = ModaConfig(audio_dim=8, d_model=16, n_heads=2, n_spec_layers=1, n_prob_layers=1, latent_dim=4)
    torch.manual_seed(0)
    model = Moda(cfg).eval()
    T, window, overlap = 1750, 200, 40
    feats = np.random.default_rng(0).standard_normal((T, 8)).astype(np.float32)
    subj = np.zeros(cfg.subject_dim, np.float32)
    out = moda_windows(model, feats, subj, window, overlap, temperature=0.0)
    assert all(v.shape[0] == T and np.isfinite(v).all() for v in out.values())

    def direct(s):
        with torch.no_grad():
            p, _ = model(torch.from_numpy(feats[None, s:s + window]), torch.from_numpy(subj)[None], temperature=0.0)
        return p["lip"][0].numpy()

    w0, w1 = direct(0), direct(160)
    assert np.allclose(out["lip"][:160], w0[:160], atol=1e-5)  # only window 0 covers these frames
    ramp = np.linspace(0, 1, overlap + 2)[1:-1, None]
    assert np.allclose(out["lip"][160:200], w0[160:200] * (1 - ramp) + w1[:40] * ramp, atol=1e-5)
    assert np.allclose(out["lip"][200:320], w1[40:160], atol=1e-5)


def test_speech_gate():
    audio = (0.1 * np.sin(np.arange(3 * 16000) * 0.07)).astype(np.float32)
    audio[: 3 * 16000 // 2] = 0  # the first 1.5 s silent
    audio[2 * 16000: 2 * 16000 + 4000] = 0  # a 0.25 s pause inside speech is not silence
    gate = speech_gate(audio, 75, 25.0)
    assert gate.shape == (75,) and gate[:30].max() == 0 and gate[45:].min() > 0.99
    assert speech_gate(np.zeros(16000, np.float32), 25, 25.0).max() == 0


def test_predict_api_shapes_seed_samples(tiny_model):
    audio, _ = speechlike(3.0, 5)
    anim = predict(audio, model=tiny_model, seed=3)
    assert isinstance(anim, Animation) and anim.n_frames == 75 and anim.fps == 25
    again = predict(audio, model=tiny_model, seed=3)
    assert np.array_equal(anim.dense, again.dense)  # deterministic with a seed
    many = predict(audio, model=tiny_model, seed=3, samples=3)
    assert len(many) == 3 and np.array_equal(many[0].head_pose, anim.head_pose)
    assert not np.allclose(many[0].head_pose, many[1].head_pose)
    assert np.allclose(anim.dense[:, constants.lip_index()], anim.lip)  # streams agree
    half = predict(audio, model=tiny_model, fps=12.5)
    assert half.n_frames == 38 and half.fps == 12.5


def test_lips_do_not_depend_on_the_seed(tiny_model):
    """MODA: lips are deterministic (SpecAttn); only blinks, head and torso are sampled."""
    audio, _ = speechlike(3.0, 6)
    a, b = (predict(audio, model=tiny_model, seed=s) for s in (0, 1))
    assert np.array_equal(a.lip, b.lip)
    assert not np.allclose(a.head_pose, b.head_pose)


def test_predict_silence_gives_closed_still_mouth(tiny_model):
    with pytest.warns(UserWarning, match="silent"):
        anim = predict(np.zeros(16000 * 2, np.float32), model=tiny_model)
    neutral_lip = constants.template()[constants.lip_index()]
    assert np.allclose(anim.lip, neutral_lip[None], atol=1e-6)


def test_predict_long_audio_memory_bounded_shape(tiny_model):
    audio = np.tile(speechlike(10.0, 1)[0], 7)  # 70 s
    anim = predict(audio, model=tiny_model)
    assert anim.n_frames == 1750
    jumps = np.abs(np.diff(anim.lip, axis=0)).max(axis=(1, 2))
    assert jumps.max() < 10 * np.median(jumps) + 1e-3  # no seams at window borders


def test_load_model_errors(tmp_path):
    with pytest.raises(KpanimError, match="no such model"):
        load_model(tmp_path / "missing.pt")
    with pytest.raises(KpanimError, match="at least 1"):
        predict(np.zeros(100, np.float32), samples=0)


def _runs(tiny_model, root, faco_beside=False):
    """The trainers' default layout: root/moda/moda.pt (+ root/faco/faco.pt when ``faco_beside``)."""
    import shutil

    (root / "moda").mkdir(parents=True)
    shutil.copy(tiny_model, root / "moda" / "moda.pt")  # its info names faco.pt, which is not next to it
    if faco_beside:
        (root / "faco").mkdir()
        shutil.copy(tiny_model.parent / "faco.pt", root / "faco" / "faco.pt")
    return root / "moda" / "moda.pt"


def test_moda_run_finds_the_faco_run_beside_it(tiny_model, tmp_path):
    import warnings

    moda = _runs(tiny_model, tmp_path / "runs", faco_beside=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default workflow: no warning
        model = load_model(moda)
    assert model.faco_path == str(tmp_path / "runs" / "faco" / "faco.pt")
    wav = tmp_path / "speech.wav"
    save_wav(wav, speechlike(1.0, 0)[0])
    res = CliRunner().invoke(cli, ["predict", str(wav), "-o", str(tmp_path / "a.npz"), "--model", str(moda)])
    assert res.exit_code == 0 and "FaCo-Net" not in res.output, res.output


def test_faco_next_to_moda_comes_first(tiny_model, tmp_path):
    import shutil

    moda = _runs(tiny_model, tmp_path / "runs", faco_beside=True)
    shutil.copy(tiny_model.parent / "faco.pt", moda.parent / "faco.pt")
    assert load_model(moda).faco_path == str(moda.parent / "faco.pt")


def test_moda_without_faco_falls_back_to_the_shipped_one(tiny_model, tmp_path, monkeypatch):
    from kpanim.animate import bundle

    moda = _runs(tiny_model, tmp_path / "runs")
    with pytest.warns(UserWarning, match=r"no FaCo-Net at .*faco.pt; using the shipped faco_default.pt"):
        model = load_model(moda)
    assert model.faco_path == str(bundle.default_faco_path())
    anim = predict(speechlike(1.0, 0)[0], model=model, check_speech=False)  # the shipped FaCo-Net fits it
    assert anim.dense.shape == (25, 478, 3) and np.isfinite(anim.dense).all()
    wav = tmp_path / "speech.wav"
    save_wav(wav, speechlike(1.0, 0)[0])
    other = _runs(tiny_model, tmp_path / "runs2")  # not cached yet: the CLI shows the warning
    res = CliRunner().invoke(cli, ["predict", str(wav), "-o", str(tmp_path / "a.npz"), "--model", str(other)])
    assert res.exit_code == 0 and "Warning: " in res.output and "using the shipped faco_default.pt" in res.output, res.output
    monkeypatch.setattr(bundle, "default_faco_path", lambda: tmp_path / "gone.pt")
    with pytest.raises(KpanimError, match=r"no FaCo-Net found .*kpanim train faco --data DIR --out .*faco"):
        load_model(_runs(tiny_model, tmp_path / "runs3"))


def test_cli_predict_faco_option(tiny_model, tmp_path):
    moda = _runs(tiny_model, tmp_path / "runs")
    wav = tmp_path / "speech.wav"
    save_wav(wav, speechlike(1.0, 0)[0])
    res = CliRunner().invoke(cli, ["predict", str(wav), "-o", str(tmp_path / "a.npz"), "--model", str(moda),
                                   "--faco", str(tiny_model.parent / "faco.pt")])
    assert res.exit_code == 0 and "FaCo-Net" not in res.output, res.output
    res = CliRunner().invoke(cli, ["predict", str(wav), "-o", str(tmp_path / "b.npz"), "--model", str(moda),
                                   "--faco", str(tmp_path / "missing.pt")])
    assert res.exit_code == 1 and "missing.pt: no such model file" in res.output, res.output
    res = CliRunner().invoke(cli, ["predict", str(wav), "-o", str(tmp_path / "c.npz"), "--model", str(moda),
                                   "--faco", str(tiny_model)])
    assert res.exit_code == 1 and "this is a 'moda' checkpoint, expected 'faco'" in res.output, res.output


def test_cli_predict_writes_npz(tiny_model, tmp_path):
    wav = tmp_path / "speech.wav"
    save_wav(wav, speechlike(2.0, 2)[0])
    out = tmp_path / "anim.npz"
    res = CliRunner().invoke(cli, ["predict", str(wav), "-o", str(out), "--model", str(tiny_model), "--samples", "2",
                                   "--smooth", "head=2"])
    assert res.exit_code == 0, res.output
    assert Animation.load(tmp_path / "anim_0.npz").n_frames == 50 and (tmp_path / "anim_1.npz").is_file()


@pytest.mark.parametrize("kind", ["missing", "empty", "corrupt", "badext"])
def test_cli_predict_bad_input_is_one_line_error(tiny_model, tmp_path, kind):
    wav = tmp_path / "in.wav"
    out = tmp_path / "out.npz"
    if kind == "empty":
        save_wav(wav, np.zeros(0, np.float32))
    elif kind == "corrupt":
        wav.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10)
    elif kind == "badext":
        save_wav(wav, speechlike(1.0, 0)[0])
        out = tmp_path / "out.txt"
    res = CliRunner().invoke(cli, ["predict", str(wav), "-o", str(out), "--model", str(tiny_model)])
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert lines[-1].startswith("Error:") and "Traceback" not in res.output
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_python_api_is_kpanim_predict():
    import importlib

    import kpanim

    assert kpanim.predict is predict and callable(kpanim.predict)
    assert importlib.import_module("kpanim.commands.predict").predict_command.name == "predict"


def test_blink_track_rate_and_seed():
    from kpanim.animate.predict import blink_track

    track = blink_track(25 * 600, 25.0, 15.0, seed=1)
    onsets = int(np.sum(np.diff((track > 0.5).astype(int)) == 1))
    assert 100 <= onsets <= 200  # ~15 per minute over 10 minutes
    assert np.array_equal(track, blink_track(25 * 600, 25.0, 15.0, seed=1))
    assert not blink_track(100, 25.0, 0.0, seed=1).any() and track.max() > 0.95


def test_cli_predict_glb(tiny_model, tmp_path):
    """.glb goes through kpanim.formats.gltf_export when installed; without it, a one-line error and no file."""
    import importlib.util

    wav = tmp_path / "speech.wav"
    save_wav(wav, speechlike(1.0, 3)[0])
    out = tmp_path / "anim.glb"
    res = CliRunner().invoke(cli, ["predict", str(wav), "-o", str(out), "--model", str(tiny_model)])
    if importlib.util.find_spec("kpanim.formats.gltf_export") is None:
        assert res.exit_code == 1 and "Error: glTF export is not available" in res.output and not out.exists()
    else:
        assert res.exit_code == 0, res.output
        assert out.read_bytes()[:4] == b"glTF"


def test_shipped_default_model_matches_its_card():
    import json
    from importlib import resources

    from kpanim.formats.fileio import file_sha256

    data = resources.files("kpanim.data")
    card = json.loads(data.joinpath("moda_default.json").read_text())
    total = 0
    for name, entry in card["files"].items():
        path = data.joinpath(name)
        assert file_sha256(path) == entry["sha256"], name
        total += path.stat().st_size
    assert total < 30 * 2**20
    model = load_model()  # strict load of both networks; the audio front-end loads lazily
    assert model.info["frontend"]["name"] == card["frontend"]["name"]
    assert model.info["val_clips"] == card["val_clips"] and not set(card["val_clips"]) & set(card["train_clips"])
    assert model.stats.blink is not None and model.stats.head_gain is not None and "head_gain" in model.norm


def test_motion_stats_typed_view_of_the_norm_dict():
    from kpanim.nets.stats import MotionStats

    model = load_model()
    stats = model.stats
    assert stats.scale_free and stats.readout is not None and stats.readout.blend == 0.5
    assert stats.readout_radius == int(model.norm["probe_radius"][0]) and stats.visemes is None
    assert stats.blink.shape.shape == (60, 3) and stats.lip_gain == float(model.norm["lip_gain"][0])
    assert len(model.lip_members) == 2 and all(m.stats.readout is not None for m in model.lip_members)
    faco = model.faco_stats  # FaCo-Net's statistics: normalisation only
    assert faco.blink is None and faco.readout is None and faco.head_gain is None and faco.lip_gain == 1.0
    with pytest.raises(TypeError):
        model.norm["lip_gain"] = np.ones(1)  # read-only: the statistics are the checkpoint's
    norm = dict(model.norm)
    for key, group in [("blink_rate", "a blink shape"), ("probe_weights", "a lip read-out"),
                       ("lip_spread_per_width", "scale-free lip statistics")]:
        with pytest.raises(KpanimError, match=f"x.pt: its statistics have {group} but no '{key}'"):
            MotionStats.from_norm({k: v for k, v in norm.items() if k != key}, "x.pt")
    raw = MotionStats.from_norm({k: v for k, v in norm.items() if not k.startswith(("lipz_", "probe_", "lip_gain"))})
    assert not raw.scale_free and raw.readout is None and raw.readout_radius == 0 and raw.lip_gain == 1.0
