"""The attack registry: name -> an ``attacks.base.Attack`` subclass (the timm pattern: a plain dict
filled by a decorator, so tests loop over every entry). ``make_attack`` turns a configured name into
the attack object: a key of ``ATTACKS``, or ``torchattacks:NAME[,KEY=VALUE…]`` for any torchattacks
L∞ attack (``attacks/generic.py``)."""

from __future__ import annotations

from attacks.base import NORM_NAMES
from attacks.generic import PREFIX, TorchattacksAttack
from robustness.config import AttackConfig
from robustness.errors import SuiteError
from robustness.registry import make_register

ATTACKS: dict[str, type] = {}
register_attack = make_register(ATTACKS, "attack")


def make_attack(name: str, settings: AttackConfig | None = None, num_classes: int = 10):
    """The attack ``name`` names, configured by ``settings`` (default: AttackConfig()), for a model with
    ``num_classes`` outputs. A one-line SuiteError for an unknown name, a bad generic spec, or an attack
    that has no version for ``settings.norm``."""
    settings = settings or AttackConfig()
    if settings.norm not in NORM_NAMES:
        raise SuiteError(f"unknown attack.norm {settings.norm!r}; choose one of: {', '.join(NORM_NAMES)}")
    if name.startswith(PREFIX):
        attack = TorchattacksAttack(settings, name, num_classes)
    elif name not in ATTACKS:
        raise SuiteError(f"unknown attack {name!r}; choose one of: {', '.join(sorted(ATTACKS))}, or "
                         f"{PREFIX}NAME[,KEY=VALUE…] for any torchattacks L∞ attack")
    else:
        attack = ATTACKS[name](settings, name, num_classes)
    if settings.norm not in type(attack).norms:
        both = sorted(n for n, cls in ATTACKS.items() if settings.norm in cls.norms)
        raise SuiteError(f"attack {name!r} has no {attack.norm} version; with attack.norm = {settings.norm!r} choose from: "
                         f"{', '.join(both)}")
    return attack
