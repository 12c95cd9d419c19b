"""Build kpanim/data/arkit_blendshapes.npz: MediaPipe's Blendshape V2 weights, converted once.

MediaPipe's Face Landmarker task bundle (``face_landmarker.task``, Apache-2.0) holds
``face_blendshapes.tflite``: an MLP-Mixer ("GhumMarkerPoserMlpMixerGeneral") that maps 146 face-mesh
landmarks (x, y in pixels) to 52 ARKit-compatible scores. This script reads that flatbuffer with the
``tflite`` schema package (a reference-only tool: ``pip install tflite``; kpanim itself never needs it),
checks that the graph is the one :mod:`kpanim.animate.arkit` ports (op sequence, tensor shapes, the constants
of its preprocessing), and writes its float16 weights unchanged (the tflite graph dequantises them
to float32, as kpanim does at load time) under the names of :class:`kpanim.animate.arkit.BlendshapeV2`.

Usage: python scripts/convert_blendshapes.py path/to/face_landmarker.task [-o kpanim/data/arkit_blendshapes.npz]
The output is committed, with kpanim/data/LICENSE-MediaPipe-Apache-2.0.txt and NOTICE-arkit.txt.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

TASK_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
TFLITE_SHA256 = "4f36dded049db18d76048567439b2a7f58f1daabc00d78bfe8f3ad396a2d2082"
PREFIX = "model_1/GhumMarkerPoserMlpMixerGeneral/"


def read_tensors(tflite_bytes: bytes) -> tuple[dict[str, np.ndarray], list[str]]:
    """{tensor name: constant array} of every tensor with data, and the graph's op names in order."""
    import tflite

    model = tflite.Model.GetRootAsModel(tflite_bytes, 0)
    graph = model.Subgraphs(0)
    dtypes = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
              tflite.TensorType.INT32: np.int32}
    consts = {}
    for i in range(graph.TensorsLength()):
        t = graph.Tensors(i)
        buf = model.Buffers(t.Buffer())
        if buf.DataLength() == 0:
            continue
        shape = tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        consts[t.Name().decode()] = np.frombuffer(buf.DataAsNumpy().tobytes(), dtypes[t.Type()]).reshape(shape)
    names = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
    ops = []
    for k in range(graph.OperatorsLength()):
        code = model.OperatorCodes(graph.Operators(k).OpcodeIndex())
        ops.append(names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())])
    return consts, ops


def convert(consts: dict[str, np.ndarray], ops: list[str]) -> dict[str, np.ndarray]:
    def get(name: str) -> np.ndarray:
        return consts[PREFIX + name]

    def dense(name: str) -> np.ndarray:  # 1x1 conv kernel (out, 1, 1, in) → Linear weight (out, in)
        w = get(f"{name}/Conv2D")
        return w.reshape(w.shape[0], w.shape[-1])

    # The preprocessing and layer norms this port hard-codes: fail loudly if the graph differs.
    body = [op for op in ops if op != "DEQUANTIZE"]
    assert body[:9] == ["MEAN", "SUB", "MUL", "SUM", "SQRT", "MEAN", "DIV", "RESHAPE", "STRIDED_SLICE"], body[:9]
    assert body[-6:] == ["STRIDED_SLICE", "STRIDED_SLICE", "CONV_2D", "LOGISTIC", "RESHAPE", "STRIDED_SLICE"]
    assert float(get("tf.math.truediv/truediv;" + PREFIX + "tf.math.truediv/truediv/y")) == 0.5
    eps = get("MLPMixer/MixerBlock_0/layer_norm1/batchnorm/add/y")
    assert eps == np.float16(1e-6)  # float16 rounds it to 1.013e-6; kept as stored
    assert int(consts["model_1/tf.compat.v1.norm/norm/Sum/reduction_indices"][0]) == -1
    assert int(get("MLPMixer/AddExtraTokens/concat/axis")) == -2  # also the preprocessing means' axis
    assert get("tf.__operators__.getitem_1/strided_slice2").tolist() == [0, 0, 1, 0]  # output = token 0
    assert not any(k.endswith("batchnorm/ReadVariableOp") or "/sub" in k for k in consts), "layer norm has a beta"

    out = {
        "input_scale": np.array(0.5, np.float16),
        "ln_eps": np.asarray(eps, np.float16),
        "token_reduce.weight": dense("conv2d"), "token_reduce.bias": get("conv2d/BiasAdd/ReadVariableOp"),
        "embed.weight": dense("MLPMixer/input_tokens_embedding"),
        "embed.bias": get("MLPMixer/input_tokens_embedding/BiasAdd/ReadVariableOp"),
        "extra_token": get("MLPMixer/AddExtraTokens/strided_slice_1").reshape(1, 1, -1),
        "head.weight": dense("output_blendweights"), "head.bias": get("output_blendweights/BiasAdd/ReadVariableOp"),
    }
    for b in range(4):
        src = f"MLPMixer/MixerBlock_{b}/"
        for ln in (1, 2):
            out[f"blocks.{b}.ln{ln}.weight"] = get(f"{src}layer_norm{ln}/batchnorm/mul/ReadVariableOp")
        for part, mix in (("token", "mlp_token_mixing"), ("channel", "mlp_channel_mixing")):
            for fc in (1, 2):
                out[f"blocks.{b}.{part}_fc{fc}.weight"] = dense(f"{src}{mix}/Mlp_{fc}")
                out[f"blocks.{b}.{part}_fc{fc}.bias"] = get(f"{src}{mix}/Mlp_{fc}/BiasAdd/ReadVariableOp")
    for k, v in out.items():
        assert v.dtype == np.float16, k
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("task", type=Path, help="face_landmarker.task (float16, version 1)")
    ap.add_argument("-o", "--output", type=Path, default=Path("kpanim/data/arkit_blendshapes.npz"))
    args = ap.parse_args()
    data = args.task.read_bytes()
    if hashlib.sha256(data).hexdigest() != TASK_SHA256:
        print(f"warning: {args.task} is not the float16/1 release this port was checked against")
    tfl = zipfile.ZipFile(io.BytesIO(data)).read("face_blendshapes.tflite")
    tfl_sha = hashlib.sha256(tfl).hexdigest()
    if tfl_sha != TFLITE_SHA256:
        print("warning: face_blendshapes.tflite differs from the checked one")
    weights = convert(*read_tensors(tfl))
    weights["source_sha256"] = np.array(tfl_sha)
    with open(args.output, "wb") as fh:
        np.savez_compressed(fh, **weights)
    n = sum(v.size for k, v in weights.items() if v.dtype == np.float16)
    print(f"wrote {args.output}: {n} float16 values, {args.output.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
