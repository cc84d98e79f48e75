"""I-FGSM (BIM) — Kurakin, Goodfellow, Bengio, "Adversarial examples in the
physical world", ICLR 2017 workshop.

``steps`` FGSM steps of size ``α = step_factor · ε / steps``, each projected
back onto the L∞ ball of radius ε and onto [0, 1]; no random start. The mixup
paper uses 10 equal steps of ε/10, the default here.

Arguments: ``model`` (pixels in [0, 1] in, logits out), ``eps`` (L∞ radius in
[0, 1] pixel units), ``config.ifgsm_steps`` (default 10),
``config.ifgsm_step_factor`` (default 1).
Input range: [0, 1]. Implementation: ``torchattacks.BIM``.

Example::

    attack = ATTACKS["ifgsm"](model, 4 / 255, AttackConfig(ifgsm_steps=10))
    x_adv = attack(images, labels)

With one step of size ε it is exactly FGSM. The fused crafter runs every ε in
one stacked batch with ``torchattacks.BIM``'s own projection formula.
"""

from typing import Sequence

import torch
import torchattacks

from attacks.fused import iterate
from attacks.registry import register_attack, register_fused
from robustness.config import AttackConfig


def step_size(eps: float, config: AttackConfig) -> float:
    return config.ifgsm_step_factor * eps / config.ifgsm_steps


@register_attack("ifgsm")
def ifgsm(model, eps: float, config: AttackConfig | None = None) -> "torchattacks.attack.Attack":
    config = config or AttackConfig()
    return torchattacks.BIM(model, eps=eps, alpha=step_size(eps, config), steps=config.ifgsm_steps)


def bim_project(adv: torch.Tensor, ori: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """torchattacks.BIM's projection, written the same way so the floats agree bit for bit."""
    a = torch.clamp(ori - eps, min=0)
    b = (adv >= a).float() * adv + (adv < a).float() * a
    c = (b > ori + eps).float() * (ori + eps) + (b <= ori + eps).float() * b
    return torch.clamp(c, max=1)


@register_fused("ifgsm")
def ifgsm_every_eps(model, x, y, eps: Sequence[float], config: AttackConfig | None = None, seeds=None) -> torch.Tensor:
    config = config or AttackConfig()
    alphas = [step_size(e, config) for e in eps]
    return iterate(model, x, y, eps, alphas, config.ifgsm_steps, None, bim_project)
