"""PGD adversarial training — Madry, Makelov, Schmidt, Tsipras, Vladu, "Towards Deep Learning Models
Resistant to Adversarial Attacks", ICLR 2018.

Every batch is replaced by its PGD adversarial examples against the model being trained (L∞ ball of
radius ε, ``steps`` signed-gradient steps of 2.5·ε/steps from a random start, through
``torchattacks.PGD``, the model in eval mode while attacked), and the model trains on those. The
robust reference: the suite should find it far more robust under PGD than ERM, not just under FGSM.
ε = 0 trains exactly like ERM (tested).

Parameter: ε, the L∞ radius in pixels on [0, 1] (default 0.1 for digits; 8/255 is CIFAR-10's usual).
Option ``steps`` (default 7, Madry et al.'s CIFAR-10 choice). Random: the start, under a seed drawn per
batch from the method's own stream. Costs about ``steps`` + 1 forward-backward passes per batch.
Example: ``parse_method("pgd_at:0.1,steps=10")``.
"""

from __future__ import annotations

import torch
import torchattacks

from robustness.errors import SuiteError
from robustness.methods.base import Batch, Method, MethodStreams, Trainee
from robustness.methods.registry import register_method
from robustness.seeding import seeded

STEP_FACTOR = 2.5  # step size = 2.5·ε/steps (Madry et al.), as the suite's PGD attack


@register_method("pgd_at")
class PGDAT(Method):
    title, param_name, param_symbol, tag, param_default = "PGD-AT", "pgd_at_eps", "ε", "e", 0.1
    defaults = {"steps": 7}
    random = True

    def check(self) -> None:
        if not 0.0 <= self.param <= 1.0:
            raise SuiteError(f"pgd_at ε must be in [0, 1] (pixels), not {self.param:g}; write 8/255 as 0.0314")
        if self.options["steps"] < 1:
            raise SuiteError("pgd_at option steps must be at least 1")

    def transform(self, batch: Batch, trainee: Trainee, streams: MethodStreams) -> Batch:
        steps = self.options["steps"]
        attack = torchattacks.PGD(trainee.model, eps=self.param, alpha=STEP_FACTOR * self.param / steps, steps=steps,
                                  random_start=True)
        seed = int(torch.randint(2**31 - 1, (1,), generator=streams.torch))
        with seeded(seed, batch.inputs.device):  # the random start, without touching the run's global generator
            adversarial = attack(batch.inputs, batch.labels)
        return batch.replace(inputs=adversarial.detach())
