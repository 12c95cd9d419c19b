"""Stand-ins for the avatars people drive with ARKit curves, for the browser tests: made here, no download.

* :func:`build_rpm_glb`, a Ready Player Me avatar as TalkingHead.js (``@met4citizen/talkinghead``) loads
  it: a node ``Armature`` holding the Mixamo-named skeleton it poses (Hips … Head, LeftEye/RightEye, arms,
  fingers, legs) and a mesh whose morph targets carry the 52 ARKit names in Apple's camelCase plus the 15
  Oculus visemes (``viseme_aa`` …);
* :func:`build_vrm`, a VRM 1.0 "perfect sync" model as three-vrm (``@pixiv/three-vrm``) loads it: the
  same skeleton mapped to VRM humanoid bones, and 52 custom expressions named in PascalCase (``JawOpen``,
  as VRoid/HANA_Tool, VMagicMirror and VSeeFace models name them), each bound to one morph target.

The bones are plain nodes at rough human positions (y up, facing +Z, metres) and the "head" is a disc on
the Head bone with one morph target per name, each moving its own vertex, so a test can read every
weight back.
"""

from __future__ import annotations

import json
import struct

import numpy as np

from kpanim.animate.arkit import APPLE_NAMES

VISEMES = tuple(f"viseme_{v}" for v in ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E",
                                         "I", "O", "U"))
MORPH_NAMES = tuple(APPLE_NAMES) + VISEMES

_FINGERS = ("Thumb", "Index", "Middle", "Ring", "Pinky")


def _skeleton() -> list[tuple[str, str | None, tuple[float, float, float]]]:
    """(name, parent, translation relative to the parent) in parent-before-child order."""
    bones = [("Hips", None, (0, 1.0, 0)), ("Spine", "Hips", (0, 0.1, 0)), ("Spine1", "Spine", (0, 0.12, 0)),
             ("Spine2", "Spine1", (0, 0.12, 0)), ("Neck", "Spine2", (0, 0.15, 0)), ("Head", "Neck", (0, 0.1, 0)),
             ("HeadTop_End", "Head", (0, 0.2, 0)), ("LeftEye", "Head", (0.03, 0.07, 0.08)),
             ("RightEye", "Head", (-0.03, 0.07, 0.08))]
    for side, s in (("Left", 1.0), ("Right", -1.0)):
        bones += [(f"{side}Shoulder", "Spine2", (s * 0.05, 0.1, 0)), (f"{side}Arm", f"{side}Shoulder", (s * 0.1, 0, 0)),
                  (f"{side}ForeArm", f"{side}Arm", (s * 0.27, 0, 0)), (f"{side}Hand", f"{side}ForeArm", (s * 0.25, 0, 0))]
        for k, finger in enumerate(_FINGERS):
            parent = f"{side}Hand"
            for j in range(1, 5):
                offset = (s * 0.04, 0, 0.03 - 0.015 * k) if j == 1 else (s * 0.025, 0, 0)
                bones.append((f"{side}Hand{finger}{j}", parent, offset))
                parent = f"{side}Hand{finger}{j}"
        bones += [(f"{side}UpLeg", "Hips", (s * 0.1, -0.05, 0)), (f"{side}Leg", f"{side}UpLeg", (0, -0.45, 0)),
                  (f"{side}Foot", f"{side}Leg", (0, -0.42, 0)), (f"{side}ToeBase", f"{side}Foot", (0, -0.05, 0.12)),
                  (f"{side}Toe_End", f"{side}ToeBase", (0, 0, 0.05))]
    return bones


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def build_rpm_glb() -> bytes:
    """The RPM-layout avatar as .glb bytes; ``morphTargetInfluences[k]`` is the weight of ``MORPH_NAMES[k]``."""
    return _glb(_document(MORPH_NAMES))


# VRM 1.0 humanoid bone → our (Mixamo) node name; fingers are optional in VRM and left out.
VRM_BONES = {"hips": "Hips", "spine": "Spine", "chest": "Spine1", "upperChest": "Spine2", "neck": "Neck",
             "head": "Head", "leftEye": "LeftEye", "rightEye": "RightEye",
             **{f"{side}{vrm}": f"{side.title()}{ours}" for side in ("left", "right") for vrm, ours in (
                 ("Shoulder", "Shoulder"), ("UpperArm", "Arm"), ("LowerArm", "ForeArm"), ("Hand", "Hand"),
                 ("UpperLeg", "UpLeg"), ("LowerLeg", "Leg"), ("Foot", "Foot"), ("Toes", "ToeBase"))}}


def build_vrm() -> bytes:
    """A VRM 1.0 perfect-sync model as .vrm (glb) bytes: expression ``JawOpen`` drives morph target
    ``jawOpen`` (index k of ``APPLE_NAMES``) with weight 1, and so on for the 52."""
    doc = _document(tuple(APPLE_NAMES))
    nodes = {node["name"]: k for k, node in enumerate(doc["nodes"])}
    doc["extensionsUsed"] = ["VRMC_vrm"]
    doc["extensions"] = {"VRMC_vrm": {
        "specVersion": "1.0",
        "meta": {"name": "kpanim test avatar", "version": "1", "authors": ["kpanim tests"],
                 "licenseUrl": "https://vrm.dev/licenses/1.0/"},
        "humanoid": {"humanBones": {bone: {"node": nodes[ours]} for bone, ours in VRM_BONES.items()}},
        "expressions": {"custom": {name[0].upper() + name[1:]: {
            "morphTargetBinds": [{"node": nodes["Wolf3D_Head"], "index": k, "weight": 1.0}]}
            for k, name in enumerate(APPLE_NAMES)}},
    }}
    return _glb(doc)


def build_vrm0() -> bytes:
    """A VRM 0.x model: the RPM-layout avatar turned to face -Z (VRM 0.x's front; its left is -X), marked
    with the ``VRM`` extension (specVersion 0.0; morph targets camelCase)."""
    doc = _document(MORPH_NAMES)
    for node in doc["nodes"]:
        if "translation" in node:
            x, y, z = node["translation"]
            node["translation"] = [-x, y, -z]
    body = bytearray(doc["_body"])
    for accessor in doc["accessors"]:
        if accessor["type"] != "VEC3":
            continue
        view = doc["bufferViews"][accessor["bufferView"]]
        a = np.frombuffer(body, np.float32, accessor["count"] * 3, view["byteOffset"]).reshape(-1, 3) * np.float32(
            [-1, 1, -1])
        body[view["byteOffset"]:view["byteOffset"] + a.nbytes] = a.tobytes()
        accessor["min"], accessor["max"] = a.min(0).tolist(), a.max(0).tolist()
    doc["_body"] = bytes(body)
    doc["extensionsUsed"] = ["VRM"]
    doc["extensions"] = {"VRM": {"specVersion": "0.0", "meta": {"title": "kpanim test avatar (VRM 0.x)"}}}
    return _glb(doc)


def build_named_glb(morph_names, head: str | None = "Head", rest: dict | None = None) -> bytes:
    """The RPM-layout avatar with other morph-target names (``jaw_open``, ``JawOpen``, ...; index k moves
    vertex k + 1) and its head bone renamed to ``head`` (None: a name no rig uses, so no head bone).
    ``rest``: {bone name (before renaming): rest rotation quaternion (x, y, z, w)}, e.g. a rolled head bone."""
    doc = _document(tuple(morph_names))
    for node in doc["nodes"]:
        if node["name"] in (rest or {}):
            node["rotation"] = [float(v) for v in rest[node["name"]]]
        if node["name"] == "Head":
            node["name"] = head or "Skull"
    return _glb(doc)


def _document(morph_names) -> dict:
    """The glTF JSON (with the binary body under the key ``"_body"``). Vertex 0 is the disc's centre; vertex
    k + 1 moves 1 cm forward (+Z) in morph target k."""
    n = len(morph_names)
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    rim = np.stack([0.08 * np.cos(angles), 0.1 * np.sin(angles), np.zeros(n)], 1)
    positions = np.vstack([[0, 0, 0], rim]).astype(np.float32) + np.float32([0, 0.1, 0.09])
    indices = np.array([(0, 1 + k, 1 + (k + 1) % n) for k in range(n)], np.uint16).ravel()
    targets = np.zeros((n, n + 1, 3), np.float32)
    targets[np.arange(n), np.arange(n) + 1, 2] = 0.01

    blobs = [positions.tobytes(), indices.tobytes(), *(t.tobytes() for t in targets)]
    views, accessors, offset = [], [], 0
    for k, blob in enumerate(blobs):
        views.append({"buffer": 0, "byteOffset": offset, "byteLength": len(blob),
                      **({"target": 34963} if k == 1 else {"target": 34962})})
        offset += len(_pad(blob))
    vec3 = lambda view, a: {"bufferView": view, "componentType": 5126, "count": n + 1, "type": "VEC3",  # noqa: E731
                            "min": a.min(0).tolist(), "max": a.max(0).tolist()}
    accessors.append(vec3(0, positions))
    accessors.append({"bufferView": 1, "componentType": 5123, "count": len(indices), "type": "SCALAR"})
    accessors += [vec3(2 + k, targets[k]) for k in range(n)]

    bones = _skeleton()
    index = {name: 2 + k for k, (name, _, _) in enumerate(bones)}  # node 0: Armature, 1: the head mesh
    nodes = [{"name": "Armature", "children": [index["Hips"]]}, {"name": "Wolf3D_Head", "mesh": 0}]
    for name, _, translation in bones:
        children = [index[c] for c, parent, _ in bones if parent == name] + ([1] if name == "Head" else [])
        nodes.append({"name": name, "translation": list(map(float, translation)), **({"children": children}
                                                                                      if children else {})})
    doc = {
        "asset": {"version": "2.0", "generator": "kpanim tests (RPM-layout stand-in)"},
        "scene": 0, "scenes": [{"nodes": [0]}], "nodes": nodes,
        "meshes": [{"name": "Wolf3D_Head", "weights": [0.0] * n, "extras": {"targetNames": list(morph_names)},
                    "primitives": [{"attributes": {"POSITION": 0}, "indices": 1, "material": 0,
                                    "targets": [{"POSITION": 2 + k} for k in range(n)]}]}],
        "materials": [{"name": "skin", "pbrMetallicRoughness": {"baseColorFactor": [0.9, 0.7, 0.6, 1.0]}}],
        "accessors": accessors, "bufferViews": views,
        "buffers": [{"byteLength": offset}],
        "_body": b"".join(_pad(b) for b in blobs),
    }
    return doc


def _glb(doc: dict) -> bytes:
    doc = dict(doc)
    body = doc.pop("_body")
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    chunks = struct.pack("<II", len(text), 0x4E4F534A) + text + struct.pack("<II", len(body), 0x004E4942) + body
    return struct.pack("<III", 0x46546C67, 2, 12 + len(chunks)) + chunks
