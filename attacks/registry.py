"""The attack registry: name -> an ``attacks.base.Attack`` subclass (the timm pattern: a plain dict
filled by a decorator, so tests loop over every entry). ``make_attack`` turns a configured name into
the attack object."""

from __future__ import annotations

from robustness.config import AttackConfig
from robustness.registry import lookup, make_register

ATTACKS: dict[str, type] = {}
register_attack = make_register(ATTACKS, "attack")


def make_attack(name: str, settings: AttackConfig | None = None):
    """The attack ``name`` names (a key of ``ATTACKS``), configured by ``settings`` (default: AttackConfig())."""
    return lookup(ATTACKS, name, "attack")(settings or AttackConfig(), name)
