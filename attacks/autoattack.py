"""AutoAttack — Croce, Hein, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks", ICML 2020.

The standard version: APGD-CE (untargeted, cross-entropy), APGD-T (targeted, DLR
loss, the 9 highest-scoring wrong classes), FAB-T (targeted minimum-norm, 9
targets) and Square (score-based black box, 5,000 queries), run one after the
other, each on the images the previous ones have not yet broken. An image counts
as broken if any of the four breaks it: the worst case over four diverse attacks,
which RobustBench requires of every robustness claim.

This is ``torchattacks.AutoAttack(version="standard")`` exactly as torchattacks
3.5.1 ships it. Note that torchattacks runs APGD-CE, APGD-T and FAB-T with its
default 10 iterations, where Croce & Hein's reference code runs 100; Square has
the reference's 5,000 queries. Every component is seeded with the ``seed``
argument (torchattacks calls ``torch.manual_seed`` with it, so the attack stage
also runs it inside ``attacks.seeding.seeded``, which restores the caller's
generator afterwards).

No settings of its own. Arguments: ``config.norm`` ("linf", default, or "l2": AutoAttack-L2), ``model``
(pixels in [0, 1] in, logits out), ``eps`` (L∞ radius in [0, 1] pixel units, or
an L2 radius), ``seed`` (every component's seed; the attack stage derives it per
(attack, ε, source, batch) from ``attack.seed``). The number of target classes is
min(classes − 1, 9). Input range: [0, 1]. Implementation: ``torchattacks.AutoAttack``.

Example::

    x_adv = make_attack("autoattack").build(model, 8 / 255, seed=0)(images, labels)
"""

import torchattacks

from attacks.base import Attack
from attacks.registry import register_attack


@register_attack("autoattack")
class AutoAttack(Attack):
    title = "AutoAttack"
    random = True
    norms = ("linf", "l2")
    strength = 5
    shortfall = ("AutoAttack stopped short (torchattacks runs 10 iterations per attack, Croce & Hein 100) or a "
                 "randomized model that answers each query differently")

    def describe(self) -> str:
        return "AutoAttack: the standard version (APGD-CE, APGD-T, FAB-T, Square), as torchattacks runs it"

    def step_size(self, eps: float) -> float:
        return 2 * eps  # APGD's first step (it halves it when progress stalls)

    def build(self, model, eps: float, seed: int = 0) -> torchattacks.AutoAttack:
        return torchattacks.AutoAttack(model, norm=self.norm, eps=eps, version="standard",
                                       n_classes=self.target_classes(), seed=seed)
