"""Sanity checks on an adversarial evaluation (the idea of AutoAttack's checks.py).

Each check reads only the numbers in results.json and returns pass or warn
for one model; a warn names the likely cause. An evaluation that warns is not
necessarily wrong, but its robustness numbers should not be trusted until the
cause is understood.

Croce & Hein's reference checks (fra31/auto-attack, checks.py) are here too, each on what
``attacks/diagnostics.py`` measured or on the attack cells: a randomized forward, probability
outputs, images with a zero gradient, Square breaking images AutoAttack's gradient attacks left,
a forward that calls autograd, too few classes for the DLR loss or for the standard 9 targets.
"""

from __future__ import annotations

import dataclasses
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
# Square, run last inside AutoAttack, may break at most this share of the images before the check warns: the
# reference's alpha (0.2 points of robust accuracy) in check_square_sr.
SQUARE_TOLERANCE = 0.002


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
    ranked attacks that declare a ``shortfall`` (I-FGSM, PGD, AutoAttack, AutoAttack-fast), each against the
    strongest rank below its own among those and the weakest ranked attack (FGSM). Attacks that share a rank are
    not compared with each other."""
    ranked = sorted((cls.strength, name) for name, cls in ATTACKS.items() if cls.strength is not None)
    if not ranked:
        return []
    floor = ranked[0][0]
    chain = [(rank, name) for rank, name in ranked if rank == floor or ATTACKS[name].shortfall]
    pairs = []
    for rank, strong in chain:
        below = [r for r, _ in chain if r < rank]
        pairs += [(weak, strong) for r, weak in chain if below and r == max(below)]
    return [(weak, strong, f"{attack_name(strong)} ≥ {attack_name(weak)}", ATTACKS[strong].shortfall)
            for weak, strong in pairs]


def gradient_free() -> set[str]:
    """The score-based attacks (Square): they read the logits only (``Attack.gradients`` False)."""
    return {name for name, cls in ATTACKS.items() if not cls.gradients}


def with_score_based_part() -> set[str]:
    """The ensembles with a score-based part (AutoAttack's Square): neither a gradient attack nor gradient-free."""
    return {name for name, cls in ATTACKS.items() if cls.mixes_score_based}


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
    free, mixed = gradient_free(), with_score_based_part()
    out = []
    for model in models:
        gaps = []
        for (attack, eps, m, images), value in err.items():
            if attack not in free or m != model:
                continue
            best = [v for (a, e, mm, im), v in err.items()
                    if (e, mm, im) == (eps, m, images) and a not in free and a not in mixed]
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


# --- Croce & Hein's reference checks (fra31/auto-attack, checks.py) --------------------------------------


def attacks_run(attacks: dict) -> set[str]:
    """Every attack with a cell in results.json: the ε sweep's and the headline ε's."""
    headline = (attacks.get("worst_case") or {}).get("headline") or {}
    return {c["attack"] for c in attacks["cells"]} | set(headline.get("headline_attacks", []))


def rand_attacks() -> set[str]:
    """The attacks made for randomized models: those averaging gradients over passes (an ``eot`` setting:
    expectation over transformation, autoattack-rand)."""
    return {name for name, cls in ATTACKS.items() if any(f.name == "eot" for f in dataclasses.fields(cls.Settings))}


def check_randomized(diagnostics: dict, models: list[str], ran: set[str]) -> list[dict]:
    """The same images give the same outputs pass after pass (the reference's 5 passes); says whether an
    attack with expectation over transformation (AutoAttack-rand) ran."""
    out = []
    eot = sorted(ran & rand_attacks())
    for model in models:
        diag = diagnostics[model]
        if "randomized" not in diag:
            continue
        if not diag["randomized"]:
            out.append(_result("deterministic forward", model))
            continue
        which = (f"; {', '.join(attack_name(a) for a in eot)} ran" if eot else
                 "; no attack with expectation over transformation ran")
        detail = f"passes over the same images disagree (normalized outputs move by up to {diag['output_change']:.2g})"
        out.append(_result("deterministic forward", model, detail + which,
                           "a randomized model (dropout or noise left on at test time, a random input transform): "
                           "attacks aim at a moving target; evaluate it with autoattack-rand (APGD with EOT over 20 "
                           "passes, the reference's version='rand')"))
    return out


def check_logits(diagnostics: dict, models: list[str]) -> list[dict]:
    """The model returns logits, not probabilities."""
    return _flagged(diagnostics, models, "probabilities", "outputs are logits",
                    "outputs lie in [0, 1] and every row sums to 1",
                    "a softmax inside the forward: attacks then take the softmax of probabilities, whose "
                    "gradients vanish numerically; make the model return its logits")


def check_zero_gradient_images(diagnostics: dict, models: list[str]) -> list[dict]:
    """No image has an exactly zero input gradient, for the cross-entropy or the DLR loss."""
    out = []
    for model in models:
        zero = diagnostics[model].get("zero_gradient_images")
        if zero is None:
            continue
        ce, dlr = zero["ce"], zero["dlr"] or 0
        if not ce and not dlr:
            out.append(_result("no image with a zero gradient", model))
            continue
        detail = (f"{max(ce, dlr)} of the {zero['n']} images it gets right have an exactly zero input gradient "
                  f"(cross-entropy: {ce}, DLR: {'–' if zero['dlr'] is None else dlr})")
        cause = ("a non-differentiable step in the forward (rounding, thresholding, quantization): gradient attacks "
                 "cannot move these images; trust Square (score-based) or approximate the step (BPDA)" if dlr else
                 "logits so large that the softmax saturates and the cross-entropy's gradient underflows: the DLR "
                 "loss (APGD-DLR, AutoAttack's APGD-T) is immune to the scale")
        out.append(_result("no image with a zero gradient", model, detail, cause))
    return out


def ensemble_rows(attacks: dict) -> list[tuple[dict, int, str]]:
    """(record with ``parts``, images it counts, "all" or "subset") for every white-box ensemble record: the
    sweep's cells and the headline ε's per-attack rows."""
    rows = [(c, attacks["n"], "all") for c in attacks["cells"] if c["source"] == c["target"] and c.get("parts")]
    headline = (attacks.get("worst_case") or {}).get("headline")
    if headline:
        rows += [({**r, "attack": r["kind"]}, r["n"], headline["images"]) for r in headline["cells"] if r.get("parts")]
    return rows


def check_square_in_ensemble(attacks: dict, models: list[str]) -> list[dict]:
    """Inside AutoAttack, Square (run last) should break almost nothing its gradient attacks left: at most
    ``SQUARE_TOLERANCE`` of the images (the reference's check_square_sr)."""
    rows = [(row["parts"]["Square"] / n, row, images) for row, n, images in ensemble_rows(attacks)
            if "Square" in row["parts"]]
    out = []
    for model in models:
        mine = [item for item in rows if item[1]["target"] == model]
        if not mine:
            continue
        share, row, images = max(mine, key=lambda item: item[0])
        if share <= SQUARE_TOLERANCE:
            out.append(_result("Square adds nothing to AutoAttack's gradient attacks", model))
            continue
        others = [p for p in row["parts"] if p != "Square"]
        where = " (headline subset)" if images == "subset" else ""
        detail = (f"{attack_name(row['attack'])} at ε={row['eps']:g}{where}: Square broke {row['parts']['Square']} "
                  f"image(s) that {', '.join(others)} left ({100 * share:.1f}% of the images)")
        out.append(_result("Square adds nothing to AutoAttack's gradient attacks", model, detail,
                           "gradient masking or too few iterations: a black box finds what the gradient attacks "
                           "miss; run Square with more queries and restarts, or an adaptive attack"))
    return out


def check_dynamic(diagnostics: dict, models: list[str]) -> list[dict]:
    """A forward pass calls no autograd (no optimization at inference)."""
    return _flagged(diagnostics, models, "calls_autograd", "forward calls no autograd",
                    "the forward pass calls torch.autograd.grad or backward",
                    "a dynamic defense that optimizes at inference (test-time adaptation, purification): "
                    "AutoAttack may be insufficient; design an adaptive attack")


def check_classes(attacks: dict, models: list[str], num_classes: int) -> list[dict]:
    """Enough classes for each ensemble that ran (AutoAttack's 9 targets, the DLR losses' 3 or 4 logits)."""
    short = []
    for name in sorted(attacks_run(attacks) & set(ATTACKS)):
        cls = ATTACKS[name]
        left_out = [p for p in cls.part_names if num_classes < cls.part_classes.get(p, 2)]
        if left_out:
            short.append(f"{attack_name(name)} left out {', '.join(left_out)} (needs "
                         f"{', '.join(str(cls.part_classes[p]) for p in left_out)} classes)")
        if cls.standard_classes and num_classes < cls.standard_classes:
            short.append(f"{attack_name(name)} ran {num_classes - 1} target classes, not the standard "
                         f"{cls.standard_classes - 1}")
    if not any(ATTACKS[name].part_names for name in attacks_run(attacks) & set(ATTACKS)):
        return []
    detail = f"{num_classes} classes: " + "; ".join(short) if short else ""
    return [_result("enough classes for AutoAttack", model, detail,
                    "too few classes for the standard version (the reference warns the same): the number is not "
                    "comparable with an AutoAttack evaluation on 10 or more classes" if short else "")
            for model in models]


def _result(check: str, model: str, detail: str = "", cause: str = "") -> dict:
    return {"check": check, "model": model, "status": "warn" if detail else "pass", "detail": detail, "likely_cause": cause}


def _flagged(diagnostics: dict, models: list[str], flag: str, check: str, detail: str, cause: str) -> list[dict]:
    """One result per model whose diagnostics measured ``flag``: a warning with ``detail`` and ``cause`` where it is
    true, a pass where it is false."""
    return [_result(check, model, detail, cause) if diagnostics[model][flag] else _result(check, model)
            for model in models if flag in diagnostics[model]]


def run_checks(attacks: dict, diagnostics: dict, num_classes: int | None = None) -> list[dict]:
    """Every check for every model, in a fixed order (the chance and class checks when the class count is given)."""
    models = list(attacks["clean"])
    return (
        (check_above_chance(attacks, models, num_classes) if num_classes and attacks.get("n") else [])
        + check_zero_eps(attacks, models)
        + check_randomized(diagnostics, models, attacks_run(attacks))
        + check_logits(diagnostics, models)
        + check_gradients(diagnostics, models)
        + check_zero_gradient_images(diagnostics, models)
        + check_dynamic(diagnostics, models)
        + (check_classes(attacks, models, num_classes) if num_classes else [])
        + check_monotone_in_eps(attacks, models)
        + check_stronger_dominates(attacks, models)
        + check_whitebox_dominates(attacks, models)
        + check_gradient_free(attacks, models)
        + check_square_in_ensemble(attacks, models)
        + check_whitebox_worst_case(attacks, models)
        + check_weaker_subsets(attacks, models)
    )
