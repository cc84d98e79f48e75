"""The worst-case stage: each of ``attack.worst_case_attacks`` white box on each model at the headline ε only
(chosen from the attack stage's matrix when not given), on a stratified subset of ``attack.worst_case_images``
test images.

One unit per attack × model × batch of ``attack.batch_size`` images of that subset (``AttackRecipe.worst_case``,
then ``.batch(start, stop)``): a standard AutoAttack on 10,000 CIFAR-10 images is hours on a CPU, and a killed run
loses one batch, not the attack. Each batch is seeded as it was when one unit ran every batch (the seed is the
attack's, ε's, the model's and the batch's start), so the numbers do not depend on the split; the batches' counts
are joined into the attack × model's matrix (``Tally.joined``). A progress bar per attack shows the images left and
the robust accuracy so far (images right when clean and under the attack).

Units written before per-batch units (one per attack × model, no ``batch`` in the recipe) are not reused: the
stage names how many it found and computes their batches (docs/resume-and-ray.md).
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn
from tqdm.auto import tqdm

from attacks.metrics import Tally
from attacks.transfer import matrix_records
from attacks.worst import headline_attacks, headline_images
from robustness.config import SuiteConfig
from robustness.errors import warn
from robustness.executors import Unit
from robustness.stages.attack import AttackRecipe, attack_unit
from robustness.units import compute_units


def worst_case_stage(config: SuiteConfig, identities: dict[str, dict], models: dict[str, nn.Module], store, executor,
                     split, device, progress: bool, eps: float) -> dict | None:
    """The worst-case attacks (``attack.worst_case_attacks``) white box at the headline ``eps``, one cached unit
    per attack × model × batch, as one matrix over their image subset (None when there are none to run)."""
    whole = {(attack, source): AttackRecipe.of(config, attack, source, identities).worst_case(eps)
             for attack in headline_attacks(config.attack) for source in identities}
    if not whole:
        return None
    index = headline_images(split.test_y, config.attack)
    bounds = batch_bounds(len(index), config.attack.batch_size)
    warn_old_units(whole.values(), store)
    recipes = {(attack, source, start): recipe.batch(start, stop)
               for (attack, source), recipe in whole.items() for start, stop in bounds}
    labels = {(attack, source, start): f"{attack} on {source} at ε={eps:g}, images {start + 1}-{stop} of {len(index)}"
              for attack, source in whole for start, stop in bounds}
    bars = AttackBars([attack for attack, _ in whole], len(index), len(identities), eps, progress)
    try:
        parts = compute_units({labels[k]: r for k, r in recipes.items()}, lambda name, r: Unit(r.key, name, attack_unit, (r, models, split, device)),
                              store, executor, f"worst case at ε={eps:g}", progress=False, on_result=bars.update)
    finally:
        bars.close()
    by_batch = {k: parts[labels[k]] for k in recipes}
    joined = [join_batches([by_batch[attack, source, start] for start, _ in bounds]) for attack, source in whole]
    return {"eps": eps, "n": len(index), "index": index.tolist(),
            "clean": {name: c for part in joined for name, c in part["clean"].items()},
            "cells": [c for part in joined for c in part["cells"]]}


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of each batch of ``batch_size`` among ``n`` images: the batches transfer_matrix crafts."""
    return [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def join_batches(states: list[dict]) -> dict:
    """transfer_matrix's ``{"n", "clean", "cells"}`` for one attack × model from its batches' units, in order."""
    clean = {name: Tally.joined([s["clean"][name] for s in states]) for name in states[0]["clean"]}
    keys = [(c["attack"], c["eps"], c["source"], c["target"]) for c in states[0]["cells"]]
    cells = {key: Tally.joined([s["cells"][k]["state"] for s in states]) for k, key in enumerate(keys)}
    return matrix_records(clean, cells)


def warn_old_units(recipes: Iterable[AttackRecipe], store) -> None:
    """Say so when the run directory holds worst-case units of the shape before per-batch units: they are left
    as they are and not reused (their batches are computed), never silently taken for something else."""
    if store.dir is None:
        return
    old = sum(1 for recipe in recipes if store.path(recipe).exists())
    if old:
        warn(f"this run directory holds {old} worst-case unit(s) of the shape before per-batch units (one per attack × "
             "model); they are not reused: their attacks are computed again, batch by batch (docs/resume-and-ray.md)")


class AttackBars:
    """One progress bar per worst-case attack: images done of every model's subset, the images left, and the robust
    accuracy so far (right when clean and under the attack: RobustBench's robust accuracy), fed a batch unit's result
    as it is reused or computed."""

    def __init__(self, attacks: list[str], images: int, models: int, eps: float, progress: bool):
        names = list(dict.fromkeys(attacks))
        self.bars = {attack: tqdm(total=images * models, desc=f"{attack} at ε={eps:g}", unit="img", position=k,
                                  disable=not progress, leave=True) for k, attack in enumerate(names)}
        self.total = images * models
        self.done = dict.fromkeys(names, 0)  # images attacked (a disabled bar counts nothing)
        self.robust = dict.fromkeys(names, 0)  # of them, right when clean and under the attack

    def update(self, result: dict) -> None:
        own = next(c for c in result["cells"] if c["source"] == c["target"])
        attack, state = own["attack"], own["state"]
        self.done[attack] += state["n"]
        self.robust[attack] += state["correct_clean"] - state["flipped"]
        bar = self.bars[attack]
        bar.set_postfix_str(f"robust accuracy {self.robust[attack] / self.done[attack]:.1%}, "
                            f"{self.total - self.done[attack]:,} images left", refresh=False)
        bar.update(state["n"])

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
