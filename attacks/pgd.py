"""PGD — Madry, Makelov, Schmidt, Tsipras, Vladu, "Towards Deep Learning Models
Resistant to Adversarial Attacks", ICLR 2018.

From a uniform random point of the L∞ ball of radius ε (``random_start``),
``steps`` signed-gradient steps of size ``step_factor · ε / steps``,
each projected onto the ball and onto [0, 1]. With ``restarts`` > 1 the
attack is run again from fresh random starts on the examples it has not yet
fooled (``torchattacks.MultiAttack``). The stronger reference that tells
whether robustness to FGSM is real or an artefact of its single step.

Under ``attack.norm = "l2"`` it is PGD-L2 (``torchattacks.PGDL2``): steps of L2
length ``step_factor · ε / steps`` along the normalized gradient, projected
onto the L2 ball, from a random point of the ball (random direction, uniform
radius) when ``random_start``.

Settings (``[attack.pgd]``): ``steps`` (default 10), ``step_factor`` (default 2.5,
Madry et al.'s choice), ``random_start`` (default True), ``restarts`` (default 1).
Arguments: ``model`` (pixels in [0, 1] in,
logits out), ``eps`` (L∞ radius in [0, 1] pixel units; an L2 radius under
``norm = "l2"``). Random: the start.
Input range: [0, 1]. Implementation: ``torchattacks.PGD`` (L2: ``torchattacks.PGDL2``).

Example::

    x_adv = make_attack("pgd", AttackConfig(settings={"pgd": {"steps": 20, "restarts": 2}})).build(model, 8 / 255)(images, labels)

The random start draws from torch's global generator; the attack stage seeds
it per (source, ε, batch), so results do not depend on the order of work.
Without random start and with step factor 1 it is I-FGSM up to rounding.
"""

from dataclasses import dataclass
from typing import Sequence

import torch
import torchattacks

from attacks.base import Attack
from attacks.fused import iterate
from attacks.registry import register_attack
from attacks.workers import INLINE, Workers
from robustness.config import MAX_RESTARTS, MAX_STEPS, check_count
from robustness.errors import SuiteError
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
    @dataclass(frozen=True)
    class Settings:
        steps: int = 10  # iterations, 1 to 100,000
        step_factor: float = 2.5  # step size = factor · ε / steps, > 0 (Madry et al.: 2.5)
        random_start: bool = True  # start at a uniform random point of the ε-ball
        restarts: int = 1  # runs per example, 1 to 1,000; an example counts as fooled if any run fools it

    title = "PGD"
    random = True
    norms = ("linf", "l2")
    strength = 3
    shortfall = "too few PGD steps or restarts, or a step size too large for the loss surface"

    def check(self) -> None:
        s = self.settings
        check_count(self.where("steps"), s.steps, MAX_STEPS, "Croce & Hein's APGD runs 100")
        check_count(self.where("restarts"), s.restarts, MAX_RESTARTS, "AutoAttack's APGD restarts once to 5 times")
        if not s.step_factor > 0:
            raise SuiteError(f"{self.where('step_factor')} must be positive; 1 means steps of ε / steps")

    def describe(self) -> str:
        s = self.settings
        return (f"PGD: {s.steps} steps of {s.step_factor:g}·ε/{s.steps}, "
                f"{'random start' if s.random_start else 'no random start'}, {s.restarts} restart(s)")

    def step_size(self, eps: float) -> float:
        return self.settings.step_factor * eps / self.settings.steps

    def build(self, model, eps: float, seed: int = 0) -> torchattacks.attack.Attack:
        s = self.settings
        kind = torchattacks.PGDL2 if self.config.norm == "l2" else torchattacks.PGD
        runs = [kind(model, eps=eps, alpha=self.step_size(eps), steps=s.steps, random_start=s.random_start)
                for _ in range(s.restarts)]
        return runs[0] if len(runs) == 1 else torchattacks.MultiAttack(runs)

    def craft_every_eps(self, model, x, y, eps: Sequence[float], seeds: Sequence[int],
                        workers: Workers = INLINE) -> torch.Tensor | None:
        """Every ε at once; None with restarts (their subsets differ per ε: the caller uses torchattacks) or L2."""
        s = self.settings
        if s.restarts > 1 or self.config.norm != "linf":
            return None
        start = random_starts(x, eps, seeds) if s.random_start else None
        return iterate(model, x, y, eps, [self.step_size(e) for e in eps], s.steps, start, pgd_project, workers)
