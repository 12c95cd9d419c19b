"""``kpanim demo``: the whole pipeline on the embedded default, with nothing to download.

Speech is synthesised at run time (espeak-ng), the portrait is scikit-image's public-domain
astronaut photo, the model is the one shipped in the package. Each stage runs if this installation
has it; the summary says plainly what was made and what was not.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import click

DEFAULT_TEXT = ("Hello! I am an astronaut, and this animation was made from my voice. "
                "Every lip movement comes from the sound of the speech.")


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@click.command("demo")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo_out"),
              show_default=True, help="Folder for the demo's files (created if missing).")
@click.option("--text", default=DEFAULT_TEXT, show_default=False, help="What the synthesised voice says.")
@click.option("--seed", default=0, show_default=True, help="Seed of the probabilistic streams (blinks, head, torso).")
def demo_command(out_dir: Path, text: str, seed: int) -> None:
    """Run the whole pipeline on the embedded default: synthesised speech + the astronaut photo."""
    import numpy as np
    from PIL import Image
    from skimage import data

    from .audio import save_wav
    from .subject import make_subject
    from .tts import synthesize

    out_dir.mkdir(parents=True, exist_ok=True)
    made, missing = [], []

    def step(msg: str) -> None:
        click.echo(f"[demo] {msg}", err=True)

    step("synthesising speech with espeak-ng")
    speech = save_wav(out_dir / "speech.wav", synthesize(text))
    made.append(speech)
    portrait = out_dir / "astronaut.png"
    Image.fromarray(data.astronaut()).save(portrait)
    made.append(portrait)

    step("making the subject from the astronaut photo")
    subject = make_subject(portrait)
    made.append(subject.save(out_dir / "astronaut.subject.npz"))

    anim_npz = out_dir / "anim.npz"
    if _has("kpanim.inference"):
        from .inference import predict

        step("predicting the animation from the speech")
        anim = predict(speech, subject=subject, seed=seed)
        made.append(anim.save(anim_npz))
    else:
        from .audio import load_audio

        seconds = load_audio(speech).size / 16000
        anim = subject.still_animation(int(np.ceil(seconds * 25)), meta={"note": "neutral: no speech model yet"})
        made.append(anim.save(anim_npz))
        missing.append("speech → animation: this version has no speech model yet (kpanim predict); "
                       "anim.npz holds the subject's NEUTRAL face, held still for the length of the speech")

    if _has("kpanim.gltf_export"):
        from .gltf_export import export_glb

        step("exporting glTF")
        export_glb(anim, out_dir / "anim.glb", subject=subject)
        made.append(out_dir / "anim.glb")
    else:
        missing.append("glTF export (anim.glb): not in this version yet")

    if _has("kpanim.renderer.render"):
        from .renderer.render import render

        step("rendering the talking portrait")
        render(anim, portrait, out_dir / "talk.mp4", audio=speech, subject=subject)
        made.append(out_dir / "talk.mp4")
    else:
        missing.append("talking-portrait video (talk.mp4): the renderer is not in this version yet")

    click.echo("Made:")
    for path in made:
        click.echo(f"  {path}")
    if missing:
        click.echo("Not made:")
        for line in missing:
            click.echo(f"  - {line}")
