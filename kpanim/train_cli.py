"""``kpanim train NETWORK ...``: one lazily imported subcommand per trainable network."""

from __future__ import annotations

import importlib
import importlib.util

import click

# network → ("module:attribute" of its click.Command, one-line help)
TRAINERS: dict[str, tuple[str, str]] = {
    "moda": ("kpanim.training.train_moda:command", "Train the MODA audio → keypoints network."),
    "faco": ("kpanim.training.train_faco:command", "Train FaCo-Net (mouth + eyes → dense mesh)."),
    "renderer": ("kpanim.renderer.train:command", "Train or fine-tune the TPE renderer (e.g. on one person's video)."),
}


def _available(name: str) -> bool:
    try:
        return importlib.util.find_spec(TRAINERS[name][0].split(":")[0]) is not None
    except ModuleNotFoundError:
        return False


class _TrainGroup(click.Group):
    def list_commands(self, ctx):
        return [n for n in TRAINERS if _available(n)]

    def get_command(self, ctx, name):
        if name not in TRAINERS or not _available(name):
            return None
        module, attr = TRAINERS[name][0].split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx, formatter):
        rows = [(n, h) for n, (_, h) in TRAINERS.items() if _available(n)]
        if rows:
            with formatter.section("Networks"):
                formatter.write_dl(rows)


@click.group("train", cls=_TrainGroup)
def train_command() -> None:
    """Train kpanim's networks (CPU here; multi-GPU/multi-node through torchrun)."""
