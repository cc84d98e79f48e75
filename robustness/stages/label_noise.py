"""The label-noise stage: the corrupted-label benchmark (noise.benchmark's summaries), one train unit per
(noise spec, method, seed) on ``noise.train_subset`` of the training images, and with ``noise.attack`` the
attack stage's FGSM and PGD on every run's model, one attack unit each."""

from __future__ import annotations

from noise import assemble_noise, corrupt, noise_specs, nominal_rate
from robustness import data as datasets
from robustness.config import SuiteConfig
from robustness.executors import Unit
from robustness.methods import Method, model_id
from robustness.records import noise_run_record
from robustness.stages.attack import AttackRecipe, attack_unit
from robustness.stages.train import TrainRecipe, model_from_state, train_units
from robustness.units import compute_units
from robustness.validation import parse_methods

NOISE_ATTACKS = ("fgsm", "pgd")  # noise.attack: the attack stage's white-box pair, on every label-noise model
ATTACK_FIELDS = ("error", "wrong", "error_ci", "success_rate", "success_rate_ci")  # kept per run in results.json


def noise_recipes(config: SuiteConfig, methods: dict[str, Method] | None = None) -> dict[tuple, TrainRecipe]:
    """(noise spec, method spec, seed) -> train recipe of every label-noise run; ``methods``: ``parse_methods(config)``."""
    nc = config.noise
    methods = methods if methods is not None else parse_methods(config)
    # coteaching:noise becomes coteaching:<the level's rate> here, so the unit key holds the concrete number
    return {(spec, method, seed): TrainRecipe.of(config, methods[method].at_noise_rate(nominal_rate(spec), spec), seed,
                                                 noise_spec=spec)
            for spec in noise_specs(nc) for method in nc.methods for seed in nc.seeds}


def noise_split(config: SuiteConfig, split):
    """The training split of the label-noise runs: ``noise.train_subset`` of the training images when set."""
    return datasets.training_subset(split, config.noise.train_subset, config.data.split_seed)


def noisy_labels(config: SuiteConfig, split) -> dict:
    """(spec, seed) -> NoisyLabels on the noise runs' split: a bad file, class id or label order (a CIFAR-N
    file's clean_label) fails here, which ``run_suite`` calls before anything trains or is written."""
    nc, split = config.noise, noise_split(config, split)
    return {(spec, seed): corrupt(split.train_y, spec, split.num_classes, seed)
            for spec in noise_specs(nc) for seed in nc.seeds}


def noise_stage(config: SuiteConfig, split, store, executor, device, progress: bool,
                headline: float | None = None, noisy: dict | None = None, methods: dict[str, Method] | None = None) -> dict:
    """The corrupted-label benchmark (noise.benchmark's summaries), one cached unit per run, on
    ``noise.train_subset`` of the training images when set. With ``noise.attack`` every run's model is
    also attacked white box (``noise_attack_stage``) at ``headline`` (the attack stage's headline ε)."""
    nc = config.noise
    noisy = noisy if noisy is not None else noisy_labels(config, split)  # run_suite corrupted them up front
    split = noise_split(config, split)
    recipes = noise_recipes(config, methods)
    named = {f"{spec} {model_id(r.method, seed)}": r for (spec, _, seed), r in recipes.items()}
    trained = train_units(named, store, executor, split, device, "label noise", progress)
    attack, attacked = None, {}
    if nc.attack:
        eps, rule = noise_attack_eps(config, headline)
        attack = {"attacks": list(NOISE_ATTACKS), "eps": eps, "eps_rule": rule}
        attacked = noise_attack_stage(config, named, trained, split, store, executor, device, progress, eps)
    runs = [noise_run_record(spec, nominal_rate(spec), recipe.method.fields(), seed, unit["noise"],
                             unit["history"], unit["seconds"], attacked.get(name))
            for ((spec, _, seed), recipe), (name, unit) in zip(recipes.items(), trained.items())]
    return assemble_noise(nc, runs, noisy) | {"attack": attack}


def noise_attack_eps(config: SuiteConfig, headline: float | None) -> tuple[float, str]:
    """The ε at which label-noise models are attacked, and why: the attack stage's headline ε when it ran,
    else ``attack.heatmap_eps``, else the middle ε > 0 of ``attack.eps`` (no white-box sweep to choose from)."""
    if headline is not None:
        return headline, "the attack stage's headline ε"
    if config.attack.heatmap_eps is not None:
        return config.attack.heatmap_eps, "attack.heatmap_eps"
    moving = sorted(e for e in config.attack.eps if e > 0) or [0.0]
    return moving[len(moving) // 2], "the middle ε > 0 of attack.eps (the attack stage did not run)"


def noise_attack_stage(config: SuiteConfig, named: dict[str, TrainRecipe], trained: dict[str, dict], split, store, executor,
                       device, progress: bool, eps: float) -> dict[str, dict]:
    """Run name -> {attack: its white-box test error record} for every label-noise model: the attack stage's
    FGSM and PGD (``NOISE_ATTACKS``, its settings: steps, step size, random start, seed) at ``eps`` on all test
    images, one cached unit per attack × model (the attack stage's unit: ``AttackRecipe`` / ``attack_unit``)."""
    models = {name: model_from_state(named[name], trained[name]["state_dict"], split, device) for name in named}
    recipes = {f"{attack} on {name} at ε={eps:g}": AttackRecipe.of(config, attack, name, {name: recipe.identity()}).at(eps)
               for name, recipe in named.items() for attack in NOISE_ATTACKS}
    parts = compute_units(recipes, lambda label, r: Unit(r.key, label, attack_unit, (r, models, split, device)),
                          store, executor, f"label-noise models under attack at ε={eps:g}", progress)
    records: dict[str, dict] = {name: {"eps": eps} for name in named}
    for part in parts.values():
        (cell,) = [c for c in part["cells"] if c["eps"] == eps]
        records[cell["source"]][cell["attack"]] = {key: cell[key] for key in ATTACK_FIELDS}
    return records
