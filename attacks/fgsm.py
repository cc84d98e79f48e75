"""FGSM — Goodfellow, Shlens, Szegedy, "Explaining and Harnessing Adversarial
Examples", ICLR 2015.

One step of size ε along the sign of the input gradient of the cross-entropy:
``x_adv = clip(x + ε · sign(∇x CE(f(x), y)), 0, 1)``.

Under ``attack.norm = "l2"`` it is the L2 fast gradient method of the same paper
(FGM): one step of L2 length ε along the normalized gradient, then clipped to
[0, 1] (``torchattacks.PGDL2`` with one step of ε and no random start).

Arguments: ``config`` (the ``[attack]`` section; FGSM reads only ``norm``; no settings of its own),
``model`` (pixels in [0, 1] in, logits out), ``eps`` (L∞ radius in [0, 1]
pixel units, e.g. 4/255; an L2 radius under ``norm = "l2"``). Step size: ε. No randomness.
Input range: [0, 1]. Implementation: ``torchattacks.FGSM`` (L2: ``torchattacks.PGDL2``).

Example::

    x_adv = make_attack("fgsm").build(model, 8 / 255)(images, labels)

The gradient does not depend on ε, so ``craft_every_eps`` computes its sign once
per batch and serves every ε from it (bit-identical to ``torchattacks.FGSM``).
"""

from typing import Sequence

import torch
import torchattacks

from attacks.base import Attack
from attacks.fused import grad_sign, per_example
from attacks.registry import register_attack
from attacks.workers import INLINE, Workers


@register_attack("fgsm")
class FGSM(Attack):
    title = "FGSM"
    norms = ("linf", "l2")
    strength = 1

    def describe(self) -> str:
        return "FGSM: one step of ε"

    def build(self, model, eps: float, seed: int = 0) -> torchattacks.FGSM | torchattacks.PGDL2:
        if self.config.norm == "l2":
            return torchattacks.PGDL2(model, eps=eps, alpha=eps, steps=1, random_start=False)
        return torchattacks.FGSM(model, eps=eps)

    def pass_images(self, n_eps: int, batch: int) -> int:
        return batch  # one gradient serves every ε: the stack holds outputs, not activations

    def craft_every_eps(self, model, x: torch.Tensor, y: torch.Tensor, eps: Sequence[float], seeds=None,
                        workers: Workers = INLINE) -> torch.Tensor | None:
        """E×N×… images: one gradient, then ``clamp(x + ε · sign, 0, 1)`` for each ε (L∞ only)."""
        if self.config.norm != "linf":
            return None
        sign = grad_sign(model, x, y, workers)
        eps_t = per_example(eps, 1, x).unsqueeze(1)  # E×1×1×…: broadcasts over the batch
        return torch.clamp(x.unsqueeze(0) + eps_t * sign.unsqueeze(0), min=0, max=1)
