"""The methods side by side (robustness/comparison.py), and the paper's ablation where this run is one."""

from __future__ import annotations

from robustness import comparison, paper
from robustness.formatting import attack_name, pct
from robustness.report.numbers import eps_at


def comparison_blocks(results: dict) -> list:
    rows = comparison.family_rows(results)
    table = [[row["display"], row["models"]] + [comparison_cell(key, row[key]) for key, _ in comparison.COLUMNS] for row in rows]
    attack = comparison.transfer_attack(results)
    blocks = [
        ("h2", "Methods compared"),
        ("p", f"One row per method (mean over its seeds) at ε = {eps_at(results, results['attacks']['heatmap_eps'])}: "
              f"white-box errors, and the mean {attack_name(attack)} transfer error into its models from every other "
              "family's models and from its own family's other seeds; the last-epoch test error at 50% label noise "
              "and the share of the corrupted labels the method fitted (the same method, or its family's best of "
              "grid, in the label-noise benchmark); and the input-gradient norm halfway between test points."),
        ("table", ["method", "models"] + [header for _, header in comparison.COLUMNS], table),
    ]
    if results["config"]["preset"].startswith("ablation") or any("/" in row["family"] for row in rows):
        blocks.append(("p", paper.ABLATION_NOTE))
    return blocks


def comparison_cell(key: str, value: float | None) -> str:
    """A percent for an error column, three significant digits for the gradient norm, '–' for nothing."""
    if value is None:
        return "–"
    return pct(value) if key in comparison.PERCENT else f"{value:.3g}"
