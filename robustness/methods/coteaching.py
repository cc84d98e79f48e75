"""Co-teaching — Han, Yao, Yu, Niu, Xu, Hu, Tsang, Sugiyama, "Co-teaching: Robust Training of Deep Neural
Networks with Extremely Noisy Labels", NeurIPS 2018.

Two networks train side by side on the same batches. Each ranks the batch by its own per-example loss and
keeps the ``int((1 − R(t)) · N)`` smallest (the examples it believes clean); each network then learns from
the examples its *peer* kept, so the two filter each other's errors. The forget rate R(t) ramps up
linearly, as the authors' code: R = forget_rate · min(1, (t − 1)/(k − 1)) in epoch t (from 1), that is
``np.linspace(0, forget_rate, k)`` over the first k epochs, then forget_rate (k = 1: from the start).

One unit trains both networks; the first (built from the run's seed, exactly as ERM's model) is the one
returned, saved and evaluated, and each epoch's history also records the second's ``peer_test_error``. With
forget_rate 0 every example is kept, and the first network trains bit for bit as ERM with the same seed
(tested), when the architecture draws no dropout: the second network's dropout shares torch's global
generator, so dropout's draws interleave. The second network's weights come from seed + 4,000,037 (robustness/train.py), its
optimizer state is its own (one SGD over both networks' parameters: the update of a parameter depends
only on its own gradient), and the learning-rate schedule is shared. The history's ``loss`` is the two
networks' losses summed. It costs two networks' training time.

Parameter: forget_rate in [0, 1), the share of each batch dropped once ramped up (default 0.2; the paper
sets it to the noise rate, e.g. 0.2 or 0.5 for 20 % and 50 % symmetric noise, 0.45 for 45 % pair flip).
Option ``k``: the epochs over which it ramps up, an integer ≥ 1 (default 10, the paper's T_k of 200 epochs).
Nothing random. Composes with mixup, cutmix, dropout, input noise and PGD-AT (the batch they make is what
both networks see and rank by Σ weight · CE of each label set; PGD's examples are crafted against the first
network only); not with label smoothing, nor with another method that computes its own loss.
``coteaching:noise`` sets the forget rate to the noise rate of each label-noise level, the paper's rule
(R(t) = min(t/T_k · τ, τ), τ the noise rate): the label-noise stage turns it into the concrete
``coteaching:τ`` (``Method.at_noise_rate``) before a unit key is made, so keys and results.json hold the number; the clean models (labels
without noise) train at forget rate 0, two ERM networks.
Example: ``parse_method("coteaching:0.5,k=10")``, ``parse_method("coteaching:noise")``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from robustness.errors import SuiteError
from robustness.methods.base import Batch, Method, Trainee, forward, weighted_cross_entropy
from robustness.methods.registry import register_method


def forget_rate_at(epoch: int, forget_rate: float, k: int) -> float:
    """R(t) for epoch t (from 1): the authors' np.linspace(0, forget_rate, k), then forget_rate."""
    if k <= 1 or epoch >= k:
        return forget_rate
    return forget_rate * (max(epoch, 1) - 1) / (k - 1)


@torch.no_grad()
def small_loss(logits: torch.Tensor, targets, keep: int) -> torch.Tensor:
    """Indices, in batch order, of the ``keep`` examples of smallest Σ weight · CE."""
    losses = sum(weight * F.cross_entropy(logits.float(), labels, reduction="none") for weight, labels in targets)
    return torch.argsort(losses, stable=True)[:keep].sort().values


def subset(targets, index: torch.Tensor):
    return tuple((weight, labels[index]) for weight, labels in targets)


@register_method("coteaching")
class CoTeaching(Method):
    title, param_name, param_symbol, param_default = "co-teaching", "coteaching_forget_rate", "R", 0.2
    tag = "r"
    defaults = {"k": 10, "rate": "fixed"}  # rate "noise": the forget rate is each level's noise rate
    text_param = "rate"
    networks = 2

    def check(self) -> None:
        if not 0.0 <= self.param < 1.0:
            raise SuiteError(f"coteaching forget_rate must be in [0, 1), not {self.param:g}; the paper sets it to the "
                             "noise rate, e.g. coteaching:0.2")
        if self.options["rate"] not in ("fixed", "noise"):
            raise SuiteError(f"coteaching's parameter is a forget rate in [0, 1) or the word noise, not "
                             f"{self.options['rate']!r}; write e.g. coteaching:0.2 or coteaching:noise")
        if self.options["k"] < 1:
            raise SuiteError(f"coteaching option k (epochs of the ramp, the paper's T_k) must be ≥ 1, not {self.options['k']}")

    def at_noise_rate(self, rate: float | None, spec: str) -> Method:
        """``coteaching:noise`` made ``coteaching:rate``; a fixed forget rate stays as written."""
        if self.options["rate"] != "noise":
            return self
        if rate is None:
            raise SuiteError(f"coteaching:noise needs a noise rate, and noise spec {spec!r} has none; "
                             "write the forget rate, e.g. coteaching:0.2")
        return CoTeaching(rate, k=self.options["k"])

    def trainee_loss(self, logits: torch.Tensor, batch: Batch, trainee: Trainee) -> torch.Tensor:
        # fit always builds the peer; a caller without one (the suite's one-batch probe of every method before
        # anything trains, robustness/validation.py) gets the first network as its own peer: the same code path.
        peer_logits = forward(trainee.peers[0], batch) if trainee.peers else logits
        rate = forget_rate_at(trainee.epoch, self.param, self.options["k"])
        n = len(batch.inputs)
        keep = int((1.0 - rate) * n)
        if keep >= n:  # nothing forgotten: the whole batch, in order (so forget_rate 0 is exactly ERM)
            return weighted_cross_entropy(logits, batch.targets) + weighted_cross_entropy(peer_logits, batch.targets)
        mine, peers = small_loss(logits, batch.targets, keep), small_loss(peer_logits, batch.targets, keep)
        # Each network learns from the examples the other one kept.
        return (weighted_cross_entropy(logits[peers], subset(batch.targets, peers))
                + weighted_cross_entropy(peer_logits[mine], subset(batch.targets, mine)))

