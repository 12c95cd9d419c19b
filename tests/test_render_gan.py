"""Renderer training losses: PatchGAN discriminator, LSGAN / feature matching, inner-mouth weighting,
mouth-interior metrics, held-out selection (offline, tiny synthetic data)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from kpanim.renderer.discriminator import DiscriminatorConfig, PatchDiscriminator, feature_matching_loss, region_weights
from kpanim.renderer.metrics import mouth_interior_metrics
from kpanim.renderer.sketch import MOUTH_FILL, inner_mouth_mask
from kpanim.renderer.train import TrainConfig, held_out, sample_batch, train
from kpanim.renderer.unet import RendererConfig, TPEUNet

from kpanim.nets.gan import lsgan_d_loss, lsgan_g_loss

TINY = RendererConfig(size=64, base_channels=4, levels=2, max_channels=8, tpe_dim=8)


def synthetic_pairs(n: int = 4, size: int = 64, seed: int = 0) -> dict[str, np.ndarray]:
    """Pairs shaped like data.make_pairs output: a bright 'tooth' bar inside a filled inner-mouth polygon."""
    rng = np.random.default_rng(seed)
    out = {k: [] for k in ("photo", "warped", "sketch", "target", "weight")}
    for _ in range(n):
        target = np.full((size, size, 3), 150, np.uint8) + rng.integers(0, 20, (size, size, 3), dtype=np.uint8)
        sketch = np.zeros((size, size, 3), np.uint8)
        weight = np.zeros((size, size), np.uint8)
        cv2.rectangle(sketch, (24, 40), (40, 50), MOUTH_FILL, -1)
        cv2.rectangle(weight, (20, 36), (44, 54), 255, -1)
        cv2.rectangle(target, (24, 40), (40, 50), (30, 10, 10), -1)
        cv2.rectangle(target, (26, 41), (38, 44), (235, 235, 225), -1)  # teeth
        warped = cv2.GaussianBlur(target, (0, 0), 3)
        for k, v in (("photo", warped), ("warped", warped), ("sketch", sketch), ("target", target), ("weight", weight)):
            out[k].append(v)
    pairs = {k: np.stack(v) for k, v in out.items()}
    pairs["frame_index"] = np.arange(n)
    return pairs


def test_discriminator_shapes_and_features():
    disc = PatchDiscriminator(DiscriminatorConfig(channels=4, layers=2))
    x = torch.rand(2, 3, 32, 32)
    scores, feats = disc(x, torch.rand(2, 3, 32, 32))
    assert scores.shape == (2, 1, 8, 8)
    assert [f.shape[1:] for f in feats] == [(4, 16, 16), (8, 8, 8)]
    with pytest.raises(ValueError, match="one shape"):
        disc(x, torch.rand(2, 3, 16, 16))


def test_lsgan_losses_use_only_weighted_patches():
    w = torch.zeros(1, 1, 4, 4)
    w[..., :2, :] = 1
    real, fake = torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)
    assert lsgan_d_loss(real, fake, w).item() == pytest.approx(0.0)
    assert lsgan_g_loss(fake, w).item() == pytest.approx(1.0)
    fake[..., 2:, :] = 5.0  # outside the mouth/eye patches: ignored
    assert lsgan_g_loss(fake, w).item() == pytest.approx(1.0)
    assert lsgan_d_loss(real, fake, w).item() == pytest.approx(0.0)
    pooled = region_weights(torch.ones(1, 1, 32, 32), torch.zeros(1, 1, 8, 8))
    assert pooled.shape == (1, 1, 8, 8) and torch.allclose(pooled, torch.ones_like(pooled))
    feats = [torch.rand(1, 4, 16, 16), torch.rand(1, 8, 8, 8)]
    weight = torch.ones(1, 1, 32, 32)
    assert feature_matching_loss(feats, feats, weight).item() == pytest.approx(0.0)
    assert feature_matching_loss([f + 0.5 for f in feats], feats, weight).item() == pytest.approx(0.5)


def test_inner_mouth_mask_reads_the_sketch_fill():
    pairs = synthetic_pairs(1)
    mask = inner_mouth_mask(pairs["sketch"])
    assert mask.shape == (1, 64, 64) and mask.sum() == 17 * 11
    assert not inner_mouth_mask(np.zeros((8, 8, 3), np.uint8)).any()


def test_sample_batch_has_mouth_mask():
    pairs = synthetic_pairs(3)
    batch = sample_batch(pairs, TrainConfig(batch=2, patch=32), np.random.default_rng(0))
    assert batch["mouth"].shape == (2, 1, 32, 32) and batch["target"].shape == (2, 3, 32, 32)
    assert 0 <= batch["mouth"].min() and batch["mouth"].max() <= 1


def test_one_tiny_training_run_with_gan():
    torch.manual_seed(0)
    model = TPEUNet(TINY)
    before = [p.detach().clone() for p in model.parameters()]
    cfg = TrainConfig(minutes=1.0, batch=2, patch=32, adv_weight=0.05, fm_weight=1.0, mouth_weight=4.0,
                      d_channels=4, gan_start_step=1, gan_ramp_steps=2)
    model, info = train(synthetic_pairs(), None, cfg, model=model, progress=False, max_steps=20)
    assert info["steps"] == 20
    row = info["history"][-1]
    assert {"l1", "grad", "residual", "adv", "fm", "d"} <= set(row) and all(np.isfinite(v) for v in row.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert not model.training


def test_gan_options_in_help():
    from kpanim.renderer.train import command

    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0
    for opt in ("--adv-weight", "--fm-weight", "--mouth-weight", "--d-lr", "--gan-start-step", "--closed-eyes"):
        assert opt in result.output
    assert "PatchGAN" in result.output


def test_mouth_interior_metrics():
    pairs = synthetic_pairs(3)
    blurred = np.stack([cv2.GaussianBlur(t, (0, 0), 2) for t in pairs["target"]])
    dark = pairs["target"].copy()
    dark[:, 40:51, 24:41] = 20
    res = mouth_interior_metrics({"same": pairs["target"], "blur": blurred, "dark": dark}, pairs["target"],
                                 pairs["sketch"], pairs["weight"])
    assert res["n_open"] == 3
    assert res["same"]["sharpness_ratio"] == pytest.approx(1.0) and res["same"]["teeth_abs_error"] == 0
    assert res["blur"]["sharpness_ratio"] < 0.5
    assert res["real"]["teeth_share"] > 0.2 and res["dark"]["teeth_share"] == 0
    assert res["dark"]["teeth_abs_error"] == pytest.approx(res["real"]["teeth_share"])


def test_held_out_uses_dataset_split_and_val_list(tmp_path):
    clips = tmp_path / "ds" / "clips"
    clips.mkdir(parents=True)
    index = [{"clip_id": "a", "split": "train", "source": "/v/a.mp4"},
             {"clip_id": "b", "split": "val", "source": "/v/b.mp4"},
             {"clip_id": "c", "split": "train", "source": "/v/c_full.mp4"},
             {"clip_id": "d", "split": "duplicate", "source": "/v/d.mp4", "duplicate_of": "b"}]
    (tmp_path / "ds" / "index.json").write_text(json.dumps(index))
    val_list = tmp_path / "val.txt"
    val_list.write_text("c_full.mp4\nplain.mp4\n")
    sources = [clips / "a.npz", clips / "b.npz", clips / "c.npz", tmp_path / "plain.mp4", tmp_path / "other.mp4",
               clips / "d.npz"]
    assert held_out(sources, val_list) == [False, True, True, True, False, True]
    assert held_out(sources, None) == [False, True, False, False, False, True]
