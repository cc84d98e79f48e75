"""Early-learning regularization — Liu, Niles-Weed, Razavian, Fernandez-Granda, "Early-Learning
Regularization Prevents Memorization of Noisy Labels", NeurIPS 2020.

Early in training a network predicts the true class of many mislabelled examples; ELR keeps, for every
training example i, a temporal ensemble of its predictions, t_i ← β·t_i + (1−β)·p̂_i (p̂ the detached
prediction, clamped to [1e-4, 1 − 1e-4] and renormalized, t_i starting at 0), and adds to the
cross-entropy λ · mean_i log(1 − ⟨t_i, p_i⟩), which pulls each prediction towards its own past ones and
away from a memorized wrong label. As the authors' code: the clamp, the update before the loss, the
regularizer on the clamped prediction. The targets live on the device, N×C floats (per run), indexed by
each example's position in the training set (the loop's batch index). λ = 0 trains bit for bit as ERM
(tested).

Parameter: λ ≥ 0, no unit (default 3, the paper's CIFAR-10 value; 7 for CIFAR-100). Option ``beta`` in
[0, 1), the ensemble's momentum (default 0.7, CIFAR-10's; 0.9 for CIFAR-100). Nothing random. Composes
with mixup, cutmix, dropout, input noise and PGD-AT (cross-entropy Σ weight · CE of each label set; the
regularizer and the ensemble use each example's own index, with the prediction of the input it trained
on); not with label smoothing. The paper's ELR+ (two networks, weight averaging, mixup) is not this.
Example: ``parse_method("elr:3,beta=0.7")``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from robustness.errors import SuiteError
from robustness.methods.base import Batch, Method, Trainee, weighted_cross_entropy
from robustness.methods.registry import register_method

CLAMP = 1e-4  # the authors' clamp of the prediction


def ensemble_targets(trainee: Trainee, classes: int, device) -> torch.Tensor:
    """The run's N×C targets t (zeros at the start), kept in the trainee's per-run cache."""
    key = "elr_targets"
    if key not in trainee.cache:
        trainee.cache[key] = torch.zeros(len(trainee.train_labels), classes, device=device)
    return trainee.cache[key]


@register_method("elr")
class ELR(Method):
    title, param_name, param_symbol, param_default = "ELR", "elr_lambda", "λ", 3.0
    tag = "l"
    defaults = {"beta": 0.7}

    def check(self) -> None:
        if self.param < 0:
            raise SuiteError(f"elr λ must be ≥ 0, not {self.param:g}; the paper uses elr:3 on CIFAR-10, elr:7 on CIFAR-100")
        if not 0.0 <= self.options["beta"] < 1.0:
            raise SuiteError(f"elr option beta (the ensemble's momentum) must be in [0, 1), not {self.options['beta']:g}")

    def trainee_loss(self, logits: torch.Tensor, batch: Batch, trainee: Trainee) -> torch.Tensor:
        if batch.index is None:
            raise SuiteError("elr needs each example's index in the training set (Batch.index)")
        beta = self.options["beta"]
        p = F.softmax(logits.float(), dim=1).clamp(CLAMP, 1.0 - CLAMP)
        targets = ensemble_targets(trainee, logits.shape[1], logits.device)
        with torch.no_grad():
            seen = p.detach()
            targets[batch.index] = beta * targets[batch.index] + (1.0 - beta) * seen / seen.sum(1, keepdim=True)
        regularizer = torch.log(1.0 - (targets[batch.index] * p).sum(1)).mean()
        return weighted_cross_entropy(logits, batch.targets) + self.param * regularizer
