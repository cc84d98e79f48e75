"""Square — Andriushchenko, Croce, Flammarion, Hein, "Square Attack: a query-efficient
black-box adversarial attack via random search", ECCV 2020.

A score-based black box: it reads only the model's logits, never a gradient. From
vertical stripes of ±ε, it proposes a random square patch of ±ε per channel (L2: a
pair of windows that move mass within the L2 budget), keeps it if the margin
loss z_y − max_{i≠y} z_i falls, and shrinks the squares on a fixed schedule, until
the image is misclassified or the query budget is spent. Each proposal costs one
query (one forward pass of that image). Since it needs no gradient, a model that
masks its gradients does not stop it: Square breaking clearly more images than
the best gradient attack is the classic sign of gradient masking.

Settings (``[attack.square]``): ``queries`` (default 5,000, the reference and
AutoAttack's budget). Arguments: ``config.norm`` ("linf", default, or "l2"), ``model``
(pixels in [0, 1] in, logits out; called only under ``torch.no_grad``), ``eps`` (L∞
radius in [0, 1] pixel units, or an L2 radius), ``seed`` (the random proposals;
the attack stage derives it per (attack, ε, source, batch) from ``attack.seed``).
Square-size schedule ``p_init`` 0.8, margin loss, one restart (torchattacks'
defaults). Input range: [0, 1]. Implementation: ``torchattacks.Square``; the
built attack records each image's queries (``queries``), with the same images.

Example::

    attack = make_attack("square", AttackConfig(settings={"square": {"queries": 1000}}))
    square = attack.build(model, 8 / 255, seed=0)
    x_adv = square(images, labels)
    spent = attack.queries(square)  # per image: queries until it broke (the budget + 1 if it never did), 0: not attacked
"""

from dataclasses import dataclass

import torch
import torchattacks

from attacks.base import Attack
from attacks.registry import register_attack
from robustness.config import MAX_QUERIES, check_count


class CountingSquare(torchattacks.Square):
    """``torchattacks.Square`` that keeps, per image of the last call, the queries it spent.

    torchattacks counts them (``attack_single_run`` returns them) and drops them; this keeps them.
    The images it returns are torchattacks' own, bit for bit: only a return value is kept.
    """

    def perturb(self, x, y=None):
        self._images = x
        self.queries = torch.zeros(len(x), dtype=torch.int64)
        return super().perturb(x, y)

    def attack_single_run(self, x, y):
        n_queries, x_best = super().attack_single_run(x, y)
        # perturb's one restart runs on the images the model got right, in order: find them in the batch.
        rows, k = [], 0
        for image in x:
            while not torch.equal(self._images[k], image):
                k += 1
            rows.append(k)
            k += 1
        self.queries[rows] = n_queries.long().cpu()
        return n_queries, x_best


@register_attack("square")
class Square(Attack):
    @dataclass(frozen=True)
    class Settings:
        queries: int = 5000  # query budget per image (forward passes), 1 to 1,000,000 (the reference and AutoAttack's 5,000)

    title = "Square"
    random = True
    norms = ("linf", "l2")
    gradients = False

    def check(self) -> None:
        check_count(self.where("queries"), self.settings.queries, MAX_QUERIES, "Square's reference budget is 5,000")

    def describe(self) -> str:
        return f"Square: score-based, at most {self.settings.queries} queries per image"

    def build(self, model, eps: float, seed: int = 0) -> CountingSquare:
        return CountingSquare(model, norm=self.norm, eps=eps, n_queries=self.settings.queries, n_restarts=1,
                              seed=seed)

    def queries(self, crafter: CountingSquare) -> torch.Tensor:
        return crafter.queries

    def query_budget(self) -> int:
        return self.settings.queries
