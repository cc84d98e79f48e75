"""Shared pieces of the attacks' ``craft_every_eps`` (every ε at once).

The batch is stacked once per ε, so the gradient passes of every ε run together; ε and the
step size become per-example tensors. Each image's cross-entropy is weighted by 1/(images in
the batch), so every example's gradient is exactly the one ``torchattacks`` computes on the
batch alone (mean over the batch), and the update and projection formulas are copied from
``torchattacks``: the results are bit-identical on the CPU. Only the input gradient is taken
(``torch.autograd.grad`` w.r.t. the images). A ``Workers`` splits the stack into chunks
(cache-sized, on worker threads, see ``attacks.workers``); without one it runs whole.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from attacks.workers import INLINE, Workers


def per_example(values: Sequence[float], group: int, like: torch.Tensor) -> torch.Tensor:
    """Each value repeated ``group`` times, shaped to broadcast over images like ``like``."""
    t = torch.tensor(list(values), dtype=like.dtype, device=like.device).repeat_interleave(group)
    return t.view(-1, *[1] * (like.dim() - 1))


def batch_mean_weights(rows: int, batch: int, like: torch.Tensor) -> torch.Tensor:
    """``rows`` loss weights of 1/``batch``: what a mean over a batch of ``batch`` images gives each image's
    gradient (computed as the mean's backward computes it, so the floats agree)."""
    return torch.ones(rows, dtype=like.dtype, device=like.device) / batch


def input_grad_sign(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sign(∇x Σ weights · cross-entropy): each image's gradient scaled by its weight."""
    images = images.detach().requires_grad_(True)  # no copy: nothing writes to it
    losses = F.cross_entropy(model(images), labels, reduction="none")
    (grad,) = torch.autograd.grad(losses, images, grad_outputs=weights)
    return grad.sign()


def grad_sign(model: nn.Module, x: torch.Tensor, y: torch.Tensor, workers: Workers = INLINE) -> torch.Tensor:
    """sign(∇x) of the batch-mean cross-entropy of one batch, chunk by chunk."""
    weights = batch_mean_weights(len(x), len(x), x)
    return torch.cat(workers.map(lambda rows: input_grad_sign(model, x[rows], y[rows], weights[rows]), len(x)))


def iterate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: Sequence[float],
    step_sizes: Sequence[float],
    steps: int,
    start: torch.Tensor | None,
    project: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    workers: Workers = INLINE,
) -> torch.Tensor:
    """``steps`` signed-gradient steps for every ε at once; returns E×N×… adversarial images.

    ``start``: E×N×… starting points (None: the clean images, where the first step of every ε
    follows the same gradient, taken once); ``project(adv, ori, eps)`` maps a step back onto the
    ε-ball and [0, 1]. Every image moves on its own, so each chunk of the stack takes all its
    steps before the next (it stays in cache).
    """
    groups, n = len(eps), len(x)
    ori = x.detach().repeat(groups, *[1] * (x.dim() - 1))
    labels = y.repeat(groups)
    eps_t, step_t = per_example(eps, n, ori), per_example(step_sizes, n, ori)
    weights = batch_mean_weights(len(ori), n, ori)
    if start is None and steps:  # every ε starts at the clean images: one gradient serves every ε's first step
        sign = grad_sign(model, x, y, workers).repeat(groups, *[1] * (x.dim() - 1))
        first, steps = project(ori + step_t * sign, ori, eps_t).detach(), steps - 1
    else:
        first = ori if start is None else start.flatten(0, 1).detach()

    def run(rows: slice) -> torch.Tensor:
        images, origin, targets, weight, step, radius = (t[rows] for t in (first, ori, labels, weights, step_t, eps_t))
        for _ in range(steps):
            sign = input_grad_sign(model, images, targets, weight)
            images = project(images + step * sign, origin, radius).detach()
        return images

    return torch.cat(workers.map(run, len(ori))).view(groups, *x.shape)
