"""``kpanim view``: a local preview that plays an animation (.glb, or an .npz converted on the fly)"""

from __future__ import annotations

import threading
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING

import click
import numpy as np

from ..errors import KpanimError
from ..serving.viewer import AUDIO_SUFFIXES, ViewerServer, find_audio, load_for_view

if TYPE_CHECKING:
    from ..formats.avatar import AvatarCheck


@click.command("view")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--audio", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Audio to play along (default: the animation's own, or a same-named .wav/.mp3/... next to it).")
@click.option("--subject", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="For an .npz: the subject whose neutral face is the base shape. With --live: the face to animate.")
@click.option("--fps", type=float, default=None, help="For an .npz: resample to this frame rate.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--no-browser", is_flag=True, help="Only print the address; do not open a browser.")
@click.option("--no-arkit", is_flag=True, help="Do not show the ARKit blendshape bar chart.")
@click.option("--avatar", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Your character (.glb or .vrm with ARKit-named morph targets: jawOpen, JawOpen, jaw_open, ...), "
                   "shown next to the face and driven by the ARKit curves and the head rotation (its head bone, "
                   "found by name). With PATH or --live.")
@click.option("--live", is_flag=True,
              help="Live: the page captures the microphone, streams it to a kpanim server and animates the face as you "
                   "speak (no PATH).")
@click.option("--server", "server_url", default=None,
              help="With --live: a running 'kpanim serve' (ws://HOST:PORT); default: start one in this process.")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --live and no --server: the MODA checkpoint (default: the shipped model).")
def view_command(path: Path | None, audio: Path | None, subject: Path | None, fps: float | None, port: int,
                 no_browser: bool, no_arkit: bool, avatar: Path | None, live: bool, server_url: str | None,
                 model_path: Path | None) -> None:
    """Play an animation (.glb, or .npz converted on the fly) with its audio in the browser, with a live bar
    chart of its ARKit-52 blendshape curves; or, with --live, animate the face from your microphone. With
    --avatar, your own character is shown too, its ARKit morph targets and head bone driven by the curves."""
    if avatar is not None and no_arkit:
        raise KpanimError("--avatar is driven by the ARKit curves; leave out --no-arkit")
    if live:
        if path is not None or audio is not None or fps is not None:
            raise KpanimError("--live animates the microphone: give no PATH, --audio or --fps")
        return _view_live(subject, port, no_browser, server_url, model_path, _avatar(avatar))
    if server_url is not None or model_path is not None:
        raise KpanimError("--server and --model apply to --live only; add --live or leave them out")
    if path is None:
        raise KpanimError("no animation given; give PATH (a .glb or .npz), or --live for the microphone")
    from ..speech.audio import check_playable
    from .checks import check_fps

    check_fps(fps)
    character = _avatar(avatar)
    data, meta, curves = load_for_view(path, subject, fps, with_arkit=not no_arkit)
    if character is not None and curves is None:
        raise KpanimError(f"{path.name} has no ARKit curves to drive --avatar (not a kpanim animation); give a "
                          "kpanim .npz or .glb (kpanim predict / export)")
    if audio is not None:
        check_playable(audio, AUDIO_SUFFIXES)
    else:
        audio = find_audio(path, meta)
        if audio is not None:
            try:
                check_playable(audio, AUDIO_SUFFIXES)
            except KpanimError as err:
                click.echo(f"Warning: not playing the animation's own audio: {err}", err=True)
                audio = None
    with ViewerServer(data, audio, title=path.name, port=port, echo=True, arkit=curves,
                      avatar=_serve_avatar(character)) as server:
        click.echo(f"Serving {path.name}" + (f" with audio {audio}" if audio else " (no audio found)") +
                   f" at {server.url}  (Ctrl+C to stop)")
        _open_and_wait(server.url, no_browser)


def _open_and_wait(url: str, no_browser: bool) -> None:
    """Open the page in the browser (unless --no-browser) and serve until Ctrl+C."""
    if not no_browser:
        webbrowser.open(url)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("Stopped.")


def _avatar(path: Path | None) -> AvatarCheck | None:
    """The checked character (:class:`~kpanim.formats.avatar.AvatarCheck`), or None without --avatar."""
    if path is None:
        return None
    from ..formats.avatar import check_avatar

    return check_avatar(path)


def _serve_avatar(check: AvatarCheck | None) -> bytes | None:
    """The character's bytes for the page (None without one), after saying what of it the curves drive."""
    if check is None:
        return None
    missing = f" (not on it: {', '.join(check.missing)})" if check.missing else ""
    click.echo(f"Avatar {check.path.name}: {len(check.matched)} of the 52 ARKit shapes found as morph "
               f"targets{missing}")
    return check.path.read_bytes()


def _view_live(subject: Path | None, port: int, no_browser: bool, server_url: str | None,
               model_path: Path | None, avatar: AvatarCheck | None = None) -> None:
    import contextlib

    from ..animate.predict import _load_subject, default_subject_arrays

    subj = _load_subject(subject)
    with contextlib.ExitStack() as stack:
        if server_url is None:
            from ..serving.server import StreamServer

            stream_server = stack.enter_context(StreamServer(model_path, "127.0.0.1", 0, subject=subj).running())
            server_url = stream_server.url
            model = stream_server.model
        else:
            if not server_url.startswith(("ws://", "wss://")):
                raise KpanimError(f"--server {server_url}: give a WebSocket address, ws://HOST:PORT")
            if model_path is not None:
                raise KpanimError("--model applies when this command starts the server; give it to 'kpanim serve'")
            model = None
        if subj is not None:
            neutral = subj.neutral
        else:
            neutral = default_subject_arrays(model.stats)[0] if model is not None else _template()
        page = stack.enter_context(ViewerServer(b"", title="microphone", port=port, echo=True,
                                                live={"server": server_url, "neutral": neutral},
                                                avatar=_serve_avatar(avatar)))
        click.echo(f"Live page at {page.url} (streams to {server_url}); press Start and speak  (Ctrl+C to stop)")
        _open_and_wait(page.url, no_browser)


def _template() -> np.ndarray:
    from ..face import constants

    return constants.template()
