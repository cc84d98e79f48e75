"""The attack registry: name -> ``build(model, eps, config) -> torchattacks.Attack``."""

from __future__ import annotations

from typing import Callable

from robustness.registry import make_register

ATTACKS: dict[str, Callable] = {}
register_attack = make_register(ATTACKS, "attack")
