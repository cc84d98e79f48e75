"""Adversarial evaluation: attacks (through torchattacks), the transfer matrix, sanity checks.

    from attacks import make_attack, transfer_matrix
    x_adv = make_attack("pgd").build(model, 8 / 255)(images, labels)
    x_adv = make_attack("autoattack").build(model, 8 / 255, seed=0)(images, labels)

Every attack module in this package registers itself when imported (``@register_attack``), so a new
attack is one new file here and nothing else.
"""

import importlib
import pkgutil

from attacks.catalogue import describe_attacks, settings_help, settings_table
from attacks.checks import run_checks
from attacks.evaluate import evaluate_matrix, evaluate_models
from attacks.registry import ATTACKS, check_settings, make_attack, register_attack
from attacks.transfer import input_gradient_norm, transfer_matrix

for _module in pkgutil.iter_modules(__path__):  # each attack's file registers it: import them all, none by name
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["ATTACKS", "check_settings", "describe_attacks", "evaluate_matrix", "evaluate_models", "input_gradient_norm",
           "make_attack", "register_attack", "run_checks", "settings_help", "settings_table", "transfer_matrix"]
