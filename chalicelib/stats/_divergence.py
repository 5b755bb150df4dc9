"""Divergences of two count vectors over the same bins: PSI and Jensen–Shannon distance."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

# Additive (Jeffreys) smoothing of bin counts: keeps PSI finite when a bin is empty.
SMOOTHING = 0.5


def smoothed_shares(counts: Iterable[float]) -> np.ndarray:
    """Bin shares with additive smoothing: (count + 0.5) / (n + 0.5 * bins)."""
    array = np.asarray(list(counts), dtype=float)
    return (array + SMOOTHING) / (array.sum() + SMOOTHING * array.size)


def psi(reference_counts: Iterable[float], current_counts: Iterable[float]) -> float:
    """Population stability index of two count vectors over the same bins (smoothed)."""
    r = smoothed_shares(reference_counts)
    c = smoothed_shares(current_counts)
    return float(np.sum((c - r) * np.log(c / r)))


def js_distance(reference_counts: Iterable[float], current_counts: Iterable[float]) -> float:
    """Jensen–Shannon distance (base 2, in [0, 1]) of two count vectors (smoothed)."""
    r = smoothed_shares(reference_counts)
    c = smoothed_shares(current_counts)
    m = (r + c) / 2
    divergence = 0.5 * np.sum(r * np.log2(r / m)) + 0.5 * np.sum(c * np.log2(c / m))
    # Rounding can make a zero divergence slightly negative.
    return float(math.sqrt(min(max(float(divergence), 0.0), 1.0)))
