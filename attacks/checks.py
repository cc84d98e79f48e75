"""Sanity checks on an adversarial evaluation (the idea of AutoAttack's checks.py).

Each check reads only the numbers in results.json and returns pass or warn
for one model; a warn names the likely cause. An evaluation that warns is not
necessarily wrong, but its robustness numbers should not be trusted until the
cause is understood.
"""

from __future__ import annotations

from collections import defaultdict

TOLERANCE = 0.01  # errors may differ by this much (1 point) before a check warns: sampling slack


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


# (weaker, stronger, check name, likely cause when the stronger attack does worse)
STRONGER = [
    ("fgsm", "ifgsm", "I-FGSM ≥ FGSM", "too few or too small I-FGSM steps, or gradient masking that one large step jumps over"),
    ("ifgsm", "pgd", "PGD ≥ I-FGSM", "too few PGD steps or restarts, or a step size too large for the loss surface"),
]


def check_stronger_dominates(attacks: dict, models: list[str]) -> list[dict]:
    """A stronger white-box attack should reach at least a weaker one's error at every ε."""
    err = _index(attacks["cells"])
    eps_list = sorted({c["eps"] for c in attacks["cells"]})
    names = {c["attack"] for c in attacks["cells"]}
    out = []
    for weak, strong, check, cause in STRONGER:
        if not {weak, strong} <= names:
            continue
        for model in models:
            gap, eps = max((err[weak, e, model, model] - err[strong, e, model, model], e) for e in eps_list)
            if gap > TOLERANCE:
                detail = f"ε={eps:g}: {weak.upper()} {100 * gap:.1f} points above {strong.upper()}"
                out.append(_result(check, model, detail, cause))
            else:
                out.append(_result(check, model))
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
    """At ε = 0 every attack must leave the error at the clean error, exactly."""
    out = []
    for model in models:
        clean = attacks["clean"][model]["wrong"]
        off = [c for c in attacks["cells"] if c["eps"] == 0 and c["target"] == model and c["wrong"] != clean]
        if off:
            c = off[0]
            detail = f"{c['attack']} from {c['source']} at ε=0: {c['wrong']} wrong vs {clean} clean"
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


def run_checks(attacks: dict, diagnostics: dict) -> list[dict]:
    """Every check for every model, in a fixed order."""
    models = list(attacks["clean"])
    return (
        check_zero_eps(attacks, models)
        + check_gradients(diagnostics, models)
        + check_monotone_in_eps(attacks, models)
        + check_stronger_dominates(attacks, models)
        + check_whitebox_dominates(attacks, models)
    )
