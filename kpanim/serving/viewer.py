"""``kpanim view``: a local preview that plays an animation (.glb, or an .npz converted on the fly)
with its audio in the browser.

A small HTTP server on 127.0.0.1 serves the page in ``kpanim/data/viewer/`` (three.js vendored,
so no internet is needed), the .glb from memory and the audio file. The page posts its load status
and any console error to ``/log``; the server keeps them (``ViewerServer.messages``) and prints
warnings and errors in the terminal. Next to the face the page draws a small live bar chart of the
animation's ARKit-52 blendshape curves (``/arkit.json``, from :mod:`kpanim.animate.arkit`): what an
ARKit-rigged character would receive at that moment.

``kpanim view --live`` serves ``live.html`` instead: the page captures the microphone, streams it to a
``kpanim serve`` WebSocket server (its own, in-process, unless ``--server`` names one) and animates the
face mesh (``/mesh.json``: the subject's neutral face and the mesh triangles) and the ARKit bars from the
frames that come back.

With an avatar (``kpanim view --avatar CHARACTER.glb``) the page also loads the user's character
(``/avatar.glb``: the bytes of the one file given, nothing else) and drives its ARKit-named morph targets
and its head bone from the same curves (``/arkit.json``'s ``head``: yaw, pitch, roll per frame; the live
stream's ``head`` block).
"""

from __future__ import annotations

import json
import mimetypes
import re
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import KpanimError

AUDIO_SUFFIXES = (".wav", ".mp3", ".ogg", ".flac", ".m4a", ".opus", ".aac")
AUDIO_TYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".flac": "audio/flac",
               ".m4a": "audio/mp4", ".opus": "audio/ogg", ".aac": "audio/aac"}


def viewer_root() -> Path:
    """Folder of the page (index.html, viewer.js, vendor/three)."""
    return Path(str(resources.files("kpanim.data").joinpath("viewer")))


class ViewerServer(ThreadingHTTPServer):
    """Serves the viewer page for one animation. Use as a context manager (runs in a thread).

    Args:
        glb: the .glb file's bytes.
        audio: an audio file to play with it, or None.
        title: shown in the page's title.
        port: TCP port on 127.0.0.1 (0: any free port).
        echo: print the page's warnings/errors to stderr.
        arkit: the ARKit curves to chart (:func:`arkit_payload`), or None for no chart.
        live: ``{"server": "ws://...", "neutral": (478, 3) face}`` to serve the live microphone page instead.
        avatar: a character's .glb/.vrm bytes (checked by :func:`kpanim.formats.avatar.check_avatar`) to
            drive next to the face, or None.
    """

    daemon_threads = True

    def __init__(self, glb: bytes, audio: Path | None = None, title: str = "animation", port: int = 0,
                 echo: bool = False, arkit: dict | None = None, live: dict | None = None,
                 avatar: bytes | None = None) -> None:
        self.glb, self.audio, self.title, self.echo, self.avatar = glb, audio, title, echo, avatar
        self.live = live  # {"server": ws url, "neutral": (478, 3)}: serve the live microphone page
        self.arkit = json.dumps(arkit, separators=(",", ":")).encode() if arkit is not None else None
        self.messages: list[dict] = []
        self.loaded = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            super().__init__(("127.0.0.1", port), _Handler)
        except OSError as err:
            raise KpanimError(f"cannot listen on 127.0.0.1:{port} ({err.strerror}); choose another --port") from None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def errors(self) -> list[str]:
        return [m["text"] for m in self.messages if m.get("level") in ("error", "warn")]

    def __enter__(self) -> "ViewerServer":
        self._thread = threading.Thread(target=self.serve_forever, name="kpanim-viewer", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: ViewerServer

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (quiet: no access log)
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        live = self.server.live
        if path in ("/", "/index.html"):
            return self._file(viewer_root() / ("live.html" if live else "index.html"))
        if live and path == "/mesh.json":
            from ..face import constants

            mesh = {"neutral": np.round(np.asarray(live["neutral"], np.float64), 6).reshape(-1).tolist(),
                    "triangles": constants.triangles().reshape(-1).tolist()}
            return self._bytes(json.dumps(mesh).encode(), "application/json")
        if path == "/animation.glb":
            return self._bytes(self.server.glb, "model/gltf-binary")
        if path == "/config.json":
            config = {"title": self.server.title, "audio": self.server.audio is not None,
                      "arkit": self.server.arkit is not None}
            if self.server.avatar is not None:
                config["avatar"] = True
            if live:
                from ..animate.arkit import APPLE_NAMES

                config["server"], config["arkit_names"] = live["server"], list(APPLE_NAMES)
            return self._bytes(json.dumps(config).encode(), "application/json")
        if path == "/avatar.glb" and self.server.avatar is not None:
            return self._bytes(self.server.avatar, "model/gltf-binary")
        if path == "/arkit.json" and self.server.arkit is not None:
            return self._bytes(self.server.arkit, "application/json")
        if path == "/audio" and self.server.audio is not None:
            return self._file(self.server.audio, AUDIO_TYPES.get(self.server.audio.suffix.lower()))
        root = viewer_root().resolve()
        target = (root / path.lstrip("/")).resolve()
        if target.is_file() and root in target.parents:  # static files only from the page folder
            return self._file(target)
        self.send_error(HTTPStatus.NOT_FOUND)

    def do_HEAD(self) -> None:  # noqa: N802
        self._head_only = True
        self.do_GET()

    def do_POST(self) -> None:  # noqa: N802
        if self.path != "/log":
            return self.send_error(HTTPStatus.NOT_FOUND)
        try:
            message = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        except (ValueError, json.JSONDecodeError):
            return self.send_error(HTTPStatus.BAD_REQUEST)
        self.server.messages.append(message)
        if str(message.get("text", "")).startswith("loaded:"):
            self.server.loaded.set()
        if self.server.echo and message.get("level") in ("error", "warn"):
            print(f"viewer {message['level']}: {message.get('text')}", file=sys.stderr)
        self.send_response(HTTPStatus.NO_CONTENT)
        self.end_headers()

    def _file(self, path: Path, content_type: str | None = None) -> None:
        ctype = content_type or _content_type(path)
        self._bytes(path.read_bytes(), ctype)

    def _bytes(self, data: bytes, content_type: str) -> None:
        # Range requests let the <audio> element seek.
        start, end = 0, len(data)
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if match and data and (match[1] or match[2]):
            if match[1]:
                start, end = int(match[1]), (int(match[2]) + 1 if match[2] else len(data))
            else:
                start = max(0, len(data) - int(match[2]))
            end = min(end, len(data))
            if start >= end:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(HTTPStatus.PARTIAL_CONTENT)
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        else:
            self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if getattr(self, "_head_only", False):
            return
        try:
            self.wfile.write(data[start:end])
        except (BrokenPipeError, ConnectionResetError):  # the browser cancelled (e.g. audio seek)
            pass


def _content_type(path: Path) -> str:
    if path.suffix in (".js", ".mjs"):
        return "text/javascript"  # module scripts need a JavaScript MIME type
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def find_audio(anim_path: Path, meta: dict) -> Path | None:
    """The clip's audio: ``meta['audio']`` if that file exists, else a same-named audio file next to it."""
    from ..formats.animation import meta_audio_name

    for value in (meta_audio_name(meta), meta.get("audio_path")):
        if isinstance(value, str) and value:
            candidate = Path(value)
            for path in (candidate, anim_path.parent / candidate):
                if path.is_file():
                    return path
    for suffix in AUDIO_SUFFIXES:
        path = anim_path.with_suffix(suffix)
        if path.is_file():
            return path
    return None


def arkit_payload(anim) -> dict:
    """``{"fps", "names", "values", "head"}`` for the page's chart and avatar: the animation's ARKit curves
    (stored or computed), Apple's names without tongueOut (never predicted), values (T, 51) rounded to 3
    decimals; head (T, 3) yaw, pitch, roll in radians (:func:`kpanim.animate.arkit.head_angles`), 5 decimals."""
    from ..animate import arkit

    curves = arkit.to_apple(arkit.curves_of(anim))[:, :-1]  # APPLE_NAMES ends with tongueOut
    return {"fps": anim.fps, "names": list(arkit.APPLE_NAMES[:-1]),
            "values": np.round(np.clip(curves, 0, 1), 3).tolist(),
            "head": np.round(arkit.head_angles(anim.head_pose), 5).tolist()}


def load_for_view(path: Path, subject: Path | None = None, fps: float | None = None,
                  with_arkit: bool = False) -> tuple[bytes, dict] | tuple[bytes, dict, dict | None]:
    """(.glb bytes, animation meta) for a .glb, or for an animation .npz converted in memory; with
    ``with_arkit`` also the ARKit chart data (:func:`arkit_payload`; None if it cannot be computed)."""
    glb, meta, anim = _load_for_view(path, subject, fps)
    if not with_arkit:
        return glb, meta
    if anim is None:
        try:
            from ..formats.gltf_import import read_glb_motion

            anim = read_glb_motion(path).to_animation()
        except (KpanimError, KeyError, ValueError, IndexError):  # a .glb not written by kpanim
            return glb, meta, None
    return glb, meta, arkit_payload(anim)


def _load_for_view(path: Path, subject: Path | None, fps: float | None):
    if not path.is_file():
        raise KpanimError(f"{path}: no such file; give an animation .glb or .npz (kpanim predict / export)")
    if path.suffix.lower() == ".glb":
        if subject is not None or fps is not None:
            raise KpanimError("--subject and --fps apply to an .npz; re-export the .glb with 'kpanim export' instead")
        from ..formats.gltf_import import kpanim_extras, read_glb

        meta = kpanim_extras(read_glb(path)).get("meta", {})
        return path.read_bytes(), meta, None
    from ..formats.animation import Animation
    from ..formats.gltf_export import glb_bytes

    anim = Animation.load(path)
    subj = None
    if subject is not None:
        from ..tracking.subject import load_or_make_subject

        subj = load_or_make_subject(subject)
    data, _ = glb_bytes(anim, fps=fps, subject=subj)
    return data, anim.meta, (anim.resample(fps) if fps else anim)


