"""Transfer (black box): examples crafted on each model, evaluated on every model, at the heatmap ε."""

from __future__ import annotations

from pathlib import Path

from robustness import figures
from robustness.formatting import attack_name, pm
from robustness.report.numbers import attack_stat, eps_at, families, threat
from robustness.report.readings import eps_choice


def transfer_blocks(results: dict, fig_dir: Path) -> list:
    cfg = results["config"]["attack"]
    eps = results["attacks"]["heatmap_eps"]
    fams = families(results)
    blocks = [("h2", f"Transfer (black box, {threat(results)}) at ε = {eps_at(results, eps)}"),
              ("p", "Examples crafted on each model (rows) are evaluated on every model (columns); the diagonal is "
                    "white box. Unlike the paper, every model is a source, so all four directions are measured. "
                    + eps_choice(results))]
    for attack in cfg["attacks"]:
        path = figures.transfer_heatmap(results, attack, eps, fig_dir / f"transfer_{figures.slug(attack)}.png")
        blocks.append(("figure", path, f"{attack_name(attack)} transfer matrix"))
    rows = []
    for attack in cfg["attacks"]:
        for src in fams:
            for tgt in fams:
                stat = attack_stat(results, attack, eps, "transfer", src, tgt)
                if stat:
                    rows.append([attack_name(attack), f"{src} → {tgt}′" if src == tgt else f"{src} → {tgt}", pm(stat, "model pair"), stat["count"]])
    blocks.append(("table", ["attack", "direction", "error (%)", "model pairs"], rows))
    return blocks
