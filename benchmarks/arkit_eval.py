"""ARKit curves on prepared clips: tracked faces vs kpanim's predictions, and the mouth-opening check.

    python benchmarks/arkit_eval.py DATASET [--split val] [--model kpanim/data/moda_default.pt] [--json out.json]

For every clip of the split (a dataset made by ``kpanim prepare``; its val split holds unseen speakers):

* **tracked** curves: :func:`kpanim.animate.arkit.animation_curves` of the clip's own animation (the tracked dense
  face in the head frame, seen frontally); **raw** curves: the network on the tracker's raw pixel landmarks
  (what FaceLandmarker would report on the video frames, head rotation included), as a check of the
  frontal view;
* **predicted** curves: the same function on ``kpanim.predict(clip.wav, subject=the clip's person, seed=0)``
  (the subject as ``kpanim eval --dataset`` builds it);
* per-shape Pearson r (tracked vs predicted, frame by frame; blinks and eye motion are sampled, so their r
  is expected near 0), and for both animations r of (jawOpen + mouthLowerDownLeft + mouthLowerDownRight)
  and of jawOpen alone against the animation's own mouth opening (inner-lip gap, kpanim.evaluation.metrics).

Numbers are the mean over clips (clips where a signal is constant are skipped for that r) and the pooled r
over all frames. Results: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from kpanim.animate import arkit
from kpanim.animate.bundle import load_model
from kpanim.animate.predict import predict
from kpanim.dataset.index import load_index
from kpanim.evaluation import metrics
from kpanim.evaluation.evaluate import clip_subject, load_reference

SHAPES = ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "eyeBlinkLeft", "eyeBlinkRight",
          "mouthLowerDownLeft", "mouthLowerDownRight", "mouthSmileLeft", "mouthRollLower")
OPENING = ("jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight")


def col(curves: np.ndarray, name: str) -> np.ndarray:
    return curves[:, arkit.NAMES.index(name)]


def r(a: np.ndarray, b: np.ndarray) -> float | None:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 3 or a.std() < 1e-6 or b.std() < 1e-6:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def opening_checks(anim, curves) -> dict:
    opening = metrics.mouth_opening(metrics.align_to_template(anim.dense))
    summed = sum(col(curves, n) for n in OPENING)
    return {"open_sum": r(summed, opening), "open_jaw": r(col(curves, "jawOpen"), opening), "opening": opening,
            "summed": summed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--split", default="val")
    ap.add_argument("--model", default=None)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    model = load_model(args.model)
    clips = load_index(args.dataset, args.split)[: args.limit]
    per_clip, pooled = {}, {"tracked": [], "pred": [], "raw": []}
    for c in clips:
        clip, audio_path = load_reference(args.dataset / "clips" / f"{c['clip_id']}.npz")
        clip.require("landmarks_px")
        pred = predict(str(audio_path), subject=clip_subject(clip), model=model, seed=0)
        n = min(clip.n_frames, pred.n_frames)
        ref, pred = clip.animation[:n], pred[:n]
        tracked, predicted = arkit.animation_curves(ref), arkit.animation_curves(pred)
        raw_px = clip.landmarks_px[:n]
        ok = np.all(np.isfinite(raw_px), axis=(1, 2))
        raw = np.full_like(tracked, np.nan)
        raw[ok] = arkit.scores_from_points(raw_px[ok])
        row = {"frames": n, "speaker": c["speaker"]}
        for name in SHAPES:
            row[f"r_{name}"] = r(col(tracked, name), col(predicted, name))
            row[f"r_raw_{name}"] = r(col(tracked, name)[ok], col(raw, name)[ok])
            row[f"mean_tracked_{name}"] = float(col(tracked, name).mean())
            row[f"mean_pred_{name}"] = float(col(predicted, name).mean())
        for kind, anim, curves in (("tracked", ref, tracked), ("pred", pred, predicted)):
            chk = opening_checks(anim, curves)
            row[f"{kind}_open_sum"], row[f"{kind}_open_jaw"] = chk["open_sum"], chk["open_jaw"]
            pooled[kind].append((chk["summed"] - chk["summed"].mean(), chk["opening"] - chk["opening"].mean(),
                                 curves - curves.mean(0)))
        pooled["raw"].append((tracked[ok] - tracked[ok].mean(0), raw[ok] - raw[ok].mean(0)))
        per_clip[c["clip_id"]] = row
        print(f"{c['clip_id'][:40]:40s} {n:5d} fr  jawOpen r {row['r_jawOpen'] or 0:+.2f}  "
              f"open~(jaw+lowerDown): tracked {row['tracked_open_sum'] or 0:.2f} pred {row['pred_open_sum'] or 0:.2f}"
              f"  (jaw alone {row['tracked_open_jaw'] or 0:.2f} / {row['pred_open_jaw'] or 0:.2f})", flush=True)

    def mean(key):
        vals = [row[key] for row in per_clip.values() if row[key] is not None]
        return (float(np.mean(vals)), len(vals)) if vals else (None, 0)

    summary = {}
    print(f"\n{len(per_clip)} clips ({args.split}); mean over clips [clips with a defined r]; pooled r (clip means removed)")
    t_all = np.concatenate([p[2] for p in pooled["tracked"]])
    p_all = np.concatenate([p[2] for p in pooled["pred"]])
    rt_all = np.concatenate([p[0] for p in pooled["raw"]])
    rr_all = np.concatenate([p[1] for p in pooled["raw"]])
    print(f"{'shape':22s} {'tracked~pred':>14s} {'pooled':>7s} {'tracked~raw':>12s} {'mean tracked':>13s} {'mean pred':>10s}")
    for name in SHAPES:
        m, k = mean(f"r_{name}")
        mr, _ = mean(f"r_raw_{name}")
        pooled_r = r(col(t_all, name), col(p_all, name))
        summary[name] = {"r_tracked_pred": m, "clips": k, "pooled_r": pooled_r, "r_tracked_raw": mr,
                         "mean_tracked": mean(f"mean_tracked_{name}")[0], "mean_pred": mean(f"mean_pred_{name}")[0],
                         "pooled_r_tracked_raw": r(col(rt_all, name), col(rr_all, name))}
        fmt = lambda v: f"{v:+.2f}" if v is not None else "  –"  # noqa: E731
        print(f"{name:22s} {fmt(m):>10s} [{k:2d}] {fmt(pooled_r):>7s} {fmt(mr):>12s} "
              f"{summary[name]['mean_tracked']:13.3f} {summary[name]['mean_pred']:10.3f}")
    for kind in ("tracked", "pred"):
        s = np.concatenate([p[0] for p in pooled[kind]])
        o = np.concatenate([p[1] for p in pooled[kind]])
        summary[f"{kind}_opening"] = {"r_sum_mean": mean(f"{kind}_open_sum")[0], "r_jaw_mean": mean(f"{kind}_open_jaw")[0],
                                      "r_sum_pooled": r(s, o)}
        print(f"{kind:8s} animation: r(jawOpen + mouthLowerDownL/R, mouth opening) mean {mean(f'{kind}_open_sum')[0]:.3f}"
              f", pooled {r(s, o):.3f}; jawOpen alone mean {mean(f'{kind}_open_jaw')[0]:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"dataset": args.dataset.name, "split": args.split, "summary": summary,
                                         "per_clip": per_clip}, indent=1))


if __name__ == "__main__":
    main()
