"""``kpanim render``: the thin click layer over :func:`kpanim.renderer.render.render`."""

from __future__ import annotations

from pathlib import Path

import click

from kpanim.commands.echo import warnings_to_stderr


@click.command("render")
@click.argument("animation", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--subject", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The portrait photo to animate (PNG/JPEG with one clearly visible face), or its .subject.npz "
                   "from 'kpanim subject' (then give the photo with --image).")
@click.option("--image", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With a .subject.npz --subject: the photo it was made from (a subject file holds no pixels).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The MP4 to write (H.264 yuv420p + AAC; plays in browsers).")
@click.option("--audio", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Speech to put on the video; must last as long as the animation.")
@click.option("--renderer", default="default", show_default=True,
              help="Neural renderer weights: 'default' (shipped), 'none' (warp only), or a .renderer.pt "
                   "from 'kpanim train renderer'.")
@click.option("--size", default=512, show_default=True, type=int, help="Side of the square output around the face.")
@click.option("--full-frame", is_flag=True, help="Keep the photo's whole frame and size instead of a face crop.")
@click.option("--preview", is_flag=True, help="Render only every 5th frame (at fps/5) for a quick look.")
@click.option("--threads", default=2, show_default=True, type=int, help="CPU threads for the neural renderer.")
def render_command(animation: Path, subject: Path, image: Path | None, output: Path, audio: Path | None,
                   renderer: str, size: int, full_frame: bool, preview: bool, threads: int) -> None:
    """Render a talking-portrait video of ANIMATION (.npz) on a photo.

    \b
    Example:
      kpanim render anim.npz --subject face.png -o talk.mp4 --audio speech.wav
      kpanim render anim.npz --subject face.subject.npz --image face.png -o talk.mp4
    """
    from kpanim.errors import KpanimError

    from .render import default_renderer_path, render

    # a subject file keeps the photo's landmarks, camera and sha256, not its pixels (nor its path)
    subject_file = subject.suffix.lower() == ".npz"
    if subject_file and image is None:
        raise KpanimError(f"{subject}: a subject file holds no pixels; also give the photo it was made from, "
                          f"e.g. --image {subject.name.split('.')[0]}.png")
    if not subject_file and image is not None:
        raise KpanimError(f"--image is only for a .subject.npz --subject; {subject} is already the photo, "
                          "so leave out --image")

    if renderer == "default" and default_renderer_path() is None:
        click.echo("Note: no neural renderer weights are installed; rendering the warp only "
                   "(mouth interior and blinks are not repainted).", err=True)
    with warnings_to_stderr():
        stats = render(animation, image if subject_file else subject, output, audio=audio, renderer=renderer,
                       size=size, full_frame=full_frame, preview=preview, threads=threads,
                       subject=subject if subject_file else None)
    mode = "warp + neural renderer" if stats.neural else "warp only"
    click.echo(f"Wrote {output}: {stats.frames} frames {stats.width}x{stats.height} at {stats.fps:g} fps "
               f"({mode}) in {stats.seconds:.1f} s ({stats.frames / max(stats.seconds, 1e-9):.1f} frames/s)")
