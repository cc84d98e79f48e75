"""The suite's adversarial evaluation from Python, for models already in memory (notebooks), and RobustBench's
benchmark of one model.

    import robustness
    results = robustness.evaluate(models={"mine": model}, dataset="digits",
                                  attacks=["fgsm", "ifgsm"], eps=[0, "4/255", 0.1])
    robustness.write_report(results, "reports/mine")   # results.json, report.md, report.html
    scores = robustness.benchmark("preact_resnet18:mine.pt", model_name="mine")   # RobustBench's clean and AutoAttack accuracy
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from torch import nn

from attacks import ATTACKS
from robustness import data as datasets
from robustness.benchmark_record import RECORD_NAME, THREAT_MODELS, benchmark_record
from robustness.config import SuiteConfig, parse_eps
from robustness.data import Split, check_pixels
from robustness.errors import SuiteError, warn
from robustness.presets import BENCHMARK_ATTACK, BENCHMARK_EPS, BENCHMARK_IMAGES
from robustness.report import build_report, chance_warnings
from robustness.results import read_results, write_json
from robustness.suite import compute_results, prepare, run_suite, with_in_memory
from robustness.units import UnitStore, run_lock
from robustness.validation import load_config


def _flags(dataset: str | Split, attacks: Sequence[str] | None, eps: Sequence[float | str] | None,
           overrides: Mapping[str, Any] | None, train_baselines: bool | Sequence[str], specs: tuple[str, ...],
           device: str) -> dict:
    """The keyword arguments as build_config flags (overrides first, so the named arguments win)."""
    flags = copy.deepcopy(dict(overrides or {}))
    attack = flags.setdefault("attack", {})
    if attacks is not None:  # only what was asked: not the preset's worst-case extras (AutoAttack, Square) too
        attack["attacks"] = list(attacks)
        attack.setdefault("worst_case_attacks", [])
    if eps is not None:
        attack["eps"] = [parse_eps(e) for e in eps]  # a preset's heatmap ε not in this list is then chosen later
    if isinstance(dataset, str):
        flags.setdefault("data", {})["name"] = dataset
    clean = flags.setdefault("clean", {})
    clean["enabled"] = bool(train_baselines)
    if not isinstance(train_baselines, bool):  # method specs: these baselines instead of the preset's
        clean["methods"] = [train_baselines] if isinstance(train_baselines, str) else list(train_baselines)
    flags.setdefault("noise", {})["enabled"] = False
    flags["models"] = list(specs)
    flags["device"] = device
    return flags


def _split(dataset: str | Split, config: SuiteConfig) -> Split:
    if isinstance(dataset, Split):
        check_pixels(dataset.train_x, dataset.name)
        check_pixels(dataset.test_x, dataset.name)
        return dataset
    return datasets.load(config.data)


def evaluate(
    models: Mapping[str, nn.Module | str],
    dataset: str | Split = "digits",
    attacks: Sequence[str] | None = None,
    eps: Sequence[float | str] | None = None,
    *,
    preset: str = "quick",
    overrides: Mapping[str, Any] | None = None,
    families: Mapping[str, str] | None = None,
    train_baselines: bool | Sequence[str] = False,
    device: str = "auto",
    trust_checkpoint: bool = False,
    progress: bool = True,
) -> dict:
    """Attack ``models`` (white box and every transfer direction); returns what results.json holds.

    Args:
        models: name -> an ``nn.Module`` that takes N×C×H×W pixels in [0, 1] and returns N×K logits
            (wrap it as ``nn.Sequential(robustness.models.Normalize(mean, std), model)`` if it expects
            normalized input), or name -> a checkpoint SPEC as for ``--model`` (e.g. ``"net.pt2"``,
            ``"digits_cnn:erm_s0.pt"``). Each is moved to ``device``, put in eval mode and probed first.
        dataset: a registered data set name (``robustness.data.DATASETS``) or a ``Split`` of your own.
        attacks: attack names (``attacks.ATTACKS``); exactly these run. Default: the preset's (``fgsm``, ``ifgsm``,
            ``pgd``) and its worst-case attacks at the headline ε (quick: AutoAttack-fast and Square on 50 images,
            most of the time). With ``attacks`` given, worst-case attacks run only when asked for, in ``attacks``
            (at every ε) or as ``overrides={"attack": {"worst_case_attacks": ["autoattack"]}}`` (headline ε only).
        eps: L∞ radii in [0, 1] or as strings such as ``"4/255"``; default: the preset's. The transfer
            matrix is tabulated at the preset's ``heatmap_eps`` if listed, else at the ε the attack stage
            chooses (``results["attacks"]["heatmap_eps"]``: the largest ε whose white-box error stays below 100%).
        preset: the named configuration every other setting comes from.
        overrides: nested config overrides, as a TOML file would give them, e.g.
            ``{"attack": {"batch_size": 512, "ifgsm": {"steps": 20}}}`` (TOML's ``[attack.ifgsm] steps = 20``).
        families: name -> family for the report's grouping (default ``"custom"``), e.g. ``{"mine": "mixup"}``.
        train_baselines: also train the preset's clean models (``True``) or these training methods (specs, e.g.
            ``["erm", "mixup:1", "my_tricks:make_cutout:8"]``) at the preset's seeds, and put them in the matrix.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        trust_checkpoint: let checkpoint SPECs load arbitrary pickles (unpickling runs code from the file).
        progress: show tqdm progress bars.

    Returns:
        A dict with ``schema_version``, ``run_id``, ``config``, ``environment``, ``data``, ``models``,
        ``attacks`` (each cell with its per-image ``wrong_bits``), ``diagnostics``, ``checks``,
        ``between_points``, ``noise`` (None), ``statistics`` and ``timing`` (docs/results.md): what
        results.json of ``run_all.py`` holds, computed by the same pipeline. ``statistics["families"]`` holds
        the comparisons as data: each family against ``statistics.baseline`` (ERM; ``families=`` names yours)
        at the headline ε, for clean, each white-box attack and the worst case: ``difference`` (points),
        ``interval`` (95%), ``p_value``, ``verdict`` ("more robust", "less robust", "not settled"),
        ``seeds_needed``, ``images_needed`` (docs/statistics.md); for any other pair, call
        ``robustness.statistics.compare(results, "mine", "erm", "white-box", attack="pgd", eps=0.1)``.

    Example:
        >>> import robustness, torch
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))  # a digits model
        >>> results = robustness.evaluate({"linear": net}, "digits", ["fgsm"], [0, 0.1], progress=False)
        >>> sorted(results["attacks"]["clean"])
        ['linear']
        >>> results["statistics"]["left_out"]  # one family, no ERM: nothing to compare it with
        ["no 'erm' models in this run: nothing to compare the families with (statistics.baseline)"]
        >>> robustness.write_report(results, "reports/linear")  # doctest: +SKIP
    """
    specs = tuple(f"{name}={spec}" for name, spec in models.items() if isinstance(spec, str))
    objects = {name: m for name, m in models.items() if not isinstance(m, str)}
    if not models:
        raise SuiteError("evaluate() got no models; pass models={'name': model_or_checkpoint}")
    families = families or {}
    config = load_config(preset, None, _flags(dataset, attacks, eps, overrides, train_baselines, specs, device))
    setup = prepare(config, _split(dataset, config), trust_checkpoint=trust_checkpoint)
    custom = {name: replace(loaded, family=families.get(name, loaded.family)) for name, loaded in setup.custom.items()}
    setup = with_in_memory(replace(setup, custom=custom), objects, families)
    results = compute_results(setup, UnitStore(None), progress)
    results["run_id"] = f"api-{datetime.now():%Y%m%d-%H%M%S}"
    for line in chance_warnings(results):
        warn(line)
    return json.loads(json.dumps(results))  # exactly what results.json would hold (tuples become lists)


def write_report(results: dict, out_dir: str | Path) -> Path:
    """Write ``results`` as ``out_dir/results.json``, then figures, report.md and report.html; returns report.md."""
    out_dir = Path(out_dir)
    write_json(out_dir / "results.json", results)
    return build_report(out_dir)


# --- RobustBench's benchmark ----------------------------------------------------------------------

L2_EPS = 0.5  # RobustBench's L2 radius for CIFAR-10, the default under threat_model="L2"


@dataclass(frozen=True)
class BenchmarkResult:
    """What ``benchmark`` measured: RobustBench's two numbers (shares in [0, 1], as its ``benchmark()`` returns them),
    the record written beside results.json, and the run directory."""

    clean_acc: float  # share of the n_examples test images classified right
    autoattack_acc: float  # share of them right clean and under AutoAttack
    record: dict  # benchmark.json: RobustBench's model_info fields and the suite's (docs/benchmark.md)
    run_dir: Path


def benchmark(
    model: str | nn.Module,
    n_examples: int = BENCHMARK_IMAGES,
    dataset: str = "cifar10",
    threat_model: str = "Linf",
    *,
    eps: float | str | None = None,
    model_name: str = "model",
    seed: int = 0,
    attack: str = BENCHMARK_ATTACK,
    batch_size: int | None = None,
    data_root: str | None = None,
    out: str | Path = "reports",
    run_id: str | None = None,
    device: str = "auto",
    threads: int = 0,
    trust_checkpoint: bool = False,
    progress: bool = True,
) -> BenchmarkResult:
    """RobustBench's benchmark of one model: clean accuracy and AutoAttack robust accuracy on the first
    ``n_examples`` test images, as robustbench.eval.benchmark defines them, run by the suite's pipeline (a run
    directory with config.json, results.json, the report and ``benchmark.json``; resumed batch by batch).

    Args:
        model: a checkpoint SPEC as for ``--model`` (``"net.pt2"``, ``"scripted.pt"``, ``"digits_cnn:state.pt"``,
            ``"pkg.module:factory:state.pt"``, with options such as ``",norm=data"``), or an ``nn.Module`` that takes
            N×C×H×W pixels in [0, 1] and returns N×K logits (its weights' sha256 keys its units: the same call on the
            same ``run_id`` resumes).
        n_examples: the first this many test images, in the data set's order (RobustBench's default: 10,000).
        dataset: a registered data set (``robustness.data.DATASETS``); RobustBench's are cifar10 and cifar100.
        threat_model: ``"Linf"`` or ``"L2"`` (RobustBench's names; any case).
        eps: the radius, a number or ``"8/255"``; default 8/255 under L∞ and 0.5 under L2 (RobustBench's CIFAR values).
        model_name: the model's name in the record and the report (letters, digits, ``_ . -``).
        seed: ``attack.seed``: AutoAttack's seeds, per batch.
        attack: the AutoAttack variant (an ``autoattack`` attack of ``attacks.ATTACKS``; default its standard one).
        batch_size: images per batch, and per saved unit (default ``attack.batch_size``, 256). Another size draws
            other random numbers, so give the same one to compare runs.
        data_root: where torchvision's data sets are (default ``data``).
        out, run_id: the run directory is ``out/run_id`` (default ``benchmark-<date>-<time>``); an existing one is
            resumed: its finished batches are reused.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        threads: torch's threads (0: ``OMP_NUM_THREADS``, else the CPUs this process may use).
        trust_checkpoint: let a checkpoint SPEC load an arbitrary pickle (unpickling runs code from the file).
        progress: show progress bars (one per attack: images left, robust accuracy so far).

    Returns:
        A ``BenchmarkResult``; ``record`` is what ``run_dir/benchmark.json`` holds.

    Example:
        >>> result = robustness.benchmark("preact_resnet18:mine.pt", model_name="mine")  # doctest: +SKIP
        >>> result.clean_acc, result.autoattack_acc  # doctest: +SKIP
        (0.9478, 0.5953)
    """
    config = load_config("benchmark", None, benchmark_flags(model, n_examples, dataset, threat_model, eps, model_name,
                                                            seed, attack, batch_size, data_root, out, device) | {"threads": threads})
    modules = {} if isinstance(model, str) else {model_name: model}
    run_dir = run_suite(config, run_id=run_id, progress=progress, trust_checkpoint=trust_checkpoint,
                        prefix="benchmark", in_memory=modules)
    return write_benchmark(run_dir, model_name)


def benchmark_flags(model: str | nn.Module, n_examples: int, dataset: str, threat_model: str, eps: float | str | None,
                    model_name: str, seed: int, attack: str, batch_size: int | None, data_root: str | None,
                    out: str | Path, device: str) -> dict:
    """``benchmark``'s arguments as overrides of the ``benchmark`` preset, each refused with one line when it is not
    one RobustBench's benchmark could take."""
    if not isinstance(threat_model, str) or threat_model.lower() not in THREAT_MODELS:
        raise SuiteError(f"unknown threat model {threat_model!r}; choose one of: {', '.join(THREAT_MODELS.values())}")
    norm = threat_model.lower()
    radius = parse_eps((BENCHMARK_EPS if norm == "linf" else L2_EPS) if eps is None else eps)
    if radius == 0:
        raise SuiteError("ε must be > 0 for a benchmark (at 0 AutoAttack has nothing to do); e.g. --eps 8/255")
    if isinstance(n_examples, bool) or not isinstance(n_examples, int) or n_examples < 1:
        raise SuiteError(f"n_examples must be a whole number ≥ 1, not {n_examples!r}; RobustBench's is 10000")
    variants = sorted(name for name in ATTACKS if name.startswith("autoattack"))
    if attack not in variants:
        raise SuiteError(f"the benchmark runs AutoAttack; choose one of its variants: {', '.join(variants)}")
    attack_flags = {"norm": norm, "eps": [0.0, radius], "heatmap_eps": radius, "seed": seed, "worst_case_attacks": [attack]}
    if batch_size is not None:
        attack_flags["batch_size"] = batch_size
    data = {"name": dataset, "test_first": n_examples} | ({"root": data_root} if data_root else {})
    models = [f"{model_name}={model}"] if isinstance(model, str) else []
    return {"data": data, "attack": attack_flags, "models": models, "device": device, "out": str(out)}


def write_benchmark(run_dir: Path, model_name: str) -> BenchmarkResult:
    """``benchmark.json`` of a finished benchmark run, written under the run's lock from its results.json alone."""
    with run_lock(run_dir):  # results.json read and benchmark.json written with no other run in between
        record = benchmark_record(read_results(run_dir), model_name)
        write_json(run_dir / RECORD_NAME, record)
    return BenchmarkResult(record["clean_accuracy"], record["autoattack_accuracy"], record, run_dir)
