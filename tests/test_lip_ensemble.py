"""Lip ensembles (kpanim train lip-ensemble): several MODA runs whose lips are averaged in one checkpoint."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from kpanim.commands.cli import cli


def _train(synth_dataset, out, seed):
    from model_synth import TINY_MODA

    res = CliRunner().invoke(cli, ["train", "moda", "--data", str(synth_dataset), "--frontend", "mel", "--steps", "3",
                                   "--batch-size", "2", "--window", "40", "--audio-variants", "1", "--no-plot",
                                   "--seed", str(seed), "--out", str(out), *TINY_MODA])
    assert res.exit_code == 0, res.output
    return out / "moda.pt"


@pytest.fixture(scope="module")
def members(synth_dataset, tiny_model, tmp_path_factory):
    """The tiny model (seed 0, with its FaCo-Net) and a second run of the same recipe with seed 1."""
    other = _train(synth_dataset, tmp_path_factory.mktemp("seed1"), seed=1)
    shutil.copy(tiny_model.parent / "faco.pt", other.parent / "faco.pt")
    return tiny_model, other


@pytest.fixture(scope="module")
def ensemble(members, tmp_path_factory):
    out = tmp_path_factory.mktemp("ensemble")
    res = CliRunner().invoke(cli, ["train", "lip-ensemble", *map(str, members), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "faco.pt").is_file()  # the main run's FaCo-Net comes along
    return out / "moda.pt"


def test_ensemble_lips_are_the_members_mean_and_the_rest_is_the_main_network(members, ensemble):
    from model_synth import speechlike

    from kpanim.animate.bundle import load_model
    from kpanim.animate.predict import default_subject_arrays, motion_streams

    audio = speechlike(2.0, 3)[0]
    ens, a, b = load_model(ensemble), load_model(members[0]), load_model(members[1])
    assert len(ens.lip_members) == 1 and not a.lip_members
    feats = ens.frontend(audio, 50, 25.0)
    neutral = default_subject_arrays(ens.stats)[0]
    s_ens, s_a, s_b = (motion_streams(m, feats, audio, neutral, seed=4) for m in (ens, a, b))
    np.testing.assert_allclose(s_ens["lip"], (s_a["lip"] + s_b["lip"]) / 2, atol=1e-5)
    assert np.abs(s_a["lip"] - s_b["lip"]).max() > 1e-4  # the seeds really differ
    for name in ("eye", "head", "torso"):
        np.testing.assert_allclose(s_ens[name], s_a[name], atol=1e-6)


def test_checkpoint_formats(members, ensemble):
    import torch

    assert torch.load(members[0], weights_only=True)["kpanim_checkpoint"] == 1  # no members: readable by 0.1
    ck = torch.load(ensemble, weights_only=True)
    assert ck["kpanim_checkpoint"] == 2 and len(ck["lip_members"]) == 1
    assert [m["seed"] for m in ck["info"]["lip_ensemble"]] == [0, 1]


def test_predict_runs_an_ensemble(ensemble, tmp_path):
    from model_synth import speechlike

    from kpanim.speech.audio import save_wav

    wav = tmp_path / "a.wav"
    save_wav(wav, speechlike(1.5, 2)[0])
    res = CliRunner().invoke(cli, ["predict", str(wav), "--model", str(ensemble), "-o", str(tmp_path / "a.npz")])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("case", ["one", "nested", "config", "overwrite"])
def test_lip_ensemble_refuses_bad_members(case, members, ensemble, tmp_path):
    from kpanim.formats.checkpoint import save_checkpoint
    from kpanim.nets.moda import Moda, ModaConfig

    a, b = map(str, members)
    out = tmp_path / "out"
    args = {"one": [a], "nested": [a, str(ensemble)], "overwrite": [a, b]}.get(case)
    if case == "overwrite":
        out = members[0].parent
    elif case == "config":
        cfg = ModaConfig(audio_dim=80, d_model=8, n_heads=2, n_spec_layers=1, n_prob_layers=1, latent_dim=4)
        save_checkpoint(tmp_path / "c.pt", "moda", cfg, Moda(cfg), {}, {"frontend": {"name": "mel"}})
        args = [a, str(tmp_path / "c.pt")]
    res = CliRunner().invoke(cli, ["train", "lip-ensemble", *args, "--out", str(out)])
    assert res.exit_code != 0 and "Traceback" not in res.output, res.output
    assert res.output.strip().splitlines()[-1].startswith("Error:"), res.output
    assert not (out / "moda.pt").exists() or case == "overwrite"


def test_stream_averages_the_lips_like_predict(synth_dataset, tmp_path):
    """A streamed ensemble's lips are the mean of its members' streamed lips (same chunks, same frames)."""
    from kpanim.training.lip_ensemble import combine
    from model_synth import speechlike

    from kpanim.animate.bundle import load_model
    from kpanim.animate.stream import Stream, StreamFrames

    runs = []
    for seed in (0, 1):
        path = _train_stream(synth_dataset, tmp_path / f"s{seed}", seed)
        runs.append(path)
    shutil.copy(runs[0].parent / "faco.pt", runs[1].parent / "faco.pt")
    ens = combine(runs, tmp_path / "ens")
    audio = speechlike(2.0, 5)[0]
    lips = []
    for path in (ens, *runs):
        st = Stream(load_model(path), seed=2)
        parts = [st.push(audio[i:i + 1600]) for i in range(0, len(audio), 1600)] + [st.close()]
        lips.append(StreamFrames.concat(parts).lip)
    np.testing.assert_allclose(lips[0], (lips[1] + lips[2]) / 2, atol=1e-5)


def _train_stream(synth_dataset, out, seed):
    """A tiny streamable MODA (unpadded Whisper layer 2) with the tiny FaCo-Net of the test session."""
    from model_synth import TINY_FACO, TINY_MODA

    res = CliRunner().invoke(cli, ["train", "moda", "--data", str(synth_dataset), "--frontend", "whisper_l2_nopad",
                                   "--steps", "3", "--batch-size", "2", "--window", "40", "--audio-variants", "1",
                                   "--no-plot", "--seed", str(seed), "--out", str(out), *TINY_MODA])
    assert res.exit_code == 0, res.output
    if seed == 0:
        res = CliRunner().invoke(cli, ["train", "faco", "--data", str(synth_dataset), "--steps", "2", "--batch-size",
                                       "8", "--adv-start", "1", "--no-plot", "--out", str(out), *TINY_FACO])
        assert res.exit_code == 0, res.output
    return out / "moda.pt"


def test_a_runs_final_numbers_are_kpanim_evals(synth_dataset, tmp_path):
    """The trainer's val_eval is what `kpanim eval --dataset D --model RUN/moda.pt` prints for the checkpoint
    (the run has no FaCo-Net of its own: both use the shipped one)."""
    import warnings

    import torch

    from kpanim.evaluation.evaluate import evaluate_dataset

    path = _train(synth_dataset, tmp_path / "run", seed=0)
    info = torch.load(path, weights_only=True)["info"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no FaCo-Net next to it: using the shipped one"
        res = evaluate_dataset(synth_dataset, (str(path),), "val", progress=False, baselines=False)
    ours, evals = info["val_eval"][synth_dataset.name], res["mean"][str(path)]
    for key in ("open_corr", "lmd_motion", "articulation", "open_lag", "blink_rate", "head_rot_std_deg"):
        assert ours[key] == pytest.approx(evals[key], rel=1e-5, abs=1e-9), key
