"""Is a results.json as this suite writes it? Checked before ``report`` and ``leaderboard`` read one.

A results.json may come from anywhere (a colleague's tarball, a hand edit, a damaged disk), and the report
indexes it freely: a missing key, a string where a number belongs or a model named in a cell but absent from
``models`` would end in a traceback, and NaN, inf or an error of 500% would be drawn silently. This module
checks the whole document against the schema of docs/results.md (required keys, types, ranges: errors in
[0, 1], counts >= 0, every number finite and at most 1e12 in size, the names cells refer to) and the nesting
depth (a deeply nested file would otherwise end in RecursionError), and names the first bad field by its path:

    results.json: models.erm_s0.clean_error is 5.0; expected a number in [0, 1]

Keys the suite does not write are allowed (and ignored), so a newer file with extra fields still reads.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any, Callable

from robustness.config import override, to_dict
from robustness.presets import preset
from robustness.errors import SuiteError
from robustness.statistics import KINDS, NOISE_METRICS, PARTS, VERDICTS

MAX_DEPTH = 24  # results.json nests 7 deep (noise.runs[].noise.confusion[][]); anything far deeper is not ours
MAX_MAGNITUDE = 1e12  # no count, error, norm or number of seconds the suite writes comes near this

Spec = Callable[[Any, tuple], None]


class BadField(Exception):
    """The first field that is not as the suite writes it: where, what it holds, what was expected."""

    def __init__(self, path: FieldPath, value: Any, expected: str, missing: bool = False):
        super().__init__(expected)
        self.path, self.value, self.expected, self.missing = path, value, expected, missing

    def line(self) -> str:
        if self.expected.startswith(("names ", "lacks ", "repeats ")):  # said of the field as a whole
            return f"{spelled(self.path)} {self.expected}"
        held = "is missing" if self.missing else f"is {shown(self.value)}"
        return f"{spelled(self.path) or 'the document'} {held}; expected {self.expected}"


def shown(value: Any) -> str:
    """A value as a reader of the JSON file would recognise it, in a few characters."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 40 else value[:40] + "…", ensure_ascii=False) + " (a string)"
    return repr(value)


# A field's place as a chain (parent, key), ROOT = (): cheap to build for every field, spelled out only when
# one is bad, as ``attacks.cells[3].error`` (keys that are not plain names in JSON quotes).
FieldPath = tuple
ROOT: FieldPath = ()


def child(path: FieldPath, key: str | int) -> FieldPath:
    return (path, key)


def spelled(path: FieldPath) -> str:
    keys = []
    while path:
        path, key = path
        keys.append(key)
    out = ""
    for key in reversed(keys):
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            name = key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else json.dumps(key, ensure_ascii=False)
            out += f".{name}" if out else name
    return out


def at(*keys: str | int) -> FieldPath:
    """The chain of a path written out in code: at("attacks", "cells", 3)."""
    path = ROOT
    for key in keys:
        path = child(path, key)
    return path


# --- the building blocks of the schema --------------------------------------------------------


def number(low: float | None = None, high: float | None = None) -> Spec:
    lo, hi = -MAX_MAGNITUDE if low is None else low, MAX_MAGNITUDE if high is None else high
    expected = f"a number in [{lo:g}, {hi:g}]"

    def check(value: Any, path: FieldPath) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not lo <= value <= hi:
            raise BadField(path, value, expected)
    return check


def integer(low: int = 0) -> Spec:
    expected = f"a whole number of at least {low}"

    def check(value: Any, path: FieldPath) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_MAGNITUDE:
            raise BadField(path, value, expected)
    return check


def text(value: Any, path: FieldPath) -> None:
    if not isinstance(value, str):
        raise BadField(path, value, "a string")


def boolean(value: Any, path: FieldPath) -> None:
    if not isinstance(value, bool):
        raise BadField(path, value, "true or false")


def scalar(value: Any, path: FieldPath) -> None:
    if isinstance(value, (str, bool)):
        return
    number()(value, path)


def anything(value: Any, path: FieldPath) -> None:
    """Free-form fields (the environment's versions, a checkpoint's normalization) that only get printed."""


def one_of(*choices: str) -> Spec:
    def check(value: Any, path: FieldPath) -> None:
        if value not in choices or not isinstance(value, str):
            raise BadField(path, value, "one of " + ", ".join(json.dumps(c) for c in choices))
    return check


def nullable(spec: Spec) -> Spec:
    def check(value: Any, path: FieldPath) -> None:
        if value is not None:
            try:
                spec(value, path)
            except BadField as bad:
                if bad.path == path:
                    bad.expected += " or null"
                raise
    return check


def list_of(spec: Spec, length: int | None = None, least: int = 0) -> Spec:
    expected = "a list" + (f" of {length}" if length is not None else f" of at least {least}" if least else "")

    def check(value: Any, path: FieldPath) -> None:
        if not isinstance(value, list) or (length is not None and len(value) != length) or len(value) < least:
            raise BadField(path, value, expected)
        for k, item in enumerate(value):
            spec(item, child(path, k))
    return check


def map_of(spec: Spec) -> Spec:
    def check(value: Any, path: FieldPath) -> None:
        if not isinstance(value, dict):
            raise BadField(path, value, "an object")
        for key, item in value.items():
            spec(item, child(path, key))
    return check


def record(fields: dict[str, Spec], optional: dict[str, Spec] | None = None) -> Spec:
    """An object with every key of ``fields`` (and, when present, those of ``optional``)."""
    def check(value: Any, path: FieldPath) -> None:
        if not isinstance(value, dict):
            raise BadField(path, value, "an object")
        for key, spec in fields.items():
            if key not in value:
                raise BadField(child(path, key), None, f"a field of {spelled(path) or 'the document'}", missing=True)
            spec(value[key], child(path, key))
        for key, spec in (optional or {}).items():
            if key in value:
                spec(value[key], child(path, key))
    return check


# --- the schema of docs/results.md ------------------------------------------------------------

ERROR = number(0, 1)  # every error, rate and share is a fraction
MAYBE_ERROR = nullable(ERROR)
CI = list_of(ERROR, 2)
MAYBE_CI = nullable(CI)
COUNT = integer(0)
MAYBE_COUNT = nullable(COUNT)
SIZE = number(0)  # seconds, norms, losses, learning rates: finite and not negative
EPS = number(0)
NAMES = list_of(text)
MEAN_STD = record({"mean": ERROR, "std": ERROR})
MAYBE_MEAN_STD = nullable(MEAN_STD)

HISTORY = list_of(record({"epoch": integer(1), "lr": SIZE, "loss": number(), "test_error": ERROR},  # ELR's loss can be < 0
                         {"train_error_real": MAYBE_ERROR, "train_error_noisy": MAYBE_ERROR,
                          "train_error_corrupted": MAYBE_ERROR, "train_error_uncorrupted": MAYBE_ERROR,
                          "peer_test_error": MAYBE_ERROR}))  # co-teaching's second network
PARAMS = map_of(nullable(scalar))  # a method's settings: numbers, or the words a plug-in takes
CHECKPOINT = record({"format": text}, {"spec": nullable(text), "path": nullable(text), "sha256": nullable(text),
                                       "arch": nullable(text), "factory": nullable(text), "trusted": nullable(boolean),
                                       "unwrapped": nullable(text), "normalization": anything})
PROBE = record({"output_shape": list_of(COUNT), "outputs": one_of("logits", "probabilities"),
                "input_grad_norm": SIZE}, {"batch": COUNT, "random_in_eval": boolean})
MODEL = record({"method": text, "family": text, "display": text, "params": PARAMS, "seed": nullable(integer(0)),
                "arch": nullable(text), "unit": nullable(text), "clean_error": ERROR, "history": HISTORY,
                "train_seconds": nullable(SIZE), "checkpoint": nullable(CHECKPOINT), "probe": nullable(PROBE)})
DATA = record({"name": text, "n_train": COUNT, "n_test": integer(1), "input_shape": list_of(integer(1), 3),
               "classes": NAMES, "mean": list_of(number()), "std": list_of(SIZE)}, {"skipped_images": COUNT})

BITS = {"wrong_bits": text}  # per-image results (schema 6), packed; their length and count: check_bits
CLEAN = record({"error": ERROR, "wrong": COUNT, "error_ci": CI, "top5_error": MAYBE_ERROR,
                "top5_wrong": MAYBE_COUNT, "top5_error_ci": MAYBE_CI}, BITS)
# success_rate is null where a model gets no test image right when clean (nothing to flip)
RATES = {"correct_clean": COUNT, "flipped": COUNT, "success_rate": MAYBE_ERROR, "success_rate_ci": MAYBE_CI}
QUERIES = record({"budget": COUNT, "successes": COUNT, "median": nullable(SIZE), "mean": nullable(SIZE)})
ENSEMBLE_PARTS = map_of(COUNT)  # an ensemble's (AutoAttack's) white-box record: part -> images it broke first
CELL = record({"attack": text, "eps": EPS, "source": text, "target": text, "wrong": COUNT, "error": ERROR,
               "error_ci": CI, "top5_wrong": MAYBE_COUNT, "top5_error": MAYBE_ERROR, "top5_error_ci": MAYBE_CI, **RATES},
              {"queries": QUERIES, "parts": ENSEMBLE_PARTS, **BITS})
SUMMARY = record({"attack": text, "eps": EPS, "kind": one_of("white-box", "transfer"), "source_family": text,
                  "target_family": text, "mean": ERROR, "std": ERROR, "count": COUNT,
                  "top5": MAYBE_MEAN_STD, "success_rate": MAYBE_MEAN_STD})
UNION = {"target": text, "eps": EPS, "kind": text, "attacks": NAMES, "sources": NAMES, "n": COUNT, "wrong": COUNT,
         "error": ERROR, "error_ci": CI, **RATES}
WORST_CASE = record({
    "n": COUNT,
    "sweep": list_of(record(UNION)),
    "headline": nullable(record({"eps": EPS, "n": COUNT, "images": one_of("subset", "all"), "attacks": NAMES,
                                 "headline_attacks": NAMES, "cells": list_of(record(UNION, {"parts": ENSEMBLE_PARTS, **BITS}))},
                                {"subset_seed": nullable(integer(0)), "images_bits": text})),
    "flags": list_of(record({"target": text, "eps": EPS, "images": text, "weaker": text, "stronger": text,
                             "count": COUNT, "share": ERROR, "n": COUNT})),
    "summary": list_of(record({"part": one_of("sweep", "headline"), "eps": EPS, "kind": text, "family": text,
                               "mean": ERROR, "std": ERROR, "count": COUNT})),
})
SCORE_BASED = record({"attack": text, "model": text, "eps": EPS, "images": one_of("subset", "all"), "n": COUNT,
                      **RATES, "queries": QUERIES})
ATTACKS = record({"threat_model": one_of("Linf", "L2"), "n": integer(1), "clean": map_of(CLEAN),
                  "cells": list_of(CELL), "summary": list_of(SUMMARY), "heatmap_eps": EPS, "heatmap_eps_rule": text,
                  "worst_case": nullable(WORST_CASE), "score_based": list_of(SCORE_BASED)})
CHECK = record({"check": text, "model": nullable(text), "status": one_of("pass", "warn"), "detail": text,
                "likely_cause": text})
PER_LAMBDA = list_of(number())
BETWEEN = record({"lambdas": list_of(number(0, 1), least=1), "pairs": COUNT, "seed": integer(0),
                  "models": map_of(record({"miss": list_of(ERROR), "grad_norm_mean": list_of(SIZE),
                                           "grad_norm_std": list_of(SIZE)})),
                  "summary": map_of(record({"models": COUNT,
                                            "miss": record({"mean": list_of(ERROR), "std": list_of(ERROR)}),
                                            "grad_norm_mean": record({"mean": list_of(SIZE), "std": list_of(SIZE)}),
                                            "grad_norm_pair_std": list_of(SIZE)}))})
CORRUPTION = record({"spec": text, "seed": integer(0), "replaced_share": ERROR, "realized_rate": ERROR,
                     "confusion": list_of(list_of(COUNT))}, {"level": MAYBE_ERROR})  # a run's copy has no level
METHOD = {"method": text, "family": text, "display": text}


def attacked(per_attack: Spec) -> Spec:
    """noise.attack's {"eps": ε, attack: per_attack, ...} of one label-noise run or summary row, or null."""
    def check(value: Any, path: FieldPath) -> None:
        record({"eps": EPS})(value, path)
        for key, item in value.items():
            if key != "eps":
                per_attack(item, child(path, key))
    return nullable(check)


UNDER_ATTACK = attacked(record({"error": ERROR, "wrong": COUNT, "error_ci": CI}, RATES))
UNDER_ATTACK_SUMMARY = attacked(nullable(record({"mean": ERROR, "std": ERROR, "n": COUNT})))
NOISE_RUN = record({"spec": text, "level": MAYBE_ERROR, **METHOD, "seed": integer(0), "noise": CORRUPTION,
                    "best_test_error": ERROR, "best_epoch": integer(1), "last_test_error": ERROR,
                    "last_train_error_real": ERROR, "last_train_error_corrupted": MAYBE_ERROR,
                    "last_train_error_clean": MAYBE_ERROR, "history": HISTORY, "train_seconds": SIZE},
                   {"params": PARAMS, "under_attack": UNDER_ATTACK})
NOISE_SUMMARY = record({"spec": text, "level": MAYBE_ERROR, **METHOD, "seeds": list_of(integer(0)),
                        "realized_rate": ERROR, "replaced_share": ERROR, "best_test_error": MEAN_STD,
                        "last_test_error": MEAN_STD, "last_train_error_real": MEAN_STD,
                        "last_train_error_corrupted": MAYBE_MEAN_STD, "last_train_error_clean": MAYBE_MEAN_STD},
                       {"under_attack": UNDER_ATTACK_SUMMARY})
NOISE = record({"noise_model": text, "levels": list_of(ERROR), "specs": NAMES, "corruptions": list_of(CORRUPTION),
                "runs": list_of(NOISE_RUN), "summary": list_of(NOISE_SUMMARY),
                "best_of_grid": list_of(record({"spec": text, "level": MAYBE_ERROR, **METHOD, "selected_by": text,
                                                "grid": NAMES}))},
               {"attack": nullable(record({"attacks": NAMES, "eps": EPS, "eps_rule": text}))})
POINTS = number(0, 100)  # the statistics' errors are in points (percent), as robustness.statistics gives them
DIFFERENCE = number(-100, 100)
COMPARISON = {"family_a": text, "family_b": text, "kind": one_of(*KINDS), "attack": nullable(text), "eps": nullable(EPS),
              "level": one_of("images", "seeds"),
              "resampled": one_of("seeds and images", "images only", "seeds only", "nothing"),
              "models_a": NAMES, "models_b": NAMES, "n_images": MAYBE_COUNT, "error_a": POINTS, "error_b": POINTS,
              "difference": DIFFERENCE, "interval": nullable(list_of(DIFFERENCE, 2)), "resamples": integer(1),
              "seed": COUNT, "p_value": nullable(ERROR), "test": text,
              "pairs": list_of(record({"model_a": text, "model_b": text, "a_only": COUNT, "b_only": COUNT,
                                       "p_value": ERROR})),
              "detectable": nullable(SIZE), "seeds_needed": MAYBE_COUNT, "images_needed": MAYBE_COUNT,
              "alpha": ERROR, "power": ERROR, "verdict": one_of(*VERDICTS), "notes": NAMES}
STATISTICS = record({"baseline": text, "eps": nullable(EPS), "resamples": integer(1), "seed": COUNT, "alpha": ERROR,
                     "power": ERROR,
                     "families": list_of(record({"part": nullable(one_of(*PARTS)), **COMPARISON})),
                     "noise": list_of(record({"spec": text, "metric": one_of(*NOISE_METRICS), **COMPARISON})),
                     "left_out": NAMES})
# Croce & Hein's checks in diagnostics (attacks/diagnostics.py): optional here, required from schema 7 on (check_required)
ZERO_GRADIENTS = record({"n": COUNT, "ce": COUNT, "dlr": MAYBE_COUNT})
NEW_DIAGNOSTICS = {"randomized": boolean, "output_change": SIZE, "probabilities": boolean,
                   "zero_gradient_images": ZERO_GRADIENTS, "calls_autograd": boolean}
DIAGNOSTICS = record({"input_grad_norm": SIZE, "deterministic": boolean}, NEW_DIAGNOSTICS)
ADAPTED = record({"units": COUNT, "units_on_fewer_threads": COUNT, "fewest_threads": integer(1)},
                 {"units_in_worker_processes": COUNT})
THREADS = record({"count": integer(1), "source": text, "reason": text}, {"openmp_wait": text, "adapted": ADAPTED})
ENVIRONMENT = record({"device": text}, {"device_name": text, "cpu_threads": integer(1), "executor": text, "threads": THREADS, **{
    name: text for name in ("python", "platform", "torch", "torchvision", "torchattacks", "scikit-learn", "numpy")}})
TIMING = record({"stages_s": map_of(SIZE), "units": record({"computed": COUNT, "reused": COUNT})},
                {"finished_utc": text})
RESULTS = record({
    "run_id": nullable(text), "config": map_of(anything), "environment": ENVIRONMENT, "data": DATA,
    "models": map_of(MODEL), "attacks": nullable(ATTACKS), "diagnostics": nullable(map_of(DIAGNOSTICS)),
    "checks": list_of(CHECK), "between_points": nullable(BETWEEN), "noise": nullable(NOISE), "timing": TIMING,
}, {"statistics": STATISTICS})  # required from schema 6 on (robustness.results.check_schema)


# --- the checks -------------------------------------------------------------------------------


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Refuse nesting deeper than ``limit`` without recursion (a recursive walk is what a deep file breaks)."""
    stack = [(value, ROOT, 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > limit:
            raise BadField(path, node, f"at most {limit} levels of nesting")
        if isinstance(node, dict):
            stack.extend((v, child(path, k), depth + 1) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, child(path, k), depth + 1) for k, v in enumerate(node))


def check_names(results: dict) -> None:
    """Every model a section names is one of ``models``, and each model has its clean record."""
    models = results["models"]
    listed = ', '.join(models) or 'none'
    known = f"a model of models ({listed})"

    def named(value: Any, path: FieldPath) -> None:
        if value not in models:
            raise BadField(path, value, known)

    def keyed(section: FieldPath, keys: Any) -> None:
        for key in keys:
            if key not in models:
                raise BadField(section, key, f"names {json.dumps(key, ensure_ascii=False)}, which is not in models ({listed})")

    keyed(at("diagnostics"), results["diagnostics"] or {})
    attacks = results["attacks"]
    if attacks is not None:
        for name in models:
            if name not in attacks["clean"]:
                raise BadField(at("attacks", "clean", name), None, "the clean record of every model", missing=True)
        keyed(at("attacks", "clean"), attacks["clean"])
        for k, cell in enumerate(attacks["cells"]):
            named(cell["source"], at("attacks", "cells", k, "source"))
            named(cell["target"], at("attacks", "cells", k, "target"))
        check_grid(attacks, results["config"]["attack"], list(models))
        for k, row in enumerate(attacks["score_based"]):
            named(row["model"], at("attacks", "score_based", k, "model"))
        worst = attacks["worst_case"] or {}
        for part in ("sweep", "flags"):
            for k, row in enumerate(worst.get(part, [])):
                named(row["target"], at("attacks", "worst_case", part, k, "target"))
        for k, row in enumerate((worst.get("headline") or {}).get("cells", [])):
            named(row["target"], at("attacks", "worst_case", "headline", "cells", k, "target"))
    keyed(at("between_points", "models"), (results["between_points"] or {}).get("models", {}))
    check_per_lambda(results["between_points"])


def check_per_lambda(section: dict | None) -> None:
    """Every per-λ list of the between-points analysis has one value per λ."""
    if section is None:
        return
    count = len(section["lambdas"])
    rows = [(at("between_points", "models", name, key), values) for name, record_ in section["models"].items()
            for key, values in record_.items() if key in ("miss", "grad_norm_mean", "grad_norm_std")]
    for family, summary in section["summary"].items():
        rows.append((at("between_points", "summary", family, "grad_norm_pair_std"), summary["grad_norm_pair_std"]))
        rows += [(at("between_points", "summary", family, key, part), summary[key][part])
                 for key in ("miss", "grad_norm_mean") for part in ("mean", "std")]
    for path, values in rows:
        if len(values) != count:
            raise BadField(path, values, f"one value per λ of between_points.lambdas ({count})")


def check_grid(attacks: dict, settings: dict, models: list[str]) -> None:
    """The cells are the whole grid the attack stage computes, each once: every attack and ε of
    ``config.attack`` crafted on every model and evaluated on every model (the report draws each)."""
    names, radii = list(settings["attacks"]), list(settings["eps"])
    seen = set()
    for k, cell in enumerate(attacks["cells"]):
        if cell["attack"] not in names:
            raise BadField(at("attacks", "cells", k, "attack"), cell["attack"],
                           f"one of config.attack.attacks ({', '.join(map(str, names))})")
        if cell["eps"] not in radii:
            raise BadField(at("attacks", "cells", k, "eps"), cell["eps"],
                           f"one of config.attack.eps ({', '.join(f'{e:g}' for e in radii)})")
        key = (cell["attack"], cell["eps"], cell["source"], cell["target"])
        if key in seen:
            raise BadField(at("attacks", "cells", k), cell, "repeats the cell of an earlier one (each attack × ε × "
                           "source × target is computed once)")
        seen.add(key)
    for attack in names:
        for eps in radii:
            for source in models:
                for target in models:
                    if (attack, eps, source, target) not in seen:
                        raise BadField(at("attacks", "cells"), attacks["cells"],
                                       f"lacks the cell of {attack} at ε {eps:g} crafted on {source}, evaluated on "
                                       f"{target} (config.attack asks for each of its attacks and ε, on every source × target)")
    if attacks["heatmap_eps"] not in radii:
        raise BadField(at("attacks", "heatmap_eps"), attacks["heatmap_eps"],
                       f"one of config.attack.eps ({', '.join(f'{e:g}' for e in radii)})")


def check_config(results: dict) -> None:
    """``config`` is a whole configuration of this suite: a known preset and, on top, only its keys and types.
    It is replaced by the canonical form (every key, the types the report expects)."""
    saved = dict(results["config"])
    try:
        name = saved.pop("preset")
    except KeyError:
        raise BadField(at("config", "preset"), None, "the name of a preset", missing=True) from None
    try:
        results["config"] = to_dict(override(preset(name), saved))
    except (SuiteError, TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError) as err:
        raise BadField(at("config"), results["config"], f"this suite's configuration ({err})") from None


def packed_length(value: Any, path: FieldPath, n: int) -> int:
    """How many bits are set in ``value``, packed bits of ``n`` images (attacks/metrics.py: base64 of
    numpy.packbits): base64 of exactly ceil(n/8) bytes, the padding bits 0; BadField otherwise."""
    expected = f"per-image bits of {n} images (base64 of {(n + 7) // 8} bytes, as the suite packs them)"
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise BadField(path, value, expected) from None
    if len(data) != (n + 7) // 8 or (n % 8 and data[-1] & (0xFF >> (n % 8))):
        raise BadField(path, value, expected)
    return sum(bin(byte).count("1") for byte in data)


def check_bits(results: dict) -> None:
    """Every per-image result has as many bits as its images and as many set as it counts wrong; from schema 6
    on every clean record and cell has them (the statistics are computed from them). A stored count that
    its bits contradict is named (``wrong``), as is ``attacks.n`` when every record's bits disagree with it."""
    attacks = results["attacks"]
    if attacks is None:
        return
    n, required = attacks["n"], results.get("schema_version", 0) >= 6
    records = [(at("attacks", "clean", name), r) for name, r in attacks["clean"].items()]
    records += [(at("attacks", "cells", k), c) for k, c in enumerate(attacks["cells"])]
    sizes = {len(r["wrong_bits"]) for _, r in records if isinstance(r.get("wrong_bits"), str)}
    if records and len(sizes) == 1 and len(base64.b64encode(bytes((n + 7) // 8))) not in sizes and \
            all(isinstance(r.get("wrong_bits"), str) for _, r in records):
        raise BadField(at("attacks", "n"), n, f"the image count of every record's wrong_bits ({sizes.pop()} characters)")
    for path, record_ in records:
        if "wrong_bits" not in record_:
            if required:
                raise BadField(child(path, "wrong_bits"), None, "a field of every record (schema 6)", missing=True)
            continue
        count = packed_length(record_["wrong_bits"], child(path, "wrong_bits"), n)
        if count != record_["wrong"]:
            raise BadField(child(path, "wrong"), record_["wrong"], f"the count of its wrong_bits ({count})")
    head = (attacks["worst_case"] or {}).get("headline")
    if not head:
        return
    if "images_bits" in head and packed_length(head["images_bits"], at("attacks", "worst_case", "headline", "images_bits"), n) != head["n"]:
        raise BadField(at("attacks", "worst_case", "headline", "n"), head["n"], "the count of its images_bits")
    for k, row in enumerate(head["cells"]):
        if "wrong_bits" in row:
            path = at("attacks", "worst_case", "headline", "cells", k)
            count = packed_length(row["wrong_bits"], child(path, "wrong_bits"), head["n"])
            if count != row["wrong"]:
                raise BadField(child(path, "wrong"), row["wrong"], f"the count of its wrong_bits ({count})")


def check_diagnostics(results: dict) -> None:
    """From schema 7 on, every model's diagnostics hold Croce & Hein's checks (``NEW_DIAGNOSTICS``)."""
    if results.get("schema_version", 0) < 7:
        return
    for name, diag in (results["diagnostics"] or {}).items():
        for key in NEW_DIAGNOSTICS:
            if key not in diag:
                raise BadField(at("diagnostics", name, key), None, "a field of every model's diagnostics (schema 7)",
                               missing=True)


# What a report or leaderboard can still raise on a file that passed the check, if the check missed something:
# caught around their rendering and turned into one line (robustness/report/, robustness/leaderboard.py).
READ_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError, ZeroDivisionError, OverflowError)


def unreadable(where: str, err: Exception) -> SuiteError:
    """The one line for a results.json that passed the check but still could not be drawn."""
    detail = " ".join(f"{type(err).__name__}: {err}".split())[:200]
    return SuiteError(f"{where} passed the results check but cannot be drawn ({detail}); it is not as this suite "
                      "writes it: rerun the run to rewrite it")


def check_results(results: dict, where: str = "results.json") -> dict:
    """``results`` (a parsed results.json with the current schema version), checked whole, with its ``config``
    in canonical form; a one-line SuiteError naming the first bad field otherwise."""
    try:
        check_depth(results)
        RESULTS(results, ROOT)
        check_config(results)  # first: the references below read the canonical configuration
        check_names(results)
        check_bits(results)
        check_diagnostics(results)
    except BadField as bad:
        raise SuiteError(f"{where}: {bad.line()}; rerun the run to rewrite it (finished units are reused)") from None
    return results
