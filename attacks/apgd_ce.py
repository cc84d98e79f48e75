"""APGD-CE — Croce, Hein, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks", ICML 2020.

Auto-PGD on the cross-entropy: PGD with momentum whose step size starts at 2ε and
is halved whenever the loss stops improving (checkpoints at 22%, then shrinking
intervals of the budget), from a random start; it keeps the best point found. No
step size to tune: the first of AutoAttack's four attacks.

Settings (``[attack.apgd_ce]``): ``steps`` (default 10, torchattacks' default and what
``autoattack-fast`` uses; Croce & Hein, and ``autoattack``, use 100). Arguments: ``config.norm`` ("linf", default, or "l2"),
``model`` (pixels in [0, 1] in, logits out), ``eps`` (L∞ radius in [0, 1] pixel
units, or an L2 radius), ``seed`` (the random start; the attack stage derives it per
(attack, ε, source, batch) from ``attack.seed``). One restart.
Input range: [0, 1]. Implementation: ``torchattacks.APGD(loss="ce")``.

Example::

    x_adv = make_attack("apgd_ce", AttackConfig(settings={"apgd_ce": {"steps": 100}})).build(model, 8 / 255, seed=0)(images, labels)
"""

from dataclasses import dataclass

import torchattacks

from attacks.base import Attack
from attacks.registry import register_attack
from robustness.config import MAX_STEPS, check_count


@register_attack("apgd_ce")
class APGDCE(Attack):
    @dataclass(frozen=True)
    class Settings:
        steps: int = 10  # iterations, 1 to 100,000 (torchattacks' default, as autoattack-fast; Croce & Hein: 100); one restart

    title = "APGD-CE"
    random = True
    norms = ("linf", "l2")
    strength = 4
    loss = "ce"

    def check(self) -> None:
        check_count(self.where("steps"), self.settings.steps, MAX_STEPS, "Croce & Hein's APGD runs 100")

    def describe(self) -> str:
        return f"{self.title}: {self.settings.steps} steps"

    def step_size(self, eps: float) -> float:
        return 2 * eps  # the first step; halved when progress stalls

    def build(self, model, eps: float, seed: int = 0) -> torchattacks.APGD:
        return torchattacks.APGD(model, norm=self.norm, eps=eps, steps=self.settings.steps, n_restarts=1,
                                 seed=seed, loss=self.loss)
