"""What every attack is: one small object per attack, in the manner of torchattacks.

An ``Attack`` is built from the ``[attack]`` settings. ``build(model, eps, seed)`` returns the
reference torchattacks attack at one ε (what a user would write, and what the tests
compare against). ``craft_every_eps`` optionally crafts every ε of a batch in one pass,
with the same numbers as calling ``build`` once per ε; it returns None where the
attack cannot (the caller then falls back to ``build``). Each attack declares its step
size, whether it draws random numbers (then the attack stage seeds it per
(attack, ε, source model, batch), so numbers never depend on the order of work: through
torch's global generator inside ``attacks.seeding.seeded``, and through the ``seed``
argument where torchattacks has one), the threat models it supports (``norms``), whether
it needs gradients (Square does not: it only reads the logits) and its rank among the
white-box attacks (``strength``: a stronger attack should break every image a weaker one
breaks; the worst-case flags compare them).
"""

from __future__ import annotations

from typing import ClassVar, Sequence

import torch
from torch import nn

from attacks.workers import INLINE, Workers
from robustness.config import AttackConfig

NORM_NAMES = {"linf": "Linf", "l2": "L2"}  # attack.norm -> torchattacks' and RobustBench's name of the threat model
TARGET_CLASSES = 9  # Croce & Hein's targeted attacks (APGD-T, FAB-T) try the 9 highest-scoring wrong classes


class Attack:
    """One attack at any ε. Subclasses set ``random`` and implement ``build``; ``step_size``,
    ``craft_every_eps`` and ``queries`` where they apply."""

    random: ClassVar[bool] = False  # draws random numbers (a random start): crafted under a seed
    norms: ClassVar[tuple[str, ...]] = ("linf",)  # the threat models (attack.norm) it has a version for
    gradients: ClassVar[bool] = True  # False: reads only the logits (a score-based black box)
    strength: ClassVar[int | None] = None  # rank among white-box attacks (higher: should break a superset); None: unranked

    def __init__(self, settings: AttackConfig, name: str, num_classes: int = 10):
        self.settings = settings
        self.name = name  # as configured: seeds and results.json cells are keyed by it
        self.num_classes = num_classes  # the model's outputs: targeted attacks pick their target classes among them

    @property
    def norm(self) -> str:
        """torchattacks' name of the threat model: "Linf" or "L2"."""
        return NORM_NAMES[self.settings.norm]

    def target_classes(self) -> int:
        """torchattacks' ``n_classes`` for APGD-T and FAB-T: the true class plus up to 9 targets, as Croce & Hein."""
        return min(self.num_classes, TARGET_CLASSES + 1)

    def step_size(self, eps: float) -> float:
        """The size of one step at radius ``eps`` (pixels in [0, 1]; an L2 length under attack.norm = "l2")."""
        return eps

    def build(self, model: nn.Module, eps: float, seed: int = 0):
        """The reference torchattacks attack at one ε: ``build(model, eps, seed)(images, labels) -> images``.
        ``seed`` reaches torchattacks' own ``seed`` argument where the attack has one."""
        raise NotImplementedError

    def craft_every_eps(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: Sequence[float],
                        seeds: Sequence[int], workers: Workers = INLINE) -> torch.Tensor | None:
        """E×N×… adversarial images, one stack per ε, bit-identical to ``build`` per ε; None: not fusable.
        ``workers`` runs the gradient passes chunk by chunk (``attacks.workers``; default: whole, inline)."""
        return None

    def pass_images(self, n_eps: int, batch: int) -> int:
        """Images in one gradient pass when ``craft_every_eps`` crafts ``n_eps`` ε of a ``batch`` at once (what
        memory grows with): the whole stack for an iterative attack."""
        return n_eps * batch

    def queries(self, crafter) -> torch.Tensor | None:
        """Per image of the last batch ``crafter`` (what ``build`` returned) attacked: the model queries it
        spent (a score-based attack's cost); None for attacks that do not count them."""
        return None

    def query_budget(self) -> int | None:
        """The most queries it spends on one image; None for attacks that do not count them."""
        return None
