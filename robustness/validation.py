"""Every name in a configuration checked against its registry, before anything is trained or written.

This sits above the registries (data sets, architectures, methods, attacks, noise models,
checkpoint specs), so ``robustness/config.py`` stays a module of plain types that every
layer may import. Entry points call ``load_config``; a resumed run calls ``validate``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from attacks import check_settings, make_attack
from noise import NOISE_MODELS, check_spec, noise_specs
from robustness.checkpoints import parse_model_spec
from robustness.config import SuiteConfig, check_values
from robustness.data import as_pixels, dataset_loader
from robustness.errors import SuiteError, one_line
from robustness.methods import Batch, Method, Trainee, model_id, parse_method
from robustness.models import LARGEST_SIDE, build_model, mix_points, model_builder
from robustness.presets import build_config
from robustness.registry import lookup


PROBE_IMAGES = 8  # training images a method's loss is tried on before anything trains


def load_config(preset_name: str | None = None, toml_path: str | Path | None = None,
                flags: dict[str, Any] | None = None) -> SuiteConfig:
    """Preset ⊕ TOML ⊕ flags (``robustness.presets.build_config``), with every name checked."""
    config = build_config(preset_name, toml_path, flags)
    validate(config)
    return config


def validate(config: SuiteConfig) -> dict[str, Method]:
    """Values in range and every name known: a one-line SuiteError otherwise. Returns ``parse_methods(config)``."""
    check_values(config)
    dataset_loader(config.data.name)
    model_builder(config.train.arch)
    check_settings(config.attack)  # every [attack.NAME] table: a registered attack, its keys, their ranges
    for name in config.attack.attacks + config.attack.worst_case_attacks:
        make_attack(name, config.attack)  # an unknown name, a bad torchattacks: spec, no version for attack.norm
    lookup(NOISE_MODELS, config.noise.noise_model, "noise model")
    methods = parse_methods(config)
    validate_models(config, methods)
    validate_noise(config)
    return methods


def parse_methods(config: SuiteConfig) -> dict[str, Method]:
    """Spec -> its parsed Method, for every training method the configuration names (clean and label-noise runs,
    each spec once, in order): parsed here, then passed on to the stages, which never parse a spec again."""
    return {spec: parse_method(spec) for spec in dict.fromkeys(config.clean.methods + config.noise.methods)}


def trained_names(config: SuiteConfig, methods: dict[str, Method]) -> list[str]:
    """The clean models' names, method by method and seed by seed, e.g. ["erm_s0", "mixup_a1_s0"]; none with --no-train."""
    if not config.clean.enabled:
        return []
    return [model_id(methods[spec], seed) for spec in config.clean.methods for seed in config.clean.seeds]


def validate_models(config: SuiteConfig, methods: dict[str, Method]) -> None:
    """Custom model specs parse and have distinct names that no trained model takes."""
    names = [parse_model_spec(text).name for text in config.models]
    trained = trained_names(config, methods)
    for name in names:
        if names.count(name) > 1 or name in trained:
            raise SuiteError(f"model name {name!r} is used twice (trained models are named {', '.join(trained) or 'nothing'}); rename it")


def validate_noise(config: SuiteConfig) -> None:
    """Every noise spec and method must be right before the first model trains."""
    noise = config.noise
    if noise.enabled and not (noise_specs(noise) and noise.methods and noise.seeds):
        raise SuiteError("the noise benchmark needs at least one level or spec, method and seed; "
                         "or turn it off (noise.enabled = false)")
    for spec in noise_specs(noise):
        check_spec(spec)


def check_methods(config: SuiteConfig, split, methods: dict[str, Method] | None = None) -> None:
    """Every training method of the run computes a finite scalar loss on a few training images, before anything
    trains: a user's method that returns the wrong thing, or fails, stops here with one line.
    ``methods``: ``parse_methods(config)``, when the caller has it."""
    methods = methods if methods is not None else parse_methods(config)
    specs = (config.clean.methods if config.clean.enabled else ()) + (config.noise.methods if config.noise.enabled else ())
    with torch.random.fork_rng(devices=[]):  # building models draws weights: leave the run's generator alone
        for spec in dict.fromkeys(specs):
            method = methods[spec]
            model = build_model(config.train.arch, split.input_shape, split.num_classes, split.mean, split.std,
                                **method.model_options)
            x, y = as_pixels(split.train_images[:PROBE_IMAGES]), split.train_y[:PROBE_IMAGES]
            trainee = Trainee(model.train(), mix_points(model), split.train_images, split.train_y)
            try:
                loss = method.loss(trainee, Batch(x, ((1.0, y),), torch.arange(len(y))), method.streams(0))
            except SuiteError:
                raise
            except Exception as err:  # a user's method: one line, whatever it raised
                raise SuiteError(f"training method {spec!r} fails on a batch of training images with "
                                 f"{one_line(err)}") from None
            if not (isinstance(loss, torch.Tensor) and loss.dim() == 0 and bool(torch.isfinite(loss)) and loss.requires_grad):
                raise SuiteError(f"training method {spec!r} gives a loss of {describe(loss)}; it must be a finite "
                                 "scalar tensor that depends on the model's weights")


def describe(loss) -> str:
    if not isinstance(loss, torch.Tensor):
        return f"type {type(loss).__name__}"
    if loss.dim():
        return f"shape {list(loss.shape)}"
    return f"{float(loss.detach()):g}" if not bool(torch.isfinite(loss)) else "a tensor without gradient"


def check_data_fits(config: SuiteConfig, split) -> None:
    """The architecture suits the data's image size, when the run trains anything, an L2 radius is one two images
    of this size can be apart, and every attack can run on the data's classes (before anything is written)."""
    widest = math.sqrt(math.prod(split.input_shape))  # the L2 distance between an all-black and an all-white image
    if config.attack.norm == "l2" and max(config.attack.eps) > widest:
        raise SuiteError(f"L2 ε {max(config.attack.eps):g} exceeds {widest:.3g}, the largest L2 distance between two "
                         f"{'×'.join(map(str, split.input_shape))} images in [0, 1]; common L2 radii are 0.5, 1 or 2")
    for name in config.attack.attacks + config.attack.worst_case_attacks:
        make_attack(name, config.attack, split.num_classes)  # an attack whose loss needs more classes than the data has
    side, arch = max(split.input_shape[1:]), config.train.arch
    trains = config.clean.enabled or config.noise.enabled
    if trains and side > LARGEST_SIDE.get(arch, side):
        raise SuiteError(f"data set {split.name!r} has {split.input_shape[1]}×{split.input_shape[2]} images but "
                         f"train.arch {arch} is made for images up to {LARGEST_SIDE[arch]}×{LARGEST_SIDE[arch]} "
                         "(a run would take hours); use --preset cifar10-cpu for 32×32 images, or set [train] arch, "
                         "e.g. fast_resnet_small")
