"""Bootstrapping — Reed, Lee, Anguelov, Szegedy, Erhan, Rabinovich, "Training Deep Neural Networks on Noisy
Labels with Bootstrapping", ICLR 2015 workshop.

The target mixes the given label with the model's own prediction p = softmax(logits):

- ``mode=soft``: −Σ_c (β·y_c + (1−β)·p_c) · log p_c = β·CE(y) + (1−β)·H(p), the prediction's entropy; p
  is not detached, as in the paper, where soft bootstrapping is softmax regression with a
  minimum-entropy term;
- ``mode=hard``: β·CE(y) + (1−β)·CE(argmax p), the predicted class as a second label.

β = 1 is the cross-entropy, and trains bit for bit as ERM (tested).

Parameter: β in (0, 1], the weight of the given label, no unit (default: the paper's, 0.95 for soft and
0.8 for hard). Option ``mode=soft|hard`` (default soft). Nothing random. Composes with mixup, cutmix,
dropout, input noise and PGD-AT (the label term is Σ weight · CE of each label set, the prediction term
is the batch's own); not with label smoothing.
Example: ``parse_method("bootstrap:0.95")``, ``parse_method("bootstrap:0.8,mode=hard")``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from robustness.errors import SuiteError
from robustness.methods.base import Batch, Method, weighted_cross_entropy
from robustness.methods.registry import register_method

PAPER_BETA = {"soft": 0.95, "hard": 0.8}


@register_method("bootstrap")
class Bootstrap(Method):
    title, param_name, param_symbol, param_default = "bootstrapping", "bootstrap_beta", "β", None
    tag = "b"
    defaults = {"mode": "soft"}

    def check(self) -> None:
        mode = self.options["mode"]
        if mode not in PAPER_BETA:
            raise SuiteError(f"bootstrap option mode={mode} is unknown; choose one of: soft, hard")
        if self.param is None:  # the default β depends on the mode
            self.param = PAPER_BETA[mode]
        if not 0.0 < self.param <= 1.0:
            raise SuiteError(f"bootstrap β must be in (0, 1], not {self.param:g}; the paper uses 0.95 (soft), 0.8 (hard)")

    def custom_loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        beta = self.param
        given = weighted_cross_entropy(logits, batch.targets)
        if self.options["mode"] == "hard":
            own = F.cross_entropy(logits, logits.detach().argmax(1))
        else:
            log_p = F.log_softmax(logits.float(), dim=1)
            own = -(log_p.exp() * log_p).sum(1).mean()
        return beta * given + (1.0 - beta) * own
