"""The naive transfer matrix: the reference the streamed one must equal exactly.

What one writes first: for every attack × ε × source, a ``torchattacks``
attack crafts the whole test set (kept in memory), then every target is
re-evaluated on it, clean predictions included. Nothing is shared. It is slow
on purpose and lives here so that tests and ``bench/bench_attacks.py`` compare
``attacks.transfer.transfer_matrix`` against the same code.
"""

from __future__ import annotations

import torch
from torch import nn

from attacks.metrics import Tally, score
from attacks.registry import make_attack
from attacks.seeding import craft_seed
from attacks.transfer import output_classes
from robustness.config import AttackConfig
from robustness.seeding import seeded


def naive_matrix(models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor, config: AttackConfig, device) -> dict:
    """Same result structure as ``transfer_matrix``; same batches and seeds for crafting, nothing else shared.
    Each batch is crafted by a freshly built torchattacks attack, seeded as the attack stage seeds it."""
    names = list(models)
    for model in models.values():
        model.eval()
    x, y = x.to(device), y.to(device)
    clean = {}
    for target in names:
        tally = Tally(len(x))
        tally.add(*score(models[target], x, y))
        clean[target] = tally.clean_record()
    cells = []
    for attack in config.attacks:
        for eps in config.eps:
            for source in names:
                maker = make_attack(attack, config, output_classes(models[source], x[:1]))
                parts, spent, broken_by = [], [], []
                for start in range(0, len(x), config.batch_size):
                    xb, yb = x[start : start + config.batch_size], y[start : start + config.batch_size]
                    if eps == 0:  # the ball of radius 0 holds only x (the streamed matrix crafts nothing there either)
                        parts.append(xb)
                        continue
                    seed = craft_seed(config.seed, attack, eps, source, start)
                    with seeded(seed, device):
                        crafter = maker.build(models[source], eps, seed)
                        parts.append(crafter(xb, yb))
                    spent.append(maker.queries(crafter))
                    broken_by.append(maker.broken_by(crafter))
                adv = torch.cat(parts)
                for target in names:
                    tally = Tally(len(x))
                    clean_wrong, _ = score(models[target], x, y)
                    tally.add(*score(models[target], adv, y), clean_wrong)
                    if target == source and spent and spent[0] is not None:
                        tally.add_queries(torch.cat(spent), tally.latest_flags() & ~clean_wrong, maker.query_budget())
                    if target == source and broken_by and broken_by[0] is not None:
                        tally.add_parts(torch.cat(broken_by), maker.running_parts())
                    cells.append({"attack": attack, "eps": eps, "source": source, "target": target, **tally.cell_record()})
    return {"n": len(x), "clean": clean, "cells": cells}
