"""AutoAttack-fast — Croce, Hein, "Reliable evaluation of adversarial robustness with an ensemble of
diverse parameter-free attacks", ICML 2020, as torchattacks 3.5.1 ships it.

``torchattacks.AutoAttack(version="standard")``: the standard version's four parts in the standard
order, each on the images the previous ones left (APGD-CE, APGD-T against the 9 highest-scoring wrong
classes, FAB-T with 9 targets, Square with 5,000 queries), but with torchattacks' defaults: **10
iterations** of APGD-CE, APGD-T and FAB-T where the reference runs 100, and Square on torchattacks'
rescaled step-size schedule (``resc_schedule=True``). About a tenth of the gradient work of
``autoattack``: a spot check, not the number RobustBench reports (the ``quick`` preset runs it on 50
images). Its adversarial images are torchattacks.AutoAttack's, bit for bit (tests/test_attacks.py).

No settings of its own. Arguments: ``config.norm`` ("linf", default, or "l2"), ``model`` (pixels in
[0, 1] in, logits out; APGD-T is left out below 4 classes), ``eps`` (L∞ radius in [0, 1] pixel units, or an L2
radius), ``seed`` (every part's seed; the attack stage derives it per (attack, ε, source, batch) from
``attack.seed``). The number of target classes is min(classes − 1, 9). Input range: [0, 1].
Implementation: torchattacks.AutoAttack's parts and settings, run as ``attacks.autoattack.Ensemble``
(which also records which part broke each image).

Example::

    x_adv = make_attack("autoattack-fast").build(model, 8 / 255, seed=0)(images, labels)
"""

from dataclasses import dataclass

import torchattacks

from attacks.autoattack import AutoAttack
from attacks.registry import register_attack

TORCHATTACKS_STEPS = 10  # torchattacks' default iterations of APGD, APGDT and FAB, which its AutoAttack keeps


@register_attack("autoattack-fast")
class AutoAttackFast(AutoAttack):
    @dataclass(frozen=True)
    class Settings:
        """None: torchattacks.AutoAttack as shipped."""

    title = "AutoAttack-fast (10 steps)"
    revision = 0
    shortfall = ("AutoAttack-fast runs 10 iterations per attack where the reference runs 100 (run autoattack), or a "
                 "randomized model that answers each query differently")

    def check(self) -> None:
        """No settings to check."""

    def describe(self) -> str:
        targets, steps = self.target_classes() - 1, TORCHATTACKS_STEPS
        said = {"APGD-CE": f"APGD-CE {steps} steps", "APGD-T": f"APGD-T {targets} targets × {steps} steps",
                "FAB-T": f"FAB-T {targets} targets × {steps} steps", "Square": "Square 5000 queries (rescaled schedule)"}
        return (f"{self.title}: torchattacks' standard version, not the reference's strength: "
                + ", ".join(said[p] for p in self.running_parts()))

    def parts(self, model, eps: float, seed: int) -> dict:
        norm, classes = self.norm, self.target_classes()
        every = {  # torchattacks.AutoAttack(version="standard")'s parts, with its arguments
            "APGD-CE": torchattacks.APGD(model, eps=eps, norm=norm, seed=seed, loss="ce", n_restarts=1),
            "APGD-T": torchattacks.APGDT(model, eps=eps, norm=norm, seed=seed, n_classes=classes, n_restarts=1),
            "FAB-T": torchattacks.FAB(model, eps=eps, norm=norm, seed=seed, multi_targeted=True, n_classes=classes,
                                      n_restarts=1),
            "Square": torchattacks.Square(model, eps=eps, norm=norm, seed=seed, n_queries=5000, n_restarts=1),
        }
        return {name: every[name] for name in self.running_parts()}
