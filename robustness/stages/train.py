"""The training stage: one train unit per clean model (method × seed), and the recipe that a label-noise run's
train unit shares.

A ``TrainRecipe`` holds the run's DataConfig and TrainConfig, the parsed method, the seed and, for a label-noise
run, a ``NoiseRecipe``; ``to_json()`` is what ``units/train-<key>.pt`` saves and what the key hashes. The unit
(``train_unit``) returns plain values: the state_dict, the per-epoch history, the seconds, and a label-noise
run's NoisyLabels summary.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from noise import corrupt, spec_file
from robustness.config import DataConfig, SuiteConfig, TrainConfig, override, to_dict
from robustness.executors import Devices, Unit
from robustness.methods import Method, parse_method, plugin_sources
from robustness.models import build_model
from robustness.records import ModelRecord, trained_model_record
from robustness.results import fault_point, save_state_dict
from robustness.train import device_plan, fit
from robustness.units import UNIT_VERSION, compute_units, plain, recipe_data, unit_key
from robustness.validation import trained_names


@dataclass(frozen=True)
class NoiseRecipe:
    """How a label-noise run's training labels are corrupted: ``spec`` (e.g. "uniform:0.5") drawn with ``seed``, on
    ``train_subset`` training images (0: all); ``file_sha256`` keys a noise model read from a file (matrix:, labels:)."""

    spec: str
    seed: int
    train_subset: int
    file_sha256: str | None

    @classmethod
    def of(cls, config: SuiteConfig, spec: str, seed: int) -> NoiseRecipe:
        return cls(spec, seed, config.noise.train_subset, _noise_file_hash(spec))

    def to_json(self) -> dict:
        return {"spec": self.spec, "seed": self.seed, "file_sha256": self.file_sha256, "train_subset": self.train_subset}


@dataclass(frozen=True, eq=False)
class TrainRecipe:
    """One clean model (``noise`` None) or one label-noise run: what determines its train unit.

    Whole config sections are keyed, not chosen fields, so a field someone adds to DataConfig or TrainConfig
    (augmentation, say) is part of the key at once. ``method`` is the parsed spec (parsed once, by the run's
    setup); a user's method is keyed by its file's contents too (``method_code``).
    """

    data: DataConfig
    train: TrainConfig  # a label-noise run's: with ``noise.epochs``
    method: Method
    seed: int
    noise: NoiseRecipe | None = None
    method_code: dict[str, str] = field(default_factory=dict)  # a user's method: "module:factory" -> its file's sha256

    kind = "train"

    @classmethod
    def of(cls, config: SuiteConfig, method: Method, seed: int, noise_spec: str | None = None) -> TrainRecipe:
        """The recipe of ``method`` at ``seed`` in ``config``: a clean model, or with ``noise_spec`` a label-noise run."""
        if noise_spec is None:
            return cls(config.data, config.train, method, seed, None, plugin_sources(method))
        return cls(config.data, replace(config.train, epochs=config.noise.epochs), method, seed,
                   NoiseRecipe.of(config, noise_spec, seed), plugin_sources(method))

    def to_json(self) -> dict:
        """The recipe as saved with its unit and hashed into its key (the keys of units/ written before recipes
        were typed: old run directories resume)."""
        code = {"method_code": self.method_code} if self.method_code else {}
        return plain({"kind": "train", "version": UNIT_VERSION, "data": recipe_data(self.data), "train": to_dict(self.train),
                      "method": self.method.spec, "seed": self.seed,
                      "noise": None if self.noise is None else self.noise.to_json(), **code})

    @classmethod
    def from_json(cls, recipe: dict) -> TrainRecipe:
        """A saved unit's recipe, typed again (its method spec parsed: the one parse of a loaded unit)."""
        noise = recipe["noise"]
        return cls(override(DataConfig(), recipe["data"], "data"), override(TrainConfig(), recipe["train"], "train"),
                   parse_method(recipe["method"]), recipe["seed"],
                   None if noise is None else NoiseRecipe(noise["spec"], noise["seed"], noise["train_subset"],
                                                          noise["file_sha256"]),
                   dict(recipe.get("method_code", {})))

    @property
    def key(self) -> str:
        return unit_key(self.to_json())

    def identity(self) -> dict:
        """What identifies this trained model inside an attack recipe: its train unit."""
        return {"unit": self.key, "arch": self.train.arch, "method": self.method.spec}


def _noise_file_hash(noise_spec: str) -> str | None:
    file = spec_file(noise_spec)  # "labels:h.pt:worse_label" reads h.pt
    return None if file is None else hashlib.sha256(file.read_bytes()).hexdigest()


# --- the unit: plain values in, plain values out ---------------------------------------------


def train_unit(recipe: TrainRecipe, split, device: torch.device, on_epoch: Callable[[dict], None] | None = None) -> dict:
    """Train the model ``recipe`` describes; returns ``{"state_dict", "history", "seconds", "noise"}``.

    ``noise`` is the NoisyLabels summary of a label-noise run, None for a clean model.
    """
    labels = replaced = noisy = None
    if recipe.noise is not None:
        noisy = corrupt(split.train_y, recipe.noise.spec, split.num_classes, recipe.noise.seed)
        labels, replaced = noisy.labels, noisy.replaced

    def epoch_done(row: dict) -> None:
        if on_epoch:
            on_epoch(row)
        fault_point("train-epoch")

    train = recipe.train
    trained = fit(train.arch, recipe.method, split, recipe.seed, train, device,
                  labels=labels, replaced=replaced, epochs=train.epochs, on_epoch=epoch_done)
    state = {name: tensor.detach().cpu().clone() for name, tensor in trained.model.state_dict().items()}
    return {"state_dict": state, "history": trained.history, "seconds": trained.seconds,
            "noise": None if noisy is None else noisy.summary()}


def model_from_state(recipe: TrainRecipe, state: dict, split, device: torch.device) -> nn.Module:
    """The evaluation-mode model that ``state`` (the state_dict of the train unit ``recipe``) holds, in the
    memory format it trained in (channels_last attacks a CPU's convolutions 1.9× faster too)."""
    with torch.random.fork_rng(devices=[]):  # building draws initial weights; leave the global RNG alone
        model = build_model(recipe.train.arch, split.input_shape, split.num_classes, split.mean, split.std,
                            **recipe.method.model_options)
    model.load_state_dict(state)
    plan = device_plan(recipe.train, device)
    return model.to(device, memory_format=plan.memory_format).eval()


# --- scheduling: the clean models of a run ----------------------------------------------------


def train_units(recipes: dict[str, TrainRecipe], store, executor, split, device, desc: str, progress: bool) -> dict[str, dict]:
    """Every train unit of ``recipes`` (name -> recipe). In this process an epoch bar shows each model's progress."""
    def make_unit(name: str, recipe: TrainRecipe) -> Unit:
        bar = (lambda: {"on_epoch": epoch_bar(name, recipe)}) if progress else None  # only where it runs here
        return Unit(recipe.key, name, train_unit, (recipe, split, device), local_kwargs=bar)

    return compute_units(recipes, make_unit, store, executor, desc, progress)


def epoch_bar(name: str, recipe: TrainRecipe) -> Callable[[dict], None]:
    """A per-epoch progress bar for one model, closed after its last epoch."""
    bar = tqdm(total=recipe.train.epochs, desc=f"  {name}", unit="epoch", leave=False)

    def on_epoch(row: dict) -> None:
        bar.update()
        if bar.n >= bar.total:
            bar.close()

    return on_epoch


def clean_recipes(config: SuiteConfig, methods: dict[str, Method]) -> dict[str, TrainRecipe]:
    """model id (``trained_names``) -> train recipe of every clean method × seed (none with --no-train);
    ``methods``: ``parse_methods(config)``."""
    if not config.clean.enabled:
        return {}
    pairs = [(methods[spec], seed) for spec in config.clean.methods for seed in config.clean.seeds]
    # coteaching:noise on clean labels: the noise rate is 0, so nothing is forgotten (Han et al.'s rule)
    return {name: TrainRecipe.of(config, method.at_noise_rate(0.0, "clean labels"), seed)
            for name, (method, seed) in zip(trained_names(config, methods), pairs)}


def clean_stage(config: SuiteConfig, methods: dict[str, Method], split, store, executor, devices: Devices, progress: bool,
                run_dir: Path | None) -> tuple[dict[str, nn.Module], dict[str, ModelRecord], dict[str, dict]]:
    """The clean models: (name -> model on the local device, name -> record, name -> identity)."""
    recipes = clean_recipes(config, methods)
    units = train_units(recipes, store, executor, split, devices.units, "clean training", progress)
    models, records = {}, {}
    for name, unit in units.items():
        recipe = recipes[name]
        if run_dir is not None:
            save_state_dict(run_dir / "models" / f"{name}.pt", unit["state_dict"])
        records[name] = trained_model_record(recipe.method.fields(), recipe.seed, recipe.train.arch, recipe.key,
                                             unit["history"], unit["seconds"])
        models[name] = model_from_state(recipe, unit["state_dict"], split, devices.local)
    return models, records, {name: recipe.identity() for name, recipe in recipes.items()}
