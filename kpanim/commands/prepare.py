"""``kpanim prepare``: talking-face videos → a training dataset (:mod:`kpanim.dataset.prepare`)."""

from __future__ import annotations

from pathlib import Path

import click

from ..dataset.prepare import PrepareConfig, parse_shard, prepare_dataset
from ..errors import KpanimError


# ------------------------------------------------------------------------------------------- CLI
@click.command("prepare")
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Dataset folder (created; re-running resumes: finished clips are kept).")
@click.option("--workers", default=2, show_default=True, help="Parallel worker processes.")
@click.option("--split", "val_fraction", default=0.15, show_default=True,
              help="Fraction of speakers (or clips, see --split-by) held out for validation.")
@click.option("--split-by", type=click.Choice(["speaker", "clip"]), default="speaker", show_default=True,
              help="Hold out whole speakers, or single clips (for one-speaker sets such as GRID s1).")
@click.option("--min-seconds", default=PrepareConfig.min_seconds, show_default=True,
              help="Skip clips shorter than this.")
@click.option("--min-valid", default=PrepareConfig.min_valid, show_default=True,
              help="Skip clips where the face is tracked in fewer than this fraction of frames.")
@click.option("--smooth-window", default=PrepareConfig.smooth_window, show_default=True,
              help="Savitzky-Golay window on the landmarks (frames, odd; 1 = no smoothing).")
@click.option("--pose-smooth-window", default=PrepareConfig.pose_smooth_window, show_default=True,
              help="Savitzky-Golay window on the fitted head pose (frames, odd; 1 = no extra smoothing).")
@click.option("--clip-timeout", default=PrepareConfig.clip_timeout, show_default=True,
              help="Give up on one clip after this many seconds (0 = no limit).")
@click.option("--retry-skipped", is_flag=True,
              help="Try again the inputs an earlier run skipped (by default they are kept skipped while unchanged).")
@click.option("--shard", default=None, metavar="K/N",
              help="Prepare only shard K of N (e.g. one task of a Slurm array or Kubernetes job each); every shard "
                   "writes into the same -o folder and the last to finish leaves the complete index.")
def prepare_command(videos, out_dir, workers, val_fraction, split_by, min_seconds, min_valid, smooth_window,
                    pose_smooth_window, clip_timeout, retry_skipped, shard):
    """Build a training dataset from talking-face videos (files or folders): one .npz + .wav + .ref.png per clip."""
    from ..commands.checks import check_number

    for name, w in (("--smooth-window", smooth_window), ("--pose-smooth-window", pose_smooth_window)):
        if w < 1 or w % 2 == 0 or w > 99:
            raise KpanimError(f"{name} must be an odd number from 1 to 99, got {w}; e.g. {name} 5")
    if not 0 <= val_fraction < 1:
        raise KpanimError(f"--split must be a fraction in [0, 1), got {val_fraction}; e.g. --split 0.15")
    check_number("--workers", workers, 1, 64, integer=True, example=2)
    check_number("--min-seconds", min_seconds, 0, 600, example=1)
    check_number("--min-valid", min_valid, 0, 1, example=0.8, why=" (a fraction of the frames)")
    check_number("--clip-timeout", clip_timeout, 0, None, example=1800, why=" seconds")
    shard = parse_shard(shard)
    if out_dir.exists() and not out_dir.is_dir():
        raise KpanimError(f"{out_dir}: is a file, not a folder; give a folder for the dataset with -o")
    created = not out_dir.exists()
    cfg = PrepareConfig(min_seconds=min_seconds, min_valid=min_valid, smooth_window=smooth_window,
                        pose_smooth_window=pose_smooth_window, clip_timeout=max(0.0, clip_timeout))
    from ..commands.echo import warnings_to_stderr

    with warnings_to_stderr(Warning):
        rep = prepare_dataset(list(videos), out_dir, cfg, workers=workers, val_fraction=val_fraction,
                              split_by=split_by, retry_skipped=retry_skipped, shard=shard)
    d = rep["dataset"]
    own = rep.get("shard_skipped", rep["skipped"])
    # an empty dataset is an error, not a success; so is a shard whose every input was skipped
    if (d["clips"] == 0 if shard is None else rep["inputs"] > 0 and rep["prepared_now"] + rep["resumed"] == 0):
        for r in own[:20]:
            click.echo(f"  {r['reason']}: {r['source']} ({r['detail'][:150]})", err=True)
        if created and shard is None:  # nothing usable: leave no folder behind (other shards may be writing)
            import shutil

            shutil.rmtree(out_dir, ignore_errors=True)
        reasons = ", ".join(f"{k} {sum(r['reason'] == k for r in own)}" for k in sorted({r["reason"] for r in own}))
        which = f"shard {shard[0]}/{shard[1]}: " if shard else ""
        raise KpanimError(f"{which}no clip could be prepared: all {len(own)} input(s) were skipped "
                          f"({reasons or 'none usable'}); give talking-face videos with speech and one clearly "
                          "visible face")
    if shard is not None:
        click.echo(f"Shard {shard[0]}/{shard[1]}: {rep['inputs']} of the inputs are this shard's")
    click.echo(f"Prepared {rep['prepared_now']} clip(s) now, {rep['resumed']} already done; dataset {out_dir}: "
               f"{d['clips']} clips, {d['minutes']:.1f} min, {d['speakers']} speakers "
               f"({d['train_clips']} train / {d['val_clips']} val clips)")
    if d["duplicates"]:
        click.echo(f"Excluded {len(d['duplicates'])} duplicate clip(s) (same audio as another clip): "
                   + ", ".join(f"{a} = {b}" for a, b in list(d["duplicates"].items())[:5])
                   + (" ..." if len(d["duplicates"]) > 5 else ""))
    if rep["seconds_per_minute_of_video"]:
        click.echo(f"Speed: {rep['seconds_per_minute_of_video']:.1f} s per minute of video ({workers} workers)")
    if rep["skipped"]:
        click.echo(f"Skipped {len(rep['skipped'])}: " + ", ".join(f"{k} {v}" for k, v in
                                                                rep["skipped_by_reason"].items()))
        for r in rep["skipped"][:20]:
            click.echo(f"  {r['reason']}: {r['source']} ({r['detail'][:150]})")
        if len(rep["skipped"]) > 20:
            click.echo(f"  ... and {len(rep['skipped']) - 20} more")
    click.echo(f"Details in {out_dir / 'report.json'}")
