"""``kpanim demo``: the whole pipeline on the embedded default, with nothing to download.

Speech is synthesised at run time (espeak-ng), the portrait is scikit-image's public-domain
astronaut photo, the models (speech → animation, renderer) are the ones shipped in the package.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import KpanimError

DEFAULT_TEXT = ("Hello! I am an astronaut, and this animation was made from my voice. "
                "Every lip movement comes from the sound of the speech.")


@click.command("demo")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo_out"),
              show_default=True, help="Folder for the demo's files (created if missing).")
@click.option("--text", default=DEFAULT_TEXT, show_default=False, help="What the synthesised voice says.")
@click.option("--seed", default=0, show_default=True, help="Seed of the probabilistic streams (blinks, head, torso).")
def demo_command(out_dir: Path, text: str, seed: int) -> None:
    """Run the whole pipeline on the embedded default: synthesised speech + the astronaut photo."""
    from PIL import Image
    from skimage import data

    from ..animate.predict import predict
    from ..formats.gltf_export import export_glb
    from ..renderer.render import render
    from ..speech.audio import save_wav
    from ..speech.tts import synthesize
    from ..tracking.subject import make_subject

    if out_dir.exists() and not out_dir.is_dir():
        raise KpanimError(f"{out_dir}: is a file, not a folder; give a folder for the demo's files with -o")
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []

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

    step("predicting the animation from the speech")
    anim = predict(speech, subject=subject, seed=seed)
    made.append(anim.save(out_dir / "anim.npz"))

    step("exporting glTF")
    made.append(export_glb(anim, out_dir / "anim.glb", subject=subject).path)

    step("rendering the talking portrait")
    render(anim, portrait, out_dir / "talk.mp4", audio=speech, subject=subject)
    made.append(out_dir / "talk.mp4")

    click.echo("Made:")
    for path in made:
        click.echo(f"  {path}")
