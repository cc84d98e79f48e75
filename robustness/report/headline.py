"""The headline: the few lines printed at the end of a run (run_all.py, robustness.evaluate, python -m noise)."""

from __future__ import annotations

from noise.report import noise_headline
from robustness.formatting import attack_name, evidence, pm
from robustness.report.numbers import (EXTRA, SWEEP, attack_stat, baseline_name, compared_families, eps_at, families,
                                       headline_metric, worst_case_words, worst_stat)
from robustness.report.readings import eps_choice


def headline(results: dict) -> list[str]:
    """White-box error per family at the heatmap ε for each attack (FGSM first, the worst case printed once,
    right after the first attack's line), the label-noise lines, and the count of sanity warnings."""
    lines = []
    if results.get("attacks"):
        eps = results["attacks"]["heatmap_eps"]
        lines += [eps_choice(results)] if eps_choice(results) else []
        attacks = sorted(results["config"]["attack"]["attacks"], key=lambda a: a != "fgsm")
        for index, attack in enumerate(attacks):
            parts = [f"{f} {pm(attack_stat(results, attack, eps, 'white-box', f, f))}" for f in families(results)]
            lines.append(f"white-box {attack_name(attack)} error at ε={eps_at(results, eps)} (%): " + ", ".join(parts))
            if index == 0:
                lines += worst_case_headline(results)
    if results.get("attacks"):
        lines += verdict_headline(results)
    if results["noise"]:
        lines += noise_headline(results)
    if results.get("attacks"):
        lines.append(f"sanity checks: {sum(c['status'] == 'warn' for c in results['checks'])} warning(s)")
    return lines


def worst_case_headline(results: dict) -> list[str]:
    """The worst-case lines of the headline: over every attack of the ε sweep, and with the extra attacks."""
    section = results["attacks"].get("worst_case")
    if not section:
        return []
    eps, fams = results["attacks"]["heatmap_eps"], families(results)
    lines = [f"worst-case error at ε={eps_at(results, eps)} ({worst_case_words(results, SWEEP)}) (%): "
             + ", ".join(f"{f} {pm(worst_stat(results, SWEEP, eps, 'all', f))}" for f in fams)]
    extra = section[EXTRA]
    if extra["headline_attacks"]:
        same = "fgsm" in extra["attacks"]
        lines.append(f"worst-case error at ε={eps_at(results, eps)} ({worst_case_words(results, EXTRA)}) (%): "
                     + ", ".join(f"{f} {pm(worst_stat(results, EXTRA, eps, 'all', f))}" for f in fams)
                     + ("; FGSM on the same images: " + ", ".join(f"{f} {pm(worst_stat(results, EXTRA, eps, 'fgsm', f))}"
                                                                for f in fams) if same else ""))
    return lines


def verdict_headline(results: dict) -> list[str]:
    """'is it more robust than ERM? (worst case, ε=0.1 (25.5/255); difference in error, 95% interval, p): mixup
    +3.0 points [−3.6, +9.0], p = 0.041, not settled': the report's first paragraph in one line."""
    answers = [(f, headline_metric(results, f)) for f in compared_families(results)]
    answers = [(f, row) for f, row in answers if row]
    if not answers:
        return []
    row = answers[0][1]
    what = "worst case" if row["kind"] == "worst-case" else f"white-box {attack_name(row['attack'] or '')}"
    return [f"more robust than {baseline_name(results)}? ({what} at ε={eps_at(results, row['eps'])}; difference in "
            "error, 95% interval, p): " + ", ".join(f"{f} {evidence(r)}, {r['verdict']}" for f, r in answers)]
