"""The second black-box threat model beside transfer: a score-based attack's success and queries."""

from __future__ import annotations

from robustness.formatting import attack_name, with_ci
from robustness.report.numbers import eps_at, threat


def score_based_blocks(results: dict) -> list:
    rows = results["attacks"].get("score_based") or []
    if not rows:
        return []
    table = [[r["model"], attack_name(r["attack"]), eps_at(results, r["eps"]),
              f"{r['n']}{' (subset)' if r['images'] == 'subset' else ''}",
              with_ci(r["success_rate"], r["success_rate_ci"]),
              "–" if r["queries"]["median"] is None else f"{r['queries']['median']:g}", r["queries"]["budget"]]
             for r in rows]
    return [
        ("h2", f"Score-based black box ({threat(results)})"),
        ("p", "A second black-box threat model beside transfer: the attacker queries the model's logits (no "
              "gradients, no other model) up to a budget per image. Success = share of the images the model gets "
              "right that the attack makes it misclassify, with its 95% Wilson interval; queries = forward passes of "
              "one image until it broke (median over the images it broke)."),
        ("table", ["model", "attack", "ε", "images", "success (%)", "median queries to success", "query budget"], table),
    ]
