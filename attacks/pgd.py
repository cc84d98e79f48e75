"""PGD — Madry, Makelov, Schmidt, Tsipras, Vladu, "Towards Deep Learning Models
Resistant to Adversarial Attacks", ICLR 2018.

From a uniform random point of the L∞ ball of radius ε (``pgd_random_start``),
``pgd_steps`` signed-gradient steps of size ``α = pgd_step_factor · ε / steps``,
each projected onto the ball and onto [0, 1]. With ``pgd_restarts`` > 1 the
attack is run again from fresh random starts on the examples it has not yet
fooled (``torchattacks.MultiAttack``). The stronger reference that tells
whether robustness to FGSM is real or an artefact of its single step.

Arguments: ``model`` (pixels in [0, 1] in, logits out), ``eps`` (L∞ radius in
[0, 1] pixel units), ``config.pgd_steps`` (default 10),
``config.pgd_step_factor`` (default 2.5, Madry et al.'s choice),
``config.pgd_random_start`` (default True), ``config.pgd_restarts`` (default 1).
Input range: [0, 1]. Implementation: ``torchattacks.PGD``.

Example::

    attack = ATTACKS["pgd"](model, 8 / 255, AttackConfig(pgd_steps=20, pgd_restarts=2))
    x_adv = attack(images, labels)

The random start draws from torch's global generator; the attack stage seeds
it per (source, ε, batch), so results do not depend on the order of work.
Without random start and with step factor 1 it is I-FGSM up to rounding.
"""

from typing import Sequence

import torch
import torchattacks

from attacks.fused import iterate
from attacks.registry import register_attack, register_fused
from attacks.seeding import seeded
from robustness.config import AttackConfig


def step_size(eps: float, config: AttackConfig) -> float:
    return config.pgd_step_factor * eps / config.pgd_steps


@register_attack("pgd")
def pgd(model, eps: float, config: AttackConfig | None = None) -> "torchattacks.attack.Attack":
    config = config or AttackConfig()
    runs = [
        torchattacks.PGD(model, eps=eps, alpha=step_size(eps, config), steps=config.pgd_steps,
                         random_start=config.pgd_random_start)
        for _ in range(config.pgd_restarts)
    ]
    return runs[0] if len(runs) == 1 else torchattacks.MultiAttack(runs)


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


@register_fused("pgd")
def pgd_every_eps(model, x, y, eps: Sequence[float], config: AttackConfig | None = None, seeds=None) -> torch.Tensor | None:
    """Every ε at once; None with restarts (their subsets differ per ε: the caller uses torchattacks)."""
    config = config or AttackConfig()
    if config.pgd_restarts > 1:
        return None
    start = random_starts(x, eps, seeds or [0] * len(eps)) if config.pgd_random_start else None
    alphas = [step_size(e, config) for e in eps]
    return iterate(model, x, y, eps, alphas, config.pgd_steps, start, pgd_project)
