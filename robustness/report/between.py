"""Between test points (the paper's Figure 2): predictions and input gradients along lines between test images."""

from __future__ import annotations

from pathlib import Path

from robustness import figures
from robustness.formatting import spread


def between_blocks(results: dict, fig_dir: Path) -> list:
    """The figure and the table at λ nearest 0.5; a note instead when no pair was measured."""
    section = results["between_points"]
    if not section["pairs"]:  # no two test images with different labels were found: nothing was measured
        return [("h2", "Between test points (the paper's Figure 2)"),
                ("p", "Left out: no pair of test images with different labels was found.")]
    mid = min(range(len(section["lambdas"])), key=lambda k: abs(section["lambdas"][k] - 0.5))
    rows = [[family, stats["models"],
             spread(100 * stats["miss"]["mean"][mid], 100 * stats["miss"]["std"][mid], stats["models"], ".1f"),
             spread(stats["grad_norm_mean"]["mean"][mid], stats["grad_norm_mean"]["std"][mid], stats["models"]),
             f"{stats['grad_norm_pair_std'][mid]:.3g}"]
            for family, stats in section["summary"].items()]
    return [
        ("h2", "Between test points (the paper's Figure 2)"),
        ("p", f"Along x = λ·x_i + (1−λ)·x_j for {section['pairs']} random test pairs with different labels: the share "
              "of predictions that are neither y_i nor y_j, and the L2 norm of the input gradient of the loss "
              "λ·CE(y_i) + (1−λ)·CE(y_j). The paper uses training pairs on CIFAR-10; mixup is lower on both there. "
              "Bands: ± std over seeds."),
        ("figure", figures.between_points(results, fig_dir / "between_points.png"), "Between test points"),
        ("table", ["family", "seeds", f"miss at λ = {section['lambdas'][mid]:g} (%)", "‖∇x loss‖₂ (mean ± std over seeds)",
                   "std over pairs"], rows),
    ]
