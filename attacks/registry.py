"""The attack registry: name -> an ``attacks.base.Attack`` subclass (the timm pattern: a plain dict
filled by a decorator, so tests loop over every entry). ``make_attack`` turns a configured name into
the attack object: a key of ``ATTACKS``, or ``torchattacks:NAME[,KEY=VALUE…]`` for any torchattacks
L∞ attack (``attacks/generic.py``). ``check_settings`` checks every ``[attack.NAME]`` table."""

from __future__ import annotations

from typing import Callable

from attacks.base import NORM_NAMES
from attacks.generic import PREFIX, TorchattacksAttack
from robustness.config import AttackConfig
from robustness.errors import SuiteError
from robustness.formatting import ATTACK_NAMES
from robustness.registry import make_register

ATTACKS: dict[str, type] = {}
_add = make_register(ATTACKS, "attack")


def register_attack(name: str) -> Callable[[type], type]:
    """``@register_attack("pgd")`` on an ``Attack`` subclass: adds it to ``ATTACKS`` and its ``title`` to the
    names the report prints (``robustness.formatting.attack_name``)."""

    def add(cls: type) -> type:
        _add(name)(cls)
        if cls.title:
            ATTACK_NAMES[name] = cls.title
        return cls

    return add


def make_attack(name: str, config: AttackConfig | None = None, num_classes: int = 10):
    """The attack ``name`` names, configured by ``config`` (default: AttackConfig()), for a model with
    ``num_classes`` outputs. A one-line SuiteError for an unknown name, a bad generic spec, a bad setting of its
    ``[attack.NAME]`` table, or an attack that has no version for ``config.norm``."""
    config = config or AttackConfig()
    if config.norm not in NORM_NAMES:
        raise SuiteError(f"unknown attack.norm {config.norm!r}; choose one of: {', '.join(NORM_NAMES)}")
    if name.startswith(PREFIX):
        attack = TorchattacksAttack(config, name, num_classes)
    elif name not in ATTACKS:
        raise SuiteError(f"unknown attack {name!r}; choose one of: {', '.join(sorted(ATTACKS))}, or "
                         f"{PREFIX}NAME[,KEY=VALUE…] for any torchattacks L∞ attack")
    else:
        attack = ATTACKS[name](config, name, num_classes)
    if config.norm not in type(attack).norms:
        both = sorted(n for n, cls in ATTACKS.items() if config.norm in cls.norms)
        raise SuiteError(f"attack {name!r} has no {attack.norm} version; with attack.norm = {config.norm!r} choose from: "
                         f"{', '.join(both)}")
    return attack


def check_settings(config: AttackConfig) -> None:
    """Every ``[attack.NAME]`` table names a registered attack, and its keys and values are that attack's
    (``Settings`` and ``check``), whether or not the attack runs: a one-line SuiteError listing the valid ones."""
    for name in config.tables():
        if name not in ATTACKS:
            hint = (f"; give a torchattacks attack's arguments in its spec, e.g. {PREFIX}MIFGSM,steps=20"
                    if name.startswith(PREFIX.rstrip(":")) else "")
            raise SuiteError(f"unknown attack table [attack.{name}]; tables are for: {', '.join(sorted(ATTACKS))}{hint}")
        ATTACKS[name](config, name)  # builds its Settings (unknown keys, types) and checks them
