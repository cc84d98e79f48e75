"""The report: figures, report.md and a self-contained report.html, from results.json alone.

The document is a list of blocks (heading, paragraph, bullets, table, figure)
rendered twice, to Markdown and to HTML, so both always say the same.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from attacks.catalogue import describe_attacks
from noise.report import noise_blocks, noise_headline, noise_only_blocks, noise_reading
from robustness import comparison, figures, paper
from robustness.formatting import attack_name, eps_label, pct, pm, spread, threat_model_label, with_ci
from robustness.results import read_results, write_atomic
from robustness.threads import describe
from robustness.results_check import READ_ERRORS, unreadable

VERSIONS = ("python", "torch", "torchvision", "torchattacks", "numpy", "scikit-learn")  # stated in the report


# --- numbers the tables and the reading share -------------------------------------------


def attack_stat(results: dict, attack: str, eps: float, kind: str, src: str, tgt: str) -> dict | None:
    for row in results["attacks"]["summary"]:
        if (row["attack"], row["eps"], row["kind"], row["source_family"], row["target_family"]) == (attack, eps, kind, src, tgt):
            return row
    return None


def whitebox_pair(results: dict, attack: str, eps: float) -> tuple[dict | None, dict | None]:
    """ERM's and mixup's white-box summaries for one attack and ε."""
    return (attack_stat(results, attack, eps, "white-box", "erm", "erm"),
            attack_stat(results, attack, eps, "white-box", "mixup", "mixup"))


def threat(results: dict) -> str:
    """'L∞' or 'L2': the threat model every attack table's title names."""
    return threat_model_label(results["attacks"]["threat_model"])


def eps_at(results: dict, eps: float) -> str:
    """ε as the report prints it, in the run's threat model."""
    return eps_label(eps, results["attacks"]["threat_model"])


def families(results: dict) -> list[str]:
    return list(dict.fromkeys(rec["family"] for rec in results["models"].values()))


def eps_choice(results: dict) -> str:
    """'' when the headline ε was configured, else a sentence saying how it was chosen."""
    rule = results["attacks"]["heatmap_eps_rule"]
    eps = results["attacks"]["heatmap_eps"]
    return "" if rule == "given" else f"The headline ε = {eps_at(results, eps)} was chosen automatically: the {rule}."


def headline(results: dict) -> list[str]:
    """The few numbers printed at the end of a run (run_all.py, python -m noise)."""
    lines = []
    if results.get("attacks"):
        eps = results["attacks"]["heatmap_eps"]
        lines += [eps_choice(results)] if eps_choice(results) else []
        attacks = results["config"]["attack"]["attacks"]
        for attack in sorted(attacks, key=lambda a: a != "fgsm"):  # FGSM first, the worst case beside it
            parts = [f"{f} {pm(attack_stat(results, attack, eps, 'white-box', f, f))}" for f in families(results)]
            lines.append(f"white-box {attack_name(attack)} error at ε={eps_at(results, eps)} (%): " + ", ".join(parts))
            if attack == attacks[0] or attack == "fgsm":
                lines += worst_case_headline(results)
    if results["noise"]:
        lines += noise_headline(results)
    if results.get("attacks"):
        lines.append(f"sanity checks: {sum(c['status'] == 'warn' for c in results['checks'])} warning(s)")
    return lines


def worst_stat(results: dict, part: str, eps: float, kind: str, family: str) -> dict | None:
    """Mean ± std over a family's models of one worst-case row (``part``: "sweep" or "headline")."""
    for row in results["attacks"]["worst_case"]["summary"]:
        if (row["part"], row["eps"], row["kind"], row["family"]) == (part, eps, kind, family):
            return row
    return None


def worst_case_words(results: dict, part: str) -> str:
    """'FGSM, I-FGSM, PGD and transfer, 540 images' or 'AutoAttack, Square, …, stratified subset of 100 images'."""
    section = results["attacks"]["worst_case"]
    if part == "sweep":
        names = [attack_name(a) for a in results["config"]["attack"]["attacks"]]
        return f"{', '.join(names)} and transfer, {section['n']} images"
    headline_part = section["headline"]
    names = [attack_name(a) for a in headline_part["headline_attacks"]] + [attack_name(a) for a in results["config"]["attack"]["attacks"]]
    images = (f"stratified subset of {headline_part['n']} images" if headline_part["images"] == "subset"
              else f"{headline_part['n']} images")
    return f"{', '.join(names)} and transfer, {images}"


def worst_case_headline(results: dict) -> list[str]:
    """The worst-case lines of the headline: over every attack of the ε sweep, and with the headline attacks."""
    section = results["attacks"].get("worst_case")
    if not section:
        return []
    eps, fams = results["attacks"]["heatmap_eps"], families(results)
    lines = [f"worst-case error at ε={eps_at(results, eps)} ({worst_case_words(results, 'sweep')}) (%): "
             + ", ".join(f"{f} {pm(worst_stat(results, 'sweep', eps, 'all', f))}" for f in fams)]
    if section["headline"]["headline_attacks"]:
        same = "fgsm" in section["headline"]["attacks"]
        lines.append(f"worst-case error at ε={eps_at(results, eps)} ({worst_case_words(results, 'headline')}) (%): "
                     + ", ".join(f"{f} {pm(worst_stat(results, 'headline', eps, 'all', f))}" for f in fams)
                     + ("; FGSM on the same images: " + ", ".join(f"{f} {pm(worst_stat(results, 'headline', eps, 'fgsm', f))}"
                                                                for f in fams) if same else ""))
    return lines


# --- blocks -------------------------------------------------------------------------------


def training_setup(cfg: dict, env: dict) -> str:
    """'crop (pad 4) + flip, bf16 autocast, channels_last': how the models were trained, in words."""
    train, data = cfg["train"], cfg["data"]
    cuda = env["device"].startswith("cuda")
    pad = f"{train['crop_padding']}{', reflected' if train.get('crop_padding_mode') == 'reflect' else ''}"
    parts = [f"crop (pad {pad}) + flip" if train.get("augment") else "no augmentation"]
    precision = train.get("precision", "auto")
    parts.append("bf16 autocast" if precision == "bf16" or (precision == "auto" and cuda) else "fp32")
    if train.get("channels_last", "auto") != "off":
        parts.append("channels_last")
    if train.get("compile"):
        parts.append("torch.compile")
    subsets = [f"{k.split('_')[0]} subset {data[k]}" for k in ("train_subset", "test_subset") if data.get(k)]
    return ", ".join(parts + subsets)


def units_note(timing: dict) -> str:
    """Says when stage times cover only part of the work (a resumed run reuses finished units)."""
    units = timing.get("units")
    if not units or not units["reused"]:
        return ""
    return f" (this invocation computed {units['computed']} units of work and reused {units['reused']} finished earlier)"


def setup_blocks(results: dict) -> list:
    cfg, data, env = results["config"], results["data"], results["environment"]
    wall = results["timing"]["stages_s"]
    replication = (
        "This preset follows the paper's CIFAR-10 recipe (PreAct ResNet-18, 200 epochs, its schedule); the "
        "paper's adversarial numbers come from ImageNet with ResNet-101, so compare directions and ratios there."
        if cfg["preset"] == "paper" else
        "This is not a replication of the paper: the paper's numbers come from CIFAR-10 (PreAct ResNet-18, "
        "200 epochs) and ImageNet (ResNet-101). Compare directions and ratios, not absolute errors."
    )
    return [
        ("h1", f"Robustness report: {results['run_id']}"),
        ("p", f"Preset **{cfg['preset']}** on **{data['name']}** ({data['n_train']} training, {data['n_test']} test images, "
              f"{'×'.join(map(str, data['input_shape']))}, {len(data['classes'])} classes), {what_ran(results)}, "
              f"device **{env['device']}** ({env['device_name']}{threads_note(env)}), "
              + ", ".join(f"{lib} {env[lib]}" for lib in VERSIONS if lib in env) + ". Stage wall times (s): "
              + ", ".join(f"{k} {v:.1f}" for k, v in wall.items()) + units_note(results["timing"]) + "."),
        ("p", replication + " Every number below is in `results.json` beside this file."),
    ]


def what_ran(results: dict) -> str:
    """The header's account of the models: what was trained (epochs, seeds) and which checkpoints were evaluated,
    only what this run did (a --no-train run names no epochs or seeds of models it did not train)."""
    cfg, env = results["config"], results["environment"]
    clean, noise = cfg["clean"].get("enabled", True), bool(results.get("noise"))
    epochs = ([f"{cfg['train']['epochs']} epochs clean"] if clean else []) + (
        [f"{cfg['noise']['epochs']} epochs under label noise{noise_subset(cfg['noise'])}"] if noise else [])
    split = f"data split: {cfg['data']['split_seed']}"
    seeds = (f"seeds {cfg['clean']['seeds']} (label noise: {cfg['noise']['seeds']}, {split})" if clean and noise
             else f"seeds {cfg['clean']['seeds']} ({split})" if clean else f"label-noise seeds {cfg['noise']['seeds']} ({split})")
    parts = [f"model **{cfg['train']['arch']}**, {', '.join(epochs)} ({training_setup(cfg, env)}), {seeds}"] if epochs else []
    custom = [f"{name} ({rec['display']})" for name, rec in results["models"].items() if rec.get("method") == "custom"]
    if custom:
        parts.append(f"{len(custom)} given model{'s' * (len(custom) > 1)} evaluated: {', '.join(custom)}")
    return "; ".join(parts if epochs else ["no model trained"] + parts)


def threads_note(env: dict) -> str:
    """'; 2 threads (2 CPUs in this process's affinity mask)', or nothing for runs older than the record."""
    return f"; {describe(env['threads'])}" if "threads" in env else ""


def noise_subset(noise_cfg: dict) -> str:
    """' on a 5000-image training subset' when the label-noise runs train on fewer images than the clean models."""
    size = noise_cfg.get("train_subset", 0)  # absent before schema 3's train_subset
    return f" on a {size}-image training subset" if size else ""


def clean_blocks(results: dict) -> list:
    rows = [[name, rec["display"], "–" if rec["seed"] is None else rec["seed"], pct(rec["clean_error"])] for name, rec in results["models"].items()]
    warnings = [("p", f"**Warning**: {line}.") for line in chance_warnings(results)]
    return [("h2", "Clean models"), *warnings, ("table", ["model", "method", "seed", "test error (%)"], rows)]


def chance_warnings(results: dict) -> list[str]:
    """One sentence per model whose clean error is near chance (attacks/checks.py's check): printed by run_all.py
    and robustness.evaluate, and at the top of the report's clean models, since its robustness numbers mean nothing."""
    return [f"model {c['model']}: {c['detail']}, so its robustness numbers mean nothing; {c['likely_cause']}"
            for c in results.get("checks") or [] if c["check"] == "clean error below chance" and c["status"] == "warn"]


def attack_recipe(cfg: dict, attacks: list[str] | None = None) -> str:
    """The attacks' settings, in words."""
    return describe_attacks(cfg, attacks)  # each attack's class describes itself (attacks/catalogue.py)


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
        ("p", f"Each model attacks itself. {attack_recipe(cfg)} "
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


def worst_case_blocks(results: dict, fig_dir: Path) -> list:
    """The per-image worst case: the figure over the ε sweep, each model's numbers at the headline ε, the flags."""
    section = results["attacks"].get("worst_case")
    if not section:
        return []
    eps, head = results["attacks"]["heatmap_eps"], section["headline"]
    cfg = results["config"]["attack"]
    images = (f"a stratified subset of {head['n']} of the {section['n']} test images (seeded by attack.seed = "
              f"{head['subset_seed']})" if head["images"] == "subset" else f"all {head['n']} test images")
    columns = head["attacks"] + ["white-box", "transfer", "all"]
    rows = []
    for model in results["models"]:
        mine = {r["kind"]: r for r in head["cells"] if r["target"] == model}
        rows.append([model] + [pct(mine[k]["error"]) if k in mine else "–" for k in columns[:-1]]
                    + [with_ci(mine["all"]["error"], mine["all"]["error_ci"]) if "all" in mine else "–"])
    header = ["model"] + [f"{attack_name(k)} (%)" for k in head["attacks"]] + \
        ["worst white box (%)", "worst transfer (%)", "worst case, all (%)"]
    extra = head["headline_attacks"]
    blocks = [
        ("h2", f"Worst case over attacks ({threat(results)})"),
        ("p", "An image counts as broken under the worst case if any attack breaks it, so the worst-case error is "
              "the share of the union of the attacks' broken images, per model: over the white-box gradient "
              "attacks, over every transfer source, and over all of them (with score-based attacks). "
              "Solid: the worst case at every ε over the attacks run there (all test images); dashed: FGSM; "
              "dotted: PGD; shaded: what FGSM misses."
              + (f" The marker at ε = {eps_at(results, eps)} adds {', '.join(attack_name(a) for a in extra)} "
                 f"({attack_recipe(cfg, extra).rstrip('.')}), run at that ε only on {images}; its bar is a 95% Wilson "
                 "interval."
                 if extra else "")),
        ("figure", figures.worst_case_curves(results, fig_dir / "worst_case.png"), f"FGSM, PGD and the worst case against ε ({threat(results)})"),
        ("p", f"Per model at ε = {eps_at(results, eps)} on {images}: each attack's white-box error, and the worst "
              "cases (the last with its 95% Wilson interval)."),
        ("table", header, rows),
    ]
    worst: dict[tuple, dict] = {}  # per model and ε, the pair with the most images broken by the weaker only
    for f in section["flags"]:
        key = (f["target"], f["eps"], f["images"])
        if (f["eps"] == eps or f["share"] > 0.02) and (key not in worst or f["share"] > worst[key]["share"]):
            worst[key] = f
    flagged = list(worst.values())
    if flagged:
        blocks += [("p", "Images a weaker white-box attack broke and a stronger one missed (a stronger attack should "
                         "break a superset; many such images point to a weak or masked evaluation; the sanity checks "
                         "warn above 3%): per model, the pair with the most such images, at the headline ε and wherever "
                         "above 2% of the images (every pair: `results.json: attacks.worst_case.flags`):"),
                   ("table", ["model", "ε", "images", "weaker", "stronger", "images broken by the weaker only"],
                    [[f["target"], eps_at(results, f["eps"]), f["images"], attack_name(f["weaker"]), attack_name(f["stronger"]),
                      f"{f['count']} ({100 * f['share']:.1f}%)"] for f in flagged])]
    else:
        blocks.append(("p", "No stronger white-box attack missed an image a weaker one broke, at any ε."))
    return blocks


def score_based_blocks(results: dict) -> list:
    """The second black-box threat model beside transfer: a score-based attack's success and queries."""
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
    if len(results["data"]["classes"]) > 5:
        blocks += [("p", "The same for top-5 error (%), as the paper's Table 3 reports both:"),
                   ("table", header, table(paper.TABLE3_TOP5, "top5"))]
    return blocks


def between_blocks(results: dict, fig_dir: Path) -> list:
    """The paper's Figure 2 on test pairs (absent from results written before it existed)."""
    section = results.get("between_points")
    if not section:
        return []
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


def checks_blocks(results: dict) -> list:
    checks = results["checks"]
    warns = [c for c in checks if c["status"] == "warn"]
    rows = [[c["model"], c["check"], c["status"].upper(), c["detail"], c["likely_cause"]] for c in checks]
    verdict = (f"**{len(warns)} warning(s)**: treat the affected robustness numbers with care."
               if warns else f"All {len(checks)} checks pass.")
    return [("h2", f"Sanity checks ({threat(results)})"), ("p", verdict),
            ("table", ["model", "check", "status", "detail", "likely cause"], rows)]


def reading_blocks(results: dict) -> list:
    """A short plain-language reading, each sentence computed from the numbers above."""
    eps = results["attacks"]["heatmap_eps"]
    lines = []
    for attack in results["config"]["attack"]["attacks"]:
        erm, mix = whitebox_pair(results, attack, eps)
        if erm and mix:
            ratio = (1 - mix["mean"]) / max(1 - erm["mean"], 1e-9)
            lines.append(f"White-box {attack_name(attack)} at ε = {eps_at(results, eps)}: mixup's error is {pct(mix['mean'])}% against ERM's "
                         f"{pct(erm['mean'])}%, so mixup keeps {ratio:.2f}× ERM's accuracy "
                         f"({'more' if ratio > 1 else 'less'} robust"
                         f"{'; the paper reports 2.7× for FGSM on ImageNet' if attack == 'fgsm' else ''}).")
        pairs = {d: attack_stat(results, attack, eps, "transfer", *d) for d in
                 [("erm", "erm"), ("erm", "mixup"), ("mixup", "erm"), ("mixup", "mixup")]}
        if all(pairs.values()):
            lines.append(f"{attack_name(attack)} transfer: ERM→ERM′ {pct(pairs['erm', 'erm']['mean'])}%, ERM→mixup "
                         f"{pct(pairs['erm', 'mixup']['mean'])}% (the paper's comparison); mixup→ERM "
                         f"{pct(pairs['mixup', 'erm']['mean'])}%, mixup→mixup′ {pct(pairs['mixup', 'mixup']['mean'])}% "
                         "(the directions the paper did not test).")
    lines += attack_reading(results, eps)
    lines += worst_case_reading(results, eps)
    lines += method_reading(results)
    lines += noise_reading(results)
    warns = sum(c["status"] == "warn" for c in results["checks"])
    lines.append(f"Sanity checks: {warns} warning(s) out of {len(results['checks'])}.")
    return [("h2", "Reading"), ("bullets", lines)]


def method_reading(results: dict) -> list[str]:
    """One sentence per method family other than ERM and mixup (which the lines above cover): how it fares
    against ERM under FGSM and PGD at the headline ε."""
    rows = comparison.family_rows(results)  # given checkpoints of two formats: two rows of one family
    erm = next((row for row in rows if row["family"] == "erm"), None)
    if not erm or erm["pgd"] is None or erm["fgsm"] is None:
        return []
    eps = eps_label(results["attacks"]["heatmap_eps"])
    lines = []
    for row in rows:
        family = row["family"]
        if family in ("erm", "mixup") or row["pgd"] is None or row["fgsm"] is None:
            continue
        fgsm_gain, pgd_gain = erm["fgsm"] - row["fgsm"], erm["pgd"] - row["pgd"]
        if family == "pgd_at":
            verdict = (f"the robust reference: adversarial training cuts ERM's PGD error by {100 * pgd_gain:.1f} points, "
                       "robustness that a stronger attack does not take back" if pgd_gain > 0.01 else
                       "the robust reference, yet no more robust than ERM under PGD here: check its ε and steps")
        elif pgd_gain > 0.01:
            verdict = f"{100 * pgd_gain:.1f} points more robust than ERM under PGD"
        elif fgsm_gain > 0.01:
            verdict = f"its FGSM advantage ({100 * fgsm_gain:.1f} points) does not survive PGD"
        else:
            verdict = "no more robust than ERM"
        warned = sorted({c["check"] for c in results["checks"] if c["status"] == "warn"
                         and results["models"][c["model"]]["family"] == family})
        caveat = f" But its sanity checks warn ({', '.join(warned)}): trust that only after a stronger attack." if warned else ""
        lines.append(f"{row['display']}: clean error {pct(row['clean_error'])}%, white-box FGSM {pct(row['fgsm'])}% "
                     f"and PGD {pct(row['pgd'])}% at ε = {eps} (ERM: {pct(erm['fgsm'])}%, {pct(erm['pgd'])}%): {verdict}.{caveat}")
    return lines


def comparison_blocks(results: dict) -> list:
    """The methods side by side (robustness/comparison.py), and the paper's ablation where this is one."""
    rows = comparison.family_rows(results)
    table = [[row["display"], row["models"]] + [_cell(key, row[key]) for key, _ in comparison.COLUMNS] for row in rows]
    attack = comparison.transfer_attack(results)
    blocks = [
        ("h2", "Methods compared"),
        ("p", f"One row per method (mean over its seeds) at ε = {eps_label(results['attacks']['heatmap_eps'])}: "
              f"white-box errors, and the mean {attack.upper()} transfer error into its models from every other "
              "family's models and from its own family's other seeds; the last-epoch test error at 50% label noise "
              "and the share of the corrupted labels the method fitted (the same method, or its family's best of "
              "grid, in the label-noise benchmark); and the input-gradient norm halfway between test points."),
        ("table", ["method", "models"] + [header for _, header in comparison.COLUMNS], table),
    ]
    if results["config"]["preset"].startswith("ablation") or any("/" in row["family"] for row in rows):
        blocks.append(("p", paper.ABLATION_NOTE))
    return blocks


def _cell(key: str, value: float | None) -> str:
    if value is None:
        return "–"
    return pct(value) if key in comparison.PERCENT else f"{value:.3g}"


def survival(family: str, fgsm_gap: float, worst_gap: float, noise: float) -> str:
    """How much of a family's FGSM advantage over ERM (ERM's error minus its own, > 0: an advantage) survives the
    worst case; ``noise``: a typical 95% interval's half-width, within which a gap says nothing."""
    def gap(value: float) -> str:
        return f"{100 * abs(value):.1f} points {'below' if value >= 0 else 'above'} ERM's"

    if abs(fgsm_gap) < noise:
        first = f"under FGSM {family}'s error is {gap(fgsm_gap)}, within noise (±{100 * noise:.0f})"
    elif fgsm_gap > 0:
        first = f"{family}'s FGSM advantage over ERM is {100 * fgsm_gap:.1f} points"
    else:
        first = f"{family} has no FGSM advantage over ERM (its error is {gap(fgsm_gap)})"
    if abs(worst_gap) < noise:
        second = f"under the worst case it is {gap(worst_gap)}, within noise"
    elif worst_gap > 0:
        kept = f" ({100 * min(worst_gap / fgsm_gap, 1):.0f}% of it survives)" if fgsm_gap >= noise else ""
        second = f"under the worst case its error is {gap(worst_gap)}{kept}"
    else:
        second = f"under the worst case its error is {gap(worst_gap)}" + (": none of it survives" if fgsm_gap >= noise else "")
    return f"{first}; {second}"


def worst_case_reading(results: dict, eps: float) -> list[str]:
    """Per family: how much the worst case adds to FGSM's error, and how much of an FGSM advantage over ERM
    survives it; over the ε sweep's attacks on every image, then with the headline attacks on their images."""
    section = results["attacks"].get("worst_case")
    if not section or "fgsm" not in results["config"]["attack"]["attacks"]:
        return []
    fams, lines = families(results), []
    parts = ["sweep"] + (["headline"] if section["headline"]["headline_attacks"] else [])
    for part in parts:
        fgsm = {f: (attack_stat(results, "fgsm", eps, "white-box", f, f) if part == "sweep"
                    else worst_stat(results, part, eps, "fgsm", f)) for f in fams}
        worst = {f: worst_stat(results, part, eps, "all", f) for f in fams}
        if not all(fgsm.values()) or not all(worst.values()):
            continue
        rows = section["sweep"] if part == "sweep" else section["headline"]["cells"]
        spans = [(r["error_ci"][1] - r["error_ci"][0]) / 2 for r in rows if r["eps"] == eps and r["kind"] == "all"]
        noise = sum(spans) / len(spans)
        added = "; ".join(f"{f} {pct(fgsm[f]['mean'])}% → {pct(worst[f]['mean'])}%" for f in fams)
        text = (f"How much FGSM overstates robustness at ε = {eps_at(results, eps)} (worst case over "
                f"{worst_case_words(results, part)}): error under FGSM → worst case, {added}.")
        if "erm" in fams:
            said = "; ".join(survival(f, fgsm["erm"]["mean"] - fgsm[f]["mean"], worst["erm"]["mean"] - worst[f]["mean"], noise)
                             for f in fams if f != "erm")
            text += f" {said[:1].upper()}{said[1:]}." if said else ""
        if part == "headline" and section["headline"]["images"] == "subset":
            text += (f" On {section['headline']['n']} images one error's 95% interval spans about ±{100 * noise:.0f} points: "
                     "a spot check; `worst_case_images = 0` or `--preset thorough` measures every image.")
        lines.append(text)
    return lines


def relative_points(gap: float) -> str:
    """ERM's error minus mixup's, in words: '1.2 points below' or '4.3 points above'."""
    return f"{100 * abs(gap):.1f} points {'below' if gap >= 0 else 'above'}"


def attack_reading(results: dict, eps: float) -> list[str]:
    """Whether FGSM robustness survives the stronger attack, and what happens between points."""
    lines = []
    attacks = results["config"]["attack"]["attacks"]
    if "fgsm" in attacks and "pgd" in attacks:
        gaps = {attack: erm["mean"] - mix["mean"]
                for attack, (erm, mix) in ((a, whitebox_pair(results, a, eps)) for a in ("fgsm", "pgd")) if erm and mix}
        if len(gaps) == 2:
            holds = gaps["pgd"] > 0.5 * gaps["fgsm"] > 0
            lines.append(f"Is FGSM robustness real? At ε = {eps_at(results, eps)} mixup's white-box error is "
                         f"{relative_points(gaps['fgsm'])} ERM's under FGSM and {relative_points(gaps['pgd'])} under PGD "
                         f"({'the advantage holds against the stronger attack' if holds else 'the advantage shrinks or vanishes against the stronger attack'}).")
    section = results.get("between_points")
    if section and section["pairs"] and {"erm", "mixup"} <= set(section["summary"]):
        mid = min(range(len(section["lambdas"])), key=lambda k: abs(section["lambdas"][k] - 0.5))
        erm, mix = section["summary"]["erm"], section["summary"]["mixup"]
        lines.append(f"Halfway between test points, {pct(mix['miss']['mean'][mid])}% of mixup's predictions are neither "
                     f"label against {pct(erm['miss']['mean'][mid])}% of ERM's, and its input gradient is "
                     f"{mix['grad_norm_mean']['mean'][mid] / max(erm['grad_norm_mean']['mean'][mid], 1e-12):.2f}× ERM's "
                     "(the paper: both lower for mixup).")
    return lines


# --- rendering ---------------------------------------------------------------------------


def to_markdown(blocks: list, run_dir: Path) -> str:
    out = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2"):
            out.append(("# " if kind == "h1" else "## ") + block[1])
        elif kind == "p":
            out.append(block[1])
        elif kind == "bullets":
            out.append("\n".join(f"- {line}" for line in block[1]))
        elif kind == "table":
            header, rows = block[1], block[2]
            lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
            out.append("\n".join(lines))
        elif kind == "figure":
            out.append(f"![{block[2]}]({Path(block[1]).relative_to(run_dir).as_posix()})")
    return "\n\n".join(out) + "\n"


def _inline(text: str) -> str:
    """Escape, then turn **bold** and `code` into tags."""
    parts = html.escape(text).split("**")
    text = "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))
    parts = text.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def to_html(blocks: list, title: str) -> str:
    body = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{_inline(block[1])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{_inline(block[1])}</p>")
        elif kind == "bullets":
            body.append("<ul>" + "".join(f"<li>{_inline(x)}</li>" for x in block[1]) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{_inline(str(h))}</th>" for h in block[1])
            rows = "".join("<tr>" + "".join(f"<td>{_inline(str(c))}</td>" for c in row) + "</tr>" for row in block[2])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "figure":
            data = base64.b64encode(Path(block[1]).read_bytes()).decode()
            body.append(f'<figure><img alt="{html.escape(block[2])}" src="data:image/png;base64,{data}">'
                        f"<figcaption>{_inline(block[2])}</figcaption></figure>")
    style = ("body{font-family:system-ui,sans-serif;max-width:72em;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .6em}"
             "th{background:#f3f3f3}img{max-width:100%}figure{margin:1em 0}code{background:#f3f3f3;padding:0 .2em}")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def report_blocks(results: dict, fig_dir: Path) -> list:
    """Every block of the report, drawing its figures into ``fig_dir``."""
    if results.get("attacks") is None:  # a label-noise-only run (python -m noise)
        return noise_only_blocks(results, fig_dir)
    return (setup_blocks(results) + reading_blocks(results) + comparison_blocks(results) + clean_blocks(results)
            + whitebox_blocks(results, fig_dir) + worst_case_blocks(results, fig_dir)
            + transfer_blocks(results, fig_dir) + score_based_blocks(results)
            + paper_table3_blocks(results) + between_blocks(results, fig_dir) + checks_blocks(results)
            + noise_blocks(results, fig_dir))


def build_report(run_dir: str | Path) -> Path:
    """Write figures/*.png, report.md and report.html into ``run_dir`` from its results.json; returns report.md."""
    run_dir = Path(run_dir)
    results = read_results(run_dir)
    fig_dir = run_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    try:
        blocks = report_blocks(results, fig_dir)
        markdown, page = to_markdown(blocks, run_dir), to_html(blocks, blocks[0][1])
    except READ_ERRORS as err:  # the check missed something: still one line, not a traceback
        raise unreadable(str(run_dir / "results.json"), err) from None
    write_atomic(run_dir / "report.md", markdown.encode())
    write_atomic(run_dir / "report.html", page.encode())
    return run_dir / "report.md"
