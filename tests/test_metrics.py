"""Metrics give 0 / 1 on identical sequences and the expected values on crafted ones; kpanim eval."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kpanim.evaluation import metrics
from kpanim.face import constants

FPS = 25.0
IOD = 0.063


def talking(n: int = 100, amp: float = 0.006, delay: int = 0, seed: int = 0):
    """Template face whose jaw opens amp·(0.5+0.5 sin) metres, delayed by ``delay`` frames; and that opening."""
    from kpanim.evaluation.evaluate import jaw_index
    from kpanim.formats.animation import Animation

    rng = np.random.default_rng(seed)
    base = constants.template().astype(np.float64)
    t = (np.arange(n) - delay) / FPS
    opening = amp * (0.5 + 0.5 * np.sin(2 * np.pi * 2.3 * t + rng.uniform(0, 0.1)))
    dense = np.repeat(base[None], n, 0)
    dense[:, jaw_index(base), 1] -= opening[:, None]
    pose = np.tile([0, 0, 0, 0, 0, -0.5], (n, 1)).astype(np.float64)
    torso = np.zeros((n, 18, 3)) + [0, -0.15, -0.5]
    return Animation.from_dense(dense, pose, torso, FPS, {}), opening


def test_identical_sequences_score_perfectly():
    from kpanim.evaluation.evaluate import evaluate

    anim, _ = talking()
    m = evaluate(anim, anim)
    assert m["lmd"] == pytest.approx(0, abs=1e-9) and m["lmd_motion"] == pytest.approx(0, abs=1e-9)
    assert m["lmd_v"] == pytest.approx(0, abs=1e-9)
    assert m["ma"] == pytest.approx(1.0) and m["open_corr"] == pytest.approx(1.0)
    assert m["open_lag"] == 0 and m["articulation"] == pytest.approx(1.0)
    assert m["jitter"] == pytest.approx(0, abs=1e-9) and m["head_rot_std_deg"] == pytest.approx(0, abs=1e-9)


def test_constant_lip_offset_is_lmd_but_not_motion():
    from kpanim.evaluation.evaluate import evaluate

    anim, _ = talking()
    moved = anim.dense.copy()
    moved[:, constants.lip_index(), 0] += 0.0063  # 10 % of IOD sideways
    pred = anim.replace(dense=moved, lip=moved[:, constants.lip_index()])
    m = evaluate(pred, anim)
    assert m["lmd"] == pytest.approx(0.1, rel=1e-3)
    assert m["lmd_motion"] == pytest.approx(0, abs=1e-6) and m["lmd_v"] == pytest.approx(0, abs=1e-6)
    assert 0 < m["ma"] < 1 and m["open_corr"] == pytest.approx(1.0)


def test_delay_amplitude_and_velocity():
    from kpanim.evaluation.evaluate import evaluate

    ref, op_ref = talking()
    late, _ = talking(delay=3)
    m = evaluate(late, ref)
    assert m["open_lag"] == 3 and m["open_lag_corr"] > 0.99
    half, _ = talking(amp=0.003)
    m = evaluate(half, ref)
    assert m["articulation"] == pytest.approx(0.5, rel=0.02)
    # LMD-v: the moving lip points' velocity error is half their reference velocity.
    moving = np.ptp(ref.lip[:, :, 1], axis=0) > 0
    vel = np.abs(np.diff(ref.lip[:, moving, 1], axis=0)).mean() * moving.mean() / IOD
    assert m["lmd_v"] == pytest.approx(0.5 * vel, rel=0.02)


def test_mouth_opening_is_the_inner_lip_gap_in_iod():
    anim, opening = talking()
    gap0 = np.linalg.norm(constants.template()[13, :2] - constants.template()[14, :2])
    got = metrics.mouth_opening(metrics.align_to_template(anim.dense))
    np.testing.assert_allclose(got, (gap0 + opening) / IOD, rtol=1e-6)


def test_polygon_iou_of_shifted_squares():
    sq = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64)[None]
    assert metrics.polygon_iou(sq, sq)[0] == pytest.approx(1.0)
    assert metrics.polygon_iou(sq, sq + [0.5, 0])[0] == pytest.approx(1 / 3, abs=0.01)
    assert metrics.polygon_iou(sq, sq + [2, 0])[0] == pytest.approx(0.0)


def test_lagged_correlation_sign_and_av_sync():
    rng = np.random.default_rng(1)
    env = np.convolve(rng.normal(size=300), np.ones(3) / 3, mode="same")
    mouth = np.roll(env, 2)  # the mouth moves 2 frames after the sound
    assert metrics.lagged_correlation(mouth, env) == (2, pytest.approx(1.0, abs=0.02))
    assert metrics.av_sync(mouth, env)[0] == 2
    assert metrics.lagged_correlation(env, mouth)[0] == -2


def test_audio_envelope_level():
    t = np.arange(16000) / 16000
    sine = 0.5 * np.sin(2 * np.pi * 440 * t)
    env = metrics.audio_envelope(sine, 25)
    assert env[5:20] == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.1)
    assert metrics.audio_envelope(np.zeros(16000), 25).max() == pytest.approx(-60)


def test_blinks_head_motion_and_jitter():
    ear = np.full(250, 0.3)
    for start in (20, 100, 180):
        ear[start:start + 4] = 0.05
    assert metrics.count_blinks(ear) == 3
    pose = np.zeros((1000, 6))
    pose[:, 1] = np.radians(6.0) * np.sin(np.linspace(0, 20 * np.pi, 1000))
    rot, trans = metrics.head_motion_std(pose)
    assert rot == pytest.approx(6.0 / np.sqrt(2) / 3, rel=0.02) and trans == 0
    still = np.repeat(constants.template()[None], 20, 0).astype(np.float64)
    assert metrics.jitter(still) == pytest.approx(0, abs=1e-12)
    shaky = still.copy()
    shaky[::2] += [1e-4, 0, 0]
    assert metrics.jitter(shaky) == pytest.approx(2e-4 / IOD, rel=1e-6)


def test_eye_aspect_ratio_and_blink_rate_on_faces():
    anim, _ = talking(n=250)
    aligned = metrics.align_to_template(anim.dense)
    closed = aligned.copy()
    for (c0, c1), lids in metrics.EYE_LIDS.values():
        for up, down in lids:
            closed[100:104, up, 1] = closed[100:104, down, 1]
    assert metrics.blink_rate(aligned, FPS) == 0
    assert metrics.blink_rate(closed, FPS) == pytest.approx(1 / (250 / FPS / 60))


def test_shape_checks_say_expected_and_actual():
    with pytest.raises(ValueError, match=r"\(T, 478, 3\), got \(5, 10, 3\)"):
        metrics.align_to_template(np.zeros((5, 10, 3)))
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.lmd(np.zeros((4, 40, 3)), np.zeros((5, 40, 3)))


def test_baselines():
    from kpanim.evaluation.evaluate import loudness_baseline, score_all, static_baseline

    ref, opening = talking(n=100)
    t = np.arange(100 * 640) / 16000
    loud = np.repeat(opening / opening.max(), 640) * np.sin(2 * np.pi * 200 * t)  # louder when the mouth opens
    neutral = constants.template().astype(np.float64)
    static = static_baseline(ref, neutral)
    assert np.ptp(static.dense, axis=0).max() == 0
    lb = loudness_baseline(ref, neutral, loud.astype(np.float32))
    rows = score_all(None, ref, neutral, loud.astype(np.float32))
    assert set(rows) == {"baseline-static", "baseline-loudness", "reference"}
    assert rows["baseline-static"]["articulation"] == pytest.approx(0, abs=1e-6)
    assert rows["baseline-loudness"]["open_corr"] > 0.8 and np.ptp(lb.lip[:, :, 1]) > 0
    assert rows["reference"]["lmd"] == pytest.approx(0, abs=1e-9)


def test_eval_cli_table_json_and_plot(tmp_path):
    from click.testing import CliRunner

    from kpanim.commands.cli import cli
    from kpanim.speech.audio import save_wav

    ref, _ = talking()
    pred, _ = talking(delay=2, seed=1)
    ref = ref.replace(meta={"audio": "ref.wav"})
    ref.save(tmp_path / "ref.npz")
    pred.save(tmp_path / "pred.npz")
    rng = np.random.default_rng(0)
    save_wav(tmp_path / "ref.wav", (0.1 * rng.normal(size=100 * 640)).astype(np.float32))
    res = CliRunner().invoke(cli, ["eval", str(tmp_path / "pred.npz"), "--reference", str(tmp_path / "ref.npz"),
                                   "--json", str(tmp_path / "m.json"), "--plot", str(tmp_path / "m.png")])
    assert res.exit_code == 0, res.output
    assert "LMD" in res.output and "baseline-loudness" in res.output
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["metrics"]["prediction"]["open_lag"] == 2
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_cli_user_errors(tmp_path):
    from click.testing import CliRunner

    from kpanim.commands.cli import cli

    res = CliRunner().invoke(cli, ["eval", str(tmp_path / "p.npz")])
    assert res.exit_code == 1 and "--reference" in res.output
    res = CliRunner().invoke(cli, ["eval", "--dataset", str(tmp_path)])
    assert res.exit_code == 1 and "no index.json" in res.output and "Traceback" not in res.output


def test_eval_dataset_with_baselines_and_missing_model(tmp_path):
    from click.testing import CliRunner

    from kpanim.commands.cli import cli
    from kpanim.dataset.index import write_index
    from kpanim.speech.audio import save_wav

    clips = tmp_path / "clips"
    clips.mkdir()
    rows = []
    for i in range(2):
        anim, opening = talking(seed=i)
        anim = anim.replace(meta={"audio": f"c{i}.wav"})
        anim.save(clips / f"c{i}.npz")
        save_wav(clips / f"c{i}.wav", (np.repeat(opening / opening.max(), 640) * 0.2
                                       * np.sin(np.arange(64000) * 0.08)).astype(np.float32))
        rows.append({"clip_id": f"c{i}", "speaker": f"s{i}", "split": "val", "seconds": 4.0})
    write_index(tmp_path, rows)
    res = CliRunner().invoke(cli, ["eval", "--dataset", str(tmp_path), "--json", str(tmp_path / "d.json")])
    assert res.exit_code == 0, res.output
    mean = json.loads((tmp_path / "d.json").read_text())["mean"]
    assert mean["baseline-static"]["clips"] == 2 and mean["baseline-loudness"]["open_corr"] > 0.8
    res = CliRunner().invoke(cli, ["eval", "--dataset", str(tmp_path), "--model", "missing.pt"])
    assert res.exit_code == 1 and "no such model" in res.output and "Traceback" not in res.output


def test_eval_dataset_runs_a_model_through_predict(tmp_path, monkeypatch):
    import sys
    import types

    from click.testing import CliRunner

    from kpanim.commands.cli import cli
    from kpanim.dataset.index import write_index
    from kpanim.speech.audio import save_wav

    clips = tmp_path / "clips"
    clips.mkdir()
    anim, opening = talking()
    anim = anim.replace(meta={"audio": "c.wav", "reference_frame": 3, "clip_id": "c"})
    from kpanim.dataset.clip import PreparedClip

    PreparedClip(anim, valid=np.ones(100, bool), neutral=constants.template(), camera=np.array([512.0, 256, 256, 512, 512]),
                 landmarks_px=np.zeros((100, 478, 3), np.float32)).save(clips / "c.npz")
    save_wav(clips / "c.wav", (0.1 * np.sin(np.arange(64000) * 0.05)).astype(np.float32))
    write_index(tmp_path, [{"clip_id": "c", "speaker": "s", "split": "val", "seconds": 4.0}])
    calls = []

    def fake_predict(audio, subject=None, model=None, seed=0, check_speech=True):
        calls.append((audio, subject, model, seed))
        return talking(delay=1)[0]

    monkeypatch.setitem(sys.modules, "kpanim.animate.predict", types.SimpleNamespace(predict=fake_predict))
    res = CliRunner().invoke(cli, ["eval", "--dataset", str(tmp_path), "--model", "m.pt"])
    assert res.exit_code == 0, res.output
    assert "m.pt" in res.output and len(calls) == 1
    audio, subject, model, seed = calls[0]
    assert audio.endswith("c.wav") and model == "m.pt" and seed == 0
    assert subject.subject_id == "c" and subject.neutral.shape == (478, 3) and subject.camera.width == 512


def test_clip_means_weight_frames_and_take_the_median_lag():
    from kpanim.evaluation.evaluate import mean_rows

    clips = [{"m": {"frames": 100, "seconds": 4.0, "open_corr": 0.5, "open_lag": 0}},
             {"m": {"frames": 100, "seconds": 4.0, "open_corr": 0.2, "open_lag": 1}},
             {"m": {"frames": 50, "seconds": 2.0, "open_corr": float("nan"), "open_lag": -10}}]
    m = mean_rows(clips)["m"]
    assert m["clips"] == 3 and m["frames"] == 250 and m["seconds"] == 10.0
    assert m["open_corr"] == pytest.approx(0.35)  # NaN skipped, equal weights left
    assert m["open_lag"] == 0  # a mean would be -1.6: one border lag must not drag it


def test_eval_dataset_scores_the_linear_probe(synth_dataset, tmp_path):
    from click.testing import CliRunner

    from kpanim.commands.cli import cli

    res = CliRunner().invoke(cli, ["eval", "--dataset", str(synth_dataset), "--json", str(tmp_path / "d.json")])
    assert res.exit_code == 0, res.output
    mean = json.loads((tmp_path / "d.json").read_text())["mean"]
    assert mean["baseline-probe"]["clips"] == 1 and np.isfinite(mean["baseline-probe"]["open_corr"])
