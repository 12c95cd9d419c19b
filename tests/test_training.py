"""Training: data windows, mirroring, normalisation, a few real steps through the CLI, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from model_synth import TINY_FACO, TINY_MODA

from kpanim.commands.cli import cli
from kpanim.errors import KpanimError
from kpanim.face import constants


def test_mirror_is_an_involution_and_swaps_sides(synth_dataset):
    from kpanim.training.data import load_clips, mirror_clip_arrays

    clip = load_clips([synth_dataset], "train", progress=False)[0]
    arrays = (clip.lip[:5], clip.eye[:5], clip.dense[:5], clip.neutral, clip.head[:5], clip.torso[:5])
    once = mirror_clip_arrays(*arrays)
    twice = mirror_clip_arrays(*once)
    for a, b in zip(arrays, twice):
        assert np.allclose(a, b)
    tmpl = constants.template()
    m = mirror_clip_arrays(tmpl[None, constants.lip_index()], tmpl[None, constants.eye_index()], tmpl[None], tmpl,
                           np.zeros((1, 6)), np.zeros((1, 18, 3)))
    assert np.abs(m[3] - tmpl).max() < 0.003  # the template face is nearly symmetric
    assert np.allclose(m[0][0], m[3][constants.lip_index()])  # lip subset stays consistent with the mesh


def test_sampler_balances_speakers_and_normalises(synth_dataset):
    from kpanim.training.data import WindowSampler, compute_norm, load_clips

    from kpanim.speech.mel import MelFrontend

    clips = load_clips([synth_dataset], "train", MelFrontend(), 1, progress=False)
    clips[0].speaker = clips[1].speaker  # two clips of one speaker, one of another
    norm = compute_norm(clips)
    s = WindowSampler(clips, norm, 40, speaker_balanced=True, seed=0)
    assert np.isclose(s.p[2], 0.5) and np.isclose(s.p[0] + s.p[1], 0.5)
    b = s.batch(4)
    assert b["audio"].shape == (4, 40, 320) and b["lip"].shape == (4, 40, 120) and b["subject"].shape == (4, 1434)
    assert b["pad"].dtype == bool and not b["pad"].any()
    long = WindowSampler(clips, norm, 100, seed=0).batch(2)  # clips are 75 frames: padded, masked
    assert long["pad"][:, 75:].all() and not long["pad"][:, :75].any()


def test_train_moda_and_faco_cli(synth_dataset, tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    res = runner.invoke(cli, ["train", "moda", "--data", str(synth_dataset), "--frontend", "mel", "--steps", "2",
                              "--batch-size", "2", "--window", "40", "--audio-variants", "2", "--val-every", "1",
                              "--log-every", "1", "--open-weight", "1", "--probe-blend", "0.5", "--out", str(out),
                              *TINY_MODA])
    assert res.exit_code == 0, res.output
    recs = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    steps = [r for r in recs if "loss" in r]
    assert len(steps) == 2 and all(r["kl"] > 0 and -1 <= r["open_r"] <= 1 for r in steps)
    assert any("val" in r for r in recs) and (out / "loss.png").is_file()
    ck = torch.load(out / "moda.pt", weights_only=True)
    assert ck["info"]["train_clips"] == ["synth_0", "synth_1", "synth_2"] and ck["info"]["val_clips"] == ["synth_3"]
    assert "lip_std" in ck["norm"] and ck["info"]["frontend"]["name"] == "mel"
    assert "lipz_std" in ck["norm"] and float(ck["norm"]["probe_blend"][0]) == 0.5  # scale-free, with read-out
    res = runner.invoke(cli, ["train", "faco", "--data", str(synth_dataset), "--steps", "2", "--batch-size", "4",
                              "--adv-start", "0", "--out", str(tmp_path / "faco"), *TINY_FACO])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "faco" / "faco.pt").is_file()


def test_training_is_deterministic(synth_dataset, tmp_path):
    runner = CliRunner()
    states = []
    for k in range(2):
        out = tmp_path / f"r{k}"
        res = runner.invoke(cli, ["train", "moda", "--data", str(synth_dataset), "--frontend", "mel", "--steps", "2",
                                  "--batch-size", "2", "--window", "40", "--audio-variants", "1", "--no-plot",
                                  "--no-calibrate-gain", "--seed", "7", "--out", str(out), *TINY_MODA])
        assert res.exit_code == 0, res.output
        states.append(torch.load(out / "moda.pt", weights_only=True)["state_dict"])
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_train_help_documents_fields_and_errors():
    runner = CliRunner()
    res = runner.invoke(cli, ["train", "moda", "--help"])
    assert res.exit_code == 0 and "Sample speakers uniformly" in res.output and "--model.d-model" in res.output
    res = runner.invoke(cli, ["train", "moda", "--steps", "1"])
    assert res.exit_code == 1 and "Error: no dataset given" in res.output


def test_torchrun_ddp_two_cpu_processes(synth_dataset, tmp_path):
    """The same command under torchrun: 2 ranks, gloo on CPU, one checkpoint from rank 0."""
    import os
    import shutil
    import subprocess
    import sys

    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    out = tmp_path / "ddp"
    cmd = [torchrun, "--nproc-per-node", "2", "--master-port", "29533", "-m", "kpanim", "train", "moda", "--data",
           str(synth_dataset), "--frontend", "mel", "--steps", "2", "--batch-size", "2", "--window", "40",
           "--audio-variants", "1", "--no-plot", "--out", str(out), *TINY_MODA]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    start = json.loads((out / "log.jsonl").read_text().splitlines()[0])
    assert start["world_size"] == 2 and (out / "moda.pt").is_file()


def test_config_build_keeps_nested_defaults_and_rejects_unknown():
    import pytest
    from kpanim.training.config import build
    from kpanim.training.train_moda import ModaTrainConfig

    from kpanim.errors import KpanimError

    cfg = build(ModaTrainConfig, {"steps": 5, "model": {"n_heads": 2}})
    assert cfg.steps == 5 and cfg.model.n_heads == 2 and cfg.model.d_model == ModaTrainConfig().model.d_model
    with pytest.raises(KpanimError, match="unknown config field"):
        build(ModaTrainConfig, {"model": {"nope": 1}})


def test_sync_expert_scores_offsets_and_masks_the_window_edges():
    from kpanim.nets.syncnet import SyncNet, SyncNetConfig

    torch.manual_seed(0)
    net = SyncNet(SyncNetConfig(audio_dim=8, lip_dim=6, hidden=8, embed=4, max_offset=2, dropout=0.0)).eval()
    audio, lip = torch.randn(3, 10, 8), torch.randn(3, 10, 6)
    mask = torch.ones(3, 10)
    mask[1, 7:] = 0  # a padded tail
    logits = net.offset_logits(audio, lip, mask)
    assert logits.shape == (3, 10, 5)
    assert torch.isinf(logits[:, 0, :2]).all() and torch.isinf(logits[:, 9, 3:]).all()  # offsets leaving the window
    assert torch.isinf(logits[1, 7:]).all() and torch.isinf(logits[1, 5, 4])  # frame 7 is padding
    a, m = net.embed(audio, lip)
    assert torch.allclose(logits[0, 4, 3], (a[0, 4] * m[0, 5]).sum() / 0.1, atol=1e-5)  # k = +1
    loss, acc = net.loss(audio, lip, mask)
    assert loss.item() > 0 and 0 <= acc.item() <= 1


def test_train_sync_then_moda_with_its_loss(synth_dataset, tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["train", "sync", "--data", str(synth_dataset), "--frontend", "mel", "--steps", "3",
                              "--batch-size", "2", "--window", "40", "--val-every", "2", "--log-every", "1",
                              "--model.hidden", "8", "--model.embed", "4", "--out", str(tmp_path / "sync")])
    assert res.exit_code == 0, res.output
    ck = torch.load(tmp_path / "sync" / "sync.pt", weights_only=True)
    assert ck["kind"] == "sync" and ck["info"]["frontend"]["name"] == "mel"
    assert 0 <= ck["info"]["train_metrics"]["offset_accuracy"] <= 1
    out = tmp_path / "moda"
    args = ["train", "moda", "--data", str(synth_dataset), "--frontend", "mel", "--steps", "2", "--batch-size", "2",
            "--window", "40", "--log-every", "1", "--no-calibrate-gain", "--lip-target", "raw", "--out", str(out),
            *TINY_MODA]
    res = runner.invoke(cli, args + ["--sync-expert", str(tmp_path / "sync" / "sync.pt"), "--sync-weight", "0.5"])
    assert res.exit_code == 0, res.output
    steps = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines() if '"loss"' in x]
    assert len(steps) == 2 and all(r["sync"] > 0 for r in steps)
    res = runner.invoke(cli, args + ["--sync-weight", "0.5"])
    assert res.exit_code == 1 and "needs --sync-expert" in res.output


def test_scale_free_lip_targets_and_the_linear_probe(synth_dataset, tmp_path):
    from kpanim.training.data import WindowSampler, compute_norm, load_clips
    from kpanim.training.linear_probe import LinearProbe, fit_probe

    from kpanim.nets.normalise import lips_from_network, normalise
    from kpanim.nets.stats import MotionStats
    from kpanim.speech.mel import MelFrontend

    clips = load_clips([synth_dataset], "train", MelFrontend(), 1, progress=False)
    norm = compute_norm(clips)
    assert norm["lipz_std"].shape == (120,) and norm["lip_spread_per_width"][0] > 0
    b = WindowSampler(clips, norm, 40, seed=0, mirror_p=0.0, lip_target="clip_z").batch(2)
    assert b["lip"].shape == (2, 40, 120) and np.isfinite(b["lip"]).all()
    with pytest.raises(KpanimError, match="lip target"):
        WindowSampler(clips, norm, 40, lip_target="metres")
    # a scale-free prediction scales with the subject's mouth width
    z = normalise("lipz", clips[0].lip / clips[0].lip_spread, norm)
    stats = MotionStats.from_norm(norm)
    assert stats.scale_free and stats.lip_gain == 1.0 and stats.readout is None
    small = lips_from_network(z, clips[0].neutral, stats)
    big = lips_from_network(z, clips[0].neutral * 1.5, stats)
    assert np.allclose(big, 1.5 * small, rtol=1e-4, atol=1e-7)
    # the ridge probe recovers a linear map through PCA and context
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((300, 20)).astype(np.float32) for _ in range(3)]
    W = rng.standard_normal((20, 2))
    probe = fit_probe(X, [x @ W for x in X], pca_dim=20, radius=1, alpha=1e-3)
    test = rng.standard_normal((50, 20)).astype(np.float32)
    assert np.allclose(probe(test), test @ W, atol=1e-2)
    again = LinearProbe.from_arrays(probe.to_arrays())
    assert np.array_equal(again(test), probe(test))
    # a trained scale-free checkpoint carries its statistics; bad targets fail before a run folder exists
    runner = CliRunner()
    res = runner.invoke(cli, ["train", "moda", "--data", str(synth_dataset), "--frontend", "mel", "--steps", "1",
                              "--batch-size", "2", "--window", "40", "--audio-variants", "1", "--no-plot",
                              "--out", str(tmp_path / "bad"), "--lip-target", "metres", *TINY_MODA])
    assert res.exit_code == 1 and "--lip-target" in res.output and not (tmp_path / "bad").exists()
