"""Score a MODA network in training exactly as ``kpanim eval --dataset DATASET --model`` scores a checkpoint.

Every validation of the trainer logs these numbers (``val_eval``) next to its quick look at the network's
own lip stream (:func:`training.train_moda.evaluate`: ``val``), and the run's final ones go in the
checkpoint's info. They are computed by kpanim eval's own code on each dataset's val split: the network,
its statistics and gains go through ``kpanim.predict`` (speech gate, smoothing, FaCo-Net) with the subject
of each clip, and the composed animation is scored against the tracked one. A fresh run has no FaCo-Net of its own, so the shipped one composes the mesh, as
``kpanim predict`` does for a MODA without one (it maps metric lips and eyes, learnt from the data).
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from kpanim.errors import KpanimError


def eval_metrics(model, norm: dict[str, np.ndarray], frontend: dict, datasets: list[str]) -> dict:
    """{dataset name: kpanim eval's mean row of the model on its val split} (datasets without val clips
    are left out)."""
    from kpanim.animate.bundle import Model
    from kpanim.dataset.index import load_index
    from kpanim.evaluation.evaluate import evaluate_dataset
    from kpanim.nets.stats import MotionStats

    faco, faco_norm = _shipped_faco()
    bundle = Model(moda=model, faco=faco, stats=MotionStats.from_norm(norm, "the trained network"),
                   faco_stats=MotionStats.from_norm(faco_norm, "faco_default.pt"), info={"frontend": frontend},
                   path="trained network", sha256="")
    was_training = model.training
    model.eval()
    out = {}
    try:
        for d in datasets:
            if not load_index(Path(d), "val"):
                continue
            try:
                res = evaluate_dataset(Path(d), (bundle,), "val", progress=False, baselines=False)
            except KpanimError as err:  # a damaged val clip must not cost the trained run
                warnings.warn(f"val_eval skipped for {d}: {err}", stacklevel=2)
                continue
            out[Path(d).name] = res["mean"][bundle.path]
    finally:
        model.train(was_training)
    return out


@lru_cache(maxsize=1)
def _shipped_faco():
    """The shipped FaCo-Net and its statistics, read once per training run (validation runs several times)."""
    from kpanim.animate.bundle import default_faco_path
    from kpanim.formats.checkpoint import load_network
    from kpanim.nets.faconet import Faconet, FaconetConfig

    faco, _, faco_norm, _ = load_network(default_faco_path(), "faco", FaconetConfig, Faconet)
    return faco, faco_norm
