"""DI-FGSM — Xie, Zhang, Zhou, Bai, Wang, Ren, Yuille, "Improving Transferability of
Adversarial Examples with Input Diversity", CVPR 2019.

I-FGSM whose gradient is taken, with probability ``diversity_prob`` at each step, on a
randomly resized (to 90–100% of the side) and randomly zero-padded copy of the
image. Gradients that hold under these small transformations fit the source model
less, so the examples transfer better: a stronger source for the transfer matrix.

Arguments: ``settings.difgsm_steps`` (default 10), ``settings.difgsm_diversity_prob``
(default 0.5, the paper's p), ``model`` (pixels in [0, 1] in, logits out), ``eps`` (L∞
radius in [0, 1] pixel units). Step size: ε / steps. Resize rate 0.9, no momentum
(decay 0: DI²-FGSM; ``torchattacks:DIFGSM,decay=1.0`` is M-DI²-FGSM), no random start.
Random: the transformations (seeded per (attack, ε, source, batch) by the attack stage).
L∞ only. Input range: [0, 1]. Implementation: ``torchattacks.DIFGSM``.

Example::

    x_adv = make_attack("difgsm").build(model, 8 / 255)(images, labels)
"""

import torchattacks

from attacks.base import Attack
from attacks.registry import register_attack


@register_attack("difgsm")
class DIFGSM(Attack):
    random = True
    strength = None  # a transfer attack: in white box it need not beat FGSM (DI-FGSM does not, on 8×8 digits)

    def step_size(self, eps: float) -> float:
        return eps / self.settings.difgsm_steps

    def build(self, model, eps: float, seed: int = 0) -> torchattacks.DIFGSM:
        s = self.settings
        return torchattacks.DIFGSM(model, eps=eps, alpha=self.step_size(eps), steps=s.difgsm_steps,
                                   diversity_prob=s.difgsm_diversity_prob)
