"""The suite's adversarial evaluation from Python, for models already in memory (notebooks).

    import robustness
    results = robustness.evaluate(models={"mine": model}, dataset="digits",
                                  attacks=["fgsm", "ifgsm"], eps=[0, "4/255", 0.1])
    robustness.write_report(results, "reports/mine")   # results.json, report.md, report.html
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from torch import nn

from robustness import data as datasets
from robustness.checkpoints import NAME_PATTERN, LoadedModel
from robustness.config import SuiteConfig, parse_eps
from robustness.data import Split, check_pixels
from robustness.errors import SuiteError, warn
from robustness.probe import probe_model
from robustness.records import CheckpointSource
from robustness.report import build_report, chance_warnings
from robustness.results import write_json
from robustness.suite import compute_results, prepare
from robustness.units import UnitStore
from robustness.validation import load_config, trained_names


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


def _in_memory(models: Mapping[str, nn.Module], families: Mapping[str, str], split: Split, device) -> dict[str, LoadedModel]:
    """Models passed as objects: moved to ``device``, put in eval mode, probed."""
    out = {}
    for name, model in models.items():
        if not NAME_PATTERN.fullmatch(name):
            raise SuiteError(f"model name {name!r} may hold only letters, digits, '_', '.', '-'; rename it")
        model = model.to(device)
        probe = probe_model(name, model, split, device)
        source = CheckpointSource(spec=None, format="in-memory", path=None, sha256=None, arch=None, factory=None,
                                  trusted=None, unwrapped=None, normalization="none")
        out[name] = LoadedModel(model, families.get(name, "custom"), source, probe)
    return out


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
            ``pgd``) and its worst-case attacks at the headline ε (quick: AutoAttack and Square on 50 images,
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
    custom |= _in_memory(objects, families, setup.split, setup.devices.local)
    taken = set(trained_names(config, setup.methods)) & set(objects)
    if taken:
        raise SuiteError(f"model name {sorted(taken)[0]!r} is also a trained baseline's name; rename it")
    results = compute_results(replace(setup, custom=custom), UnitStore(None), progress)
    results["run_id"] = f"api-{datetime.now():%Y%m%d-%H%M%S}"
    for line in chance_warnings(results):
        warn(line)
    return json.loads(json.dumps(results))  # exactly what results.json would hold (tuples become lists)


def write_report(results: dict, out_dir: str | Path) -> Path:
    """Write ``results`` as ``out_dir/results.json``, then figures, report.md and report.html; returns report.md."""
    out_dir = Path(out_dir)
    write_json(out_dir / "results.json", results)
    return build_report(out_dir)
