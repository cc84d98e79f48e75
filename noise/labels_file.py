"""``labels:FILE`` — the user's own noisy labels, e.g. CIFAR-10N's human annotations.

FILE is .npy, .pt (a tensor) or .csv (one label per line, an optional header
line), holding one integer class id per *training* example, in the order of
the training split (for the digits split: the data set's order restricted to
the training indices). "Replaced" marks the labels that differ from the true
ones; the seed plays no part.

Example: ``corrupt(y, "labels:cifar10n_worse.npy", num_classes=10, seed=0)``.
"""

from __future__ import annotations

import numpy as np

from noise.core import load_array, register_noise
from robustness.errors import SuiteError


def load_labels(path: str) -> np.ndarray:
    """Integer class ids from ``path`` as a flat int64 array, or a one-line error."""
    array = load_array(path, "labels", "labels:noisy_labels.npy")
    if array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)  # a CSV column or a row vector
    if array.ndim != 1:
        raise SuiteError(f"noise labels:{path} has shape {array.shape}; write one label per training example")
    if not np.isfinite(array).all() or (array != np.round(array)).any() or (array < 0).any():
        raise SuiteError(f"noise labels:{path} holds values that are not class ids (integers ≥ 0)")
    return array.astype(np.int64)


@register_noise("labels")
def labels_file(labels: np.ndarray | None, param: str, num_classes: int, rng: np.random.Generator | None):
    noisy = load_labels(param)
    if labels is None:
        return None
    if len(noisy) != len(labels):
        raise SuiteError(f"noise labels:{param} has {len(noisy)} labels but the training split has {len(labels)}; "
                         "give one label per training example, in the split's order")
    if noisy.max(initial=0) >= num_classes:
        raise SuiteError(f"noise labels:{param} has class id {noisy.max()} but the data set has only "
                         f"{num_classes} classes (ids 0..{num_classes - 1})")
    return noisy, noisy != labels
