"""The stages of a run, one module each: its recipe (a typed record of exactly what determines one unit of
work), its unit function (plain values in, plain values out; a Ray task or a call in this process) and its
scheduling (which units a run needs, named for people, cached in ``<run-dir>/units/``).

- ``train``: the clean models (``TrainRecipe``, ``train_unit``, ``clean_stage``).
- ``attack``: each attack × source model at every ε, on every model (``AttackRecipe``, ``attack_unit``,
  ``attack_matrix``).
- ``worst_case``: the worst-case attacks at the headline ε, white box, on an image subset (``worst_case_stage``).
- ``label_noise``: the corrupted-label benchmark, its runs trained as train units and, with ``noise.attack``,
  attacked as attack units (``noise_stage``).

robustness/suite.py runs them in order and assembles results.json; robustness/units.py holds what every unit
shares (its key, its digest, the store, the scheduler).
"""

from __future__ import annotations

from robustness.stages.attack import AttackRecipe
from robustness.stages.train import TrainRecipe


def recipe_from_json(recipe: dict) -> TrainRecipe | AttackRecipe:
    """A recipe as a unit file saves it (``to_json()``), typed again by its kind."""
    return {"train": TrainRecipe, "attack": AttackRecipe}[recipe["kind"]].from_json(recipe)
