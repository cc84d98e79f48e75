"""White-box attacks: each model attacks itself, over the ε sweep, and every model at the heatmap ε."""

from __future__ import annotations

from pathlib import Path

from attacks.catalogue import describe_attacks
from robustness import figures
from robustness.formatting import attack_name, pm, with_ci
from robustness.report.numbers import attack_stat, eps_at, families, threat


def whitebox_blocks(results: dict, fig_dir: Path) -> list:
    cfg = results["config"]["attack"]
    fams = families(results)
    rows = []
    for attack in cfg["attacks"]:
        for eps in cfg["eps"]:
            stats = [attack_stat(results, attack, eps, "white-box", f, f) for f in fams]
            rows.append([attack_name(attack), eps_at(results, eps)] + [pm(s) for s in stats])
    figure = figures.whitebox_curves(results, fig_dir / "whitebox.png")
    return [
        ("h2", f"White-box attacks ({threat(results)})"),
        ("p", f"Each model attacks itself. {describe_attacks(cfg)} "
              "Error in %, mean ± std over separately trained seeds; shaded: 95% Wilson interval over test images."),
        ("figure", figure, f"White-box test error against ε ({threat(results)})"),
        ("table", ["attack", "ε"] + [f"{f} error (%)" for f in fams], rows),
    ] + per_model_blocks(results)


def per_model_blocks(results: dict) -> list:
    """Every model's white-box numbers at the heatmap ε, with 95% intervals over test images."""
    eps = results["attacks"]["heatmap_eps"]
    clean = results["attacks"]["clean"]
    has_top5 = any(c.get("top5_error") is not None for c in clean.values())
    rows = []
    for c in results["attacks"]["cells"]:
        if c["eps"] == eps and c["source"] == c["target"]:
            rows.append([c["target"], attack_name(c["attack"]), with_ci(clean[c["target"]]["error"], clean[c["target"]].get("error_ci")),
                         with_ci(c["error"], c.get("error_ci"))]
                        + ([with_ci(c.get("top5_error"), c.get("top5_error_ci"))] if has_top5 else [])
                        + [with_ci(c.get("success_rate"), c.get("success_rate_ci"))])
    header = ["model", "attack", "clean error (%)", "error under attack (%)"] + (["top-5 error (%)"] if has_top5 else []) \
        + ["attack success (%)"]
    return [
        ("p", f"Per model at ε = {eps_at(results, eps)}, each with its 95% Wilson interval over the "
              f"{results['attacks']['n']} test images. Attack success = share of the images the model classified "
              "correctly when clean that the attack makes it misclassify."),
        ("table", header, rows),
    ]
