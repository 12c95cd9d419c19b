"""The ``kpanim`` command line: a thin click layer over the Python API.

Subcommands are registered by name → ``module:function`` and imported only when run, so
``kpanim --help`` stays fast and one command's heavy imports (torch, mediapipe, bpy) never slow
another. User mistakes (:class:`~kpanim.errors.KpanimError`) become a one-line ``Error: ...`` and
exit status 1, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from . import __version__
from .errors import KpanimError

# name → ("module:attribute" of a click.Command, one-line help); in pipeline order.
COMMANDS: dict[str, tuple[str, str]] = {
    "subject": ("kpanim.subject:subject_command", "Make a subject (neutral face, camera, shoulders) from a portrait."),
    "info": ("kpanim.info:info_command", "Show what a kpanim .npz or .glb file holds."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS) + sorted(super().list_commands(ctx))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module, attr = COMMANDS[name][0].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Uses the registry's help lines so that --help imports no command module.
        rows = [(name, help_) for name, (_, help_) in COMMANDS.items()]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KpanimError as err:
            raise click.ClickException(str(err)) from None
        except KeyboardInterrupt:
            raise click.Abort() from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="kpanim")
def cli() -> None:
    """Speech → facial keypoint animation (.npz / glTF .glb) and talking-portrait video.

    \b
    Typical use:
      kpanim subject face.png -o face.subject.npz
      kpanim predict speech.wav --subject face.png -o anim.glb
      kpanim render anim.npz --subject face.png -o talk.mp4 --audio speech.wav
    """


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="kpanim")


if __name__ == "__main__":  # python -m kpanim.cli
    main(sys.argv[1:])
