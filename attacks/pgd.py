"""PGD — Madry, Makelov, Schmidt, Tsipras, Vladu, "Towards Deep Learning Models
Resistant to Adversarial Attacks", ICLR 2018.

From a uniform random point of the L∞ ball of radius ε (``pgd_random_start``),
``pgd_steps`` signed-gradient steps of size ``pgd_step_factor · ε / steps``,
each projected onto the ball and onto [0, 1]. With ``pgd_restarts`` > 1 the
attack is run again from fresh random starts on the examples it has not yet
fooled (``torchattacks.MultiAttack``). The stronger reference that tells
whether robustness to FGSM is real or an artefact of its single step.

Under ``attack.norm = "l2"`` it is PGD-L2 (``torchattacks.PGDL2``): steps of L2
length ``pgd_step_factor · ε / steps`` along the normalized gradient, projected
onto the L2 ball, from a random point of the ball (random direction, uniform
radius) when ``pgd_random_start``.

Arguments: ``settings.pgd_steps`` (default 10), ``settings.pgd_step_factor``
(default 2.5, Madry et al.'s choice), ``settings.pgd_random_start`` (default
True), ``settings.pgd_restarts`` (default 1), ``model`` (pixels in [0, 1] in,
logits out), ``eps`` (L∞ radius in [0, 1] pixel units; an L2 radius under
``norm = "l2"``). Random: the start.
Input range: [0, 1]. Implementation: ``torchattacks.PGD`` (L2: ``torchattacks.PGDL2``).

Example::

    x_adv = make_attack("pgd", AttackConfig(pgd_steps=20, pgd_restarts=2)).build(model, 8 / 255)(images, labels)

The random start draws from torch's global generator; the attack stage seeds
it per (source, ε, batch), so results do not depend on the order of work.
Without random start and with step factor 1 it is I-FGSM up to rounding.
"""

from typing import Sequence

import torch
import torchattacks

from attacks.base import Attack
from attacks.fused import iterate
from attacks.registry import register_attack
from attacks.workers import INLINE, Workers
from robustness.seeding import seeded


def pgd_project(adv: torch.Tensor, ori: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """torchattacks.PGD's projection: clip the perturbation to [-ε, ε], then the image to [0, 1]."""
    delta = torch.clamp(adv - ori, min=-eps, max=eps)
    return torch.clamp(ori + delta, min=0, max=1)


def random_starts(x: torch.Tensor, eps: Sequence[float], seeds: Sequence[int]) -> torch.Tensor:
    """E×N×… starting points, each drawn exactly as torchattacks.PGD draws it under that ε's seed."""
    starts = []
    for e, seed in zip(eps, seeds):
        with seeded(seed, x.device):
            starts.append(torch.clamp(x + torch.empty_like(x).uniform_(-e, e), min=0, max=1))
    return torch.stack(starts)


@register_attack("pgd")
class PGD(Attack):
    random = True
    norms = ("linf", "l2")
    strength = 3

    def step_size(self, eps: float) -> float:
        return self.settings.pgd_step_factor * eps / self.settings.pgd_steps

    def build(self, model, eps: float, seed: int = 0) -> torchattacks.attack.Attack:
        s = self.settings
        kind = torchattacks.PGDL2 if s.norm == "l2" else torchattacks.PGD
        runs = [kind(model, eps=eps, alpha=self.step_size(eps), steps=s.pgd_steps, random_start=s.pgd_random_start)
                for _ in range(s.pgd_restarts)]
        return runs[0] if len(runs) == 1 else torchattacks.MultiAttack(runs)

    def craft_every_eps(self, model, x, y, eps: Sequence[float], seeds: Sequence[int],
                        workers: Workers = INLINE) -> torch.Tensor | None:
        """Every ε at once; None with restarts (their subsets differ per ε: the caller uses torchattacks) or L2."""
        s = self.settings
        if s.pgd_restarts > 1 or s.norm != "linf":
            return None
        start = random_starts(x, eps, seeds) if s.pgd_random_start else None
        return iterate(model, x, y, eps, [self.step_size(e) for e in eps], s.pgd_steps, start, pgd_project, workers)
