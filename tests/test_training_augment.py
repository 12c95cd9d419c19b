"""Training data levers: Kaldi-style speed perturbation (audio and targets stay in sync) and mixing a
fixed fraction of windows from an extra corpus (with duplicates of the main data skipped)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from model_synth import TINY_MODA

from kpanim.commands.cli import cli

SR, FPS = 16000, 25.0


def bursts(seconds: float, times: list[float]) -> np.ndarray:
    """Silence with a 40 ms 300 Hz tone burst centred at each of ``times`` (seconds)."""
    t = np.arange(int(seconds * SR)) / SR
    audio = np.zeros_like(t)
    for c in times:
        on = np.abs(t - c) < 0.02
        audio[on] = np.sin(2 * np.pi * 300 * t[on])
    return audio.astype(np.float32)


def frame_energy(audio: np.ndarray, n_frames: int) -> np.ndarray:
    hop = SR / FPS
    return np.array([np.sum(audio[max(0, int((j - 0.5) * hop)):int((j + 0.5) * hop)] ** 2) for j in range(n_frames)])


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_perturbation_keeps_audio_and_targets_in_sync(factor):
    from kpanim.training.data import speed_frames, speed_perturb_audio, speed_perturb_frames

    times = [0.5, 1.3, 2.2, 3.1]
    audio = bursts(4.0, times)
    T = int(4.0 * FPS)
    target = np.zeros((T, 2, 3), np.float32)  # a "mouth" that opens exactly at each burst's frame
    for c in times:
        target[int(round(c * FPS)), :, 1] = 1.0
    valid = np.ones(T, bool)
    valid[10] = False

    sp_audio, sp_target = speed_perturb_audio(audio, factor), speed_perturb_frames(target, factor)
    sp_valid = speed_perturb_frames(valid, factor)
    n = speed_frames(T, factor)
    assert sp_target.shape == (n, 2, 3) and sp_valid.shape == (n,) and sp_valid.dtype == bool
    assert abs(len(sp_audio) - len(audio) / factor) <= 1  # duration scales by 1/factor
    assert abs(len(sp_audio) / SR * FPS - n) <= 1
    # every burst is where its target frame went, within one frame, on both streams
    energy = frame_energy(sp_audio, n)
    for c in times:
        j = c * FPS / factor
        lo, hi = int(j) - 2, int(j) + 3
        assert abs(lo + np.argmax(energy[lo:hi]) - j) <= 1
        assert abs(lo + np.argmax(sp_target[lo:hi, 0, 1]) - j) <= 1
    assert not sp_valid[int(10 / factor)] and sp_valid[int(40 / factor)]  # invalid frames stay invalid
    # pitch scales too (sox "speed", not "tempo"): the 300 Hz tone becomes 300·factor Hz
    seg = sp_audio[int((times[1] / factor - 0.015) * SR):int((times[1] / factor + 0.015) * SR)]
    spec = np.abs(np.fft.rfft(seg, 16 * len(seg)))
    assert abs(np.fft.rfftfreq(16 * len(seg), 1 / SR)[np.argmax(spec)] - 300 * factor) < 10
    assert speed_perturb_audio(audio, 1.0) is audio and speed_perturb_frames(target, 1.0) is target


def test_speed_perturbed_clip_loads_with_its_own_feature_cache(synth_dataset, tmp_path):
    from kpanim.training.data import load_clips, speed_frames

    from kpanim.speech.mel import MelFrontend

    ds = tmp_path / "ds"
    shutil.copytree(synth_dataset, ds)
    plain = load_clips([ds], "train", MelFrontend(), 1, progress=False)[0]
    fast = load_clips([ds], "train", MelFrontend(), 2, progress=False, speed=1.1)[0]
    n = speed_frames(plain.n_frames, 1.1)
    assert fast.speed == 1.1 and fast.n_frames == n and fast.lip.shape == (n, 40, 3) and fast.dense.shape[0] == n
    assert len(fast.audio) == 2 and all(a.shape == (n, 320) for a in fast.audio)
    assert (ds / "features" / "mel_sp1.1" / f"{fast.clip_id}.v1.npy").is_file()
    assert np.allclose(fast.lip[11], plain.lip[round(11 * 1.1)] * 0.9 + plain.lip[round(11 * 1.1) + 1] * 0.1,
                       atol=1e-6)  # frame 11 of the fast copy = original frame 12.1
    assert np.array_equal(fast.neutral, plain.neutral)


def test_mix_fraction_is_respected_and_pooling_is_speaker_balanced(synth_dataset):
    from kpanim.training.data import WindowSampler, compute_norm, load_clips

    from kpanim.speech.mel import MelFrontend

    main = load_clips([synth_dataset], "train", MelFrontend(), 1, progress=False)
    mix = load_clips([synth_dataset], None, MelFrontend(), 1, progress=False)
    for c in mix:  # one big single-speaker corpus, recognisable by its features
        c.speaker, c.audio = "corpus", [np.full_like(c.audio[0], 100.0)]
    norm = compute_norm(main)
    s = WindowSampler(main, norm, 20, mix_clips=mix, mix_fraction=0.25, seed=3)
    assert np.isclose(s.p[len(main):].sum(), 0.25) and np.allclose(s.p[:len(main)], 0.75 / 3)
    b = s.batch(2000)
    share = float((b["audio"][:, 0, 0] == 100.0).mean())
    assert abs(share - 0.25) < 0.03
    pooled = WindowSampler(main, norm, 20, mix_clips=mix, mix_fraction=0.0)  # 4 speakers, uniform
    assert np.isclose(pooled.p[len(main):].sum(), 0.25)
    with pytest.raises(Exception, match="mix fraction"):
        WindowSampler(main, norm, 20, mix_clips=mix, mix_fraction=1.0)


def test_duplicates_of_the_main_data_are_not_mixed_in(synth_dataset, tmp_path):
    from kpanim.training.data import is_duplicate

    assert is_duplicate("bbaf2n", {"LipNet__evaluation_samples_GRID_bbaf2n"}) and is_duplicate("a", {"a"})
    assert not is_duplicate("bbaf2n", {"x_bbaf2na", "bbaf2n_x"})
    # a corpus holding a copy of a main clip (prefixed, as prepare names it) and of the val clip
    corpus = tmp_path / "corpus"
    shutil.copytree(synth_dataset, corpus)
    rows = json.loads((corpus / "index.json").read_text())
    for r in rows:
        (corpus / "clips" / f"{r['clip_id']}.npz").rename(corpus / "clips" / f"{r['clip_id']}_copy.npz")
        (corpus / "clips" / f"{r['clip_id']}.wav").rename(corpus / "clips" / f"{r['clip_id']}_copy.wav")
        r["clip_id"] += "_copy"
        r["speaker"] = "corpus"
    keep = rows[0]["clip_id"]
    (corpus / "clips" / f"{keep}.npz").rename(corpus / "clips" / "fresh.npz")
    (corpus / "clips" / f"{keep}.wav").rename(corpus / "clips" / "fresh.wav")
    rows[0]["clip_id"] = "fresh"
    (corpus / "index.json").write_text(json.dumps(rows))
    main = tmp_path / "main"
    shutil.copytree(synth_dataset, main)
    index = json.loads((main / "index.json").read_text())
    for r in index:  # the main data names its clips <corpus>_<id>
        for ext in ("npz", "wav"):
            (main / "clips" / f"{r['clip_id']}.{ext}").rename(main / "clips" / f"corpus_{r['clip_id']}_copy.{ext}")
        r["clip_id"] = f"corpus_{r['clip_id']}_copy"
    (main / "index.json").write_text(json.dumps(index))

    out = tmp_path / "run"
    res = CliRunner().invoke(cli, ["train", "moda", "--data", str(main), "--mix-data", str(corpus), "--mix-fraction",
                                   "0.5", "--speed-factors", "0.9", "--speed-factors", "1.1", "--frontend", "mel",
                                   "--steps", "2", "--batch-size", "2", "--window", "40", "--audio-variants", "1",
                                   "--no-plot", "--no-calibrate-gain", "--out", str(out), *TINY_MODA])
    assert res.exit_code == 0, res.output
    start = json.loads((out / "log.jsonl").read_text().splitlines()[0])
    assert start["n_mix_clips"] == 1 and start["n_speed_clips"] == 2 * start["n_train_clips"]
    assert start["config"]["speed_factors"] == [0.9, 1.1] and start["config"]["mix_fraction"] == 0.5


def test_feature_masking_zeros_channels_and_spans_without_touching_the_cache(synth_dataset):
    from kpanim.training.data import WindowSampler, compute_norm, load_clips, mask_features

    from kpanim.speech.mel import MelFrontend

    feats = np.ones((100, 40), np.float32)
    masked = mask_features(feats, 0.1, np.random.default_rng(0))
    assert feats.min() == 1 and masked.shape == feats.shape
    assert (masked == 0).all(0).sum() == 4  # 10 % of the channels
    frames = (masked == 0).all(1).mean()
    assert 0.03 <= frames <= 0.2  # about 10 % of the frames
    clips = load_clips([synth_dataset], "train", MelFrontend(), 1, progress=False)
    before = [c.audio[0].copy() for c in clips]
    b = WindowSampler(clips, compute_norm(clips), 40, feature_mask=0.2, seed=0).batch(8)
    assert ((b["audio"] == 0).all(1).sum(1) >= 60).all()  # 20 % of 320 channels in every window
    assert all(np.array_equal(x, c.audio[0]) for x, c in zip(before, clips))
