"""The attack registries.

``ATTACKS``: name -> ``build(model, eps, config) -> torchattacks.Attack``, the
reference implementation of one attack at one ε (what a user would write).

``FUSED``: name -> ``craft(model, x, y, eps_list, config, seeds) -> Tensor | None``,
optional: every ε of the attack crafted in one pass, shape E×N×C×H×W, with the
same numbers as calling ``ATTACKS[name]`` once per ε (tests assert it). ``seeds``
holds one seed per ε for attacks that draw random numbers. ``None`` means "not
fusable with this configuration": the caller then falls back to ``ATTACKS``.
"""

from __future__ import annotations

from typing import Callable

from robustness.registry import make_register

ATTACKS: dict[str, Callable] = {}
register_attack = make_register(ATTACKS, "attack")

FUSED: dict[str, Callable] = {}
register_fused = make_register(FUSED, "fused attack")
