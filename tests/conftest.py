"""Fixtures for the model tests: a tiny synthetic dataset and a tiny trained MODA + FaCo-Net."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_synth import TINY_FACO, TINY_MODA, write_synthetic_dataset


@pytest.fixture(scope="session")
def synth_dataset(tmp_path_factory) -> Path:
    return write_synthetic_dataset(tmp_path_factory.mktemp("synth_ds"))


@pytest.fixture(scope="session")
def tiny_model(synth_dataset, tmp_path_factory) -> Path:
    """A MODA + FaCo-Net pair trained for a few steps on the synthetic dataset (mel front-end)."""
    from click.testing import CliRunner

    from kpanim.cli import cli

    out = tmp_path_factory.mktemp("tiny_model")
    runner = CliRunner()
    res = runner.invoke(cli, ["train", "moda", "--data", str(synth_dataset), "--frontend", "mel", "--steps", "3",
                              "--batch-size", "2", "--window", "40", "--audio-variants", "1", "--no-plot",
                              "--out", str(out), *TINY_MODA])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["train", "faco", "--data", str(synth_dataset), "--steps", "3", "--batch-size", "8",
                              "--adv-start", "1", "--no-plot", "--out", str(out / "faco_run"), *TINY_FACO])
    assert res.exit_code == 0, res.output
    (out / "faco_run" / "faco.pt").replace(out / "faco.pt")
    return out / "moda.pt"
