"""CutMix — Yun, Han, Oh, Chun, Choe, Yoo, "CutMix: Regularization Strategy to Train Strong Classifiers
with Localizable Features", ICCV 2019.

Per batch, λ ~ Beta(α, α) and a partner permutation as in mixup; a box of area (1−λ)·H·W, centred
uniformly at random and clipped to the image, is cut from the partner and pasted in. λ is then
corrected to the share of the image left unpasted, and the loss is λ·CE(y) + (1−λ)·CE(y')
(as the authors' code).

Parameter: α > 0 (default 1, the authors' choice). Random: λ, the partners, the box centre (the
method's own seeded streams). Example: ``parse_method("cutmix:1")``.
"""

from __future__ import annotations

import math

from robustness.errors import SuiteError
from robustness.methods.base import Batch, Method, MethodStreams, Trainee
from robustness.methods.mixup import in_batch_partners
from robustness.methods.registry import register_method


def cut_box(height: int, width: int, lam: float, rng) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of a box of about (1−λ) of the image, centred at random, clipped to it."""
    ratio = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy, cx = int(rng.integers(height)), int(rng.integers(width))
    top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
    left, right = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
    return top, bottom, left, right


@register_method("cutmix")
class CutMix(Method):
    title, param_name, param_symbol, tag, param_default = "CutMix", "cutmix_alpha", "α", "a", 1.0
    random = True

    def check(self) -> None:
        if not self.param > 0:
            raise SuiteError(f"cutmix α must be > 0, not {self.param:g}; the authors use α = 1")

    def transform(self, batch: Batch, trainee: Trainee, streams: MethodStreams) -> Batch:
        lam = float(streams.numpy.beta(self.param, self.param))
        perm = in_batch_partners(batch.labels, streams)
        _, _, height, width = batch.inputs.shape
        top, bottom, left, right = cut_box(height, width, lam, streams.aux)
        inputs = batch.inputs.clone()
        inputs[:, :, top:bottom, left:right] = batch.inputs[perm][:, :, top:bottom, left:right]
        lam = 1.0 - (bottom - top) * (right - left) / (height * width)  # the area actually kept
        return batch.replace(inputs=inputs, targets=((lam, batch.labels), (1 - lam, batch.labels[perm])))
