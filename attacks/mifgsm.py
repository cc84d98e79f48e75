"""MI-FGSM — Dong, Liao, Pang, Su, Zhu, Hu, Li, "Boosting Adversarial Attacks with
Momentum", CVPR 2018.

I-FGSM with momentum: each step adds the input gradient, divided by its mean
absolute value, to a running sum decayed by ``decay``, and moves ε/steps along the
sign of that sum, projected onto the L∞ ball and [0, 1]. The momentum keeps the
direction stable across steps, so the examples overfit the source model less and
transfer better: a stronger source for the transfer matrix than I-FGSM.

Arguments: ``settings.mifgsm_steps`` (default 10, the paper's T), ``settings.mifgsm_decay``
(default 1.0, the paper's μ), ``model`` (pixels in [0, 1] in, logits out), ``eps`` (L∞
radius in [0, 1] pixel units). Step size: ε / steps (the paper's α = ε/T). No
randomness. L∞ only. Input range: [0, 1]. Implementation: ``torchattacks.MIFGSM``.

Example::

    x_adv = make_attack("mifgsm").build(model, 8 / 255)(images, labels)
"""

import torchattacks

from attacks.base import Attack
from attacks.registry import register_attack


@register_attack("mifgsm")
class MIFGSM(Attack):
    strength = None  # a transfer attack: in white box it need not beat FGSM or I-FGSM

    def step_size(self, eps: float) -> float:
        return eps / self.settings.mifgsm_steps

    def build(self, model, eps: float, seed: int = 0) -> torchattacks.MIFGSM:
        s = self.settings
        return torchattacks.MIFGSM(model, eps=eps, alpha=self.step_size(eps), steps=s.mifgsm_steps, decay=s.mifgsm_decay)
