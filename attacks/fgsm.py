"""FGSM — Goodfellow, Shlens, Szegedy, "Explaining and Harnessing Adversarial
Examples", ICLR 2015.

One step of size ε along the sign of the input gradient of the cross-entropy:
``x_adv = clip(x + ε · sign(∇x CE(f(x), y)), 0, 1)``.

Arguments: ``model`` (pixels in [0, 1] in, logits out), ``eps`` (L∞ radius in
[0, 1] pixel units, e.g. 4/255), ``config`` (unused).
Input range: [0, 1]. Implementation: ``torchattacks.FGSM``.

Example::

    attack = ATTACKS["fgsm"](model, 8 / 255, AttackConfig())
    x_adv = attack(images, labels)
"""

import torchattacks

from attacks.registry import register_attack


@register_attack("fgsm")
def fgsm(model, eps: float, config=None) -> "torchattacks.attack.Attack":
    return torchattacks.FGSM(model, eps=eps)
