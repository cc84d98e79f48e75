"""Shared pieces of the attacks' ``craft_every_eps`` (every ε at once).

The batch is stacked once per ε, so one forward and one backward pass serve
every ε; ε and the step size become per-example tensors. The loss is the
cross-entropy averaged within each ε group and summed over groups, so every
example's gradient is exactly the one ``torchattacks`` computes on the batch
alone (mean over the batch), and the update and projection formulas are
copied from ``torchattacks``: the results are bit-identical on the CPU.
Only the input gradient is taken (``torch.autograd.grad`` w.r.t. the images).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


def per_example(values: Sequence[float], group: int, like: torch.Tensor) -> torch.Tensor:
    """Each value repeated ``group`` times, shaped to broadcast over images like ``like``."""
    t = torch.tensor(list(values), dtype=like.dtype, device=like.device).repeat_interleave(group)
    return t.view(-1, *[1] * (like.dim() - 1))


def input_grad_sign(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, groups: int) -> torch.Tensor:
    """sign(∇x loss) with the loss a batch-mean cross-entropy within each of ``groups`` equal groups."""
    images = images.clone().detach().requires_grad_(True)
    losses = F.cross_entropy(model(images), labels, reduction="none")
    loss = losses.view(groups, -1).mean(1).sum()
    (grad,) = torch.autograd.grad(loss, images)
    return grad.sign()


def iterate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: Sequence[float],
    step_sizes: Sequence[float],
    steps: int,
    start: torch.Tensor | None,
    project: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """``steps`` signed-gradient steps for every ε at once; returns E×N×… adversarial images.

    ``start``: E×N×… starting points (None: the clean images); ``project(adv, ori, eps)``
    maps a step back onto the ε-ball and [0, 1].
    """
    groups, n = len(eps), len(x)
    ori = x.detach().repeat(groups, *[1] * (x.dim() - 1))
    labels = y.repeat(groups)
    eps_t, step_t = per_example(eps, n, ori), per_example(step_sizes, n, ori)
    images = ori.clone() if start is None else start.flatten(0, 1).detach()
    for _ in range(steps):
        sign = input_grad_sign(model, images, labels, groups)
        images = project(images + step_t * sign, ori, eps_t).detach()
    return images.view(groups, *x.shape)
