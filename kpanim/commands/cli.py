"""The ``kpanim`` command line: a thin click layer over the Python API.

Subcommands are registered by name → ``module:function`` and imported only when run, so
``kpanim --help`` stays fast and one command's heavy imports (torch, mediapipe, bpy) never slow
another. User mistakes (:class:`~kpanim.errors.KpanimError`) become a one-line ``Error: ...`` and
exit status 1, never a traceback. Ctrl-C and SIGTERM stop a command cleanly (no partial output: the
atomic writers remove their temp files) with the exit status shells expect: 130 and 143.
"""

from __future__ import annotations

import importlib
import signal
import sys

import click

from .. import __version__
from ..errors import KpanimError


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt so the same clean-up runs."""

# name → ("module:attribute" of a click.Command, one-line help); in pipeline order.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("kpanim.commands.demo:demo_command", "Run the whole pipeline on the embedded default (speech + astronaut photo)."),
    "subject": ("kpanim.commands.subject:subject_command", "Make a subject (neutral face, camera, shoulders) from a portrait."),
    "predict": ("kpanim.commands.predict:predict_command", "Speech → animation (.npz or .glb) for a subject."),
    "export": ("kpanim.commands.export:export_command", "Convert an animation .npz to a glTF .glb with morph targets."),
    "view": ("kpanim.commands.view:view_command", "Play an animation (.glb/.npz) with its audio in the browser (--live: microphone)."),
    "serve": ("kpanim.commands.serve:serve_command", "Real-time WebSocket server: speech chunks in, animation frames out."),
    "stream": ("kpanim.commands.stream:stream_command", "Play a speech file through a kpanim server; report the latency."),
    "render": ("kpanim.renderer.cli:render_command", "Render a talking-portrait MP4 from an animation and a photo."),
    "preview": ("kpanim.commands.preview:preview_command", "Draw an animation's keypoints as a sketch video (quick look)."),
    "prepare": ("kpanim.commands.prepare:prepare_command", "Build a training dataset from talking-face videos."),
    "eval": ("kpanim.commands.eval:eval_command", "Score predicted animations against real ones (LMD, sync, ...)."),
    "train": ("kpanim.commands.train:train_command", "Train the networks (moda, faco, renderer)."),
    "blender-addon": ("kpanim.commands.blender_addon:blender_addon_command", "Build the Blender add-on zip."),
    "info": ("kpanim.commands.info:info_command", "Show what a kpanim .npz or .glb file holds."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands come from a registry {name: ("module:attr", help)} and are
    imported only when run; user mistakes (KpanimError) become one ``Error:`` line."""

    def __init__(self, *args, registry: dict[str, tuple[str, str]], section: str = "Commands", **kwargs):
        super().__init__(*args, **kwargs)
        self.registry, self.section = registry, section

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.registry)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.registry:
            return None
        module, attr = self.registry[name][0].split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The registry's help lines: --help imports no command module.
        with formatter.section(self.section):
            formatter.write_dl([(name, help_) for name, (_, help_) in self.registry.items()])

    def invoke(self, ctx: click.Context):
        from .echo import one_line_warnings

        try:
            with one_line_warnings():
                return super().invoke(ctx)
        except KpanimError as err:
            raise click.ClickException(str(err)) from None
        except KeyboardInterrupt as err:
            click.echo("Stopped." if isinstance(err, Terminated) else "Aborted.", err=True)
            ctx.exit(143 if isinstance(err, Terminated) else 130)  # 128 + SIGTERM / SIGINT


@click.group(cls=LazyGroup, registry=COMMANDS, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="kpanim")
def cli() -> None:
    """Speech → facial keypoint animation (.npz / glTF .glb) and talking-portrait video.

    \b
    Typical use:
      kpanim subject face.png -o face.subject.npz
      kpanim predict speech.wav --subject face.png -o anim.glb
      kpanim render anim.npz --subject face.png -o talk.mp4 --audio speech.wav
    """


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> None:
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # keep a handler someone else installed
        signal.signal(signal.SIGTERM, _on_sigterm)
    cli.main(args=argv, prog_name="kpanim")


if __name__ == "__main__":  # python -m kpanim.commands.cli
    main(sys.argv[1:])
