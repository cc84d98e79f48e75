"""Symmetric cross-entropy — Wang, Ma, Chen, Luo, Yi, Bailey, "Symmetric Cross Entropy for Robust Learning
with Noisy Labels", ICCV 2019.

The loss is α·CE + β·RCE, the reverse cross-entropy RCE = −Σ_c p_c · log q_c swapping the roles of the
prediction p = softmax(logits) and the one-hot label q. log 0 is clamped to A (the paper's A = −4), so
RCE = −A · Σ_{c≠y} p_c = −A·(1 − p_y), a bounded, noise-tolerant term; CE keeps the fit fast. (The
authors' released code clips the one-hot label at 1e-4 instead, which is A = ln 1e-4 ≈ −9.21: write
``A=-9.21`` to match it.) β = 0 is α·CE exactly, and α = 1, β = 0 trains bit for bit as ERM (tested).

Parameter: α ≥ 0, the weight of CE (default 0.1, the paper's CIFAR-10 value). Options: ``beta`` ≥ 0, the
weight of RCE (default 1.0, CIFAR-10's; the paper uses α = 6, β = 0.1 on CIFAR-100), ``A`` < 0 (default −4).
No unit, nothing random. Composes with mixup, cutmix, dropout, input noise and PGD-AT (Σ weight · loss of
each label set under mixed targets); not with label smoothing.
Example: ``parse_method("sce:0.1,beta=1")``, the paper's CIFAR-100 setting ``parse_method("sce:6,beta=0.1")``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from robustness.errors import SuiteError
from robustness.methods.base import Batch, Method, weighted_loss
from robustness.methods.registry import register_method


def reverse_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, log_zero: float) -> torch.Tensor:
    """Mean over the batch of −Σ_c p_c log q_c for the one-hot q, log 0 taken as ``log_zero``: −A · Σ_{c≠y} p_c."""
    p = F.softmax(logits.float(), dim=1)
    others = p.sum(1) - p.gather(1, labels[:, None]).squeeze(1)
    return (-log_zero * others).mean()


@register_method("sce")
class SCE(Method):
    title, param_name, param_symbol, param_default = "SCE", "sce_alpha", "α", 0.1
    tag = "a"
    defaults = {"beta": 1.0, "A": -4.0}

    def check(self) -> None:
        if self.param < 0 or self.options["beta"] < 0 or self.param + self.options["beta"] == 0:
            raise SuiteError(f"sce needs α ≥ 0 and beta ≥ 0, not both 0 (got α={self.param:g}, "
                             f"beta={self.options['beta']:g}); the paper's CIFAR-10 values are sce:0.1,beta=1")
        if not self.options["A"] < 0:
            raise SuiteError(f"sce option A (log 0) must be < 0, not {self.options['A']:g}; the paper uses A=-4")

    def custom_loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        alpha, beta, log_zero = self.param, self.options["beta"], self.options["A"]
        return weighted_loss(lambda z, y: alpha * F.cross_entropy(z, y) + beta * reverse_cross_entropy(z, y, log_zero),
                             logits, batch.targets)
