"""``kpanim train NETWORK ...``: one lazily imported subcommand per trainable network."""

from __future__ import annotations

import click

from .cli import LazyGroup

# network → ("module:attribute" of its click.Command, one-line help)
TRAINERS: dict[str, tuple[str, str]] = {
    "moda": ("kpanim.training.train_moda:command", "Train the MODA audio → keypoints network."),
    "lip-ensemble": ("kpanim.training.lip_ensemble:command",
                     "Average the lips of several MODA runs (seeds) in one checkpoint."),
    "faco": ("kpanim.training.train_faco:command", "Train FaCo-Net (mouth + eyes → dense mesh)."),
    "sync": ("kpanim.training.train_sync:command", "Train the lip-sync expert that gives MODA a sync loss."),
    "renderer": ("kpanim.renderer.train:command", "Train or fine-tune the TPE renderer (e.g. on one person's video)."),
}


@click.group("train", cls=LazyGroup, registry=TRAINERS, section="Networks")
def train_command() -> None:
    """Train kpanim's networks (CPU here; multi-GPU/multi-node through torchrun)."""
