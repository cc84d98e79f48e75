"""``matrix:FILE`` — any C×C transition matrix T: a label of class i becomes j with probability T[i, j].

FILE is .npy, .pt or .csv (C rows of C numbers); rows must be non-negative and
sum to 1. Each label is drawn independently from its row; "replaced" marks the
labels that changed, so the identity matrix leaves every label intact.

Example: ``corrupt(y, "matrix:transition.npy", num_classes=10, seed=0)``.
"""

from __future__ import annotations

import numpy as np

from noise.core import load_array, register_noise
from robustness.errors import SuiteError

ROW_SUM_TOLERANCE = 1e-6  # rows written with 6-digit decimals still pass


def load_matrix(path: str) -> np.ndarray:
    """The transition matrix in ``path``, checked: square, finite, non-negative, rows summing to 1."""
    matrix = load_array(path, "matrix", "matrix:transition.npy").astype(np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise SuiteError(f"noise matrix:{path} has shape {matrix.shape}, not C×C; write one row per true class")
    if not np.isfinite(matrix).all() or (matrix < 0).any():
        raise SuiteError(f"noise matrix:{path} has negative or non-finite entries; probabilities are in [0, 1]")
    sums = matrix.sum(1)
    bad = np.flatnonzero(np.abs(sums - 1) > ROW_SUM_TOLERANCE)
    if len(bad):
        raise SuiteError(f"noise matrix:{path}: row {bad[0]} sums to {sums[bad[0]]:.6g}, not 1; "
                         "each row is the distribution of the noisy label given the true class")
    return matrix


@register_noise("matrix")
def matrix(labels: np.ndarray | None, param: str, num_classes: int, rng: np.random.Generator | None):
    transition = load_matrix(param)
    if labels is None:
        return None
    if len(transition) != num_classes:
        raise SuiteError(f"noise matrix:{param} is {len(transition)}×{len(transition)} but the data set has "
                         f"{num_classes} classes; write a {num_classes}×{num_classes} matrix")
    # Inverse-CDF sampling of every label from its row at once.
    cumulative = np.cumsum(transition, axis=1)[labels]
    draws = rng.random((len(labels), 1)) * cumulative[:, -1:]
    noisy = np.minimum((draws >= cumulative).sum(1), num_classes - 1)
    return noisy, noisy != labels
