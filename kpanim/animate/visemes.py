"""Phone-conditioned mouth-shape prior: viseme keyframes with co-articulation, blended with MODA's lips.

Animators expect Rhubarb Lip Sync's Preston Blair mouth shapes, so phones are grouped into its nine
classes: X rest, A closed (M B P), B clenched teeth (most consonants, EE), C open (EH AE AH), D wide
open (AA), E slightly rounded (AO ER), F puckered (UW OW W), G upper teeth on lower lip (F V), H
tongue up (L). Each class's *keyframe* is learned from data: the mean normalised lip displacement
(MODA's lip stream units, 120 values) of the training frames, weighted by the class's per-frame
dominance (:func:`fit_viseme_keys`).

Co-articulation follows Cohen & Massaro (1993): every 10 ms of a class exerts a dominance that
decays exponentially in time around the moment the lips show it (``LEAD`` before the sound: lips
anticipate), scaled by the class's strength (a bilabial closure or F/V lip contact wins over a
neighbouring vowel, rest yields to anything). The lip track is the dominance-weighted mean of the
keyframes (:func:`viseme_track`), and inference blends it with the network's lip stream:
``(1 - w) · network + w · track`` in normalised units (:func:`blend_lips`; w = 0 is the network alone).
"""

from __future__ import annotations

import numpy as np

VISEMES = ("X", "A", "B", "C", "D", "E", "F", "G", "H")
# Rhubarb's shape of each phone (a diphthong takes its first shape).
PHONE_VISEME = {
    "SIL": "X", "M": "A", "B": "A", "P": "A",
    "K": "B", "G": "B", "NG": "B", "T": "B", "D": "B", "N": "B", "S": "B", "Z": "B", "SH": "B", "ZH": "B",
    "CH": "B", "JH": "B", "Y": "B", "HH": "B", "DH": "B", "TH": "B", "R": "B", "IY": "B", "IH": "B",
    "EH": "C", "AE": "C", "AH": "C", "EY": "C", "AY": "D", "AA": "D", "AW": "D",
    "AO": "E", "ER": "E", "OY": "E", "UH": "E", "OW": "F", "UW": "F", "W": "F",
    "F": "G", "V": "G", "L": "H",
}
# Cohen–Massaro dominance strength per class: contacts (A, G) and rounding (F) dominate, rest yields.
DOMINANCE = {"X": 0.5, "A": 3.0, "B": 1.0, "C": 1.0, "D": 1.0, "E": 1.2, "F": 1.5, "G": 2.0, "H": 1.0}
TAU = 0.06   # s: decay of a class's dominance away from its own frames (co-articulation reach)
LEAD = 0.04  # s: lips show a sound this much before it is heard


def phone_to_viseme_matrix() -> np.ndarray:
    """(40, 9) 0/1 matrix: phone class (kpanim.speech.phone_frontend.PHONES order) → viseme class."""
    from ..speech.phone_frontend import PHONES

    m = np.zeros((len(PHONES), len(VISEMES)), np.float32)
    for i, p in enumerate(PHONES):
        m[i, VISEMES.index(PHONE_VISEME[p])] = 1.0
    return m


def coarticulate(weights: np.ndarray, fps: float, tau: float = TAU, lead: float = LEAD,
                 dominance: dict[str, float] | None = None) -> np.ndarray:
    """(T, 9) per-frame viseme occupancy → (T, 9) normalised dominance (rows sum to 1).

    D_k(t) = α_k Σ_s w_k(s) exp(-|t - s + lead| / tau): frame s's class shows ``lead`` early and
    spreads over neighbouring frames; ``tau`` → 0 gives hard keyframe switching.
    """
    weights = np.asarray(weights, np.float32)
    T = len(weights)
    alpha = np.array([(dominance or DOMINANCE)[v] for v in VISEMES], np.float32)
    tau_f, lead_f = tau * fps, lead * fps
    reach = int(np.ceil(lead_f + 6 * max(tau_f, 1e-3)))
    out = np.zeros_like(weights)
    for o in range(-reach, reach + 1):  # frame t receives from audio frame s = t + o
        k = np.exp(-abs(o - lead_f) / tau_f) if tau_f > 1e-6 else float(abs(o - lead_f) < 0.5)
        if k < 1e-4:
            continue
        src = np.clip(np.arange(T) + o, 0, T - 1)  # edges: hold the first/last frame
        out += k * weights[src]
    out *= alpha[None]
    return out / np.maximum(out.sum(1, keepdims=True), 1e-9)


def viseme_weights(phones: np.ndarray) -> np.ndarray:
    """(T, 40) phone occupancy (the ``phones`` front-end) → (T, 9) viseme occupancy."""
    return np.asarray(phones, np.float32) @ phone_to_viseme_matrix()


def viseme_track(phones: np.ndarray, keys: np.ndarray, fps: float, tau: float = TAU, lead: float = LEAD) -> np.ndarray:
    """(T, 40) phone occupancy + (9, D) keyframes → (T, D) co-articulated lip track (keyframe units)."""
    if keys.shape[0] != len(VISEMES):
        raise ValueError(f"expected {len(VISEMES)} viseme keyframes, got {keys.shape}")
    return coarticulate(viseme_weights(phones), fps, tau, lead) @ np.asarray(keys, np.float32)


def fit_viseme_keys(phones: list[np.ndarray], lips: list[np.ndarray], valid: list[np.ndarray], fps: float = 25.0,
                    tau: float = TAU, lead: float = LEAD) -> tuple[np.ndarray, np.ndarray]:
    """Keyframes from data: per class, the mean of (T, D) normalised lip frames weighted by the
    class's co-articulated dominance (valid frames only, over all clips).

    Returns (keys (9, D), frames (9,) = the summed weight behind each key); a class never seen keeps
    the zero key (the training mean pose).
    """
    num, den = None, np.zeros(len(VISEMES), np.float64)
    for ph, lip, ok in zip(phones, lips, valid):
        w = coarticulate(viseme_weights(ph), fps, tau, lead)[ok].astype(np.float64)
        y = np.asarray(lip, np.float64).reshape(len(lip), -1)[ok]
        num = w.T @ y if num is None else num + w.T @ y
        den += w.sum(0)
    keys = num / np.maximum(den[:, None], 1e-9)
    keys[den < 1e-6] = 0.0
    return keys.astype(np.float32), den.astype(np.float32)


def blend_lips(network: np.ndarray, track: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) · network + weight · track (both (T, D), normalised lip units); weight 0 returns
    the network output itself."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"viseme blend weight must be in [0, 1], got {weight}")
    if weight == 0.0:
        return network
    return (1.0 - weight) * network + weight * np.asarray(track, network.dtype)
