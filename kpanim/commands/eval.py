"""``kpanim eval``: score animations against real ones next to the baselines (:mod:`kpanim.evaluation.evaluate`)."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from ..errors import KpanimError
from ..evaluation import metrics
from ..evaluation.evaluate import (
    evaluate_dataset,
    format_table,
    load_reference,
    loudness_baseline,
    plot_mouth,
    score_all,
    static_baseline,
)
from ..formats.animation import Animation


@click.command("eval")
@click.argument("pred", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--reference", "-r", type=click.Path(dir_okay=False, path_type=Path),
              help="The real animation to compare PRED with (e.g. a prepared clip's .npz).")
@click.option("--audio", type=click.Path(dir_okay=False, path_type=Path),
              help="Speech of the reference (default: the clip's .wav named in its meta).")
@click.option("--dataset", type=click.Path(file_okay=False, path_type=Path),
              help="A prepared dataset (kpanim prepare): score every clip of --split.")
@click.option("--model", "models", multiple=True,
              help="With --dataset: model to run through kpanim.predict (repeatable); baselines are always scored.")
@click.option("--split", default="val", show_default=True, help="Dataset split to evaluate.")
@click.option("--limit", type=int, default=None, help="Evaluate at most this many clips of the split.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Write all numbers here.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path),
              help="PNG of mouth opening over time (prediction, reference, baselines) over the waveform.")
def eval_command(pred, reference, audio, dataset, models, split, limit, json_out, plot):
    """Score predicted animations against real ones: LMD, LMD-v, MA, mouth-opening sync, naturalness.

    \b
    kpanim eval pred.npz --reference clip.npz [--audio speech.wav] [--plot p.png] [--json m.json]
    kpanim eval --dataset DIR [--model M] [--split val]
    """
    import sys
    import time

    from ..formats.fileio import check_output
    from ..speech.audio import load_audio

    cpu0 = time.process_time()
    inputs = {"PRED": pred, "--reference": reference, "--audio": audio}
    for path, suffixes in ((json_out, (".json",)), (plot, (".png",))):
        if path is not None:
            check_output(path, inputs, suffixes)
    if dataset is not None:
        if pred is not None or reference is not None:
            raise KpanimError("give either PRED --reference REF or --dataset DIR, not both")
        result = evaluate_dataset(dataset, tuple(models), split, limit)
        click.echo(f"{dataset} ({split}, {len(result['per_clip'])} clips), frame-weighted means:")
        click.echo(format_table(result["mean"]))
        first = next(iter(result["per_clip"]), None)
        if plot is not None and first is not None:
            clip, apath = load_reference(dataset / "clips" / f"{first}.npz")
            _plot_one(plot, None, clip.animation, clip.neutral, load_audio(apath) if apath else None,
                      first)
    else:
        if pred is None or reference is None:
            raise KpanimError("give PRED and --reference REF (or --dataset DIR); see kpanim eval --help")
        prediction = Animation.load(pred)
        clip, apath = load_reference(reference)
        ref, neutral = clip.animation, clip.neutral
        apath = audio or apath
        wav = load_audio(apath) if apath else None
        if wav is None:
            click.echo("No audio found (--audio): skipping the loudness baseline and the A/V lag", err=True)
        rows = score_all(prediction, ref, neutral, wav)
        result = {"prediction": str(pred), "reference": str(reference), "audio": str(apath) if apath else None,
                  "metrics": rows}
        click.echo(format_table(rows))
        if plot is not None:
            _plot_one(plot, prediction, ref, neutral, wav, f"{pred.name} vs {reference.name}")
    if json_out is not None:
        from ..dataset.index import write_json

        result["command"] = " ".join(["kpanim", *sys.argv[1:]])  # models run with --seed 0
        result["cpu_seconds"] = round(time.process_time() - cpu0, 1)
        write_json(json_out, result)
        click.echo(f"Wrote {json_out}")
    if plot is not None:
        click.echo(f"Wrote {plot}")


def _plot_one(path: Path, pred: Animation | None, ref: Animation, neutral: np.ndarray, audio, title: str) -> None:
    def opening(a: Animation) -> np.ndarray:
        return metrics.mouth_opening(metrics.align_to_template(a.dense))

    rows = {"reference": (opening(ref), "k-")}
    if pred is not None:
        p = pred.resample(ref.fps) if pred.fps != ref.fps else pred
        rows["prediction"] = (opening(p), "C3-")
    if audio is not None:
        rows["baseline-loudness"] = (opening(loudness_baseline(ref, neutral, audio)), "C0:")
    rows["baseline-static"] = (opening(static_baseline(ref, neutral)), "C2--")
    n = ref.n_frames
    clipped = None if audio is None else audio[: int(round(n / ref.fps * 16000))]
    plot_mouth(path, {k: (v[:n], s) for k, (v, s) in rows.items()}, clipped, ref.fps, title=title)
