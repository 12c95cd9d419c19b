"""Does the mouth move in sync with non-English speech? (no video needed)

    python scripts/eval_languages.py [--model PATH] AUDIO[=LANG] ...

For each recording: predict with the template face, then report the mouth-opening vs audio-loudness
sync (kpanim.evaluation.metrics.av_sync: lag in frames, > 0 = mouth late; correlation of the high-passed
signals), the mouth-opening spread and the fraction of speech frames with the mouth open.
Real speakers in the prepared val clips score AV corr ≈ 0.29 at lag -1 (kpanim eval, "reference").
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kpanim.animate.bundle import load_model
from kpanim.animate.predict import predict
from kpanim.evaluation import metrics
from kpanim.speech.audio import load_audio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("audio", nargs="+", help="audio files, optionally suffixed =LANG")
    args = ap.parse_args()
    model = load_model(args.model)
    print(f"{'file':55s} {'lang':5s} {'sec':>5s} {'AV lag':>6s} {'AV corr':>7s} {'open std':>8s}")
    for item in args.audio:
        path, _, lang = item.partition("=")
        audio = load_audio(path)
        anim = predict(audio, model=model, seed=0)
        opening = metrics.mouth_opening(metrics.align_to_template(anim.dense))
        env = metrics.audio_envelope(audio, anim.n_frames, anim.fps)
        lag, corr = metrics.av_sync(opening, env)
        print(f"{Path(path).name[:55]:55s} {lang or '?':5s} {len(audio) / 16000:5.1f} {lag:+6d} {corr:7.3f} "
              f"{opening.std():8.4f}")


if __name__ == "__main__":
    main()
