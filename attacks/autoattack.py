"""AutoAttack — Croce, Hein, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks", ICML 2020.

The standard version at the reference's strength, the one RobustBench reports: APGD-CE
(untargeted, cross-entropy, 100 iterations, one restart), APGD-T (targeted DLR loss, 100
iterations against each of the 9 highest-scoring wrong classes), FAB-T (targeted minimum-norm,
100 iterations against each of 9 target classes) and Square (score-based black box, 5,000
queries, p_init 0.8 on the reference's step-size schedule), run one after the other, each on
the images the previous ones have not yet broken. An image counts as broken if any of the four
breaks it: the worst case over four diverse attacks, which RobustBench requires of every
robustness claim.

Built from torchattacks' own parts (``APGD``, ``APGDT`` with the reference's rounding of its
loss, ``FAB(multi_targeted=True)``, ``Square(resc_schedule=False)``) at the settings of Croce &
Hein's reference code (fra31/auto-attack, ``version="standard"``), run in the reference's order on
the images the reference attacks (those the model gets right, then those each part left). Under
L∞ its adversarial images are those of the reference package (``pyautoattack``) bit for bit
(tests/test_autoattack_reference.py; docs/attacks.md). Every part is seeded
with the ``seed`` argument, as the reference seeds every part with its one seed
(torchattacks calls ``torch.manual_seed`` with it, so the attack stage also runs it inside
``robustness.seeding.seeded``, which restores the caller's generator afterwards).

``autoattack-fast`` is the 10-iteration ensemble torchattacks' ``AutoAttack`` ships;
``autoattack-rand`` the reference's version for randomized models (APGD with EOT).

Settings (``[attack.autoattack]``): ``steps`` (default 100, the reference's: iterations of
APGD-CE, and of APGD-T and FAB-T per target class), ``queries`` (default 5,000, Square's
budget per image). Fewer is no longer the reference's strength (the report's description
says what ran). Arguments: ``config.norm`` ("linf", default, or "l2": AutoAttack-L2),
``model`` (pixels in [0, 1] in, logits out; with fewer than 4 classes APGD-T, whose targeted
DLR loss reads the 4 highest logits, is left out and the sanity checks say so), ``eps`` (L∞ radius in [0, 1] pixel units, or an L2 radius), ``seed``
(every part's seed; the attack stage derives it per (attack, ε, source, batch) from
``attack.seed``). The number of target classes is min(classes − 1, 9). Input range: [0, 1].
The built attack records which part broke each image first (``parts``).

Example::

    x_adv = make_attack("autoattack").build(model, 8 / 255, seed=0)(images, labels)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torchattacks
from torchattacks.attack import Attack as TorchattacksAttack

from attacks.base import TARGET_CLASSES, Attack
from attacks.registry import register_attack
from robustness.config import MAX_QUERIES, MAX_STEPS, check_count

REFERENCE_STEPS = 100  # Croce & Hein's iterations of APGD-CE, APGD-T and FAB-T (per target class)
REFERENCE_QUERIES = 5000  # Square's queries per image in the standard version
P_INIT = 0.8  # Square's initial share of the image a square covers (the reference's)


class ReferenceAPGDT(torchattacks.APGDT):
    """``torchattacks.APGDT`` with the reference's targeted DLR loss, −(z_y − z_t) / (z_π1 − ½(z_π3 + z_π4)).

    torchattacks writes the denominator z_π1 − ½z_π3 − ½z_π4: the same number rounded differently, which moves
    the odd step and so the odd adversarial image (3 of 196 digits images standalone, docs/attacks.md). With the
    reference's arithmetic its images are the reference's, bit for bit."""

    def dlr_loss_targeted(self, x, y, y_target):
        x_sorted, _ = x.sort(dim=1)
        u = torch.arange(x.shape[0])
        return -(x[u, y] - x[u, y_target]) / (x_sorted[:, -1] - .5 * (x_sorted[:, -3] + x_sorted[:, -4]) + 1e-12)


class Ensemble(TorchattacksAttack):
    """Attacks run one after another, each on the images the previous ones left standing, in the reference's
    order: the images the model gets right when clean go to the first part, the images a part did not break to
    the next. Returns the first adversarial image that fooled the model, else the clean image (as
    ``torchattacks.MultiAttack`` and the reference do). Keeps, per image of the last call, the index of the part
    that broke it first (``broken_by``; -1: wrong when clean, or never broken)."""

    def __init__(self, model, parts: dict[str, TorchattacksAttack]):
        super().__init__("AutoAttack", model)
        self.parts = parts  # title -> the torchattacks attack, in the order they run
        self.broken_by = torch.zeros(0, dtype=torch.int64)

    def forward(self, images, labels):
        images = images.clone().detach().to(self.device)
        labels = labels.clone().detach().to(self.device)
        adv = images.clone()
        self.broken_by = torch.full((len(images),), -1, dtype=torch.int64)
        left = (self.predict(images) == labels).nonzero().flatten()
        for index, attack in enumerate(self.parts.values()):
            if len(left) == 0:
                break
            out = attack(images[left], labels[left])
            fooled = self.predict(out) != labels[left]
            adv[left[fooled]] = out[fooled]
            self.broken_by[left[fooled].cpu()] = index
            left = left[~fooled]
        return adv

    def predict(self, images):
        with torch.no_grad():
            return self.get_logits(images).max(1)[1]


@register_attack("autoattack")
class AutoAttack(Attack):
    @dataclass(frozen=True)
    class Settings:
        # iterations of APGD-CE, and of APGD-T and FAB-T per target class, 1 to 100,000 (the reference's 100)
        steps: int = REFERENCE_STEPS
        queries: int = REFERENCE_QUERIES  # Square's query budget per image, 1 to 1,000,000 (the reference's 5,000)

    title = "AutoAttack"
    random = True
    norms = ("linf", "l2")
    strength = 5
    mixes_score_based = True
    revision = 1  # 0 was torchattacks' 10-iteration AutoAttack (now autoattack-fast): its units are not this one's
    shortfall = ("AutoAttack stopped short (fewer steps or queries than the reference's 100 and 5,000) or a randomized "
                 "model that answers each query differently (run autoattack-rand)")
    part_names = ("APGD-CE", "APGD-T", "FAB-T", "Square")
    part_classes: ClassVar[dict[str, int]] = {"APGD-T": 4}  # its targeted DLR loss reads the 4 highest logits: left out below 4
    standard_classes = TARGET_CLASSES + 1  # the true class and 9 targets

    def check(self) -> None:
        check_count(self.where("steps"), self.settings.steps, MAX_STEPS, "the reference runs 100")
        check_count(self.where("queries"), self.settings.queries, MAX_QUERIES, "the reference's Square spends 5,000")

    def describe(self) -> str:
        s = self.settings
        strength = ("at the reference's strength" if (s.steps, s.queries) == (REFERENCE_STEPS, REFERENCE_QUERIES)
                    else "below the reference's strength (100 steps, 5,000 queries)")
        targets = self.target_classes() - 1
        said = {"APGD-CE": f"APGD-CE {s.steps} steps", "APGD-T": f"APGD-T {targets} targets × {s.steps} steps",
                "FAB-T": f"FAB-T {targets} targets × {s.steps} steps", "Square": f"Square {s.queries} queries"}
        return f"AutoAttack, standard version {strength}: " + ", ".join(said[p] for p in self.running_parts())

    def step_size(self, eps: float) -> float:
        return 2 * eps  # APGD's first step (it halves it when progress stalls)

    def parts(self, model, eps: float, seed: int) -> dict[str, TorchattacksAttack]:
        """The parts that run (``running_parts``), at the reference's settings (``steps`` and ``queries`` from the
        settings), in its order."""
        s, norm, classes = self.settings, self.norm, self.target_classes()
        every = {
            "APGD-CE": torchattacks.APGD(model, norm=norm, eps=eps, steps=s.steps, n_restarts=1, seed=seed, loss="ce"),
            "APGD-T": ReferenceAPGDT(model, norm=norm, eps=eps, steps=s.steps, n_restarts=1, seed=seed,
                                     n_classes=classes),
            "FAB-T": torchattacks.FAB(model, norm=norm, eps=eps, steps=s.steps, n_restarts=1, seed=seed,
                                      multi_targeted=True, n_classes=classes),
            "Square": torchattacks.Square(model, norm=norm, eps=eps, n_queries=s.queries, n_restarts=1, seed=seed,
                                          p_init=P_INIT, resc_schedule=False),
        }
        return {name: every[name] for name in self.running_parts()}

    def build(self, model, eps: float, seed: int = 0) -> Ensemble:
        return Ensemble(model, self.parts(model, eps, seed))

    def broken_by(self, crafter: Ensemble) -> torch.Tensor:
        return crafter.broken_by
