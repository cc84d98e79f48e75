"""The mixup paper's Figure 2 analysis, on test points: what a model does between two examples.

Along ``x = λ·x_i + (1−λ)·x_j`` for random pairs of test images with different
labels, λ on an even grid of [0, 1]:

- ``miss``: the share of pairs whose prediction is neither y_i nor y_j;
- ``grad_norm``: the L2 norm of ∇x of the loss λ·CE(f(x), y_i) + (1−λ)·CE(f(x), y_j)
  (the mixup loss at that point), mean and std over pairs.

The paper shows both are lower for mixup between training points; a smaller
gradient is also what makes one-step attacks (FGSM) weaker, so this section
sits beside the attack results. Every model sees the same pairs.
"""

from __future__ import annotations

from statistics import mean, pstdev

import torch
import torch.nn.functional as F
from torch import nn

from attacks.metrics import EVAL_BATCH
from attacks.transfer import attack_mode

MAX_ROUNDS = 64  # rounds of 4·count draws before draw_pairs gives up: enough when 1 pair in 256 has different labels


def draw_pairs(y: torch.Tensor, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``count`` random index pairs (i, j) with y_i ≠ y_j, seeded. Fewer, possibly none, when such
    pairs are too rare to find in MAX_ROUNDS rounds: with one label only, an unbounded search never ends."""
    gen = torch.Generator().manual_seed(seed)
    first, second = [torch.empty(0, dtype=torch.int64)], [torch.empty(0, dtype=torch.int64)]
    found, rounds = 0, 0
    while found < count and rounds < MAX_ROUNDS and len(y) > 1:
        i, j = torch.randint(len(y), (2, 4 * count), generator=gen)
        keep = y[i] != y[j]
        first.append(i[keep])
        second.append(j[keep])
        found, rounds = found + int(keep.sum()), rounds + 1
    return torch.cat(first)[:count], torch.cat(second)[:count]


def along_segments(model: nn.Module, xi, yi, xj, yj, lambdas: torch.Tensor) -> dict:
    """Per λ: share of pairs predicted as neither label; mean and std over pairs of the input-gradient norm."""
    if len(xi) == 0:  # no pairs were found: nothing to measure (the report leaves the section out)
        return {"miss": [], "grad_norm_mean": [], "grad_norm_std": []}
    shape = (len(lambdas), len(xi))
    lam = lambdas.view(-1, 1).expand(shape).reshape(-1)
    lam_img = lam.view(-1, *[1] * (xi.dim() - 1))
    points = (lam_img * xi.repeat(len(lambdas), 1, 1, 1) + (1 - lam_img) * xj.repeat(len(lambdas), 1, 1, 1))
    labels_i, labels_j = yi.repeat(len(lambdas)), yj.repeat(len(lambdas))
    miss, norms = [], []
    for k in range(0, len(points), EVAL_BATCH):
        part = slice(k, k + EVAL_BATCH)
        x = points[part].clone().requires_grad_(True)
        logits = model(x)
        loss = (lam[part] * F.cross_entropy(logits, labels_i[part], reduction="none")
                + (1 - lam[part]) * F.cross_entropy(logits, labels_j[part], reduction="none")).sum()
        (grad,) = torch.autograd.grad(loss, x)  # sum: each row is one point's own gradient
        pred = logits.argmax(1)
        miss.append((pred != labels_i[part]) & (pred != labels_j[part]))
        norms.append(grad.flatten(1).norm(dim=1))
    miss_grid, norm_grid = torch.cat(miss).view(shape).float(), torch.cat(norms).view(shape)
    return {"miss": miss_grid.mean(1).tolist(), "grad_norm_mean": norm_grid.mean(1).tolist(),
            "grad_norm_std": norm_grid.std(1, unbiased=False).tolist()}


def between_points(models: dict[str, nn.Module], families: dict[str, str], split, config, device) -> dict:
    """The ``between_points`` section of results.json (see docs/results.md)."""
    lambdas = torch.linspace(0, 1, config.between_points)
    i, j = draw_pairs(split.test_y, config.between_pairs, config.seed)
    xi, xj = split.test_x[i].to(device), split.test_x[j].to(device)
    yi, yj = split.test_y[i].to(device), split.test_y[j].to(device)
    with attack_mode(models):
        per_model = {name: along_segments(m, xi, yi, xj, yj, lambdas.to(device)) for name, m in models.items()}
    return {"lambdas": lambdas.tolist(), "pairs": len(i), "seed": config.seed, "models": per_model,
            "summary": summarize(per_model, families)}


def summarize(per_model: dict, families: dict[str, str]) -> dict:
    """Per family and λ: mean and std over models (seeds) of the miss share and of the mean gradient norm."""
    out = {}
    for family in dict.fromkeys(families[name] for name in per_model):
        runs = [rec for name, rec in per_model.items() if families[name] == family]
        out[family] = {"models": len(runs)}
        for key in ("miss", "grad_norm_mean"):
            columns = list(zip(*(r[key] for r in runs)))
            out[family][key] = {"mean": [mean(c) for c in columns], "std": [pstdev(c) for c in columns]}
        # The spread over pairs, averaged over models: how much points differ, not seeds.
        out[family]["grad_norm_pair_std"] = [mean(c) for c in zip(*(r["grad_norm_std"] for r in runs))]
    return out
