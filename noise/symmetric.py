"""``symmetric:p`` — exactly a share p of the labels is wrong.

round(p·n) examples, drawn without replacement, each get a label drawn
uniformly from the C−1 *other* classes; every replaced label is wrong, so the
realized rate equals p up to rounding (unlike ``uniform``, where a tenth of
the draws land on the true class).

Example: ``corrupt(y, "symmetric:0.4", num_classes=10, seed=0)``.
"""

from __future__ import annotations

import numpy as np

from noise.core import parse_probability, register_noise
from robustness.errors import SuiteError


@register_noise("symmetric")
def symmetric(labels: np.ndarray | None, param: str, num_classes: int, rng: np.random.Generator | None):
    p = parse_probability(param, "symmetric")
    if labels is None:
        return None
    if num_classes < 2:
        raise SuiteError("noise symmetric needs at least 2 classes to flip a label to another one")
    replaced = np.zeros(len(labels), dtype=bool)
    replaced[rng.choice(len(labels), size=round(p * len(labels)), replace=False)] = True
    # An offset in 1..C−1 reaches every other class exactly once, so the new class is uniform over them.
    labels[replaced] = (labels[replaced] + rng.integers(1, num_classes, int(replaced.sum()))) % num_classes
    return labels, replaced
