"""AutoAttack-rand — Croce, Hein, "Reliable evaluation of adversarial robustness with an ensemble of
diverse parameter-free attacks", ICML 2020: the reference's version for randomized models.

A model whose forward draws random numbers (dropout or noise left on at test time, a random input
transform) answers each query differently, so a gradient from one pass says little about the next:
the reference's ``version="rand"`` averages each step's gradient over 20 passes (expectation over
transformation, Athalye et al. 2018) and runs APGD-CE, then APGD-DLR on the images APGD-CE left,
100 iterations each, one restart, no targeted parts and no Square. Run it on a model the sanity
check "deterministic forward" flags (``worst_case_attacks = ["autoattack-rand"]``); on a deterministic
model it spends 20 times the work of APGD for the same gradient.

Settings (``[attack.autoattack-rand]``): ``steps`` (default 100, the reference's), ``eot`` (default
20, the reference's passes averaged per step). Arguments: ``config.norm`` ("linf", default, or "l2"),
``model`` (pixels in [0, 1] in, logits out; below 3 classes APGD-DLR, whose loss reads the 3 highest logits, is left out), ``eps`` (L∞ radius in [0, 1] pixel units, or an L2 radius), ``seed`` (both parts' seed, as
the reference seeds them). Input range: [0, 1]. Implementation: ``torchattacks.APGD(eot_iter=…)``,
run as ``attacks.autoattack.Ensemble``.

Example::

    x_adv = make_attack("autoattack-rand").build(noisy_model, 8 / 255, seed=0)(images, labels)
"""

from dataclasses import dataclass
from typing import ClassVar

import torchattacks

from attacks.autoattack import REFERENCE_STEPS, AutoAttack
from attacks.registry import register_attack
from robustness.config import MAX_STEPS, check_count

REFERENCE_EOT = 20  # the reference's gradient samples per step in version="rand"
MAX_EOT = 1_000  # forward-backward passes averaged per step


@register_attack("autoattack-rand")
class AutoAttackRand(AutoAttack):
    @dataclass(frozen=True)
    class Settings:
        steps: int = REFERENCE_STEPS  # iterations of APGD-CE and of APGD-DLR, 1 to 100,000 (the reference's 100)
        eot: int = REFERENCE_EOT  # passes whose gradients each step averages (EOT), 1 to 1,000 (the reference's 20)

    title = "AutoAttack-rand (EOT)"
    strength = 4  # APGD-CE and APGD-DLR only: no targeted parts, no Square
    mixes_score_based = False
    revision = 0
    shortfall = None
    part_names = ("APGD-CE", "APGD-DLR")
    part_classes: ClassVar[dict[str, int]] = {"APGD-DLR": 3}  # its DLR loss reads the 3 highest logits: left out below 3
    standard_classes = None

    def check(self) -> None:
        check_count(self.where("steps"), self.settings.steps, MAX_STEPS, "the reference runs 100")
        check_count(self.where("eot"), self.settings.eot, MAX_EOT, "the reference averages 20")

    def describe(self) -> str:
        s = self.settings
        return (f"{self.title}, the reference's version for randomized models: {' then '.join(self.running_parts())}, "
                f"{s.steps} steps each, every step's gradient averaged over {s.eot} passes (EOT)")

    def parts(self, model, eps: float, seed: int) -> dict:
        s, norm = self.settings, self.norm
        losses = {"APGD-CE": "ce", "APGD-DLR": "dlr"}
        return {name: torchattacks.APGD(model, norm=norm, eps=eps, steps=s.steps, n_restarts=1, seed=seed,
                                        loss=losses[name], eot_iter=s.eot)
                for name in self.running_parts()}
