"""FAB — Croce, Hein, "Minimally distorted Adversarial Examples with a Fast Adaptive
Boundary Attack", ICML 2020.

A minimum-norm attack: it linearizes the decision boundary around the current
point, steps to its projection (biased back towards the original image), and
keeps the smallest perturbation that changes the prediction. An image counts as
broken only if that perturbation is within ε. Untargeted here; AutoAttack runs
its targeted version (FAB-T).

Settings (``[attack.fab]``): ``steps`` (default 10, torchattacks' default; Croce & Hein
use 100). Arguments: ``config.norm`` ("linf", default, or "l2"), ``model`` (pixels in [0, 1]
in, logits out), ``eps`` (L∞ radius in [0, 1] pixel units, or an L2 radius),
``seed`` (the random restarts' start). One restart.
Input range: [0, 1]. Implementation: ``torchattacks.FAB``.

Example::

    x_adv = make_attack("fab").build(model, 8 / 255, seed=0)(images, labels)
"""

from dataclasses import dataclass

import torchattacks

from attacks.base import Attack
from attacks.registry import register_attack
from robustness.config import MAX_STEPS, check_count


@register_attack("fab")
class FAB(Attack):
    @dataclass(frozen=True)
    class Settings:
        steps: int = 10  # iterations, 1 to 100,000 (torchattacks' default; Croce & Hein: 100); untargeted, one restart

    title = "FAB"
    random = True
    norms = ("linf", "l2")
    strength = 4

    def check(self) -> None:
        check_count(self.where("steps"), self.settings.steps, MAX_STEPS, "Croce & Hein's FAB runs 100")

    def describe(self) -> str:
        return f"FAB: {self.settings.steps} steps"

    def build(self, model, eps: float, seed: int = 0) -> torchattacks.FAB:
        return torchattacks.FAB(model, norm=self.norm, eps=eps, steps=self.settings.steps, n_restarts=1, seed=seed)
