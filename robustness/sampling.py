"""Stratified, seeded subsets of labelled examples: the training and test subsets of a data set
(``data.train_subset``, ``data.test_subset``, ``noise.train_subset``) and the worst-case stage's test images
(``attack.worst_case_images``).

Base layer: the data sets (robustness/data.py) and the attacks (attacks/worst.py) both draw their subsets here, so
neither domain imports the other.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from robustness.errors import SuiteError


def stratified_subset(labels: torch.Tensor, size: int, seed: int, what: str) -> torch.Tensor:
    """Sorted indices of a stratified, seeded subset of ``size`` examples (all when size is 0 or ≥ N).

    Each class keeps its share (scikit-learn's ``train_test_split(stratify=labels, random_state=seed)``): e.g.
    ``stratified_subset(y, 100, 0, "digits test")`` of 540 test digits keeps about 10 of each class. ``what`` names
    the subset in the error for a size too small to hold every class."""
    if size <= 0 or size >= len(labels):
        return torch.arange(len(labels))
    try:
        keep, _ = train_test_split(np.arange(len(labels)), train_size=size, stratify=labels.numpy(), random_state=seed)
    except ValueError:
        classes = len(torch.unique(labels))
        raise SuiteError(f"a {what} subset of {size} cannot hold all {classes} classes; ask for at least {classes}") from None
    return torch.as_tensor(np.sort(keep))
