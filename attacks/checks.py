"""Sanity checks on an adversarial evaluation (the idea of AutoAttack's checks.py).

Each check reads only the numbers in results.json and returns pass or warn
for one model; a warn names the likely cause. An evaluation that warns is not
necessarily wrong, but its robustness numbers should not be trusted until the
cause is understood.
"""

from __future__ import annotations

import math
from collections import defaultdict

from attacks.registry import ATTACKS
from robustness.formatting import attack_name

TOLERANCE = 0.01  # errors may differ by this much (1 point) before a check warns: sampling slack
# The share of images a weaker attack may break that a stronger one misses before a check warns (on the default
# run, PGD-10 with one random start misses up to 2% of what I-FGSM breaks: it is not a strict superset).
FLAG_TOLERANCE = 0.03
# A model guessing at random gets each of n test images right with chance 1/K, so its accuracy has mean 1/K and
# standard deviation sqrt((1/K)(1 - 1/K)/n). An accuracy within CHANCE_Z of those deviations above 1/K cannot be told
# from guessing (one-sided, p ≈ 0.0013 at 3): digits' 540 test images, 10 classes: clean error ≥ 86.1%.
CHANCE_Z = 3.0


def chance_error_threshold(num_classes: int, n: int) -> float:
    """The clean error at or above which a model is near chance: 1 − 1/K − z·sqrt((1/K)(1 − 1/K)/n).

    Example: ``chance_error_threshold(10, 540)`` is 0.861 (digits: 10 classes, 540 test images)."""
    chance = 1.0 / num_classes
    return 1.0 - chance - CHANCE_Z * math.sqrt(chance * (1.0 - chance) / n)


def check_above_chance(attacks: dict, models: list[str], num_classes: int) -> list[dict]:
    """A model's clean error must be clearly below chance's, or its attack numbers say nothing (a model that never
    learned: a broken augmentation, a learning rate far off, shuffled labels)."""
    n = attacks["n"]
    threshold = chance_error_threshold(num_classes, n)
    if threshold <= 0:  # so few test images that not even a perfect model is told from guessing: no claim either way
        return []
    out = []
    for model in models:
        error = attacks["clean"][model]["error"]
        if error >= threshold:
            detail = (f"clean error {100 * error:.1f}% is near chance ({100 * (1 - 1 / num_classes):.1f}% for "
                      f"{num_classes} classes; not {CHANCE_Z:g} standard deviations better on {n} test images)")
            out.append(_result("clean error below chance", model, detail,
                               "the model did not learn: check its training (augmentation, learning rate, labels) or checkpoint"))
        else:
            out.append(_result("clean error below chance", model))
    return out


def _index(cells: list[dict]) -> dict:
    return {(c["attack"], c["eps"], c["source"], c["target"]): c["error"] for c in cells}


def check_whitebox_dominates(attacks: dict, models: list[str]) -> list[dict]:
    """White-box error on a model should be at least every transfer error into it."""
    err = _index(attacks["cells"])
    out = []
    for target in models:
        worst = None
        for (attack, eps, source, tgt), value in err.items():
            if tgt != target or source == target:
                continue
            gap = value - err[attack, eps, target, target]
            if gap > TOLERANCE and (worst is None or gap > worst[0]):
                worst = (gap, attack, eps, source)
        if worst:
            gap, attack, eps, source = worst
            detail = f"{attack} ε={eps:g}: transfer from {source} beats white box by {100 * gap:.1f} points"
            out.append(_result("white box ≥ transfer", target, detail, "gradient masking: the model's own gradients mislead the attack"))
        else:
            out.append(_result("white box ≥ transfer", target))
    return out


def dominance_pairs() -> list[tuple[str, str, str, str]]:
    """(weaker, stronger, check name, likely cause when the stronger does worse), from the attack classes: the
    ranked attacks that declare a ``shortfall`` (I-FGSM, PGD, AutoAttack), each against the next one below it
    among those and the weakest ranked attack (FGSM). Attacks that share a rank are not compared with each other."""
    ranked = sorted((cls.strength, name) for name, cls in ATTACKS.items() if cls.strength is not None)
    if not ranked:
        return []
    floor = ranked[0][0]
    chain = [name for rank, name in ranked if rank == floor or ATTACKS[name].shortfall]
    return [(weak, strong, f"{attack_name(strong)} ≥ {attack_name(weak)}", ATTACKS[strong].shortfall)
            for weak, strong in zip(chain, chain[1:]) if ATTACKS[weak].strength < ATTACKS[strong].strength]


def gradient_free() -> set[str]:
    """The score-based attacks (Square): they read the logits only (``Attack.gradients`` False)."""
    return {name for name, cls in ATTACKS.items() if not cls.gradients}


def whitebox_errors(attacks: dict) -> dict:
    """(attack, ε, model, images) -> white-box error, images "all" (the matrix) or the headline's image set."""
    err = {(c["attack"], c["eps"], c["target"], "all"): c["error"] for c in attacks["cells"] if c["source"] == c["target"]}
    headline = (attacks.get("worst_case") or {}).get("headline")
    if headline and headline["images"] == "subset":
        for row in headline["cells"]:
            if row["kind"] not in ("white-box", "transfer", "all"):
                err[row["kind"], row["eps"], row["target"], "subset"] = row["error"]
    return err


def check_stronger_dominates(attacks: dict, models: list[str]) -> list[dict]:
    """A stronger white-box attack should reach at least a weaker one's error at every ε, compared on the
    same images (every test image, or the headline's subset where one of them ran only there)."""
    err = whitebox_errors(attacks)
    out = []
    for weak, strong, check, cause in dominance_pairs():
        for model in models:
            pairs = [(err[weak, e, m, images] - err[strong, e, m, images], e, images)
                     for (a, e, m, images) in err if a == weak and m == model and (strong, e, m, images) in err]
            if not pairs:
                continue
            gap, eps, images = max(pairs)
            if gap > TOLERANCE:
                where = "" if images == "all" else " (headline subset)"
                detail = f"ε={eps:g}{where}: {attack_name(weak)} {100 * gap:.1f} points above {attack_name(strong)}"
                out.append(_result(check, model, detail, cause))
            else:
                out.append(_result(check, model))
    return out


def check_gradient_free(attacks: dict, models: list[str]) -> list[dict]:
    """A score-based black box (Square) should not break clearly more images than the best gradient attack."""
    err = whitebox_errors(attacks)
    free = gradient_free()
    out = []
    for model in models:
        gaps = []
        for (attack, eps, m, images), value in err.items():
            if attack not in free or m != model:
                continue
            best = [v for (a, e, mm, im), v in err.items() if (e, mm, im) == (eps, m, images) and a not in free]
            if best:
                gaps.append((value - max(best), attack, eps))
        if not gaps:
            continue
        gap, attack, eps = max(gaps)
        if gap > TOLERANCE:
            detail = f"ε={eps:g}: {attack_name(attack)} {100 * gap:.1f} points above the best gradient attack"
            out.append(_result("gradient attacks ≥ Square", model, detail,
                               "gradient masking: an attack that never sees a gradient beats every attack that follows one"))
        else:
            out.append(_result("gradient attacks ≥ Square", model))
    return out


def check_whitebox_worst_case(attacks: dict, models: list[str]) -> list[dict]:
    """The worst case over white-box attacks should reach the worst case over every transfer source."""
    section = attacks.get("worst_case")
    if not section:
        return []
    rows = [(r, "all") for r in section["sweep"]] + [(r, section["headline"]["images"]) for r in section["headline"]["cells"]]
    error = {(r["target"], r["eps"], images, r["kind"]): r["error"] for r, images in rows}
    out = []
    for model in models:
        gaps = [(value - error[model, e, images, "white-box"], e, images) for (m, e, images, kind), value in error.items()
                if m == model and kind == "transfer" and (model, e, images, "white-box") in error]
        if not gaps:
            continue
        gap, eps, images = max(gaps)
        if gap > TOLERANCE:
            where = "" if images == "all" else " (headline subset)"
            detail = f"ε={eps:g}{where}: transfer's worst case {100 * gap:.1f} points above the white-box worst case"
            out.append(_result("white-box worst case ≥ transfer", model, detail,
                               "gradient masking: other models' gradients find more of this model's weak points than its own"))
        else:
            out.append(_result("white-box worst case ≥ transfer", model))
    return out


def check_weaker_subsets(attacks: dict, models: list[str]) -> list[dict]:
    """Per image, a stronger white-box attack should break every image a weaker one breaks."""
    section = attacks.get("worst_case")
    if not section:
        return []
    out = []
    for model in models:
        mine = [f for f in section["flags"] if f["target"] == model]
        if not mine:
            out.append(_result("stronger attacks break a superset", model))
            continue
        worst = max(mine, key=lambda f: f["share"])
        if worst["share"] > FLAG_TOLERANCE:
            detail = (f"ε={worst['eps']:g}: {attack_name(worst['weaker'])} broke {worst['count']} "
                      f"image(s) ({100 * worst['share']:.1f}%) that {attack_name(worst['stronger'])} missed")
            out.append(_result("stronger attacks break a superset", model, detail,
                               "a weak evaluation: too few steps or restarts of the stronger attack, or gradient masking "
                               "it does not get past"))
        else:
            out.append(_result("stronger attacks break a superset", model))
    return out


def check_monotone_in_eps(attacks: dict, models: list[str]) -> list[dict]:
    """White-box error should not fall as ε grows."""
    curves = defaultdict(list)
    for c in attacks["cells"]:
        if c["source"] == c["target"]:
            curves[c["target"], c["attack"]].append((c["eps"], c["error"]))
    out = []
    for model in models:
        drops = []
        for (target, attack), points in curves.items():
            if target != model:
                continue
            points.sort()
            drops += [(a[1] - b[1], attack, b[0]) for a, b in zip(points, points[1:])]
        worst = max(drops, default=(0.0, "", 0.0))
        if worst[0] > TOLERANCE:
            detail = f"{worst[1]}: error falls by {100 * worst[0]:.1f} points up to ε={worst[2]:g}"
            out.append(_result("error rises with ε", model, detail, "gradient masking (the attack loses its way at large ε) or a randomized model"))
        else:
            out.append(_result("error rises with ε", model))
    return out


def check_zero_eps(attacks: dict, models: list[str]) -> list[dict]:
    """At ε = 0 every attack must leave the error at the clean error, exactly: the same count and, where the
    records keep them (``wrong_bits``), the same images. Comparing the images, not only the count, catches a
    randomized model whose two looks at the clean batch flip different images in equal numbers."""
    out = []
    for model in models:
        record = attacks["clean"][model]
        clean, clean_bits = record["wrong"], record.get("wrong_bits")
        off = [c for c in attacks["cells"] if c["eps"] == 0 and c["target"] == model
               and (c["wrong"] != clean or (clean_bits and c.get("wrong_bits") and c["wrong_bits"] != clean_bits))]
        if off:
            c = off[0]
            other = "" if c["wrong"] != clean else " (other images)"
            detail = f"{c['attack']} from {c['source']} at ε=0: {c['wrong']} wrong{other} vs {clean} clean"
            out.append(_result("ε = 0 equals clean", model, detail, "a non-deterministic model (dropout or batch statistics left on)"))
        elif any(c["eps"] == 0 for c in attacks["cells"]):
            out.append(_result("ε = 0 equals clean", model))
    return out


def check_gradients(diagnostics: dict, models: list[str]) -> list[dict]:
    """Input gradients must be non-zero, or every gradient attack is blind."""
    out = []
    for model in models:
        norm = diagnostics[model]["input_grad_norm"]
        if norm > 0:
            out.append(_result("non-zero input gradient", model))
        else:
            out.append(_result("non-zero input gradient", model, "input gradient is exactly zero", "gradient masking: a non-differentiable step (thresholding, argmax, rounding) in the forward"))
    return out


def _result(check: str, model: str, detail: str = "", cause: str = "") -> dict:
    return {"check": check, "model": model, "status": "warn" if detail else "pass", "detail": detail, "likely_cause": cause}


def run_checks(attacks: dict, diagnostics: dict, num_classes: int | None = None) -> list[dict]:
    """Every check for every model, in a fixed order (the chance check when the class count is given)."""
    models = list(attacks["clean"])
    return (
        (check_above_chance(attacks, models, num_classes) if num_classes and attacks.get("n") else [])
        + check_zero_eps(attacks, models)
        + check_gradients(diagnostics, models)
        + check_monotone_in_eps(attacks, models)
        + check_stronger_dominates(attacks, models)
        + check_whitebox_dominates(attacks, models)
        + check_gradient_free(attacks, models)
        + check_whitebox_worst_case(attacks, models)
        + check_weaker_subsets(attacks, models)
    )
