"""Side by side with the paper's Table 3 (Zhang et al. 2018, ImageNet, ResNet-101): top-1 and top-5 error."""

from __future__ import annotations

from robustness import paper
from robustness.formatting import attack_name, pm
from robustness.report.numbers import attack_stat, eps_at, threat

TOP5_ABOVE_CLASSES = 5  # top-5 error says something only with more than five classes


def paper_table3_blocks(results: dict) -> list:
    eps = results["attacks"]["heatmap_eps"]
    cols = [(f, a) for f in ("erm", "mixup") for a in ("fgsm", "ifgsm")]
    header = ["setting", "source"] + [f"{f} {attack_name(a)}" for f, a in cols]

    def ours(kind, src, metric):
        stats = [attack_stat(results, a, eps, kind, src if kind == "transfer" else f, f) for f, a in cols]
        unit = "model pair" if kind == "transfer" else "seed"
        return [pm(s if metric == "top1" or s is None else s.get("top5"), unit) for s in stats]

    def table(paper_numbers, metric):
        return [
            [f"white box, {paper.PAPER}", "itself"] + [f"{paper_numbers['white-box', f, a]:.1f}" for f, a in cols],
            ["white box, this run", "itself"] + ours("white-box", None, metric),
            [f"black box, {paper.PAPER}", "ERM #1"] + [f"{paper_numbers['transfer', f, a]:.1f}" for f, a in cols],
            ["black box, this run", "ERM"] + ours("transfer", "erm", metric),
            ["black box, this run (not in the paper)", "mixup"] + ours("transfer", "mixup", metric),
        ]

    blocks = [
        ("h2", f"Side by side with the paper's Table 3 (top-1 error, %, {threat(results)})"),
        ("p", f"Paper: {paper.TABLE3_SETUP}. This run: {results['data']['name']} at ε = {eps_at(results, eps)}. "
              "Columns name the model that is evaluated; 'source' names where the examples were crafted."),
        ("table", header, table(paper.TABLE3_TOP1, "top1")),
    ]
    if len(results["data"]["classes"]) > TOP5_ABOVE_CLASSES:
        blocks += [("p", "The same for top-5 error (%), as the paper's Table 3 reports both:"),
                   ("table", header, table(paper.TABLE3_TOP5, "top5"))]
    return blocks
