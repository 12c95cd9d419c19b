"""``kpanim export``: an animation .npz → a glTF .glb with morph targets, or ARKit curves."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import KpanimError
from ..formats.animation import Animation, check_units
from ..formats.gltf_export import DEFAULT_MAX_ERROR_M, export_glb


@click.command("export")
@click.argument("animation", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write: a .glb (default: ANIMATION with suffix .glb), or ARKit-52 blendshape curves "
                   "as .arkit.csv (Live Link Face CSV) or .arkit.json.")
@click.option("--fps", type=float, default=None, help="Resample to this frame rate (e.g. 24, 30, 60); "
              "default: the animation's own.")
@click.option("--subject", "subject_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A .subject.npz (or portrait photo): its neutral face is the mesh's base shape and its "
                   "photo camera the glTF camera. Default: the clip's mean face and a 53° camera.")
@click.option("--max-error", "max_error_mm", type=float, default=DEFAULT_MAX_ERROR_M * 1000, show_default=True,
              help="Largest allowed vertex error of the morph-target reconstruction, in millimetres.")
def export_command(animation: Path, output: Path | None, fps: float | None, subject_path: Path | None,
                   max_error_mm: float) -> None:
    """Convert an animation .npz to a glTF .glb (face mesh with morph targets, head and torso nodes), or to
    ARKit-52 blendshape curves (-o name.arkit.csv / name.arkit.json)."""
    from ..animate import arkit
    from ..commands.echo import warnings_to_stderr
    from ..formats.fileio import file_sha256

    if animation.suffix.lower() in (".glb", ".gltf"):
        raise KpanimError(f"{animation}: already a glTF file; 'kpanim export' takes an animation .npz")
    from ..commands.checks import check_fps, check_number
    from ..formats.fileio import check_output

    check_fps(fps)
    check_number("--max-error", max_error_mm, 0, 10, lo_open=True, example=0.5, why=" mm")
    output = output or animation.with_suffix(".glb")
    if output.suffix.lower() in (".csv", ".json") and arkit.output_kind(output) is None:
        raise KpanimError(f"{output}: ARKit curves are written to .arkit.csv or .arkit.json "
                          f"(e.g. -o {output.stem}.arkit{output.suffix.lower()})")
    output = check_output(output, {"ANIMATION": animation, "--subject": subject_path}, (".glb", ".csv", ".json"))
    if arkit.output_kind(output) is not None:
        if subject_path is not None:
            raise KpanimError("--subject does not apply to ARKit curves (they do not depend on the mesh); drop it")
        anim = Animation.load(animation)
        if anim.n_frames == 0:
            raise KpanimError(f"{animation}: the animation has no frames; nothing to export")
        check_units(anim, str(animation))
        anim = anim.resample(fps) if fps else anim
        with warnings_to_stderr():
            arkit.write_curves(anim, output)
        source = "stored" if anim.arkit is not None else "computed"
        click.echo(f"Wrote {output}: ARKit-52 curves ({source}), {anim.n_frames} frames at {anim.fps:g} fps")
        return
    anim = Animation.load(animation)
    check_units(anim, str(animation))
    sources = {"animation_npz_sha256": file_sha256(animation)}
    subject = None
    if subject_path is not None:
        from ..tracking.subject import load_or_make_subject

        subject = load_or_make_subject(subject_path)
        if subject_path.suffix.lower() == ".npz":
            sources["subject_npz_sha256"] = file_sha256(subject_path)
    report = export_glb(anim, output, fps=fps, subject=subject, max_error_m=max_error_mm / 1000, sources=sources)
    click.echo(f"Wrote {output}: {report.summary()}")
    click.echo(f"Timing: {report.fps:g} fps; in Blender use File > Import > kpanim Animation (the kpanim add-on) to get "
               "it, a plain glTF import leaves the scene at 24 fps and frame 250", err=True)
    if not report.within_bound:
        click.echo(f"Warning: {report.n_targets} morph targets (the cap) could not reach the "
                   f"{max_error_mm:g} mm bound; the motion is kept to {report.max_error_m * 1000:.3f} mm", err=True)
