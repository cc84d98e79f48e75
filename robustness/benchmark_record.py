"""RobustBench's record of one benchmarked model (``benchmark.json`` beside a run's results.json), made from
results.json alone, and the leaderboard's entries: such records and RobustBench's own ``model_info`` files.

RobustBench's ``benchmark()`` (robustbench/eval.py; Croce et al., "RobustBench", NeurIPS 2021 Datasets and Benchmarks)
takes the first ``n_examples`` test images in the data set's order (10,000: all of CIFAR-10's) and defines

- ``clean_acc``: the share of them the model classifies right (``clean_accuracy``: argmax of the logits = label);
- ``autoattack_acc``: the share of them it still classifies right after the standard AutoAttack at ``eps`` under
  ``threat_model`` (``Linf`` or ``L2``). AutoAttack leaves an image the model already gets wrong as it is, so an
  image counts as robust only when it is right clean and right under the attack.

``update_json`` (robustbench/utils.py) writes both as text, in percent rounded to 2 decimals, with the fields of its
``ModelInfo``, to ``model_info/<dataset>/<threat model>/<name>.json``. The suite's record holds exactly those fields
(None where the suite cannot know them: link, authors, venue, ...) and, beside them, what RobustBench's file leaves
to its folder or its code: ``threat_model``, ``n_examples``, the exact shares and counts, which AutoAttack variant ran,
its seed and the suite's version. Here both shares come from the run's results.json: the clean record of the model,
and the headline row of the AutoAttack variant (``attacks.worst_case``: wrong clean or under the attack, per image).
"""

from __future__ import annotations

import json
import math
from importlib import metadata
from pathlib import Path

from attacks.base import NORM_NAMES
from attacks.registry import make_attack
from robustness.config import AttackConfig, parse_eps
from robustness.errors import SuiteError, one_line

PACKAGE = "mixup-robustness-suite"  # the suite's distribution name (pyproject.toml)
RECORD_NAME = "benchmark.json"  # the record's file, beside results.json
THREAT_MODELS = NORM_NAMES  # attack.norm -> RobustBench's ThreatModel value (the same names as torchattacks')
# RobustBench's ModelInfo (robustbench/utils.py), in its order: every field its update_json writes.
MODEL_INFO_FIELDS = ("link", "name", "authors", "additional_data", "number_forward_passes", "dataset", "venue",
                     "architecture", "eps", "clean_acc", "reported", "corruptions_acc", "corruptions_acc_3d",
                     "corruptions_mce", "corruptions_mce_3d", "autoattack_acc", "footnote")
MAX_ENTRY_BYTES = 1_000_000  # a model_info file is a few hundred bytes: a larger file is not one


def suite_version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def percent(share: float) -> str:
    """A share as RobustBench's update_json writes it: percent, rounded to 2 decimals, as text (0.9478 -> "94.78")."""
    return str(round(share * 100, 2))


def benchmark_record(results: dict, model: str | None = None) -> dict:
    """The RobustBench record of ``model`` (default: the run's only model) from a benchmark run's results.json:
    one whose headline attacks include an AutoAttack variant (the first listed in ``config.attack.worst_case_attacks``)
    on every test image of the run."""
    names = list(results["models"])
    model = model if model is not None else names[0] if len(names) == 1 else None
    if model not in results["models"]:
        raise SuiteError(f"name the model to write the benchmark record of; the run holds {', '.join(names)}")
    attacks = results["attacks"]
    headline = attacks["worst_case"]["headline"]
    variant = next((a for a in results["config"]["attack"]["worst_case_attacks"] if a.startswith("autoattack")), None)
    if variant is None or variant not in headline["headline_attacks"] or headline["images"] != "all":
        raise SuiteError("this run has no AutoAttack on every test image at its headline ε; run python -m robustness "
                         "benchmark to make one")
    row = next(r for r in headline["cells"] if r["target"] == model and r["kind"] == variant)
    clean = attacks["clean"][model]
    n = attacks["n"]
    clean_correct, robust = n - clean["wrong"], row["n"] - row["wrong"]
    settings = results["config"]["attack"]
    source = results["models"][model].get("checkpoint") or {}
    own = AttackConfig(attacks=(variant,), norm=settings["norm"], settings={variant: settings["settings"].get(variant, {})})
    described = make_attack(variant, own, len(results["data"]["classes"])).describe()
    info = dict.fromkeys(MODEL_INFO_FIELDS) | {
        "name": model, "dataset": results["data"]["name"], "architecture": source.get("arch"), "eps": headline["eps"],
        "clean_acc": percent(clean_correct / n), "autoattack_acc": percent(robust / row["n"]),
    }
    return info | {
        "threat_model": attacks["threat_model"], "n_examples": n, "clean_accuracy": clean_correct / n,
        "autoattack_accuracy": robust / row["n"], "clean_correct": clean_correct, "autoattack_robust": robust,
        "autoattack_variant": variant, "autoattack_description": described, "seed": settings["seed"],
        "suite_version": suite_version(), "torchattacks": results["environment"].get("torchattacks"),
        "device": results["environment"]["device"], "run_id": results["run_id"], "results": "results.json",
    }


# --- what the leaderboard reads ---------------------------------------------------------------


def read_entry(path: Path, where: str) -> dict:
    """One leaderboard entry from a suite's ``benchmark.json`` or a RobustBench ``model_info`` file (its threat model
    from its folder, ``model_info/<dataset>/<Linf|L2>/``, as RobustBench files them): ``name``, ``link``, ``where``,
    ``dataset``, ``threat_model``, ``eps``, ``clean`` and ``robust`` (percent), ``variant`` and ``n_examples``
    (None when the file does not say). A file that is neither raises a one-line SuiteError."""
    if path.stat().st_size > MAX_ENTRY_BYTES:
        raise SuiteError(f"larger than a benchmark record ({MAX_ENTRY_BYTES:,} bytes)")
    try:
        info = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise SuiteError(f"not JSON ({one_line(err, 80)})") from None
    if not isinstance(info, dict):
        raise SuiteError("not a JSON object of RobustBench's fields")
    threat = info.get("threat_model", path.parent.name)
    if threat not in THREAT_MODELS.values():
        raise SuiteError("no threat model Linf or L2 (a RobustBench file goes in model_info/<dataset>/<Linf|L2>/; "
                         "corruption entries are not shown)")
    if "autoattack_acc" not in info:
        raise SuiteError("no autoattack_acc")
    ours = "autoattack_variant" in info
    return {"name": _text(info.get("name") or path.stem), "link": _link(info.get("link")), "where": where,
            "dataset": _text(info.get("dataset") or path.parent.parent.name), "threat_model": threat,
            "eps": _eps(info.get("eps")), "clean": _share(info.get("clean_acc"), "clean_acc"),
            "robust": _share(info.get("autoattack_acc"), "autoattack_acc"),
            "variant": _text(info["autoattack_variant"]) if ours else "RobustBench (standard AutoAttack)",
            "n_examples": info.get("n_examples") if ours and isinstance(info.get("n_examples"), int) else None,
            "architecture": _text(info.get("architecture") or "")}


def _text(value) -> str:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return ""
    return str(value)[:200]


def _link(value) -> str | None:
    """Only a web address becomes a link (never javascript: or a local file)."""
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) < 2000 else None


def _eps(value) -> float:
    try:
        return parse_eps(value if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None)
    except SuiteError:
        raise SuiteError(f"eps {value!r} is not a radius such as 0.5 or \"8/255\"") from None


def _share(value, key: str) -> float:
    """A percentage as RobustBench writes it ("59.53") or as a number."""
    try:
        number = float(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else math.nan
    except ValueError:
        number = math.nan
    if not 0 <= number <= 100:
        raise SuiteError(f"{key} {value!r} is not a percentage in [0, 100]")
    return number
