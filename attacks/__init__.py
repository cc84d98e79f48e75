"""Adversarial evaluation: attacks (through torchattacks), the transfer matrix, sanity checks.

    from attacks import make_attack, transfer_matrix
    x_adv = make_attack("pgd").build(model, 8 / 255)(images, labels)
    x_adv = make_attack("autoattack").build(model, 8 / 255, seed=0)(images, labels)
"""

from attacks import apgd_ce, apgd_dlr, autoattack, difgsm, fab, fgsm, ifgsm, mifgsm, pgd, square  # noqa: F401  (each registers one attack)
from attacks.checks import run_checks
from attacks.evaluate import evaluate_matrix, evaluate_models
from attacks.registry import ATTACKS, make_attack, register_attack
from attacks.transfer import input_gradient_norm, transfer_matrix

__all__ = ["ATTACKS", "evaluate_matrix", "evaluate_models", "input_gradient_norm", "make_attack", "register_attack",
           "run_checks", "transfer_matrix"]
