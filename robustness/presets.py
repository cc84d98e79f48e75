"""The named presets (``--preset NAME``) and building a run's configuration from one.

A preset is a plain ``SuiteConfig`` value (robustness/config.py has every field and its unit);
``build_config`` applies a TOML file and flags on top, in that order (later wins). An attack's own
settings are written as in TOML, one table per attack: ``settings={"pgd": {"steps": 3}}``.

    config = build_config("tiny", "run.toml", {"clean": {"seeds": [0, 1]}})
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from robustness.config import (AttackConfig, CleanConfig, DataConfig, NoiseConfig, SuiteConfig, TrainConfig, check_values,
                               fit_heatmap_eps, override, read_toml)
from robustness.errors import SuiteError

# The methods preset's tricks, one spec each (robustness/methods/).
METHODS_COMPARED = ("erm", "mixup:1", "manifold_mixup:2", "cutmix:1", "label_smoothing:0.1", "pgd_at:0.1")
# The mixup paper's ablation (its section 4, on CIFAR-10): mixup with α = 1 and the variants it compares, with
# k = 200 neighbours as in the paper (on digits, at most the class size minus one).
ABLATION = (
    "erm",
    "mixup:1",  # all classes, random partners (AC + RP): mixup itself
    "mixup:1,partners=same_class",  # same class, random partners (SC + RP)
    "mixup:1,pairing=knn",  # all classes, k nearest neighbours (AC + KNN)
    "mixup:1,partners=same_class,pairing=knn",  # SC + KNN
    "mixup:1,mix=inputs",  # mix inputs only
    "mixup:1,mix=labels",  # mix labels only
    "mixup:1,layer=1",  # mix hidden states at the first mix point ("layer 1")
    "mixup:1,layer=2",  # ... at the second ("layer 2")
    "gaussian_noise:0.1",  # ERM with input noise
    "label_smoothing:0.1",  # ERM with label smoothing
)

# The fast ResNet-9 recipe of cifar10-fast (24 epochs of one-cycle SGD, batch 512, crop + flip), shared by the
# CIFAR-10 GPU presets, and their attack sweep: ε up to 8/255 (pixels in [0, 1]), drawn at 4/255, 1,000 images a
# batch and up to 4,000 images in one stacked gradient pass (GPU memory).
FAST_RESNET_TRAIN = TrainConfig(arch="fast_resnet", epochs=24, batch_size=512, lr=0.4, weight_decay=5e-4,
                                schedule="onecycle", warmup=0.2, nesterov=True, augment=True)
CIFAR_GPU_ATTACK = AttackConfig(eps=(0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255), heatmap_eps=4 / 255, batch_size=1000,
                                fuse_images=4000)

# The noisy-label training methods of the noise-methods presets (robustness/methods/, issue 24), each at its
# paper's setting: GCE q = 0.7 (Zhang & Sabuncu 2018), SCE α = 0.1, β = 1 (Wang et al. 2019), soft bootstrapping
# β = 0.95 (Reed et al. 2015), forward correction with T estimated from the model (Patrini et al. 2017), co-teaching
# forgetting the noise rate of each level (Han et al. 2018), ELR λ = 3 (Liu et al. 2020). One place to correct a spelling.
NOISY_LABEL_METHODS = ("gce:0.7", "sce:0.1,beta=1", "bootstrap:0.95", "forward:estimate", "coteaching:noise", "elr:3")
# ERM and mixup (α = 8, the quick preset's label-noise pick) against them.
NOISE_METHODS_COMPARED = ("erm", "mixup:8", *NOISY_LABEL_METHODS)
NOISE_METHODS_LEVELS = (0.2, 0.5, 0.8)  # uniform noise rates, as the paper's Table 2
NOISE_METHODS_SPECS = ("pairflip:0.4",)  # class-dependent noise, the noisy-label papers' usual second setting

# RobustBench's benchmark (python -m robustness benchmark, robustness.benchmark; docs/benchmark.md): a user's checkpoint
# (models, added by the command), nothing trained, on the first 10,000 CIFAR-10 test images: clean accuracy, and
# AutoAttack at L∞ 8/255 white box on every one of them, one unit per batch. FGSM and PGD run beside it (cheap next to
# AutoAttack; an image PGD breaks and AutoAttack misses is flagged in the report).
BENCHMARK_EPS = 8 / 255  # RobustBench's L∞ radius for CIFAR-10 and CIFAR-100
BENCHMARK_IMAGES = 10_000  # RobustBench's n_examples: the first 10,000 test images
BENCHMARK_ATTACK = "autoattack"  # the AutoAttack variant the benchmark runs: the standard one, at the reference's strength

PRESETS: dict[str, SuiteConfig] = {
    # The default: digits on the CPU, the whole suite in about a minute. AutoAttack-fast (torchattacks' 10 iterations,
    # not the reference's 100) and Square (500 queries) white box at the headline ε only, on a stratified subset of
    # 50 test images: their cost is mostly fixed per model, so a spot check there costs seconds, not the minutes of
    # every image (docs/benchmarks.md). The report names the fast variant wherever it shows it.
    "quick": SuiteConfig(preset="quick", attack=AttackConfig(worst_case_attacks=("autoattack-fast", "square"),
                                                             worst_case_images=50,
                                                             settings={"square": {"queries": 500}})),
    # For tests and smoke runs: seconds, not minutes. Numbers mean nothing.
    "tiny": SuiteConfig(
        preset="tiny",
        train=TrainConfig(epochs=2),
        attack=AttackConfig(eps=(0.0, 0.1), heatmap_eps=0.1, between_pairs=50, worst_case_attacks=("square",),
                            worst_case_images=50,
                            settings={"ifgsm": {"steps": 3}, "pgd": {"steps": 3}, "square": {"queries": 100}}),
        noise=NoiseConfig(levels=(0.5,), methods=("erm", "dropout:0.7", "mixup:8"), epochs=2),
    ),
    # The worst case across the whole ε sweep on digits: the standard AutoAttack (the reference's strength) and Square
    # at every ε on every test image (white box and transferred), and transfer from MI-FGSM and DI-FGSM sources. Much
    # slower than quick (see docs/attacks.md).
    "thorough": SuiteConfig(
        preset="thorough",
        attack=AttackConfig(attacks=("fgsm", "ifgsm", "pgd", "mifgsm", "difgsm", "autoattack", "square")),
        noise=NoiseConfig(attack=True),
    ),
    # The paper's section 3.4 grid on digits (python -m noise --preset noise-grid): 88 runs, about 15 min on an idle 2-core CPU (5,280 epochs).
    "noise-grid": SuiteConfig(
        preset="noise-grid",
        noise=NoiseConfig(
            levels=(0.0, 0.2, 0.5, 0.8),
            methods=("erm", "dropout:0.5", "dropout:0.7", "dropout:0.8", "dropout:0.9", "mixup:1", "mixup:2",
                     "mixup:8", "mixup:32", "mixup:8+dropout:0.5", "mixup:32+dropout:0.5"),
            seeds=(0, 1),
            epochs=60,
        ),
    ),
    # Any training trick against ERM (digits, CPU, ≤ 5 minutes on 2 cores): ERM, mixup, manifold mixup, CutMix,
    # label smoothing and PGD adversarial training (the robust reference), 2 seeds each, every attack and
    # transfer direction, and the label-noise benchmark at 50% noise.
    "methods": SuiteConfig(
        preset="methods",
        clean=CleanConfig(methods=METHODS_COMPARED),
        noise=NoiseConfig(levels=(0.5,), methods=METHODS_COMPARED),
    ),
    # Mixup against the noisy-label methods (digits, CPU, meant for ≤ 5 minutes on 2 cores): ERM, mixup and
    # NOISY_LABEL_METHODS at 20/50/80% uniform noise and 40% pair-flip, 2 noise seeds, each label-noise model also
    # attacked white box (FGSM, PGD) at the headline ε; the clean models of the same methods feed the attack stage
    # (FGSM and PGD at 4 ε, to leave the time to the 64 label-noise runs) and the leaderboard.
    "noise-methods": SuiteConfig(
        preset="noise-methods",
        clean=CleanConfig(methods=NOISE_METHODS_COMPARED, seeds=(0,)),
        attack=AttackConfig(attacks=("fgsm", "pgd"), eps=(0.0, 0.05, 0.1, 0.2)),
        noise=NoiseConfig(levels=NOISE_METHODS_LEVELS, specs=NOISE_METHODS_SPECS, methods=NOISE_METHODS_COMPARED,
                          seeds=(0, 1), attack=True),
    ),
    # The same comparison on full CIFAR-10 with the fast ResNet-9 recipe of cifar10-fast: a GPU preset (64 label-noise
    # runs of 24 epochs plus 8 clean models: hours on one GPU).
    "noise-methods-cifar10": SuiteConfig(
        preset="noise-methods-cifar10",
        data=DataConfig(name="cifar10"),
        train=FAST_RESNET_TRAIN,
        clean=CleanConfig(methods=NOISE_METHODS_COMPARED, seeds=(0,)),
        attack=replace(CIFAR_GPU_ATTACK, attacks=("fgsm", "pgd")),
        noise=NoiseConfig(levels=NOISE_METHODS_LEVELS, specs=NOISE_METHODS_SPECS, methods=NOISE_METHODS_COMPARED,
                          seeds=(0, 1), epochs=24, attack=True),
    ),
    # The mixup paper's ablation of mixup (partners from all classes or the same class; random or k-nearest
    # partners; inputs only, labels only; mixing at a layer) and its ERM, input-noise and label-smoothing rows,
    # under attack and at 50% label noise, on digits (CPU).
    "ablation": SuiteConfig(
        preset="ablation",
        clean=CleanConfig(methods=ABLATION),
        noise=NoiseConfig(levels=(0.5,), methods=ABLATION),
    ),
    # The same ablation at CIFAR-10 scale with the fast ResNet-9 recipe: a GPU preset (hours on one GPU).
    "ablation-cifar10": SuiteConfig(
        preset="ablation-cifar10",
        data=DataConfig(name="cifar10"),
        train=FAST_RESNET_TRAIN,
        clean=CleanConfig(methods=ABLATION),
        attack=CIFAR_GPU_ATTACK,
        noise=NoiseConfig(levels=(0.5,), methods=ABLATION, epochs=24),
    ),
    # Real data on 2 CPU cores in ≤ 15 minutes: the full CIFAR-10 training set, an airbench-shaped net for CPUs.
    # Clean accuracy and attacks on a stratified 1,000-image test subset; the label-noise stage at 50% noise on a
    # stratified 5,000-image training subset, 40 epochs, so that ERM memorizes and mixup does not (the measured time and
    # numbers: docs/benchmarks.md).
    "cifar10-cpu": SuiteConfig(
        preset="cifar10-cpu",
        data=DataConfig(name="cifar10", train_subset=0, test_subset=1000),
        train=TrainConfig(arch="airbench_cpu", epochs=4, batch_size=256, lr=0.2, weight_decay=5e-4,
                          schedule="onecycle", warmup=0.2, nesterov=True, augment=True, crop_padding=2,
                          crop_padding_mode="reflect"),
        # Chunks of 32: airbench_cpu's 32×32 activations are 16× digits_cnn's, so a smaller chunk stays in cache (docs/benchmarks.md).
        # The standard AutoAttack at the headline ε on a stratified 50 of the 1,000 test images (±14 points at 95%, a
        # spot check as quick's): about 3 s per image and model on one thread, so minutes beyond the 15 (docs/attacks.md).
        attack=AttackConfig(eps=(0.0, 2 / 255, 8 / 255), heatmap_eps=2 / 255, chunk_images=32,
                            worst_case_attacks=("autoattack",), worst_case_images=50, settings={"ifgsm": {"steps": 5}}),
        noise=NoiseConfig(levels=(0.5,), methods=("erm", "mixup:8"), epochs=40, train_subset=5000),
    ),
    "benchmark": SuiteConfig(
        preset="benchmark",
        data=DataConfig(name="cifar10", test_first=BENCHMARK_IMAGES),
        clean=CleanConfig(enabled=False),
        attack=AttackConfig(attacks=("fgsm", "pgd"), eps=(0.0, BENCHMARK_EPS), heatmap_eps=BENCHMARK_EPS,
                            worst_case_attacks=(BENCHMARK_ATTACK,), worst_case_images=0),
        noise=NoiseConfig(enabled=False),
    ),
    # Full CIFAR-10 with the fast ResNet-9-style net on one GPU (target: ERM ≥ 93% clean, ≤ 15 min), and the standard
    # AutoAttack at the headline ε on a stratified 1,000 test images (±3 points at 95%).
    "cifar10-fast": SuiteConfig(
        preset="cifar10-fast",
        data=DataConfig(name="cifar10"),
        train=FAST_RESNET_TRAIN,
        attack=replace(CIFAR_GPU_ATTACK, worst_case_attacks=("autoattack",), worst_case_images=1000),
        noise=NoiseConfig(levels=(0.2, 0.5, 0.8), methods=("erm", "mixup:8"), epochs=24),
    ),
    # The paper's CIFAR-10 recipe: PreAct ResNet-18, SGD momentum 0.9, lr 0.1 ÷ 10 at epochs 100 and
    # 150 of 200, batch 128, weight decay 1e-4, crop + flip; its α grid under label noise; the standard AutoAttack at
    # the headline ε on every test image (RobustBench's 10,000). Many GPU-hours: the preset for a cluster.
    "paper": SuiteConfig(
        preset="paper",
        data=DataConfig(name="cifar10"),
        train=TrainConfig(arch="preact_resnet18", epochs=200, batch_size=128, lr=0.1, momentum=0.9,
                          weight_decay=1e-4, milestones=(0.5, 0.75), augment=True),
        attack=AttackConfig(eps=(0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255), heatmap_eps=4 / 255, batch_size=500,
                            fuse_images=4000, worst_case_attacks=("autoattack",)),
        noise=NoiseConfig(levels=(0.2, 0.5, 0.8),
                          methods=("erm", "dropout:0.5", "dropout:0.7", "dropout:0.8", "dropout:0.9",
                                   "mixup:1", "mixup:2", "mixup:8", "mixup:32"),
                          epochs=200),
    ),
}


def preset(name: str) -> SuiteConfig:
    if name not in PRESETS:
        raise SuiteError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]


def build_config(
    preset_name: str | None = None,
    toml_path: str | Path | None = None,
    flags: dict[str, Any] | None = None,
) -> SuiteConfig:
    """Preset, then TOML, then flags (nested dict, e.g. ``{"clean": {"seeds": [0, 1]}}``), with every
    value's type and range checked (``check_values``). Names are checked against the registries one
    layer up, by ``robustness.validation``, which is what entry points call.

    A ``preset`` key in the TOML file selects the base preset when no flag did.
    """
    table = read_toml(toml_path) if toml_path else {}
    toml_preset = table.pop("preset", None)
    base = preset(preset_name or toml_preset or "quick")
    config = override(override(base, table), flags or {})
    config = fit_heatmap_eps(config, given=any("heatmap_eps" in source.get("attack", {}) for source in (table, flags or {})))
    check_values(config)
    return config
