"""The report's plain-language sentences, each computed from the numbers of results.json.

Every function returns sentences (a string, or a list of them: empty when its numbers are absent), never
blocks, so each can be tested on a constructed results dict; ``reading_blocks`` gathers them into the
report's "Reading" section, and the headline (headline.py) and clean-models section reuse some.
"""

from __future__ import annotations

from noise.report import noise_reading
from robustness import comparison as methods
from robustness.formatting import attack_name, compared, pct
from robustness.report.numbers import (EXTRA, SWEEP, attack_stat, baseline, baseline_name, comparison, eps_at,
                                       families, whitebox_pair, worst_case_words, worst_stat)

NOT_COMPARED = "not compared: the run kept no per-image results (see the table \"Is it really more robust?\")"
TRANSFER_DIRECTIONS = (("erm", "erm"), ("erm", "mixup"), ("mixup", "erm"), ("mixup", "mixup"))


def eps_choice(results: dict) -> str:
    """'' when the heatmap ε was configured, else a sentence saying how it was chosen."""
    rule = results["attacks"]["heatmap_eps_rule"]
    eps = results["attacks"]["heatmap_eps"]
    return "" if rule == "given" else f"The headline ε = {eps_at(results, eps)} was chosen automatically: the {rule}."


def chance_warnings(results: dict) -> list[str]:
    """One sentence per model whose clean error is near chance (attacks/checks.py's check): printed by run_all.py
    and robustness.evaluate, and at the top of the report's clean models, since its robustness numbers mean nothing."""
    return [f"model {c['model']}: {c['detail']}, so its robustness numbers mean nothing; {c['likely_cause']}"
            for c in results.get("checks") or [] if c["check"] == "clean error below chance" and c["status"] == "warn"]


def whitebox_reading(results: dict, attack: str, eps: float) -> list[str]:
    """Mixup against ERM under one white-box attack: the accuracy ratio (the paper's 2.7× for FGSM on ImageNet)."""
    erm, mix = whitebox_pair(results, attack, eps)
    if not (erm and mix):
        return []
    ratio = (1 - mix["mean"]) / max(1 - erm["mean"], 1e-9)
    paper = " (the paper reports 2.7× for FGSM on ImageNet)" if attack == "fgsm" else ""
    return [f"White-box {attack_name(attack)} at ε = {eps_at(results, eps)}: mixup's error is {pct(mix['mean'])}% against ERM's "
            f"{pct(erm['mean'])}%, so mixup keeps {ratio:.2f}× ERM's accuracy{paper}; the difference in error is "
            f"{said(comparison(results, 'mixup', 'white-box', attack))}."]


def said(row: dict | None) -> str:
    """A comparison in words, '+3.0 points [−3.6, +9.0], p = 0.041: not settled by this run; …', or why none."""
    return NOT_COMPARED if row is None else compared(row)


def transfer_reading(results: dict, attack: str, eps: float) -> list[str]:
    """The four transfer directions between ERM and mixup under one attack (the paper measured ERM→ERM′ and ERM→mixup)."""
    pairs = {d: attack_stat(results, attack, eps, "transfer", *d) for d in TRANSFER_DIRECTIONS}
    if not all(pairs.values()):
        return []
    return [f"{attack_name(attack)} transfer: ERM→ERM′ {pct(pairs['erm', 'erm']['mean'])}%, ERM→mixup "
            f"{pct(pairs['erm', 'mixup']['mean'])}% (the paper's comparison); mixup→ERM "
            f"{pct(pairs['mixup', 'erm']['mean'])}%, mixup→mixup′ {pct(pairs['mixup', 'mixup']['mean'])}% "
            "(the directions the paper did not test)."]


def relative_points(gap: float) -> str:
    """ERM's error minus mixup's, in words: '1.2 points below' or '4.3 points above'."""
    return f"{100 * abs(gap):.1f} points {'below' if gap >= 0 else 'above'}"


def survives(first: dict | None, second: dict | None, stronger: str) -> str:
    """Whether an advantage settled under the first comparison is still settled under the ``stronger`` one."""
    if first is None or second is None:
        return "without paired comparisons this run cannot say whether it holds"
    if first["verdict"] != "more robust":
        return "this run settles no advantage under FGSM to begin with"
    if second["verdict"] == "more robust":
        return f"the advantage holds against {stronger}"
    return f"the FGSM advantage is not settled under {stronger}"


def attack_reading(results: dict, eps: float) -> list[str]:
    """Whether FGSM robustness survives the stronger attack, and what happens between points."""
    lines = []
    attacks = results["config"]["attack"]["attacks"]
    if "fgsm" in attacks and "pgd" in attacks:
        gaps = {attack: erm["mean"] - mix["mean"]
                for attack, (erm, mix) in ((a, whitebox_pair(results, a, eps)) for a in ("fgsm", "pgd")) if erm and mix}
        if len(gaps) == 2:
            fgsm, pgd = (comparison(results, "mixup", "white-box", a) for a in ("fgsm", "pgd"))
            lines.append(f"Is FGSM robustness real? At ε = {eps_at(results, eps)} mixup's white-box error is "
                         f"{relative_points(gaps['fgsm'])} ERM's under FGSM ({said(fgsm)}) and "
                         f"{relative_points(gaps['pgd'])} under PGD ({said(pgd)}): {survives(fgsm, pgd, 'the stronger attack')}.")
    section = results["between_points"]
    if section["pairs"] and {"erm", "mixup"} <= set(section["summary"]):
        mid = min(range(len(section["lambdas"])), key=lambda k: abs(section["lambdas"][k] - 0.5))
        erm, mix = section["summary"]["erm"], section["summary"]["mixup"]
        lines.append(f"Halfway between test points, {pct(mix['miss']['mean'][mid])}% of mixup's predictions are neither "
                     f"label against {pct(erm['miss']['mean'][mid])}% of ERM's, and its input gradient is "
                     f"{mix['grad_norm_mean']['mean'][mid] / max(erm['grad_norm_mean']['mean'][mid], 1e-12):.2f}× ERM's "
                     "(the paper: both lower for mixup).")
    return lines


def survival(family: str, fgsm: dict | None, worst: dict | None, base: str = "ERM") -> str:
    """How much of a family's FGSM advantage over the baseline survives the worst case, each step a paired
    comparison (``fgsm``, ``worst``: results.json's ``statistics`` rows, difference = family − baseline).

    "mixup under FGSM: −1.9 points [−6.2, +2.1], p = 0.19: not settled by this run; …; under the worst case:
    +3.0 points [−3.6, +9.0], p = 0.041: not settled by this run; …"
    """
    if fgsm is None or worst is None:
        return f"{family} against {base}: {NOT_COMPARED}"
    first = f"{family} under FGSM: {compared(fgsm)}"
    second = f"under the worst case: {compared(worst)}"
    if fgsm["verdict"] == "more robust" and worst["verdict"] == "more robust":
        kept = 100 * min(worst["difference"] / fgsm["difference"], 1)
        second += f" ({kept:.0f}% of the FGSM advantage survives)"
    elif fgsm["verdict"] == "more robust":
        second += " (the FGSM advantage is not settled under the worst case)"
    return f"{first}; {second}"


def worst_case_reading(results: dict, eps: float) -> list[str]:
    """Per family: how much the worst case adds to FGSM's error, and how much of an FGSM advantage over the
    baseline survives it (paired comparisons); over the ε sweep's attacks on every image, then with the extra
    attacks on their images."""
    section = results["attacks"].get("worst_case")
    if not section or "fgsm" not in results["config"]["attack"]["attacks"]:
        return []
    fams, lines = families(results), []
    parts = [SWEEP] + ([EXTRA] if section[EXTRA]["headline_attacks"] else [])
    for part in parts:
        fgsm = {f: (attack_stat(results, "fgsm", eps, "white-box", f, f) if part == SWEEP
                    else worst_stat(results, part, eps, "fgsm", f)) for f in fams}
        worst = {f: worst_stat(results, part, eps, "all", f) for f in fams}
        if not all(fgsm.values()) or not all(worst.values()):
            continue
        added = "; ".join(f"{f} {pct(fgsm[f]['mean'])}% → {pct(worst[f]['mean'])}%" for f in fams)
        text = (f"How much FGSM overstates robustness at ε = {eps_at(results, eps)} (worst case over "
                f"{worst_case_words(results, part)}): error under FGSM → worst case, {added}.")
        if baseline(results) in fams:
            first = (lambda f: comparison(results, f, "worst-case", "fgsm", EXTRA)) if part == EXTRA else \
                (lambda f: comparison(results, f, "white-box", "fgsm"))
            said_all = "; ".join(survival(f, first(f), comparison(results, f, "worst-case", "all", part),
                                          baseline_name(results))
                                 for f in fams if f != baseline(results))
            text += f" Against {baseline_name(results)}: {said_all}." if said_all else ""
        if part == EXTRA and section[EXTRA]["images"] == "subset":
            rows = section[EXTRA]["cells"]
            spans = [(r["error_ci"][1] - r["error_ci"][0]) / 2 for r in rows if r["eps"] == eps and r["kind"] == "all"]
            half = sum(spans) / len(spans) if spans else 0.0
            text += (f" On {section[EXTRA]['n']} images one error's 95% interval spans about ±{100 * half:.0f} points: "
                     "a spot check; `worst_case_images = 0` or `--preset thorough` measures every image.")
        lines.append(text)
    return lines


def method_reading(results: dict) -> list[str]:
    """One sentence per method family other than ERM and mixup (which the lines above cover): how it fares
    against ERM under FGSM and PGD at the heatmap ε, each a paired comparison with its interval and verdict."""
    rows = methods.family_rows(results)  # given checkpoints of two formats: two rows of one family
    erm = next((row for row in rows if row["family"] == "erm"), None)
    if not erm or erm["pgd"] is None or erm["fgsm"] is None:
        return []
    eps = eps_at(results, results["attacks"]["heatmap_eps"])
    lines = []
    for row in rows:
        family = row["family"]
        if family in ("erm", "mixup") or row["pgd"] is None or row["fgsm"] is None:
            continue
        fgsm, pgd = (comparison(results, family, "white-box", a) for a in ("fgsm", "pgd"))
        verdict = method_verdict(family, fgsm, pgd)
        warned = sorted({c["check"] for c in results["checks"] if c["status"] == "warn"
                         and results["models"][c["model"]]["family"] == family})
        caveat = f" But its sanity checks warn ({', '.join(warned)}): trust that only after a stronger attack." if warned else ""
        lines.append(f"{row['display']}: clean error {pct(row['clean_error'])}%, white-box FGSM {pct(row['fgsm'])}% "
                     f"and PGD {pct(row['pgd'])}% at ε = {eps} (ERM: {pct(erm['fgsm'])}%, {pct(erm['pgd'])}%): {verdict}.{caveat}")
    return lines


def method_verdict(family: str, fgsm: dict | None, pgd: dict | None) -> str:
    """A method against ERM in words, from its paired FGSM and PGD comparisons."""
    if pgd is None or fgsm is None:
        return NOT_COMPARED
    if family == "pgd_at":
        if pgd["verdict"] == "more robust":
            return (f"the robust reference: adversarial training cuts ERM's PGD error by {-pgd['difference']:.1f} points "
                    f"({compared(pgd)}), robustness that a stronger attack does not take back")
        return f"the robust reference, yet not settled as more robust than ERM under PGD here ({compared(pgd)}): check its ε and steps"
    if pgd["verdict"] == "more robust":
        return f"more robust than ERM under PGD ({compared(pgd)})"
    if fgsm["verdict"] == "more robust":
        return f"its FGSM advantage ({compared(fgsm)}) is not settled under PGD ({compared(pgd)})"
    return f"against ERM under PGD: {compared(pgd)}"


def checks_reading(results: dict) -> str:
    """'Sanity checks: 2 warning(s) out of 12.'"""
    warns = sum(c["status"] == "warn" for c in results["checks"])
    return f"Sanity checks: {warns} warning(s) out of {len(results['checks'])}."


def reading_lines(results: dict) -> list[str]:
    """Every sentence of the "Reading", in its order: per attack white box then transfer, then the rest."""
    eps = results["attacks"]["heatmap_eps"]
    lines = []
    for attack in results["config"]["attack"]["attacks"]:
        lines += whitebox_reading(results, attack, eps) + transfer_reading(results, attack, eps)
    return (lines + attack_reading(results, eps) + worst_case_reading(results, eps) + method_reading(results)
            + noise_reading(results) + [checks_reading(results)])


def reading_blocks(results: dict) -> list:
    """A short plain-language reading, each sentence computed from the numbers further down the report."""
    return [("h2", "Reading"), ("bullets", reading_lines(results))]
