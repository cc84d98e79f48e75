"""The numbers the report's tables and sentences share, looked up in results.json.

Three things the run calls "headline" get one name each here: the lines printed at the end of a run are the
*headline* (robustness/report/headline.py); the ε at which transfer matrices, per-model tables and sentences are
given is the *heatmap ε* (``attacks.heatmap_eps``); the worst case that adds ``worst_case_attacks`` (AutoAttack,
Square, …) at that ε only is the *extra* part of the worst case (``EXTRA``), beside the *sweep* (``SWEEP``).
"""

from __future__ import annotations

from robustness.formatting import attack_name, eps_label, threat_model_label

SWEEP = "sweep"  # the worst case over the ε sweep's attacks, at every ε, on every test image
EXTRA = "headline"  # results.json's name for the worst case with worst_case_attacks added, at the heatmap ε only


def attack_stat(results: dict, attack: str, eps: float, kind: str, src: str, tgt: str) -> dict | None:
    """Mean ± std over models (white box) or model pairs (transfer) of one attack at one ε; None if not run."""
    for row in results["attacks"]["summary"]:
        if (row["attack"], row["eps"], row["kind"], row["source_family"], row["target_family"]) == (attack, eps, kind, src, tgt):
            return row
    return None


def whitebox_pair(results: dict, attack: str, eps: float) -> tuple[dict | None, dict | None]:
    """ERM's and mixup's white-box summaries for one attack and ε."""
    return (attack_stat(results, attack, eps, "white-box", "erm", "erm"),
            attack_stat(results, attack, eps, "white-box", "mixup", "mixup"))


def worst_stat(results: dict, part: str, eps: float, kind: str, family: str) -> dict | None:
    """Mean ± std over a family's models of one worst-case row (``part``: ``SWEEP`` or ``EXTRA``)."""
    for row in results["attacks"]["worst_case"]["summary"]:
        if (row["part"], row["eps"], row["kind"], row["family"]) == (part, eps, kind, family):
            return row
    return None


def threat(results: dict) -> str:
    """'L∞' or 'L2': the threat model every attack table's title names."""
    return threat_model_label(results["attacks"]["threat_model"])


def eps_at(results: dict, eps: float) -> str:
    """ε as the report prints it, in the run's threat model: '0.1 (25.5/255)' or '0.5 (L2)'."""
    return eps_label(eps, results["attacks"]["threat_model"])


def families(results: dict) -> list[str]:
    """The models' families in the order the models were listed: ['erm', 'mixup', …]."""
    return list(dict.fromkeys(rec["family"] for rec in results["models"].values()))


def worst_case_words(results: dict, part: str) -> str:
    """'FGSM, I-FGSM, PGD and transfer, 540 images' (``SWEEP``) or 'Square, FGSM, …, stratified subset of
    100 images' (``EXTRA``): which attacks and images a worst-case number is over."""
    section = results["attacks"]["worst_case"]
    if part == SWEEP:
        names = [attack_name(a) for a in results["config"]["attack"]["attacks"]]
        return f"{', '.join(names)} and transfer, {section['n']} images"
    extra = section[EXTRA]
    names = [attack_name(a) for a in extra["headline_attacks"]] + [attack_name(a) for a in results["config"]["attack"]["attacks"]]
    images = f"stratified subset of {extra['n']} images" if extra["images"] == "subset" else f"{extra['n']} images"
    return f"{', '.join(names)} and transfer, {images}"


# --- the comparisons (results.json's ``statistics``; robustness/statistics.py) ---------------------------------


def baseline(results: dict) -> str:
    """The family every other one is compared with (``statistics.baseline``, 'erm' by default)."""
    return (results.get("statistics") or {}).get("baseline") or "erm"


def baseline_name(results: dict) -> str:
    """The baseline as sentences name it: 'ERM' for erm, else the family as it is."""
    name = baseline(results)
    return "ERM" if name == "erm" else name


def comparison(results: dict, family: str, kind: str, attack: str | None = None, part: str = "sweep") -> dict | None:
    """``family`` against the baseline at the heatmap ε, one kind of cell (``statistics.families``); None when the
    run has no such comparison (no per-image results, no baseline, or an attack it did not run)."""
    for row in (results.get("statistics") or {}).get("families", []):
        if (row["family_a"], row["kind"], row["attack"]) == (family, kind, attack) and (row["part"] or "sweep") == part:
            return row
    return None


def compared_families(results: dict) -> list[str]:
    """The families compared with the baseline, in the order of the statistics' rows."""
    return list(dict.fromkeys(row["family_a"] for row in (results.get("statistics") or {}).get("families", [])))


def headline_metric(results: dict, family: str) -> dict | None:
    """The comparison that answers "is it more robust?" for ``family``: the worst case over every attack of the
    sweep (the suite's headline metric), else PGD, else the last white-box attack the run compared."""
    found = comparison(results, family, "worst-case", "all")
    if found:
        return found
    rows = [r for r in (results.get("statistics") or {}).get("families", [])
            if r["family_a"] == family and r["kind"] == "white-box"]
    return next((r for r in rows if r["attack"] == "pgd"), rows[-1] if rows else None)
