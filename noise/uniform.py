"""``uniform:p`` — the mixup paper's convention (from the fitting-random-labels code).

Each label, with probability p, is replaced by a uniform draw over all C
classes, which may be its true class: about p·(C−1)/C labels end up wrong.
"Replaced" marks every drawn label, also those that landed on the true class,
so the training error on corrupted labels tops out near (C−1)/C, as in the paper.

Example: ``corrupt(y, "uniform:0.5", num_classes=10, seed=0)``.
"""

from __future__ import annotations

import numpy as np

from noise.core import parse_probability, register_noise


@register_noise("uniform")
def uniform(labels: np.ndarray | None, param: str, num_classes: int, rng: np.random.Generator | None):
    p = parse_probability(param, "uniform")
    if labels is None:
        return None
    replaced = rng.random(len(labels)) < p
    labels[replaced] = rng.integers(0, num_classes, int(replaced.sum()))
    return labels, replaced
