"""APGD-CE — Croce, Hein, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks", ICML 2020.

Auto-PGD on the cross-entropy: PGD with momentum whose step size starts at 2ε and
is halved whenever the loss stops improving (checkpoints at 22%, then shrinking
intervals of the budget), from a random start; it keeps the best point found. No
step size to tune: the first of AutoAttack's four attacks.

Arguments: ``settings.apgd_steps`` (default 10, torchattacks' default and what its
AutoAttack uses; Croce & Hein use 100), ``settings.norm`` ("linf", default, or "l2"),
``model`` (pixels in [0, 1] in, logits out), ``eps`` (L∞ radius in [0, 1] pixel
units, or an L2 radius), ``seed`` (the random start; the attack stage derives it per
(attack, ε, source, batch) from ``attack.seed``). One restart.
Input range: [0, 1]. Implementation: ``torchattacks.APGD(loss="ce")``.

Example::

    x_adv = make_attack("apgd_ce", AttackConfig(apgd_steps=100)).build(model, 8 / 255, seed=0)(images, labels)
"""

import torchattacks

from attacks.base import Attack
from attacks.registry import register_attack


@register_attack("apgd_ce")
class APGDCE(Attack):
    random = True
    norms = ("linf", "l2")
    strength = 4
    loss = "ce"

    def step_size(self, eps: float) -> float:
        return 2 * eps  # the first step; halved when progress stalls

    def build(self, model, eps: float, seed: int = 0) -> torchattacks.APGD:
        return torchattacks.APGD(model, norm=self.norm, eps=eps, steps=self.settings.apgd_steps, n_restarts=1,
                                 seed=seed, loss=self.loss)
