"""I-FGSM (BIM) — Kurakin, Goodfellow, Bengio, "Adversarial examples in the
physical world", ICLR 2017 workshop.

``steps`` FGSM steps of size ``eps / steps``, each projected back onto the
L∞ ball of radius ε and onto [0, 1]; no random start. The mixup paper uses 10
equal steps, the default here (``AttackConfig.ifgsm_steps``).

Arguments: ``model`` (pixels in [0, 1] in, logits out), ``eps`` (L∞ radius in
[0, 1] pixel units), ``config.ifgsm_steps`` (default 10).
Input range: [0, 1]. Implementation: ``torchattacks.BIM``.

Example::

    attack = ATTACKS["ifgsm"](model, 4 / 255, AttackConfig(ifgsm_steps=10))
    x_adv = attack(images, labels)

With one step of size ε it is exactly FGSM.
"""

import torchattacks

from attacks.registry import register_attack
from robustness.config import AttackConfig


@register_attack("ifgsm")
def ifgsm(model, eps: float, config: AttackConfig | None = None) -> "torchattacks.attack.Attack":
    steps = (config or AttackConfig()).ifgsm_steps
    return torchattacks.BIM(model, eps=eps, alpha=eps / steps, steps=steps)
