"""A generated corpus of bad and awkward inputs, and the cases that feed them to every command.

``make_corpus(root)`` writes a few good files (speech, portrait, subject, animation, .glb, a short
video) and many bad ones: empty, text under a media suffix, truncated, damaged, pickled, NaN,
millimetre units, a newer format version, the wrong kpanim kind, a decompression-bomb header, a
folder where a file belongs, symlinks and hard links onto inputs. ``CASES`` maps each command to
(case id, arguments, expected text of the error) triples; every case must fail cleanly (see
tests/test_bad_inputs.py). Everything is made here: no media files, no network.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np

TEXT = b"hello, this is not media\n"


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims ``width`` x ``height`` pixels but that holds (almost) no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def _raw_npz(path: Path, **arrays) -> None:
    """An .npz written directly (no kpanim validation), so it can hold anything."""
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _animation_arrays(anim, **changes) -> dict:
    arrays = {k: getattr(anim, k) for k in ("lip", "eye", "dense", "head_pose", "torso")}
    arrays.update(kind=np.array("animation"), format_version=np.array(1, np.int32), fps=np.array(anim.fps),
                  meta=np.array(json.dumps(anim.meta)))
    arrays.update(changes)
    return arrays


def make_corpus(root: Path, portrait: Path, subject) -> Path:
    """Write the corpus into ``root`` (portrait: a PNG with a face; subject: its Subject)."""
    from conftest import make_animation

    from kpanim.formats.gltf_export import export_glb
    from kpanim.speech.audio import save_wav
    from kpanim.speech.tts import synthesize
    from kpanim.tracking.video import write_mp4

    root.mkdir(parents=True, exist_ok=True)
    # ---- good inputs
    speech = synthesize("Hello, this is a short test.")
    save_wav(root / "speech.wav", speech)
    (root / "face.png").write_bytes(Path(portrait).read_bytes())
    subject.save(root / "face.subject.npz")
    anim = make_animation(n_frames=int(round(len(speech) / 16000 * 25)))
    anim.save(root / "anim.npz")
    export_glb(anim, root / "anim.glb")
    frames = [np.zeros((64, 64, 3), np.uint8)] * 10
    write_mp4(root / "black.mp4", frames, 25.0, np.zeros(6400, np.float32))  # a video without a face
    # ---- bad inputs
    for suffix in ("wav", "png", "npz", "glb", "mp4", "pt", "json"):
        (root / f"empty.{suffix}").write_bytes(b"")
        (root / f"text.{suffix}").write_bytes(TEXT)
    wav = (root / "speech.wav").read_bytes()
    (root / "cut.wav").write_bytes(wav[:44])  # a header and no samples
    for name in ("anim.npz", "anim.glb", "face.png"):
        data = (root / name).read_bytes()
        (root / f"trunc_{name.replace('.', '_')}.{name.split('.')[-1]}").write_bytes(data[:len(data) // 2])
    _raw_npz(root / "pickled.npz", kind=np.array(["animation"], dtype=object), format_version=np.array(1))
    _raw_npz(root / "pickled_meta.npz", **_animation_arrays(anim, meta=np.array([{"a": 1}], dtype=object)))
    dense = np.array(anim.dense)
    dense[3, 10, 0] = np.nan
    _raw_npz(root / "nan.npz", **_animation_arrays(anim, dense=dense))
    _raw_npz(root / "newer.npz", **_animation_arrays(anim, format_version=np.array(99, np.int32)))
    _raw_npz(root / "badfps.npz", **_animation_arrays(anim, fps=np.array(-25.0)))
    _raw_npz(root / "shapes.npz", **_animation_arrays(anim, lip=np.zeros((5, 40, 3), np.float32)))
    _raw_npz(root / "badmeta.npz", **_animation_arrays(anim, meta=np.array("{not json")))
    _raw_npz(root / "nokind.npz", lip=np.zeros((1, 40, 3)))
    type(anim).from_dense(anim.dense * 1000, anim.head_pose, anim.torso, anim.fps, anim.meta).save(root / "mm.npz")
    anim[0:0].save(root / "noframes.npz")
    from PIL import Image

    Image.fromarray(np.zeros((200, 200, 3), np.uint8)).save(root / "noface.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "tiny.png")
    _png_header_only(root / "bomb.png", 40000, 40000)
    (root / "folder.wav").mkdir()
    (root / "folder.png").mkdir()
    (root / "folder.npz").mkdir()
    (root / "notes.txt").write_bytes(TEXT)
    (root / "model.pt").write_bytes(TEXT)
    # links onto inputs: writing through them would destroy the input
    os.symlink("face.png", root / "link_face.png")
    os.symlink("anim.npz", root / "link_anim.npz")
    os.symlink("face.subject.npz", root / "link_face.subject.npz")
    os.link(root / "anim.npz", root / "hard_anim.npz")
    (root / "speech.arkit.csv").write_bytes(b"Timecode,BlendShapeCount\n")  # an existing curves file
    from avatars import build_rpm_glb

    (root / "avatar.glb").write_bytes(build_rpm_glb())  # a character with ARKit morph targets
    (root / "avatar.gltf").write_bytes(b'{"asset": {"version": "2.0"}}')
    return root


# command → [(case id, arguments, text the error line must contain)]. Outputs are named out.* in the
# corpus folder, so any file left behind shows up.
CASES: dict[str, list[tuple[str, list[str], str]]] = {
    "subject": [
        ("missing", ["missing.png", "-o", "out.subject.npz"], "no such image file"),
        ("text", ["text.png", "-o", "out.subject.npz"], "not an image"),
        ("empty", ["empty.png", "-o", "out.subject.npz"], "not an image"),
        ("truncated", ["trunc_face_png.png", "-o", "out.subject.npz"], "cannot read the image"),
        ("no_face", ["noface.png", "-o", "out.subject.npz"], "no face found"),
        ("tiny", ["tiny.png", "-o", "out.subject.npz"], "only 8x8 pixels"),
        ("bomb", ["bomb.png", "-o", "out.subject.npz"], "too large to read safely"),
        ("folder", ["folder.png", "-o", "out.subject.npz"], "Directory"),
        ("output_is_input", ["face.png", "-o", "face.png"], "must be a .npz"),
        ("output_links_to_input", ["face.subject.npz", "-o", "link_face.subject.npz"], "IMAGE input"),
        ("output_folder", ["face.png", "-o", "folder.npz"], "is a directory"),
        ("output_missing_folder", ["face.png", "-o", "nope/out.subject.npz"], "does not exist"),
        ("output_suffix", ["face.png", "-o", "out.json"], "must be a .npz"),
    ],
    "predict": [
        ("missing_audio", ["missing.wav", "-o", "out.npz"], "no such audio file"),
        ("text_audio", ["text.wav", "-o", "out.npz"], "not a readable audio file"),
        ("empty_audio", ["empty.wav", "-o", "out.npz"], "not a readable audio file"),
        ("no_samples", ["cut.wav", "-o", "out.npz"], "audio"),
        ("folder_audio", ["folder.wav", "-o", "out.npz"], "Directory"),
        ("image_as_audio", ["face.png", "-o", "out.npz"], "audio"),
        ("subject_text", ["speech.wav", "--subject", "text.png", "-o", "out.npz"], "not an image"),
        ("subject_no_face", ["speech.wav", "--subject", "noface.png", "-o", "out.npz"], "no face found"),
        ("subject_is_animation", ["speech.wav", "--subject", "anim.npz", "-o", "out.npz"], "expected a 'subject'"),
        ("model_text", ["speech.wav", "--model", "model.pt", "-o", "out.npz"], "model.pt"),
        ("model_missing", ["speech.wav", "--model", "missing.pt", "-o", "out.npz"], "no such model"),
        ("output_is_subject", ["speech.wav", "--subject", "face.subject.npz", "-o", "face.subject.npz"],
         "--subject input"),
        ("output_links_to_subject", ["speech.wav", "--subject", "face.subject.npz", "-o", "link_face.subject.npz"],
         "--subject input"),
        ("output_is_audio", ["speech.wav", "-o", "speech.wav"], "must be a .npz or .glb"),
        ("output_suffix", ["speech.wav", "-o", "out.mp4"], "must be a .npz or .glb"),
        ("output_folder", ["speech.wav", "-o", "folder.npz"], "is a directory"),
        ("output_missing_folder", ["speech.wav", "-o", "nope/out.npz"], "does not exist"),
        ("temperature_nan", ["speech.wav", "-o", "out.npz", "--temperature", "nan"], "--temperature"),
        ("temperature_negative", ["speech.wav", "-o", "out.npz", "--temperature", "-1"], "--temperature"),
        ("temperature_huge", ["speech.wav", "-o", "out.npz", "--temperature", "1e9"], "--temperature"),
        ("blink_rate_negative", ["speech.wav", "-o", "out.npz", "--blink-rate", "-3"], "--blink-rate"),
        ("blink_rate_inf", ["speech.wav", "-o", "out.npz", "--blink-rate", "inf"], "--blink-rate"),
        ("fps_nan", ["speech.wav", "-o", "out.npz", "--fps", "nan"], "--fps"),
        ("fps_zero", ["speech.wav", "-o", "out.npz", "--fps", "0"], "--fps"),
        ("fps_huge", ["speech.wav", "-o", "out.npz", "--fps", "1000"], "--fps"),
        ("samples_zero", ["speech.wav", "-o", "out.npz", "--samples", "0"], "--samples"),
        ("samples_huge", ["speech.wav", "-o", "out.npz", "--samples", "100000"], "--samples"),
        ("seed_negative", ["speech.wav", "-o", "out.npz", "--seed", "-5"], "--seed"),
        ("viseme_blend", ["speech.wav", "-o", "out.npz", "--viseme-blend", "2"], "--viseme-blend"),
        ("smooth_unknown", ["speech.wav", "-o", "out.npz", "--smooth", "nose=2"], "--smooth"),
        ("smooth_nan", ["speech.wav", "-o", "out.npz", "--smooth", "head=nan"], "--smooth"),
        ("smooth_word", ["speech.wav", "-o", "out.npz", "--smooth", "head=lots"], "--smooth"),
        ("fps_word", ["speech.wav", "-o", "out.npz", "--fps", "fast"], "--fps"),
        ("arkit_plain_csv", ["speech.wav", "-o", "out.csv"], ".arkit.csv"),
        ("arkit_output_is_input", ["speech.wav", "-o", "speech.arkit.csv", "--subject", "speech.arkit.csv"],
         "--subject input"),
    ],
    "export": [
        ("missing", ["missing.npz", "-o", "out.glb"], "no such file"),
        ("text", ["text.npz", "-o", "out.glb"], "not a kpanim .npz"),
        ("empty", ["empty.npz", "-o", "out.glb"], "not a kpanim .npz"),
        ("truncated", ["trunc_anim_npz.npz", "-o", "out.glb"], "anim_npz"),
        ("pickled", ["pickled.npz", "-o", "out.glb"], "pickled"),
        ("pickled_meta", ["pickled_meta.npz", "-o", "out.glb"], "pickled"),
        ("nan", ["nan.npz", "-o", "out.glb"], "NaN"),
        ("newer", ["newer.npz", "-o", "out.glb"], "newer than this kpanim"),
        ("bad_fps", ["badfps.npz", "-o", "out.glb"], "fps"),
        ("bad_shapes", ["shapes.npz", "-o", "out.glb"], "frames"),
        ("bad_meta", ["badmeta.npz", "-o", "out.glb"], "meta"),
        ("no_kind", ["nokind.npz", "-o", "out.glb"], "expected a 'animation'"),
        ("subject_file", ["face.subject.npz", "-o", "out.glb"], "expected a 'animation'"),
        ("millimetres", ["mm.npz", "-o", "out.glb"], "millimetres"),
        ("no_frames", ["noframes.npz", "-o", "out.glb"], "no frames"),
        ("glb_input", ["anim.glb", "-o", "out.glb"], "already a glTF"),
        ("folder", ["folder.npz", "-o", "out.glb"], "Directory"),
        ("output_is_input", ["anim.npz", "-o", "anim.npz"], "must be a .glb"),
        ("output_is_glb_of_input", ["anim.npz", "-o", "anim.glb", "--subject", "anim.glb"], "--subject input"),
        ("output_suffix", ["anim.npz", "-o", "out.fbx"], "must be a .glb"),
        ("output_folder", ["anim.npz", "-o", "folder.npz/x.glb", "--fps", "0"], "--fps"),
        ("output_missing_folder", ["anim.npz", "-o", "nope/out.glb"], "does not exist"),
        ("fps_zero", ["anim.npz", "-o", "out.glb", "--fps", "0"], "--fps"),
        ("fps_huge", ["anim.npz", "-o", "out.glb", "--fps", "1000"], "--fps"),
        ("fps_nan", ["anim.npz", "-o", "out.glb", "--fps", "nan"], "--fps"),
        ("max_error_negative", ["anim.npz", "-o", "out.glb", "--max-error", "-1"], "--max-error"),
        ("max_error_nan", ["anim.npz", "-o", "out.glb", "--max-error", "nan"], "--max-error"),
        ("subject_text", ["anim.npz", "-o", "out.glb", "--subject", "text.png"], "not an image"),
        ("subject_animation", ["anim.npz", "-o", "out.glb", "--subject", "link_anim.npz"], "expected a 'subject'"),
        ("arkit_plain_json", ["anim.npz", "-o", "out.json"], ".arkit.json"),
        ("arkit_with_subject", ["anim.npz", "-o", "out.arkit.csv", "--subject", "face.subject.npz"],
         "--subject does not apply"),
        ("arkit_no_frames", ["noframes.npz", "-o", "out.arkit.csv"], "no frames"),
        ("arkit_millimetres", ["mm.npz", "-o", "out.arkit.json"], "millimetres"),
        ("arkit_nan", ["nan.npz", "-o", "out.arkit.json"], "NaN"),
        ("arkit_fps", ["anim.npz", "-o", "out.arkit.json", "--fps", "500"], "--fps"),
    ],
    "render": [
        ("missing_animation", ["missing.npz", "--subject", "face.png", "-o", "out.mp4"], "no such file"),
        ("text_animation", ["text.npz", "--subject", "face.png", "-o", "out.mp4"], "not a kpanim .npz"),
        ("pickled_animation", ["pickled.npz", "--subject", "face.png", "-o", "out.mp4"], "pickled"),
        ("nan_animation", ["nan.npz", "--subject", "face.png", "-o", "out.mp4"], "NaN"),
        ("millimetres", ["mm.npz", "--subject", "face.png", "-o", "out.mp4"], "millimetres"),
        ("no_frames", ["noframes.npz", "--subject", "face.png", "-o", "out.mp4"], "no frames"),
        ("subject_as_animation", ["face.subject.npz", "--subject", "face.png", "-o", "out.mp4"], "expected a 'animation'"),
        ("photo_text", ["anim.npz", "--subject", "text.png", "-o", "out.mp4"], "not an image"),
        ("photo_no_face", ["anim.npz", "--subject", "noface.png", "-o", "out.mp4"], "no face found"),
        ("photo_bomb", ["anim.npz", "--subject", "bomb.png", "-o", "out.mp4"], "too large"),
        ("photo_missing", ["anim.npz", "--subject", "missing.png", "-o", "out.mp4"], "no such image file"),
        ("audio_text", ["anim.npz", "--subject", "face.png", "-o", "out.mp4", "--audio", "text.wav"],
         "not a readable audio file"),
        ("audio_too_short", ["anim.npz", "--subject", "face.png", "-o", "out.mp4", "--audio", "cut.wav"], "audio"),
        ("renderer_text", ["anim.npz", "--subject", "face.png", "-o", "out.mp4", "--renderer", "model.pt"],
         "model.pt"),
        ("renderer_missing", ["anim.npz", "--subject", "face.png", "-o", "out.mp4", "--renderer", "missing.pt"],
         "missing.pt"),
        ("output_is_photo", ["anim.npz", "--subject", "face.png", "-o", "face.png"], "must be a .mp4"),
        ("output_is_animation", ["anim.npz", "--subject", "face.png", "-o", "anim.npz"], "must be a .mp4"),
        ("output_is_audio_video", ["anim.npz", "--subject", "face.png", "-o", "black.mp4", "--audio", "black.mp4"],
         "--audio input"),
        ("output_avi", ["anim.npz", "--subject", "face.png", "-o", "out.avi"], "must be a .mp4"),
        ("output_folder", ["anim.npz", "--subject", "face.png", "-o", "folder.npz"], "is a directory"),
        ("output_missing_folder", ["anim.npz", "--subject", "face.png", "-o", "nope/out.mp4"], "does not exist"),
        ("size_huge", ["anim.npz", "--subject", "face.png", "-o", "out.mp4", "--size", "100000"], "--size"),
        ("size_odd", ["anim.npz", "--subject", "face.png", "-o", "out.mp4", "--size", "511"], "--size"),
        ("size_tiny", ["anim.npz", "--subject", "face.png", "-o", "out.mp4", "--size", "8"], "--size"),
        ("threads_negative", ["anim.npz", "--subject", "face.png", "-o", "out.mp4", "--threads", "-3"], "--threads"),
        ("threads_zero", ["anim.npz", "--subject", "face.png", "-o", "out.mp4", "--threads", "0"], "--threads"),
    ],
    "preview": [
        ("missing", ["missing.npz", "-o", "out.mp4"], "no such file"),
        ("text", ["text.npz", "-o", "out.mp4"], "not a kpanim .npz"),
        ("pickled", ["pickled.npz", "-o", "out.mp4"], "pickled"),
        ("nan", ["nan.npz", "-o", "out.mp4"], "NaN"),
        ("no_frames", ["noframes.npz", "-o", "out.mp4"], "no frames"),
        ("glb", ["anim.glb", "-o", "out.mp4"], "not a kpanim .npz"),
        ("output_is_input", ["anim.npz", "-o", "anim.npz"], "must be a .mp4"),
        ("output_hardlink", ["anim.npz", "-o", "hard_anim.npz"], "must be a .mp4"),
        ("output_is_audio", ["anim.npz", "-o", "black.mp4", "--audio", "black.mp4"], "--audio input"),
        ("output_suffix", ["anim.npz", "-o", "out.gif"], "must be a .mp4"),
        ("output_missing_folder", ["anim.npz", "-o", "nope/out.mp4"], "does not exist"),
        ("audio_text", ["anim.npz", "-o", "out.mp4", "--audio", "text.wav"], "not a readable audio file"),
        ("audio_length", ["anim.npz", "-o", "out.mp4", "--audio", "cut.wav"], "audio"),
        ("size_tiny", ["anim.npz", "-o", "out.mp4", "--size", "4"], "--size"),
        ("size_huge", ["anim.npz", "-o", "out.mp4", "--size", "100000"], "--size"),
    ],
    "info": [
        ("missing", ["missing.npz"], "no such file"),
        ("text", ["text.npz"], "not a kpanim .npz or .glb"),
        ("empty", ["empty.npz"], "not a kpanim .npz or .glb"),
        ("pickled", ["pickled.npz"], "pickled"),
        ("pickled_meta", ["pickled_meta.npz"], "pickled"),
        ("truncated_npz", ["trunc_anim_npz.npz"], "trunc_anim_npz"),
        ("truncated_glb", ["trunc_anim_glb.glb"], "truncated or damaged"),
        ("text_glb", ["text.glb"], "not a binary glTF"),
        ("empty_glb", ["empty.glb"], "not a binary glTF"),
        ("nan", ["nan.npz"], "NaN"),
        ("newer", ["newer.npz"], "newer than this kpanim"),
        ("no_kind", ["nokind.npz"], "not a kpanim file"),
        ("folder", ["folder.npz"], "Directory"),
    ],
    "view": [
        ("missing", ["missing.glb"], "no such file"),
        ("truncated_glb", ["trunc_anim_glb.glb"], "truncated or damaged"),
        ("text_glb", ["text.glb"], "not a binary glTF"),
        ("text_npz", ["text.npz"], "not a kpanim .npz"),
        ("nan", ["nan.npz"], "NaN"),
        ("millimetres", ["mm.npz"], "millimetres"),
        ("audio_text_suffix", ["anim.glb", "--audio", "notes.txt"], "browsers do not play"),
        ("audio_text", ["anim.glb", "--audio", "text.wav"], "not a readable audio file"),
        ("audio_missing", ["anim.glb", "--audio", "missing.wav"], "no such audio file"),
        ("fps_for_glb", ["anim.glb", "--fps", "30"], "--subject and --fps apply to an .npz"),
        ("fps_nan", ["anim.npz", "--fps", "nan"], "--fps"),
        ("fps_huge", ["anim.npz", "--fps", "1000"], "--fps"),
        ("port", ["anim.glb", "--port", "70000"], "--port"),
        ("no_path", [], "no animation given"),
        ("live_with_path", ["anim.glb", "--live"], "--live animates the microphone"),
        ("live_bad_server", ["--live", "--server", "http://x"], "give a WebSocket address"),
        ("server_without_live", ["anim.glb", "--server", "ws://127.0.0.1:9"], "--server and --model apply to --live"),
        ("avatar_missing", ["anim.npz", "--avatar", "missing.glb"], "no such file"),
        ("avatar_gltf", ["anim.npz", "--avatar", "avatar.gltf"], "expected a binary glTF character"),
        ("avatar_image", ["anim.npz", "--avatar", "face.png"], "expected a binary glTF character"),
        ("avatar_text", ["anim.npz", "--avatar", "text.glb"], "not a binary glTF"),
        ("avatar_truncated", ["anim.npz", "--avatar", "trunc_anim_glb.glb"], "truncated or damaged"),
        ("avatar_no_arkit_shapes", ["anim.npz", "--avatar", "anim.glb"], "no morph targets named after ARKit shapes"),
        ("avatar_no_arkit", ["anim.npz", "--avatar", "avatar.glb", "--no-arkit"], "leave out --no-arkit"),
        ("avatar_no_curves", ["avatar.glb", "--avatar", "avatar.glb"], "no ARKit curves to drive --avatar"),
        ("live_avatar_missing", ["--live", "--avatar", "missing.glb"], "no such file"),
        ("live_avatar_no_arkit_shapes", ["--live", "--avatar", "anim.glb"], "no morph targets named after ARKit"),
    ],
    "serve": [
        ("model_missing", ["--model", "missing.pt"], "no such model"),
        ("model_text", ["--model", "model.pt"], "model.pt"),
        ("max_streams_zero", ["--max-streams", "0"], "--max-streams"),
        ("workers_zero", ["--workers", "0"], "--workers"),
        ("lookahead_odd", ["--lookahead", "0.05"], "multiple of 0.02"),
        ("lookahead_nan", ["--lookahead", "nan"], "--lookahead"),
        ("lookback_tiny", ["--lookback", "0.1"], "--lookback"),
        ("hop_zero", ["--hop", "0"], "--hop"),
        ("port", ["--port", "70000"], "--port"),
    ],
    "stream": [
        ("missing", ["missing.wav"], "no such audio file"),
        ("text", ["text.wav", "--server", "ws://127.0.0.1:9"], "not a readable audio file"),
        ("no_server", ["speech.wav", "--server", "ws://127.0.0.1:9"], "cannot connect to ws://127.0.0.1:9"),
        ("bad_url", ["speech.wav", "--server", "http://127.0.0.1:9"], "not a WebSocket address"),
        ("output_suffix", ["speech.wav", "-o", "out.txt"], "must be a .npz"),
        ("output_csv", ["speech.wav", "-o", "out.csv"], ".arkit.csv"),
        ("output_is_input", ["speech.wav", "-o", "speech.wav"], "must be a .npz"),
        ("output_folder", ["speech.wav", "-o", "folder.npz"], "is a directory"),
        ("chunk_zero", ["speech.wav", "--chunk-ms", "0"], "--chunk-ms"),
        ("livelink_port_text", ["speech.wav", "--livelink", "host:notaport"], "port 'notaport' is not a number"),
        ("livelink_port_range", ["speech.wav", "--livelink", "127.0.0.1:70000"], "out of range 1-65535"),
        ("livelink_no_host", ["speech.wav", "--livelink", ":11111"], "no host"),
        ("livelink_unresolvable", ["speech.wav", "--livelink", "no-such-host.invalid"], "cannot resolve host"),
        ("livelink_subject_empty", ["speech.wav", "--livelink", "127.0.0.1", "--livelink-subject", " "],
         "--livelink-subject"),
        ("livelink_subject_alone", ["speech.wav", "--livelink-subject", "Face"], "add --livelink"),
    ],
    "prepare": [
        ("missing", ["missing.mp4", "-o", "out_ds"], "no such file or folder"),
        ("text_video", ["text.mp4", "-o", "out_ds", "--workers", "1"], "no clip could be prepared"),
        ("empty_video", ["empty.mp4", "-o", "out_ds", "--workers", "1"], "no clip could be prepared"),
        ("no_face", ["black.mp4", "-o", "out_ds", "--workers", "1", "--min-seconds", "0.1"],
         "no clip could be prepared"),
        ("no_videos_in_folder", ["folder.png", "-o", "out_ds"], "no videos found"),
        ("output_is_file", ["black.mp4", "-o", "notes.txt"], "notes.txt"),
        ("workers_zero", ["black.mp4", "-o", "out_ds", "--workers", "0"], "--workers"),
        ("split_one", ["black.mp4", "-o", "out_ds", "--split", "1"], "--split"),
        ("min_valid", ["black.mp4", "-o", "out_ds", "--min-valid", "2"], "--min-valid"),
        ("smooth_even", ["black.mp4", "-o", "out_ds", "--smooth-window", "4"], "--smooth-window"),
        ("min_seconds_nan", ["black.mp4", "-o", "out_ds", "--min-seconds", "nan"], "--min-seconds"),
    ],
    "eval": [
        ("nothing", [], "give PRED and --reference"),
        ("missing_pred", ["missing.npz", "--reference", "anim.npz"], "no such file"),
        ("text_pred", ["text.npz", "--reference", "anim.npz"], "not a kpanim .npz"),
        ("pickled_reference", ["anim.npz", "--reference", "pickled.npz"], "pickled"),
        ("json_is_input", ["anim.npz", "--reference", "link_anim.npz", "--json", "anim.npz"], "must be a .json"),
        ("plot_is_input", ["anim.npz", "--reference", "anim.npz", "--plot", "face.png", "--audio", "face.png"],
         "--audio input"),
        ("plot_suffix", ["anim.npz", "--reference", "anim.npz", "--plot", "out.pdf"], "must be a .png"),
        ("dataset_missing", ["--dataset", "nope"], "nope"),
    ],
    "train": [
        ("moda_no_data", ["moda", "--out", "out_run"], "no dataset given"),
        ("moda_missing_data", ["moda", "--data", "nope", "--out", "out_run"], "nope"),
        ("moda_not_a_dataset", ["moda", "--data", "folder.png", "--out", "out_run"], "no index.json"),
        ("moda_steps_zero", ["moda", "--data", "folder.png", "--out", "out_run", "--steps", "0"], "--steps"),
        ("moda_out_is_file", ["moda", "--data", "folder.png", "--out", "notes.txt"], "notes.txt"),
        ("ensemble_one", ["lip-ensemble", "missing.pt", "--out", "out_run"], "at least two"),
        ("ensemble_missing", ["lip-ensemble", "missing.pt", "missing.pt", "--out", "out_run"], "no such model file"),
        ("ensemble_text", ["lip-ensemble", "text.npz", "text.npz", "--out", "out_run"], "not a readable kpanim"),
        ("faco_no_data", ["faco", "--out", "out_run"], "no dataset given"),
        ("sync_no_data", ["sync", "--out", "out_run"], "no dataset given"),
        ("renderer_no_data", ["renderer", "--out", "out_run"], "no training data"),
        ("renderer_two_outputs", ["renderer", "--data", "black.mp4", "--out", "out_run", "-o", "x.pt"], "not both"),
        ("renderer_no_output", ["renderer", "--data", "black.mp4"], "not neither"),
        ("renderer_out_is_file", ["renderer", "--data", "black.mp4", "--out", "notes.txt"], "is a file"),
        ("renderer_text", ["renderer", "text.mp4", "-o", "out.renderer.pt"], "not a readable video"),
        ("renderer_missing", ["renderer", "missing.mp4", "-o", "out.renderer.pt"], "no such video or folder"),
        ("renderer_npz_text", ["renderer", "text.npz", "-o", "out.renderer.pt"], "not a kpanim .npz"),
        ("renderer_output_is_input", ["renderer", "black.mp4", "-o", "black.mp4"], "must be a .pt"),
        ("renderer_output_is_init", ["renderer", "black.mp4", "-o", "model.pt", "--init", "model.pt"],
         "--init input"),
        ("renderer_threads", ["renderer", "black.mp4", "-o", "out.renderer.pt", "--threads", "-2"], "--threads"),
        ("renderer_pairs_zero", ["renderer", "black.mp4", "-o", "out.renderer.pt", "--pairs", "0"], "--pairs"),
        ("renderer_val_list_missing", ["renderer", "black.mp4", "-o", "out.renderer.pt", "--val-list", "nope.txt"],
         "no such file"),
    ],
    "demo": [
        ("output_is_file", ["-o", "notes.txt"], "notes.txt"),
    ],
    "blender-addon": [
        ("output_is_file", ["--zip", "-o", "notes.txt"], "notes.txt"),
    ],
}
