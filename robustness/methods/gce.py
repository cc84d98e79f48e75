"""Generalized cross-entropy — Zhang & Sabuncu, "Generalized Cross Entropy Loss for Training Deep Neural
Networks with Noisy Labels", NeurIPS 2018.

The loss of an example with label y is L_q = (1 − p_y^q) / q, p = softmax(logits). Its gradient is
p_y^q times cross-entropy's, so examples the model finds unlikely (often the mislabelled ones) pull less:
q → 0 is cross-entropy (lim (1 − p^q)/q = −log p), q = 1 is the mean absolute error's 1 − p_y (half of
‖e_y − p‖₁), robust to noise but slow to fit. 1 − p_y^q is computed as −expm1(q · log_softmax), so
it never takes the log of a rounded-to-zero probability and small q loses no digits. The paper's
truncated variant (L_q with a threshold k and pruning rounds) is not implemented.

Parameter: q in (0, 1], no unit (default 0.7, the paper's CIFAR choice). No option, nothing random.
Composes with mixup, cutmix, dropout, input noise and PGD-AT (under mixed targets the loss is
Σ weight · L_q of each label set, as mixup's cross-entropy); not with label smoothing, whose option only
changes the cross-entropy. Example: ``parse_method("gce:0.7")``, ``parse_method("mixup:1+gce:0.7")``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from robustness.errors import SuiteError
from robustness.methods.base import Batch, Method, weighted_loss
from robustness.methods.registry import register_method


def gce_loss(logits: torch.Tensor, labels: torch.Tensor, q: float) -> torch.Tensor:
    """Mean over the batch of (1 − p_y^q) / q."""
    log_p = F.log_softmax(logits.float(), dim=1).gather(1, labels[:, None]).squeeze(1)
    return (-torch.expm1(q * log_p) / q).mean()  # expm1: no cancellation in 1 − p^q when q is small


@register_method("gce")
class GCE(Method):
    title, param_name, param_symbol, param_default = "GCE", "gce_q", "q", 0.7

    def check(self) -> None:
        if not 0.0 < self.param <= 1.0:
            raise SuiteError(f"gce q must be in (0, 1], not {self.param:g}; the paper uses q = 0.7 (q → 0 is "
                             "cross-entropy, q = 1 the mean absolute error)")

    def custom_loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        return weighted_loss(lambda z, y: gce_loss(z, y, self.param), logits, batch.targets)
