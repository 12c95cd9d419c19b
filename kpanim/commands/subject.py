"""``kpanim subject``: a portrait → a subject file (neutral face, camera, head pose, shoulders)."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from ..tracking.subject import make_subject


@click.command("subject")
@click.argument("image", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the subject (default: IMAGE with suffix .subject.npz).")
def subject_command(image: Path, output: Path | None) -> None:
    """Make a subject from a portrait photo: neutral face mesh, head pose, camera, shoulders."""
    from ..formats.fileio import check_output

    output = check_output(output or image.with_suffix(".subject.npz"), {"IMAGE": image}, (".npz",))
    from ..commands.echo import warnings_to_stderr

    with warnings_to_stderr(Warning):
        click.echo(f"Detecting the face in {image} ...", err=True)
        subj = make_subject(image)
    subj.save(output)
    err = np.abs(subj.project_face() - subj.landmarks_px[:, :2]).max()
    click.echo(f"Wrote {output}: subject {subj.subject_id}, image {subj.camera.width}x{subj.camera.height}, "
               f"head yaw/pitch/roll {_ypr_deg(subj.head_pose)}, reprojection error {err:.2g} px")


def _ypr_deg(head_pose: np.ndarray) -> str:
    from scipy.spatial.transform import Rotation

    # Y-up frame: yaw about Y, pitch about X, roll about Z.
    yaw, pitch, roll = Rotation.from_rotvec(head_pose[:3]).as_euler("YXZ", degrees=True)
    return f"{yaw:.0f}°/{pitch:.0f}°/{roll:.0f}°"
