"""I-FGSM (BIM) — Kurakin, Goodfellow, Bengio, "Adversarial examples in the
physical world", ICLR 2017 workshop.

``steps`` FGSM steps of size ``step_factor · ε / steps``, each projected back
onto the L∞ ball of radius ε and onto [0, 1]; no random start. The mixup paper
uses 10 equal steps of ε/10, the default here.

Under ``attack.norm = "l2"``: the same steps along the L2-normalized gradient,
each projected onto the L2 ball (``torchattacks.PGDL2`` without random start).

Settings (``[attack.ifgsm]``): ``steps`` (default 10), ``step_factor`` (default 1).
Arguments: ``model`` (pixels in [0, 1] in, logits out), ``eps`` (L∞ radius in
[0, 1] pixel units; an L2 radius under ``norm = "l2"``). No randomness.
Input range: [0, 1]. Implementation: ``torchattacks.BIM`` (L2: ``torchattacks.PGDL2``).

Example::

    x_adv = make_attack("ifgsm", AttackConfig(settings={"ifgsm": {"steps": 10}})).build(model, 4 / 255)(images, labels)

With one step of size ε it is exactly FGSM. ``craft_every_eps`` runs every ε in
one stacked batch with ``torchattacks.BIM``'s own projection formula.
"""

from dataclasses import dataclass
from typing import Sequence

import torch
import torchattacks

from attacks.base import Attack
from attacks.fused import iterate
from attacks.registry import register_attack
from attacks.workers import INLINE, Workers
from robustness.config import MAX_STEPS, check_count
from robustness.errors import SuiteError


def bim_project(adv: torch.Tensor, ori: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """torchattacks.BIM's projection, bit for bit. BIM writes it with masks, ``(adv >= a).float() * adv +
    (adv < a).float() * a`` and the same against ``ori + ε``; a 0/1 mask times a finite number is that number
    or an exact zero, so these are a maximum and a minimum (4 operations instead of 12)."""
    lower = torch.clamp(ori - eps, min=0)
    return torch.clamp(torch.minimum(torch.maximum(adv, lower), ori + eps), max=1)


@register_attack("ifgsm")
class IFGSM(Attack):
    @dataclass(frozen=True)
    class Settings:
        steps: int = 10  # iterations, 1 to 100,000 (the mixup paper's recipe: 10)
        step_factor: float = 1.0  # step size = factor · ε / steps, > 0 (the paper's recipe: 1)

    title = "I-FGSM"
    norms = ("linf", "l2")
    strength = 2
    shortfall = "too few or too small I-FGSM steps, or gradient masking that one large step jumps over"

    def check(self) -> None:
        check_count(self.where("steps"), self.settings.steps, MAX_STEPS, "Croce & Hein's APGD runs 100")
        if not self.settings.step_factor > 0:
            raise SuiteError(f"{self.where('step_factor')} must be positive; 1 means steps of ε / steps")

    def describe(self) -> str:
        s = self.settings
        return f"I-FGSM: {s.steps} steps of {s.step_factor:g}·ε/{s.steps}, no random start"

    def step_size(self, eps: float) -> float:
        return self.settings.step_factor * eps / self.settings.steps

    def build(self, model, eps: float, seed: int = 0) -> torchattacks.BIM | torchattacks.PGDL2:
        if self.config.norm == "l2":
            return torchattacks.PGDL2(model, eps=eps, alpha=self.step_size(eps), steps=self.settings.steps,
                                      random_start=False)
        return torchattacks.BIM(model, eps=eps, alpha=self.step_size(eps), steps=self.settings.steps)

    def craft_every_eps(self, model, x, y, eps: Sequence[float], seeds=None, workers: Workers = INLINE) -> torch.Tensor | None:
        if self.config.norm != "linf":
            return None
        step_sizes = [self.step_size(e) for e in eps]
        return iterate(model, x, y, eps, step_sizes, self.settings.steps, None, bim_project, workers)
