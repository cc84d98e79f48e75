"""The attack stage: one attack unit per attack × source model, crafted at every ε and evaluated on every model
(the transfer matrix, cell by cell).

An ``AttackRecipe`` holds the run's DataConfig and AttackConfig (less the fields that are not one unit's own:
``NOT_KEYED``), the attack, the source and every model's identity; a worst-case unit adds its ``Headline``
(robustness/stages/worst_case.py) and the label-noise stage attacks its models with the same unit at one ε.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from attacks.metrics import pack_bits
from attacks.registry import ATTACKS
from attacks.transfer import transfer_matrix, transfer_tallies
from attacks.worst import headline_images
from robustness.checkpoints import LoadedModel
from robustness.config import AttackConfig, DataConfig, SuiteConfig, override, to_dict
from robustness.executors import Unit
from robustness.results import fault_point
from robustness.units import UNIT_VERSION, compute_units, plain, recipe_data, unit_key


@dataclass(frozen=True)
class Headline:
    """A worst-case unit's choice: the headline ``eps`` it runs at, the size of its stratified image subset, and
    the batch of that subset it covers (``[start, stop)``; robustness/stages/worst_case.py runs one unit per batch)."""

    eps: float
    images: int
    batch: tuple[int, int] | None = None  # None: every image of the subset (a unit written before per-batch units)

    def to_json(self) -> dict:
        batch = {} if self.batch is None else {"batch": list(self.batch)}
        return {"eps": self.eps, "images": self.images, **batch}

    @classmethod
    def from_json(cls, headline: dict) -> Headline:
        batch = headline.get("batch")
        return cls(headline["eps"], headline["images"], None if batch is None else tuple(batch))


# [attack] fields that are not a unit's own: the attack list and the worst-case choice (the unit's own attack and
# Headline say them), and how the work is split (never the numbers).
NOT_KEYED = ("attacks", "heatmap_eps", "worst_case_attacks", "worst_case_images", "fuse_epsilons", "fuse_images",
             "chunk_images")


@dataclass(frozen=True)
class AttackRecipe:
    """One attack crafted on ``source`` at every ε of ``settings``, evaluated on every model of ``models`` (name ->
    identity: a trained model's ``TrainRecipe.identity()``, a checkpoint's sha256). One unit covers every ε so that
    the attack's work shared across ε (FGSM's one gradient, I-FGSM's fused ε) stays shared. With ``headline`` it
    is a worst-case unit: white box at one ε, on the stratified subset of ``headline.images`` test images."""

    data: DataConfig
    attack: str
    settings: AttackConfig  # the run's [attack] section with this attack's table only; NOT_KEYED fields are left out of the key
    source: str
    models: dict[str, dict]
    headline: Headline | None = None

    kind = "attack"

    @classmethod
    def of(cls, config: SuiteConfig, attack: str, source: str, models: dict[str, dict]) -> AttackRecipe:
        # Only this attack's own settings: changing FAB's steps must not invalidate PGD's units.
        own = replace(config.attack, settings={attack: config.attack.settings_of(attack)})
        return cls(config.data, attack, own, source, models)

    def at(self, eps: float) -> AttackRecipe:
        """The same unit at ``eps`` alone, white box: on ``source`` only."""
        return replace(self, settings=replace(self.settings, eps=(eps,)), models={self.source: self.models[self.source]})

    def worst_case(self, eps: float) -> AttackRecipe:
        """The worst-case work of this attack: white box at ``eps`` on ``attack.worst_case_images`` test images (one
        unit per batch of them: ``batch``)."""
        return replace(self.at(eps), headline=Headline(eps, self.settings.worst_case_images))

    def batch(self, start: int, stop: int) -> AttackRecipe:
        """The worst-case unit of the images ``[start, stop)`` of its subset: one batch of ``attack.batch_size``."""
        return replace(self, headline=replace(self.headline, batch=(start, stop)))

    def attack_config(self) -> AttackConfig:
        """The settings the unit runs with: its one attack, tabulated at its first ε."""
        config = replace(self.settings, attacks=(self.attack,), heatmap_eps=self.settings.eps[0])
        return config if self.headline is None else replace(config, worst_case_images=self.headline.images)

    def to_json(self) -> dict:
        settings = {name: value for name, value in to_dict(self.settings).items() if name not in NOT_KEYED}
        headline = {} if self.headline is None else {"headline": self.headline.to_json()}
        # An attack whose numbers changed under the same name (autoattack: 10 iterations, now the reference's 100)
        # keys its revision, so a unit of the former one is recomputed; revision 0 leaves every other key as it was.
        revision = ATTACKS[self.attack].revision if self.attack in ATTACKS else 0
        return plain({"kind": "attack", "version": UNIT_VERSION, "data": recipe_data(self.data), "attack": self.attack,
                      "settings": settings, "source": self.source, "models": self.models, **headline,
                      **({"revision": revision} if revision else {})})

    @classmethod
    def from_json(cls, recipe: dict) -> AttackRecipe:
        headline = recipe.get("headline")
        return cls(override(DataConfig(), recipe["data"], "data"), recipe["attack"],
                   override(AttackConfig(), recipe["settings"], "attack"), recipe["source"], recipe["models"],
                   None if headline is None else Headline.from_json(headline))

    @property
    def key(self) -> str:
        return unit_key(self.to_json())


# --- the unit -------------------------------------------------------------------------------


def attack_unit(recipe: AttackRecipe, models: dict[str, nn.Module], split, device: torch.device) -> dict:
    """One attack crafted on ``recipe.source`` at every ε and evaluated on every model of the recipe.

    ``models`` maps each model name of ``recipe.models`` to the model (on any device; moved to
    ``device`` here, so a Ray worker gets CPU copies and puts them on its GPU).
    Returns transfer_matrix's ``{"n", "clean", "cells"}`` for this source alone; a worst-case unit of one batch
    returns its counts instead (``batch_states``), to be joined with the other batches'.
    """
    models = {name: models[name].to(device).eval() for name in recipe.models}  # the recipe's order is the cells' order
    config = recipe.attack_config()
    x, y, index = split.test_x, split.test_y, None
    if recipe.headline is not None:  # a worst-case attack: its image subset, recorded as bits over the test set
        index = headline_images(y, config)
        if recipe.headline.batch is not None:
            result = batch_states(models, x, y, index, config, recipe, device)
            fault_point("attack-cell")
            return result
        x, y = x[index], y[index]
    result = transfer_matrix(models, x, y, config, device, progress=False, sources=[recipe.source])
    if index is not None:
        mask = torch.zeros(len(split.test_y), dtype=torch.bool)
        mask[index] = True
        result["images"] = pack_bits(mask)
    fault_point("attack-cell")
    return result


def batch_states(models: dict[str, nn.Module], x, y, index, config: AttackConfig, recipe: AttackRecipe, device) -> dict:
    """One batch of a worst-case attack: the images ``index[start:stop]``, seeded as the batch at ``start`` of the
    whole subset. Its clean and cell counts as ``Tally.state``s (``{"start", "stop", "clean", "cells"}``)."""
    start, stop = recipe.headline.batch
    rows = index[start:stop]
    clean, cells = transfer_tallies(models, x[rows], y[rows], config, device, progress=False, sources=[recipe.source],
                                    first=start)
    return {"start": start, "stop": stop, "clean": {name: tally.state() for name, tally in clean.items()},
            "cells": [{"attack": a, "eps": e, "source": s, "target": t, "state": tally.state()}
                      for (a, e, s, t), tally in cells.items()]}


# --- scheduling: one unit per attack × source model ----------------------------------------


def custom_identity(loaded: LoadedModel) -> dict:
    """What identifies a custom model inside an attack recipe: its file's contents and what sits in front."""
    return {"checkpoint": loaded.source["sha256"], "normalization": loaded.source["normalization"]}


def attack_matrix(config: SuiteConfig, identities: dict[str, dict], models: dict[str, nn.Module], store, executor,
                  split, device, progress: bool) -> dict:
    """transfer_matrix's result for every model, assembled from one cached unit per attack × source."""
    recipes = {f"{attack} from {source}": AttackRecipe.of(config, attack, source, identities)
               for attack in config.attack.attacks for source in identities}
    parts = compute_units(recipes, lambda name, r: Unit(r.key, name, attack_unit, (r, models, split, device)),
                          store, executor, "attacks", progress)
    order = {(c["attack"], c["eps"], c["source"], c["target"]): c for part in parts.values() for c in part["cells"]}
    cells = [order[a, e, s, t] for a in config.attack.attacks for e in config.attack.eps for s in models for t in models]
    first = next(iter(parts.values()))
    return {"n": first["n"], "clean": first["clean"], "cells": cells}
