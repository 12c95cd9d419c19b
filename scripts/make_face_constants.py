"""Build kpanim/data/face_constants.npz: the canonical face template and face-mesh topology.

MediaPipe 0.10.21's wheel ships the face-mesh network but not its canonical face model, so kpanim
derives its own from real faces:

1. Run FaceMesh (refine_landmarks) on portraits and on frames of talking clips (default:
   ``../shared/data``; any folder of images/videos works).
2. Generalised Procrustes analysis (similarity) of all faces → mean shape.
3. Orient it: +X from the subject's right iris to the left one, +Y up (chin → forehead), +Z towards
   the viewer; scale to an inter-ocular (iris-centre) distance of 63 mm; make it exactly symmetric
   with the left/right index permutation found by mirroring.
4. Stable points: the 60 non-iris points that move least relative to the head within each clip
   (per-clip std after alignment), used for every head-pose fit.
5. Triangles: the 3-cliques of FACEMESH_TESSELATION, minus the few spurious cliques (edges used by
   three triangles), oriented towards +Z; the two irises become 4-triangle fans.

Usage: python scripts/make_face_constants.py [DATA_DIR] [-o kpanim/data/face_constants.npz]
The output is committed; tests check it against mediapipe's own connection sets.
"""

from __future__ import annotations

import argparse
import collections
import itertools
from pathlib import Path

import numpy as np

from kpanim.face.geometry import apply_similarity, similarity_fit
from kpanim.tracking.landmarks import FaceTracker, detect_faces, pixels_to_points3d

IOD_M = 0.063
HEAD_CENTRE_FROM_EYES = np.array([0.0, -0.03, -0.08])  # pivot inside the head, below/behind the eyes


def index_sets() -> dict[str, np.ndarray]:
    from mediapipe.python.solutions import face_mesh_connections as c

    def pts(conns):
        return np.array(sorted({i for e in conns for i in e}), dtype=np.int32)

    eye = np.concatenate([pts(c.FACEMESH_LEFT_IRIS), pts(c.FACEMESH_LEFT_EYE), pts(c.FACEMESH_LEFT_EYEBROW),
                          pts(c.FACEMESH_RIGHT_IRIS), pts(c.FACEMESH_RIGHT_EYE), pts(c.FACEMESH_RIGHT_EYEBROW)])
    return {"lip_index": pts(c.FACEMESH_LIPS), "eye_index": eye, "face_oval_index": pts(c.FACEMESH_FACE_OVAL)}


def triangles_from_tessellation() -> np.ndarray:
    from mediapipe.python.solutions import face_mesh_connections as c

    edges = {tuple(sorted(e)) for e in c.FACEMESH_TESSELATION}
    adj = collections.defaultdict(set)
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    tris = {tuple(sorted((a, b, x))) for a, b in edges for x in adj[a] & adj[b]}
    while True:  # drop cliques whose every edge is over-used: they are not faces of the mesh
        use = collections.Counter(e for t in tris for e in itertools.combinations(t, 2))
        bad = [t for t in tris if all(use[e] > 2 for e in itertools.combinations(t, 2))]
        if not bad:
            break
        tris.discard(bad[0])
    use = collections.Counter(e for t in tris for e in itertools.combinations(t, 2))
    assert max(use.values()) <= 2, "tessellation is not a manifold"
    return np.array(sorted(tris), dtype=np.int32)


def orient_towards_z(tris: np.ndarray, verts: np.ndarray) -> np.ndarray:
    a, b, c = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    nz = np.cross(b - a, c - a)[:, 2]
    out = tris.copy()
    flip = nz < 0
    out[flip] = out[flip][:, [0, 2, 1]]
    return out


def iris_fans(verts: np.ndarray) -> np.ndarray:
    fans = []
    for centre, ring in ((468, [469, 470, 471, 472]), (473, [474, 475, 476, 477])):
        ang = np.arctan2(verts[ring, 1] - verts[centre, 1], verts[ring, 0] - verts[centre, 0])
        ring = [ring[i] for i in np.argsort(ang)]  # counter-clockwise seen from +Z
        fans += [(centre, ring[i], ring[(i + 1) % 4]) for i in range(4)]
    return np.array(fans, dtype=np.int32)


def collect_faces(data: Path, frames_per_clip: int, max_clips: int):
    import av
    from PIL import Image

    stills, clips = [], []
    for img in sorted((data / "image").glob("*")):
        try:
            rgb = np.asarray(Image.open(img).convert("RGB"))
        except Exception:
            continue
        faces = detect_faces(rgb, max_faces=1)
        if faces:
            stills.append(pixels_to_points3d(faces[0]))
    videos = sorted(list((data / "derived").glob("*")) + list((data / "video").glob("*.mp4")))[:max_clips]
    for vid in videos:
        seq = []
        try:
            with av.open(str(vid)) as box, FaceTracker() as tracker:
                for i, frame in enumerate(box.decode(video=0)):
                    if i >= frames_per_clip:
                        break
                    pts = tracker.track(frame.to_ndarray(format="rgb24"))
                    if pts is not None:
                        seq.append(pixels_to_points3d(pts))
        except Exception as err:  # a broken clip only costs us its frames
            print(f"skip {vid.name}: {err}")
        if len(seq) >= 10:
            clips.append(np.stack(seq))
    return stills, clips


def generalised_procrustes(shapes: np.ndarray, iters: int = 10) -> np.ndarray:
    mean = shapes[0] - shapes[0].mean(0)
    for _ in range(iters):
        s, r, t = similarity_fit(shapes, mean)
        aligned = apply_similarity(shapes, s, r, t)
        new = aligned.mean(0)
        new = new - new.mean(0)
        new /= np.linalg.norm(new)
        if np.allclose(new, mean, atol=1e-10):
            break
        mean = new
    return mean


def orient_and_scale(mean: np.ndarray) -> np.ndarray:
    x = mean[473] - mean[468]  # right iris centre → left iris centre (subject's left is +X)
    x /= np.linalg.norm(x)
    y = mean[10] - mean[152]  # chin → forehead
    y -= x * (x @ y)
    y /= np.linalg.norm(y)
    z = np.cross(x, y)
    out = (mean - mean.mean(0)) @ np.stack([x, y, z]).T
    if out[1, 2] < out[[33, 263], 2].mean():  # nose tip must be nearer the viewer than eye corners
        raise RuntimeError("template orientation check failed: nose is behind the eyes")
    out *= IOD_M / np.linalg.norm(out[473] - out[468])
    eyes_mid = (out[468] + out[473]) / 2
    return out - (eyes_mid + HEAD_CENTRE_FROM_EYES)


def mirror_permutation(verts: np.ndarray) -> np.ndarray:
    from scipy.optimize import linear_sum_assignment

    mirrored = verts * np.array([-1.0, 1.0, 1.0])
    cost = np.linalg.norm(verts[:, None] - mirrored[None], axis=-1)
    _, perm = linear_sum_assignment(cost)
    assert np.all(perm[perm] == np.arange(len(verts))), "mirror map must be an involution"
    return perm.astype(np.int32)


def stable_points(clips, template: np.ndarray, count: int, exclude: np.ndarray) -> np.ndarray:
    cand = np.setdiff1d(np.arange(468), exclude)
    # start from points above the nose tip (forehead, temples, nose bridge), then refine
    stable = cand[template[cand, 1] > template[1, 1]]
    for _ in range(3):
        stds = []
        for seq in clips:
            s, r, t = similarity_fit(seq[:, stable], template[stable])
            al = apply_similarity(seq, s, r, t)
            stds.append(al.std(0).mean(-1))
        score = np.mean(stds, axis=0)
        stable = np.sort(cand[np.argsort(score[cand])[:count]])
    return stable.astype(np.int32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("-o", "--output", default=str(Path(__file__).resolve().parents[1] / "kpanim/data/face_constants.npz"))
    ap.add_argument("--frames-per-clip", type=int, default=60)
    ap.add_argument("--max-clips", type=int, default=80)
    args = ap.parse_args()

    stills, clips = collect_faces(Path(args.data), args.frames_per_clip, args.max_clips)
    samples = stills + [c[:: max(1, len(c) // 6)] for c in clips]
    shapes = np.concatenate([np.atleast_3d(s).reshape(-1, 478, 3) for s in samples])
    print(f"{len(stills)} portraits, {len(clips)} clips, {len(shapes)} faces")
    template = orient_and_scale(generalised_procrustes(shapes))
    perm = mirror_permutation(template)
    template = (template + template[perm] * np.array([-1.0, 1.0, 1.0])) / 2

    sets = index_sets()
    moving = np.concatenate([sets["lip_index"], sets["eye_index"], np.arange(468, 478)])
    # the lower face follows the jaw: keep it out of the candidates
    jaw = np.where(template[:, 1] < template[1, 1] - 0.01)[0]
    stable = stable_points(clips, template, 60, np.union1d(moving, jaw))

    tris = orient_towards_z(triangles_from_tessellation(), template)
    tris = np.concatenate([tris, iris_fans(template)])
    out = dict(template=template.astype(np.float64), triangles=tris, mirror_index=perm,
               stable_index=stable, **sets)
    np.savez(args.output, **out)
    print(f"wrote {args.output}: {len(tris)} triangles, {len(stable)} stable points")


if __name__ == "__main__":
    main()
