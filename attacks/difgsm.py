"""DI-FGSM — Xie, Zhang, Zhou, Bai, Wang, Ren, Yuille, "Improving Transferability of
Adversarial Examples with Input Diversity", CVPR 2019.

I-FGSM whose gradient is taken, with probability ``diversity_prob`` at each step, on a
randomly resized (to 90–100% of the side) and randomly zero-padded copy of the
image. Gradients that hold under these small transformations fit the source model
less, so the examples transfer better: a stronger source for the transfer matrix.

Settings (``[attack.difgsm]``): ``steps`` (default 10), ``diversity_prob`` (default 0.5,
the paper's p). Arguments: ``model`` (pixels in [0, 1] in, logits out), ``eps`` (L∞
radius in [0, 1] pixel units). Step size: ε / steps. Resize rate 0.9, no momentum
(decay 0: DI²-FGSM; ``torchattacks:DIFGSM,decay=1.0`` is M-DI²-FGSM), no random start.
Random: the transformations (seeded per (attack, ε, source, batch) by the attack stage).
L∞ only. Input range: [0, 1]. Implementation: ``torchattacks.DIFGSM``.

Example::

    x_adv = make_attack("difgsm").build(model, 8 / 255)(images, labels)
"""

from dataclasses import dataclass

import torchattacks

from attacks.base import Attack
from attacks.registry import register_attack
from robustness.config import MAX_STEPS, check_count
from robustness.errors import SuiteError


@register_attack("difgsm")
class DIFGSM(Attack):
    @dataclass(frozen=True)
    class Settings:
        steps: int = 10  # iterations of ε / steps, 1 to 100,000
        diversity_prob: float = 0.5  # chance per step of a randomly resized and padded input, in [0, 1] (Xie et al.: 0.5)

    title = "DI-FGSM"
    random = True
    strength = None  # a transfer attack: in white box it need not beat FGSM (DI-FGSM does not, on 8×8 digits)

    def check(self) -> None:
        check_count(self.where("steps"), self.settings.steps, MAX_STEPS, "Croce & Hein's APGD runs 100")
        if not 0.0 <= self.settings.diversity_prob <= 1.0:
            raise SuiteError(f"{self.where('diversity_prob')} must be in [0, 1]; Xie et al. use 0.5")

    def describe(self) -> str:
        s = self.settings
        return f"DI-FGSM: {s.steps} steps of ε/{s.steps}, input diversity with p = {s.diversity_prob:g}"

    def step_size(self, eps: float) -> float:
        return eps / self.settings.steps

    def build(self, model, eps: float, seed: int = 0) -> torchattacks.DIFGSM:
        s = self.settings
        return torchattacks.DIFGSM(model, eps=eps, alpha=self.step_size(eps), steps=s.steps,
                                   diversity_prob=s.diversity_prob)
