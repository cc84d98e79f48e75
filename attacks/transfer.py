"""The transfer matrix: examples crafted on every model, evaluated on every model.

For each attack and ε, cell (source, target) is the target's error on
examples crafted against the source; the diagonal is the white-box result.
Test images are streamed in batches: each source crafts a batch once per
attack and ε, every target is evaluated on it, and the batch is dropped, so
memory stays bounded by one batch whatever the test-set size.
"""

from __future__ import annotations

from collections import defaultdict

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from attacks.registry import ATTACKS
from robustness.config import AttackConfig
from robustness.train import predict


def transfer_matrix(
    models: dict[str, nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    config: AttackConfig,
    device: torch.device,
    progress: bool = True,
    sources: list[str] | None = None,
) -> dict:
    """Error of every target on every source's adversarial examples.

    ``sources`` restricts the models examples are crafted on (default: all of
    them); every model is still a target.

    Returns ``{"n", "clean": {model: {"error", "wrong"}}, "cells": [{"attack",
    "eps", "source", "target", "error", "wrong"}, ...]}``, cells ordered by
    attack, ε, source, target.
    """
    names = list(models)
    sources = names if sources is None else list(sources)
    for model in models.values():
        model.eval()
    crafters = {
        (attack, eps, source): ATTACKS[attack](models[source], eps, config)
        for attack in config.attacks
        for eps in config.eps
        for source in sources
    }
    clean_wrong: dict[str, int] = defaultdict(int)
    wrong: dict[tuple, int] = defaultdict(int)
    starts = range(0, len(x), config.batch_size)
    bar = tqdm(total=len(starts) * len(crafters), desc="attacks", unit="craft", disable=not progress)
    for start in starts:
        xb = x[start : start + config.batch_size].to(device)
        yb = y[start : start + config.batch_size].to(device)
        for target in names:
            clean_wrong[target] += int((predict(models[target], xb) != yb).sum())
        for (attack, eps, source), crafter in crafters.items():
            adv = crafter(xb, yb)
            for target in names:
                wrong[attack, eps, source, target] += int((predict(models[target], adv) != yb).sum())
            bar.update()
    bar.close()
    n = len(x)
    cells = [
        {"attack": a, "eps": e, "source": s, "target": t, "error": wrong[a, e, s, t] / n, "wrong": wrong[a, e, s, t]}
        for a in config.attacks
        for e in config.eps
        for s in sources
        for t in names
    ]
    clean = {t: {"error": clean_wrong[t] / n, "wrong": clean_wrong[t]} for t in names}
    return {"n": n, "clean": clean, "cells": cells}


def input_gradient_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean L1 norm per example of ∇x CE(model(x), y): zero means an attack has nothing to follow."""
    model.eval()
    x = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")  # sum: each row of grad is one example's own
    (grad,) = torch.autograd.grad(loss, x, allow_unused=True)
    return 0.0 if grad is None else float(grad.abs().flatten(1).sum(1).mean())
