"""What every attack is: one small object per attack, in the manner of torchattacks.

An ``Attack`` is built from the ``[attack]`` settings. ``build(model, eps)`` returns the
reference torchattacks attack at one ε (what a user would write, and what the tests
compare against). ``craft_every_eps`` optionally crafts every ε of a batch in one pass,
with the same numbers as calling ``build`` once per ε; it returns None where the
attack cannot (the caller then falls back to ``build``). Each attack declares its step
size and whether it draws random numbers (then the attack stage seeds it per
(attack, ε, source model, batch), so numbers never depend on the order of work).
"""

from __future__ import annotations

from typing import ClassVar, Sequence

import torch
from torch import nn

from robustness.config import AttackConfig


class Attack:
    """One attack at any ε. Subclasses set ``random`` and implement ``build``; ``step_size`` and
    ``craft_every_eps`` where they apply."""

    random: ClassVar[bool] = False  # draws random numbers (a random start): crafted under a seed

    def __init__(self, settings: AttackConfig, name: str):
        self.settings = settings
        self.name = name  # as configured: seeds and results.json cells are keyed by it

    def step_size(self, eps: float) -> float:
        """The size of one signed-gradient step at radius ``eps`` (pixels in [0, 1])."""
        return eps

    def build(self, model: nn.Module, eps: float):
        """The reference torchattacks attack at one ε: ``build(model, eps)(images, labels) -> images``."""
        raise NotImplementedError

    def craft_every_eps(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: Sequence[float],
                        seeds: Sequence[int]) -> torch.Tensor | None:
        """E×N×… adversarial images, one stack per ε, bit-identical to ``build`` per ε; None: not fusable."""
        return None
