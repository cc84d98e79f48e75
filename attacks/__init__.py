"""Adversarial evaluation: attacks (through torchattacks), the transfer matrix, sanity checks."""

from attacks.registry import ATTACKS, register_attack
from attacks import fgsm, ifgsm, pgd  # noqa: F401  (register the attacks)
from attacks.transfer import input_gradient_norm, transfer_matrix
from attacks.checks import run_checks

__all__ = ["ATTACKS", "register_attack", "transfer_matrix", "input_gradient_norm", "run_checks"]
