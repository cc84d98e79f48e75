"""MI-FGSM — Dong, Liao, Pang, Su, Zhu, Hu, Li, "Boosting Adversarial Attacks with
Momentum", CVPR 2018.

I-FGSM with momentum: each step adds the input gradient, divided by its mean
absolute value, to a running sum decayed by ``decay``, and moves ε/steps along the
sign of that sum, projected onto the L∞ ball and [0, 1]. The momentum keeps the
direction stable across steps, so the examples overfit the source model less and
transfer better: a stronger source for the transfer matrix than I-FGSM.

Settings (``[attack.mifgsm]``): ``steps`` (default 10, the paper's T), ``decay``
(default 1.0, the paper's μ). Arguments: ``model`` (pixels in [0, 1] in, logits out), ``eps`` (L∞
radius in [0, 1] pixel units). Step size: ε / steps (the paper's α = ε/T). No
randomness. L∞ only. Input range: [0, 1]. Implementation: ``torchattacks.MIFGSM``.

Example::

    x_adv = make_attack("mifgsm").build(model, 8 / 255)(images, labels)
"""

from dataclasses import dataclass

import torchattacks

from attacks.base import Attack
from attacks.registry import register_attack
from robustness.config import MAX_STEPS, check_count
from robustness.errors import SuiteError


@register_attack("mifgsm")
class MIFGSM(Attack):
    @dataclass(frozen=True)
    class Settings:
        steps: int = 10  # iterations of ε / steps, 1 to 100,000 (Dong et al.: 10)
        decay: float = 1.0  # momentum decay μ, ≥ 0 (Dong et al.: 1.0)

    title = "MI-FGSM"
    strength = None  # a transfer attack: in white box it need not beat FGSM or I-FGSM

    def check(self) -> None:
        check_count(self.where("steps"), self.settings.steps, MAX_STEPS, "Croce & Hein's APGD runs 100")
        if not self.settings.decay >= 0:
            raise SuiteError(f"{self.where('decay')} must be ≥ 0; Dong et al. use 1.0 (0: no momentum, I-FGSM)")

    def describe(self) -> str:
        s = self.settings
        return f"MI-FGSM: {s.steps} steps of ε/{s.steps}, momentum {s.decay:g}"

    def step_size(self, eps: float) -> float:
        return eps / self.settings.steps

    def build(self, model, eps: float, seed: int = 0) -> torchattacks.MIFGSM:
        s = self.settings
        return torchattacks.MIFGSM(model, eps=eps, alpha=self.step_size(eps), steps=s.steps, decay=s.decay)
