"""The model bundle: a MODA checkpoint, its lip-ensemble members and the FaCo-Net that composes its mesh,
each with its typed statistics (:class:`~kpanim.nets.stats.MotionStats`), loaded by :func:`load_model`.

MODA and FaCo-Net are trained separately (``kpanim train moda --out runs/moda``, ``kpanim train faco --out
runs/faco``); :func:`find_faco` pairs them. FaCo-Net maps metric lips and eyes to the dense mesh, learnt from
data alone, so any FaCo-Net of the same face topology fits any MODA: the shipped one is the fallback.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import KpanimError
from ..nets.stats import MotionStats

if TYPE_CHECKING:
    from ..nets.faconet import Faconet
    from ..nets.moda import Moda

FACO_RUN = Path("faco") / "faco.pt"  # where 'kpanim train faco' writes by default, relative to the runs folder


@dataclasses.dataclass(frozen=True)
class LipMember:
    """One extra network of a lip ensemble: only its lip stream is used, with its own statistics."""

    moda: Moda
    stats: MotionStats

    @property
    def norm(self) -> Mapping[str, np.ndarray]:
        """The statistics as stored in the checkpoint (read-only)."""
        return self.stats.arrays


@dataclasses.dataclass
class Model:
    """A loaded MODA + FaCo-Net pair with their statistics and audio front-end."""

    moda: Moda
    faco: Faconet
    stats: MotionStats  # MODA's
    faco_stats: MotionStats
    info: dict
    path: str
    sha256: str
    lip_members: tuple[LipMember, ...] = ()  # further MODA networks whose lips are averaged in (seed ensemble)
    faco_path: str = ""  # the FaCo-Net checkpoint used (find_faco)
    _frontend: object = None
    _phones: object = None  # the phone front-end of the viseme prior, built on first use

    @property
    def norm(self) -> Mapping[str, np.ndarray]:
        """MODA's statistics as stored in the checkpoint (read-only; use :attr:`stats`)."""
        return self.stats.arrays

    @property
    def faco_norm(self) -> Mapping[str, np.ndarray]:
        """FaCo-Net's statistics as stored in its checkpoint (read-only; use :attr:`faco_stats`)."""
        return self.faco_stats.arrays

    @property
    def frontend(self):
        if self._frontend is None:
            from ..speech.frontends import make_frontend

            fe = self.info.get("frontend", {})
            self._frontend = make_frontend(fe.get("name", "mel"), fe.get("path") or None)
        return self._frontend

    def viseme_blend(self, weight: float | None) -> float:
        """The viseme blend weight to use: ``weight`` if given, else the checkpoint's default (0 without
        viseme keyframes)."""
        visemes = self.stats.visemes
        if weight is None:
            return visemes.blend if visemes is not None else 0.0
        if not 0.0 <= weight <= 1.0:
            raise KpanimError(f"--viseme-blend must be between 0 and 1, got {weight}")
        if weight > 0 and visemes is None:
            raise KpanimError(f"{Path(self.path).name} has no viseme keyframes: train it with --viseme-prior or "
                              "add them with scripts/add_viseme_prior.py (or use --viseme-blend 0)")
        return float(weight)

    def phone_features(self, feats: np.ndarray, audio: np.ndarray) -> np.ndarray:
        """(T, 40) phone occupancy: the front-end's own when it has the ``phones`` part, else computed."""
        from .predict import FPS

        fe = self.frontend
        if fe.name == "phones":
            return feats
        own = fe.part("phones", feats) if hasattr(fe, "part") else None
        if own is not None:
            return own
        if self._phones is None:
            from ..speech.phone_frontend import PhoneFrontend

            self._phones = PhoneFrontend()
        return self._phones(audio, len(feats), FPS)


def default_model_path() -> Path:
    return Path(str(resources.files("kpanim.data").joinpath("moda_default.pt")))


def default_faco_path() -> Path:
    return Path(str(resources.files("kpanim.data").joinpath("faco_default.pt")))


def find_faco(moda_path: Path, info: dict, faco: str | os.PathLike | None = None) -> Path:
    """The FaCo-Net checkpoint for the MODA checkpoint ``moda_path``, the first of: ``faco`` if given; the file
    its ``info['faco']`` names next to it (``faco_default.pt`` when unnamed); ``faco/faco.pt`` beside its run
    folder (the trainers' defaults ``runs/moda`` + ``runs/faco``); the shipped ``faco_default.pt``, with a
    warning that says so."""
    if faco is not None:
        return Path(faco)  # checked when read: a missing file is "no such model file"
    own = moda_path.parent / info.get("faco", "faco_default.pt")
    sibling = moda_path.parent.parent / FACO_RUN
    for candidate in (own, sibling):
        if candidate.is_file():
            return candidate
    shipped = default_faco_path()
    if not shipped.is_file():
        raise KpanimError(f"{moda_path}: no FaCo-Net found ({own} or {sibling}); train one with 'kpanim train faco "
                          f"--data DIR --out {sibling.parent}' or pass --faco PATH")
    warnings.warn(f"{moda_path}: no FaCo-Net at {own} or {sibling}; using the shipped {shipped.name} (it fits any "
                  "MODA of the same face; --faco PATH chooses another)", stacklevel=3)
    return shipped


@lru_cache(maxsize=4)
def load_model(path: str | os.PathLike | None = None, frontend_path: str | None = None,
               faco_path: str | os.PathLike | None = None) -> Model:
    """Load a MODA checkpoint (format 1, or 2 with ``lip_members``) and its FaCo-Net (:func:`find_faco`;
    ``faco_path`` chooses one).

    ``frontend_path`` overrides the local directory of a ``*_local`` audio front-end.
    """
    from ..formats.checkpoint import build_network, load_network, read_checkpoint
    from ..formats.fileio import file_sha256
    from ..nets.faconet import Faconet, FaconetConfig
    from ..nets.moda import Moda, ModaConfig

    path = Path(path) if path else default_model_path()
    if not path.is_file():
        raise KpanimError(f"{path}: no such model; train one with 'kpanim train moda' or reinstall kpanim "
                          "(the default model ships in kpanim/data)")
    ckpt = read_checkpoint(path, "moda")
    moda, _, norm, info = build_network(ckpt, ModaConfig, Moda, path)
    members = []
    for k, entry in enumerate(ckpt.get("lip_members", [])):
        member, _, member_norm, _ = build_network(entry, ModaConfig, Moda, path)
        members.append(LipMember(member, MotionStats.from_norm(member_norm, f"{path} (lip member {k + 1})")))
    faco_file = find_faco(path, info, faco_path)
    faco, _, faco_norm, _ = load_network(faco_file, "faco", FaconetConfig, Faconet)
    info = dict(info)
    if frontend_path:
        info["frontend"] = {**info.get("frontend", {}), "path": str(frontend_path)}
    return Model(moda=moda, faco=faco, stats=MotionStats.from_norm(norm, str(path)),
                 faco_stats=MotionStats.from_norm(faco_norm, str(faco_file)), info=info, path=str(path),
                 sha256=file_sha256(path), lip_members=tuple(members), faco_path=str(faco_file))
