"""The worst-case stage: each of ``attack.worst_case_attacks`` white box on each model at the headline ε only
(chosen from the attack stage's matrix when not given), on a stratified subset of ``attack.worst_case_images``
test images; one attack unit each (``AttackRecipe.worst_case``), whose recipe holds that ε and the subset's size,
so a different choice is a different unit."""

from __future__ import annotations

from torch import nn

from attacks.metrics import unpack_bits
from attacks.worst import headline_attacks
from robustness.config import SuiteConfig
from robustness.executors import Unit
from robustness.stages.attack import AttackRecipe, attack_unit
from robustness.units import compute_units


def worst_case_stage(config: SuiteConfig, identities: dict[str, dict], models: dict[str, nn.Module], store, executor,
                     split, device, progress: bool, eps: float) -> dict | None:
    """The worst-case attacks (``attack.worst_case_attacks``) white box at the headline ``eps``, one cached
    unit per attack × model, as one matrix over their image subset (None when there are none to run)."""
    recipes = {f"{attack} on {source} at ε={eps:g}": AttackRecipe.of(config, attack, source, identities).worst_case(eps)
               for attack in headline_attacks(config.attack) for source in identities}
    if not recipes:
        return None
    parts = compute_units(recipes, lambda name, r: Unit(r.key, name, attack_unit, (r, models, split, device)),
                          store, executor, f"worst case at ε={eps:g}", progress)
    first = next(iter(parts.values()))
    index = unpack_bits(first["images"], len(split.test_y)).nonzero().flatten()
    return {"eps": eps, "n": first["n"], "index": index.tolist(),
            "clean": {name: c for part in parts.values() for name, c in part["clean"].items()},
            "cells": [c for part in parts.values() for c in part["cells"]]}
