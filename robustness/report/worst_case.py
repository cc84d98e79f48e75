"""The per-image worst case over attacks: the figure over the ε sweep, each model at the heatmap ε, the flags."""

from __future__ import annotations

from pathlib import Path

from attacks.catalogue import describe_attacks
from attacks.checks import ensemble_rows
from robustness import figures
from robustness.formatting import attack_name, pct, with_ci
from robustness.report.numbers import EXTRA, eps_at, threat

FLAG_SHOWN_ABOVE = 0.02  # besides the heatmap ε, a weaker-broke-stronger-missed pair is listed above 2% of the images


def worst_case_blocks(results: dict, fig_dir: Path) -> list:
    """The per-image worst case: the figure over the ε sweep, each model's numbers at the heatmap ε, the flags."""
    section = results["attacks"].get("worst_case")
    if not section:
        return []
    eps, extra = results["attacks"]["heatmap_eps"], section[EXTRA]
    cfg = results["config"]["attack"]
    images = (f"a stratified subset of {extra['n']} of the {section['n']} test images (seeded by attack.seed = "
              f"{extra['subset_seed']})" if extra["images"] == "subset" else f"all {extra['n']} test images")
    columns = extra["attacks"] + ["white-box", "transfer", "all"]
    rows = []
    for model in results["models"]:
        mine = {r["kind"]: r for r in extra["cells"] if r["target"] == model}
        rows.append([model] + [pct(mine[k]["error"]) if k in mine else "–" for k in columns[:-1]]
                    + [with_ci(mine["all"]["error"], mine["all"]["error_ci"]) if "all" in mine else "–"])
    header = ["model"] + [f"{attack_name(k)} (%)" for k in extra["attacks"]] + \
        ["worst white box (%)", "worst transfer (%)", "worst case, all (%)"]
    extra_attacks = extra["headline_attacks"]
    blocks = [
        ("h2", f"Worst case over attacks ({threat(results)})"),
        ("p", "An image counts as broken under the worst case if any attack breaks it, so the worst-case error is "
              "the share of the union of the attacks' broken images, per model: over the white-box gradient "
              "attacks, over every transfer source, and over all of them (with score-based attacks). "
              "Solid: the worst case at every ε over the attacks run there (all test images); dashed: FGSM; "
              "dotted: PGD; shaded: what FGSM misses."
              + (f" The marker at ε = {eps_at(results, eps)} adds {', '.join(attack_name(a) for a in extra_attacks)} "
                 f"({describe_attacks(cfg, extra_attacks).rstrip('.')}), run at that ε only on {images}; its bar is a 95% Wilson "
                 "interval."
                 if extra_attacks else "")),
        ("figure", figures.worst_case_curves(results, fig_dir / "worst_case.png"), f"FGSM, PGD and the worst case against ε ({threat(results)})"),
        ("p", f"Per model at ε = {eps_at(results, eps)} on {images}: each attack's white-box error, and the worst "
              "cases (the last with its 95% Wilson interval)."),
        ("table", header, rows),
    ]
    return blocks + parts_blocks(results) + flag_blocks(results, section["flags"], eps)


def parts_blocks(results: dict) -> list:
    """AutoAttack part by part (the reference prints the same): per model, ε and images, how many images each part
    broke first, and the robust accuracy left after it; from the ensembles' white-box ``parts``."""
    records = ensemble_rows(results["attacks"])
    if not records:
        return []
    rows = []
    for record, n, images in records:
        standing, steps = record["correct_clean"], []
        for part, broke in record["parts"].items():
            standing -= broke
            steps.append(f"{part} {broke} → {100 * standing / n:.1f}%")
        rows.append([record["target"], attack_name(record["attack"]), eps_at(results, record["eps"]), f"{images} ({n})",
                     f"{100 * record['correct_clean'] / n:.1f}%", "; ".join(steps)])
    return [("p", ("Each AutoAttack variant part by part, white box: the images each part broke first (each runs on "
                   "the images the ones before it left) and the robust accuracy after it. Square breaking images the "
                   "gradient attacks left is what the sanity check \"Square adds nothing to AutoAttack's gradient "
                   "attacks\" looks for.")),
            ("table", ["model", "attack", "ε", "images", "clean accuracy", "part: images broken → robust accuracy"], rows)]


def flag_blocks(results: dict, flags: list[dict], eps: float) -> list:
    """Images a weaker white-box attack broke and a stronger one missed: per model and ε, the worst pair."""
    worst: dict[tuple, dict] = {}  # per model and ε, the pair with the most images broken by the weaker only
    for f in flags:
        key = (f["target"], f["eps"], f["images"])
        if (f["eps"] == eps or f["share"] > FLAG_SHOWN_ABOVE) and (key not in worst or f["share"] > worst[key]["share"]):
            worst[key] = f
    flagged = list(worst.values())
    if not flagged:
        return [("p", "No stronger white-box attack missed an image a weaker one broke, at any ε.")]
    return [("p", "Images a weaker white-box attack broke and a stronger one missed (a stronger attack should "
                  "break a superset; many such images point to a weak or masked evaluation; the sanity checks "
                  "warn above 3%): per model, the pair with the most such images, at the headline ε and wherever "
                  "above 2% of the images (every pair: `results.json: attacks.worst_case.flags`):"),
            ("table", ["model", "ε", "images", "weaker", "stronger", "images broken by the weaker only"],
             [[f["target"], eps_at(results, f["eps"]), f["images"], attack_name(f["weaker"]), attack_name(f["stronger"]),
               f"{f['count']} ({100 * f['share']:.1f}%)"] for f in flagged])]
