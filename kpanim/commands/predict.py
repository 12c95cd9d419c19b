"""``kpanim predict``: the command-line face of :func:`kpanim.animate.predict.predict`."""

from __future__ import annotations

from pathlib import Path

import click

from ..animate.bundle import load_model
from ..animate.predict import DEFAULT_SMOOTHING, FPS, _load_subject, predict
from ..errors import KpanimError
from .echo import warnings_to_stderr


def _parse_smoothing(text: str | None) -> dict:
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        name, _, val = part.partition("=")
        if name.strip() not in DEFAULT_SMOOTHING:
            raise KpanimError(f"--smooth: unknown stream '{name}'; use lip, eye, head or torso (e.g. head=2,torso=2)")
        try:
            out[name.strip()] = float(val)
        except ValueError:
            raise KpanimError(f"--smooth: '{part}' needs a number of frames, e.g. head=2") from None
    return out


def _check_predict_options(seed, samples, temperature, fps, smooth, blink_rate, viseme_blend) -> None:
    """Every number of ``kpanim predict`` checked before any work (model loading takes seconds)."""
    from .checks import check_fps, check_number

    check_number("--seed", seed, 0, 2**31 - 1, integer=True, example=0)
    check_number("--samples", samples, 1, 100, integer=True, example=3)
    check_number("--temperature", temperature, 0, 3, example=1.0)
    check_fps(fps)
    check_number("--blink-rate", blink_rate, 0, 60, example=20, why=" (blinks per minute)")
    check_number("--viseme-blend", viseme_blend, 0, 1, example=0.25)
    for name, sigma in _parse_smoothing(smooth).items():
        if not 0 <= sigma <= 50:  # also NaN
            raise KpanimError(f"--smooth {name}={sigma:g}: a smoothing sigma must be 0 to 50 frames; e.g. --smooth {name}=2")


@click.command("predict")
@click.argument("audio", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--subject", "subject", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Portrait image or .subject.npz (default: the template face).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output .npz (kpanim animation), .glb (glTF), or ARKit-52 blendshape curves: .arkit.csv (Live Link "
                   "Face CSV) / .arkit.json. With --samples N: name_0.npz ...")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the probabilistic streams.")
@click.option("--samples", type=int, default=1, show_default=True, help="Number of variations to write.")
@click.option("--temperature", type=float, default=1.0, show_default=True,
              help="Spread of eyes/head/torso motion (0 = mean motion).")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="MODA checkpoint (default: the shipped model).")
@click.option("--faco", "faco_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="FaCo-Net checkpoint (default: the one next to --model, else faco/faco.pt beside its run folder "
                   "as 'kpanim train faco' writes it, else the shipped one).")
@click.option("--audio-model", "frontend_path", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Local directory of the audio front-end's weights (for wav2vec2_local/whisper_local models).")
@click.option("--fps", type=float, default=FPS, show_default=True, help="Output frame rate.")
@click.option("--smooth", "smooth", default=None, help="Per-stream smoothing sigma in frames, e.g. head=2,torso=3.")
@click.option("--blink-rate", type=float, default=None,
              help="Blinks per minute (default: the model's, measured on its training data; 0 = none).")
@click.option("--viseme-blend", type=float, default=None,
              help="Weight 0-1 of phone-driven viseme mouth shapes (Rhubarb-style keyframes with co-articulation) "
                   "mixed into the lips (default: the model's; needs pocketsphinx and a model with viseme keyframes).")
@click.option("--arkit", "with_arkit", is_flag=True,
              help="Also store the ARKit-52 blendshape curves (array 'arkit') in an .npz output (about 0.5-1 s per "
                   "minute of speech on one CPU core; the Blender add-on's 'Drive ARKit Shape Keys' reads them).")
def predict_command(audio, subject, output, seed, samples, temperature, model_path, faco_path, frontend_path, fps,
                    smooth, blink_rate, viseme_blend, with_arkit):
    """Animate speech: AUDIO (wav/flac/ogg/mp3/m4a/aiff) → keypoint animation (.npz or .glb) or ARKit curves."""
    from ..animate import arkit
    from ..formats.fileio import check_output

    suffix = output.suffix.lower()
    arkit_kind = arkit.output_kind(output)
    if suffix in (".csv", ".json") and arkit_kind is None:
        raise KpanimError(f"{output}: output must end in .npz, .glb, .arkit.csv or .arkit.json "
                          f"(e.g. -o {output.stem}.arkit{suffix})")
    _check_predict_options(seed, samples, temperature, fps, smooth, blink_rate, viseme_blend)
    inputs = {"AUDIO": audio, "--subject": subject, "--model": model_path, "--faco": faco_path}
    if arkit_kind is not None:
        tail = f".arkit.{arkit_kind}"
        base = output.name[:-len(tail)]
        paths = [output] if samples == 1 else [output.with_name(f"{base}_{k}{tail}") for k in range(samples)]
    else:
        paths = [output] if samples == 1 else [output.with_name(f"{output.stem}_{k}{output.suffix}")
                                               for k in range(samples)]
    for path in paths:
        check_output(path, inputs, (".npz", ".glb", ".csv", ".json"))
    from ..speech.audio import check_playable

    check_playable(audio)  # before the model loads (seconds)
    with warnings_to_stderr():
        subj = _load_subject(subject)
        model = model_path if faco_path is None else load_model(
            model_path, str(frontend_path) if frontend_path else None, faco_path)
        anims = predict(audio, subj, model, seed=seed, samples=samples, temperature=temperature, fps=fps,
                        smoothing=_parse_smoothing(smooth), frontend_path=str(frontend_path) if frontend_path else None,
                        blink_rate=blink_rate, viseme_blend=viseme_blend, progress=True)
    anims = anims if isinstance(anims, list) else [anims]
    for anim, path in zip(anims, paths):
        if arkit_kind is not None:
            with warnings_to_stderr():
                arkit.write_curves(anim, path)
        elif suffix == ".glb":
            from ..formats.gltf_export import export_glb

            export_glb(anim, path, subject=subj)
        else:
            if with_arkit:
                anim = anim.replace(arkit=arkit.animation_curves(anim))
            anim.save(path)
        click.echo(f"Wrote {path}: {anim.n_frames} frames at {anim.fps:g} fps ({anim.duration:.1f} s)")
