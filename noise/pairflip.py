"""``pairflip:p`` — asymmetric noise: within each class i, a share p flips to (i+1) mod C.

round(p·n_i) examples of each class i, drawn without replacement, take the
label of the next class, so mistakes concentrate on one neighbour (as when
annotators confuse similar classes). Above p = 0.5 the wrong class is the
majority of its row, and no method can tell which label is the real one.

Example: ``corrupt(y, "pairflip:0.45", num_classes=10, seed=0)``.
"""

from __future__ import annotations

import numpy as np

from noise.core import parse_probability, register_noise
from robustness.errors import SuiteError


@register_noise("pairflip")
def pairflip(labels: np.ndarray | None, param: str, num_classes: int, rng: np.random.Generator | None):
    p = parse_probability(param, "pairflip")
    if labels is None:
        return None
    if num_classes < 2:
        raise SuiteError("noise pairflip needs at least 2 classes to flip a label to the next one")
    replaced = np.zeros(len(labels), dtype=bool)
    for cls in range(num_classes):
        members = np.flatnonzero(labels == cls)
        replaced[rng.choice(members, size=round(p * len(members)), replace=False)] = True
    labels[replaced] = (labels[replaced] + 1) % num_classes
    return labels, replaced
