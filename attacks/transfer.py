"""The transfer matrix: examples crafted on every model, evaluated on every model.

For each attack and ε, cell (source, target) is the target's error on
examples crafted against the source; the diagonal is the white-box result.
Test images are streamed in batches. For each batch: every target's clean
predictions are computed once; then each source crafts the batch once per
attack (every ε in one pass where the attack allows it, see
``attacks.base.Attack.craft_every_eps``), every target is evaluated on it, and it is
dropped. Memory stays bounded by one batch (× the number of ε when fused)
whatever the test-set size; model weights get no gradients, only the inputs. On a CPU the fused
attacks' gradient passes run in chunks of ``attack.chunk_images`` on one worker thread per core
(``attacks.workers``): faster, same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator
from contextlib import contextmanager, nullcontext

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from attacks.base import Attack
from attacks.metrics import Tally, score
from attacks.registry import make_attack
from attacks.seeding import craft_seed
from attacks.workers import INLINE, Workers
from robustness.config import AttackConfig
from robustness.seeding import seeded


@contextmanager
def attack_mode(models: dict[str, nn.Module], freeze_weights: bool = True):
    """Eval mode, and (``freeze_weights``) no weight gradients: autograd then keeps only what ∇x needs."""
    params = [p for m in models.values() for p in m.parameters()] if freeze_weights else []
    flags = [p.requires_grad for p in params]
    modes = {name: m.training for name, m in models.items()}
    try:
        for p in params:
            p.requires_grad_(False)
        for m in models.values():
            m.eval()
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)
        for name, m in models.items():
            m.train(modes[name])


def craft(attack: Attack, model: nn.Module, source: str, xb, yb, start: int, eps_list, seed: int, fuse: bool,
          pass_budget: int = 0, workers: Workers = INLINE) -> Iterator[tuple[list[float], torch.Tensor, torch.Tensor | None,
                                                                              torch.Tensor | None]]:
    """Adversarial versions of one batch, as (ε values, E×B×… images, queries per image or None, the ensemble's part
    that broke each image or None: ``Attack.queries``, ``Attack.broken_by``): fused, as
    many ε per pass as ``pass_budget`` images allow (0: no limit), or one ε at a time. Fused attacks run their
    gradient passes through ``workers`` (chunk by chunk on a CPU, see ``attacks.workers``).

    Only ε > 0 is crafted: the ball of radius 0 holds only the clean batch, which is what every attack
    returns there (the tests check it; PGD-L2 would divide 0 by 0, Square would spend its whole budget
    on it), so ``transfer_matrix`` scores ε = 0 without crafting. Attacks that draw random numbers run
    under their seed: torch's global generator (``seeded``) and torchattacks' own ``seed`` argument alike.
    """
    seeds = {e: craft_seed(seed, attack.name, e, source, start) for e in eps_list}
    moving = [e for e in eps_list if e > 0]
    if fuse and moving:
        per_pass = len(moving)
        while per_pass > 1 and pass_budget and attack.pass_images(per_pass, len(xb)) > pass_budget:
            per_pass -= 1
        groups = [moving[k : k + per_pass] for k in range(0, len(moving), per_pass)]
        first = attack.craft_every_eps(model, xb, yb, groups[0], [seeds[e] for e in groups[0]], workers)
        if first is not None:
            yield groups[0], first, None, None
            for group in groups[1:]:
                yield group, attack.craft_every_eps(model, xb, yb, group, [seeds[e] for e in group], workers), None, None
            return
    for eps in moving:
        with seeded(seeds[eps], xb.device) if attack.random else nullcontext():
            crafter = attack.build(model, eps, seeds[eps])
            adv = crafter(xb, yb)
        yield [eps], adv.unsqueeze(0), attack.queries(crafter), attack.broken_by(crafter)


def transfer_matrix(
    models: dict[str, nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    config: AttackConfig,
    device: torch.device,
    progress: bool = True,
    fuse: Collection[str] | None = None,
    freeze_weights: bool = True,
    sources: list[str] | None = None,
) -> dict:
    """Error of every target on every source's adversarial examples.

    ``sources`` restricts the models examples are crafted on (default: all of
    them; the suite's cached units craft on one); every model is still a target.

    ``x`` and ``y`` may be any subset of the test images (the worst-case attacks at the headline ε run on one).
    ``fuse``: the attacks whose ε are crafted together (default: all, or none
    when ``config.fuse_epsilons`` is false); ``freeze_weights``: take no weight
    gradients while attacking. Both only change speed, never the numbers (the
    benchmark and the tests check it).

    Returns ``{"n", "clean": {model: record}, "cells": [record, ...]}``, cells
    ordered by attack, ε, source, target; a record is ``metrics.Tally``'s (with ``wrong_bits``,
    and ``queries`` in a score-based attack's white-box cells).
    """
    clean, cells = transfer_tallies(models, x, y, config, device, progress, fuse, freeze_weights, sources)
    return matrix_records(clean, cells)


def matrix_records(clean: dict[str, Tally], cells: dict[tuple, Tally]) -> dict:
    """transfer_matrix's result from its tallies (``transfer_tallies``; or ``Tally.joined`` ones, batch by batch)."""
    return {
        "n": next(iter(clean.values())).n,
        "clean": {t: tally.clean_record() for t, tally in clean.items()},
        "cells": [{"attack": a, "eps": e, "source": s, "target": t, **tally.cell_record()}
                  for (a, e, s, t), tally in cells.items()],
    }


def transfer_tallies(models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor, config: AttackConfig,
                     device: torch.device, progress: bool = True, fuse: Collection[str] | None = None,
                     freeze_weights: bool = True, sources: list[str] | None = None,
                     first: int = 0) -> tuple[dict[str, Tally], dict[tuple, Tally]]:
    """transfer_matrix's counts before they become records: each target's clean ``Tally`` and each (attack, ε,
    source, target) cell's, in the order of the records. ``first``: the position of ``x[0]`` among the images the
    batches are counted over, for the seeds: one batch of a longer run, given with its start, draws what that run
    drew for it (a worst-case unit per batch does this)."""
    fuse = set(config.attacks if config.fuse_epsilons else ()) if fuse is None else set(fuse)
    names = list(models)
    sources = names if sources is None else list(sources)
    classes = output_classes(models[names[0]], x[:1].to(device))
    attacks = {name: make_attack(name, config, classes) for name in config.attacks}
    clean: dict[str, Tally] = defaultdict(lambda: Tally(len(x)))
    cells: dict[tuple, Tally] = defaultdict(lambda: Tally(len(x)))
    starts = range(0, len(x), config.batch_size)
    bar = tqdm(total=len(starts) * len(config.attacks) * len(sources), desc="attacks", unit="craft", disable=not progress)
    zero_eps = [e for e in config.eps if e == 0]
    workers = Workers.for_device(device, config.chunk_images)
    # In chunks, a gradient pass holds one chunk whatever the number of ε stacked: the budget is for whole batches.
    pass_budget = 0 if workers.chunk else config.fuse_images or config.batch_size
    with attack_mode(models, freeze_weights), workers:
        for start in starts:
            xb = x[start : start + config.batch_size].to(device)
            yb = y[start : start + config.batch_size].to(device)
            clean_scores = {target: score(models[target], xb, yb, workers) for target in names}
            for target in names:
                clean[target].add(*clean_scores[target])
            # At ε = 0 every attack returns the clean batch: each target looks at it a second time, once per batch,
            # and every attack's and source's ε = 0 cells count that look. On purpose: a model whose two passes
            # disagree (randomness) shows there, and the ε = 0 check warns.
            again = {target: score(models[target], xb, yb, workers) for target in names} if zero_eps else {}
            for attack in config.attacks:
                for source in sources:
                    record_scores(again, len(yb), clean_scores, [(attack, e, source) for e in zero_eps], cells)
                    crafted = craft(attacks[attack], models[source], source, xb, yb, first + start, config.eps, config.seed,
                                    attack in fuse, pass_budget, workers)
                    for eps_group, adv, queries, broken_by in crafted:
                        evaluate_targets(models, adv, yb, clean_scores, [(attack, e, source) for e in eps_group], cells,
                                         workers)
                        cell = cells[attack, eps_group[0], source, source]
                        if queries is not None:  # a score-based attack: what it spent on the images it broke
                            broken = cell.latest_flags() & ~clean_scores[source][0].cpu()
                            cell.add_queries(queries, broken, attacks[attack].query_budget())
                        if broken_by is not None:  # an ensemble (AutoAttack): which of its parts broke each image
                            cell.add_parts(broken_by, attacks[attack].running_parts())
                    bar.update()
    bar.close()
    return ({t: clean[t] for t in names},
            {(a, e, s, t): cells[a, e, s, t] for a in config.attacks for e in config.eps for s in sources for t in names})


@torch.no_grad()
def output_classes(model: nn.Module, x: torch.Tensor) -> int:
    """How many classes ``model`` scores (the width of its logits on ``x``)."""
    model_training = model.training
    model.eval()
    try:
        return model(x).shape[1]
    finally:
        model.train(model_training)


def evaluate_targets(models, adv: torch.Tensor, yb, clean_scores: dict, keys: list[tuple], cells: dict,
                     workers: Workers = INLINE) -> None:
    """Score every target on an E×B×… stack of adversarial batches (``keys``: (attack, ε, source) per stack), in
    one pass per target."""
    labels = yb.repeat(len(keys))
    scores = {target: score(model, adv.flatten(0, 1), labels, workers) for target, model in models.items()}
    record_scores(scores, len(yb), clean_scores, keys, cells)


def record_scores(scores: dict, batch: int, clean_scores: dict, keys: list[tuple], cells: dict) -> None:
    """Add each target's scores on a stack of ``len(keys)`` batches of ``batch`` images to the cells ``keys`` name
    (at ε = 0 the stack is the clean batch itself, every key counting the same scores)."""
    for target, (wrong1, wrong5) in scores.items():
        for g, key in enumerate(keys):
            part = slice(g * batch, (g + 1) * batch)
            cells[(*key, target)].add(wrong1[part], None if wrong5 is None else wrong5[part], clean_scores[target][0])


def input_gradient_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean L1 norm per example of ∇x CE(model(x), y): zero means an attack has nothing to follow."""
    model.eval()
    x = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")  # sum: each row of grad is one example's own
    (grad,) = torch.autograd.grad(loss, x, allow_unused=True)
    return 0.0 if grad is None else float(grad.abs().flatten(1).sum(1).mean())
